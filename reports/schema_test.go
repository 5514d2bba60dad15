package reports

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// schemaFixtures are the reports the renderer tests are built on (the
// fixtures_*_test.go files and the variants of the junit and markdown
// tests), plus the emptiest report the harness writes (setup failed before
// anything ran).
// Validating them all keeps the renderers' fixtures from drifting away from
// what report.json may hold.
func schemaFixtures() map[string]*Report {
	setupFailed := &Report{Scenario: "s", RunID: "s-20261101T120000Z-000000", Provider: "process",
		StartedAt: t0, EndedAt: at(1), Outcome: OutcomeAborted, Error: "provision: no such directory"}
	Evaluate(setupFailed) // the harness evaluates every report it writes
	return map[string]*Report{
		"rolled_back":    rolledBackReport(),
		"failed":         failedReport(),
		"promoted":       promotedReport(),
		"aborted":        abortedReport(),
		"stepped":        steppedReport(),
		"not_idempotent": notIdempotentReport(),
		"escaping":       escapingReport(),
		"problem":        problemReport(),
		"setup_failed":   setupFailed,
	}
}

func encodeReport(t *testing.T, r *Report) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Encode(&buf, r); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestSchemaValidatesFixtures(t *testing.T) {
	for name, r := range schemaFixtures() {
		t.Run(name, func(t *testing.T) {
			if err := ValidateJSON(encodeReport(t, r)); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestSchemaRejects makes sure the validation above can fail, and that a
// failure says where: each case breaks a valid report and names the JSON
// pointer the error must contain.
func TestSchemaRejects(t *testing.T) {
	for _, tt := range []struct {
		name   string
		mutate func(m map[string]any)
		want   []string // Violation.Location values that must be reported
		msg    string   // a word the message must contain
	}{
		{"newer schema_version", func(m map[string]any) { m["schema_version"] = 2 }, []string{"/schema_version"}, "1"},
		{"unknown outcome", func(m map[string]any) { m["outcome"] = "exploded" }, []string{"/outcome"}, "rolled_back"},
		{"missing required field", func(m map[string]any) { delete(m, "run_id") }, []string{""}, "run_id"},
		{"unknown top-level field", func(m map[string]any) { m["bogus"] = true }, []string{""}, "bogus"},
		{"string for a number", func(m map[string]any) { obj(m, "requests")["total"] = "12000" }, []string{"/requests/total"}, "string"},
		{"fraction for an integer", func(m map[string]any) { obj(m, "requests")["failed"] = 1.5 }, []string{"/requests/failed"}, "integer"},
		{"not a date-time", func(m map[string]any) { m["started_at"] = "yesterday" }, []string{"/started_at"}, "date-time"},
		{"null where never null", func(m map[string]any) { m["leftovers"] = nil }, []string{"/leftovers"}, "null"},
		{"unknown field in a series point", func(m map[string]any) {
			obj(obj(m, "series"), "orders")["canary"].([]any)[0].(map[string]any)["p999_ms"] = 1
		}, []string{"/series/orders/canary/0"}, "p999_ms"},
		{"every violation listed", func(m map[string]any) {
			m["seed"] = "42"
			obj(m, "decision")["verdict"] = "maybe"
			m["timeline"].([]any)[1].(map[string]any)["elapsed_seconds"] = nil
		}, []string{"/seed", "/decision/verdict", "/timeline/1/elapsed_seconds"}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var m map[string]any
			if err := json.Unmarshal(encodeReport(t, rolledBackReport()), &m); err != nil {
				t.Fatal(err)
			}
			tt.mutate(m)
			b, err := json.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			err = ValidateJSON(b)
			var se *SchemaError
			if !errors.As(err, &se) {
				t.Fatalf("ValidateJSON = %v, want a *SchemaError", err)
			}
			var locs []string
			for _, v := range se.Violations {
				locs = append(locs, v.Location)
			}
			for _, want := range tt.want {
				if !slices.Contains(locs, want) {
					t.Errorf("violations at %q, want one at %q:\n%v", locs, want, err)
				}
				shown := want
				if shown == "" {
					shown = "(top level)"
				}
				if !strings.Contains(err.Error(), "at "+shown+": ") {
					t.Errorf("error does not name %s:\n%v", shown, err)
				}
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error does not mention %q:\n%v", tt.msg, err)
			}
		})
	}
}

func obj(m map[string]any, key string) map[string]any { return m[key].(map[string]any) }

func TestValidateJSONNotJSON(t *testing.T) {
	for _, doc := range []string{"", "{", `{"schema_version": 1} trailing`} {
		err := ValidateJSON([]byte(doc))
		var se *SchemaError
		if err == nil || errors.As(err, &se) {
			t.Errorf("ValidateJSON(%q) = %v, want a decoding error", doc, err)
		}
	}
}

// TestValidateJSONKeepsPrecision: an int64 seed beyond 2^53 must be judged
// as the integer it is, not as a rounded float64.
func TestValidateJSONKeepsPrecision(t *testing.T) {
	r := rolledBackReport()
	r.Seed = 1<<62 + 1
	if err := ValidateJSON(encodeReport(t, r)); err != nil {
		t.Error(err)
	}
}

// TestSchemaIsValid compiles the schema on its own against the draft
// 2020-12 metaschema, which the compiler checks every schema against.
func TestSchemaIsValid(t *testing.T) {
	var head struct {
		Schema string `json:"$schema"`
		ID     string `json:"$id"`
	}
	if err := json.Unmarshal(Schema(), &head); err != nil {
		t.Fatal(err)
	}
	if head.Schema != "https://json-schema.org/draft/2020-12/schema" {
		t.Errorf("$schema %q, want draft 2020-12", head.Schema)
	}
	if head.ID != schemaURL {
		t.Errorf("$id %q, want %q", head.ID, schemaURL)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(Schema()))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("report.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Compile("report.schema.json"); err != nil {
		t.Fatalf("report.schema.json is not a valid draft 2020-12 schema: %v", err)
	}
	// Schema hands out a copy: a caller cannot corrupt the embedded one.
	s := Schema()
	s[0] = 'x'
	if Schema()[0] != '{' {
		t.Error("Schema returned the embedded slice itself")
	}
}

// TestSchemaMatchesGoTypes walks Report with reflect and holds the schema
// to it: every json field of every nested struct is a property with a
// description, no property is unknown to Go, required is exactly the
// fields without omitempty, fixed objects allow no other properties, and
// each property's type is the Go type's. Adding a field to Report without
// documenting it in the schema fails here.
func TestSchemaMatchesGoTypes(t *testing.T) {
	var root map[string]any
	if err := json.Unmarshal(Schema(), &root); err != nil {
		t.Fatal(err)
	}
	w := schemaWalker{t: t, root: root, inside: map[reflect.Type]bool{}}
	w.value("#", reflect.TypeOf(Report{}), root)
}

type schemaWalker struct {
	t    *testing.T
	root map[string]any
	// inside are the struct types being walked: a recursive type (a
	// release's services are releases) is checked once, not forever.
	inside map[reflect.Type]bool
}

// resolve follows a node's $ref into $defs; the node's own keywords (its
// description) take precedence over the definition's.
func (w schemaWalker) resolve(path string, node map[string]any) map[string]any {
	ref, ok := node["$ref"].(string)
	if !ok {
		return node
	}
	name, ok := strings.CutPrefix(ref, "#/$defs/")
	def, _ := w.root["$defs"].(map[string]any)[name].(map[string]any)
	if !ok || def == nil {
		w.t.Errorf("%s: $ref %q does not name a $defs entry", path, ref)
		return node
	}
	merged := map[string]any{}
	for k, v := range w.resolve(path, def) {
		merged[k] = v
	}
	for k, v := range node {
		if k != "$ref" {
			merged[k] = v
		}
	}
	return merged
}

// types is a node's "type" as a list.
func types(node map[string]any) []string {
	switch v := node["type"].(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, s := range v {
			out = append(out, s.(string))
		}
		return out
	}
	return nil
}

var timeType = reflect.TypeOf(time.Time{})

func (w schemaWalker) value(path string, typ reflect.Type, node map[string]any) {
	node = w.resolve(path, node)
	nullable := false
	if typ.Kind() == reflect.Pointer {
		nullable = true
		typ = typ.Elem()
	}
	want := ""
	switch {
	case typ == timeType:
		want = "string"
		if node["format"] != "date-time" {
			w.t.Errorf("%s: a time, but format is %v, want date-time", path, node["format"])
		}
	case typ.Kind() == reflect.Struct:
		want = "object"
		if !w.inside[typ] {
			w.inside[typ] = true
			w.object(path, typ, node)
			delete(w.inside, typ)
		}
	case typ.Kind() == reflect.Slice:
		want = "array"
		items, _ := node["items"].(map[string]any)
		if items == nil {
			w.t.Errorf("%s: an array without items", path)
		} else {
			w.value(path+"/0", typ.Elem(), items)
		}
	case typ.Kind() == reflect.Map:
		want = "object"
		if typ.Elem().Kind() == reflect.Interface {
			// map[string]any: free-form (evidence, event fields).
			if _, ok := node["properties"]; ok {
				w.t.Errorf("%s: free-form in Go but the schema lists properties", path)
			}
			if v, ok := node["additionalProperties"]; ok && v != true {
				w.t.Errorf("%s: free-form in Go but additionalProperties is %v", path, v)
			}
			break
		}
		ap, _ := node["additionalProperties"].(map[string]any)
		if ap == nil {
			w.t.Errorf("%s: a map of %s without an additionalProperties schema", path, typ.Elem())
		} else {
			w.value(path+"/KEY", typ.Elem(), ap)
		}
	case typ.Kind() == reflect.Bool:
		want = "boolean"
	case typ.Kind() == reflect.String:
		want = "string"
	case typ.Kind() >= reflect.Int && typ.Kind() <= reflect.Uint64:
		want = "integer"
	case typ.Kind() == reflect.Float32 || typ.Kind() == reflect.Float64:
		want = "number"
	default:
		w.t.Errorf("%s: Go type %s has no schema rule in this test", path, typ)
		return
	}
	got := types(node)
	if !slices.Contains(got, want) {
		w.t.Errorf("%s: Go %s wants type %q, schema has %v", path, typ, want, got)
	}
	// A nil map that MarshalJSON does not normalize encodes as null, so
	// a map may be nullable; anything else is null exactly when Go has a
	// pointer.
	if has := slices.Contains(got, "null"); has != nullable && !(has && typ.Kind() == reflect.Map) {
		w.t.Errorf("%s: Go %s (pointer %v) but the schema's type is %v", path, typ, nullable, got)
	}
	if extra := slices.DeleteFunc(slices.Clone(got), func(s string) bool { return s == want || s == "null" }); len(extra) > 0 {
		w.t.Errorf("%s: schema allows types %v that Go %s never encodes", path, extra, typ)
	}
}

func (w schemaWalker) object(path string, typ reflect.Type, node map[string]any) {
	if node["additionalProperties"] != false {
		w.t.Errorf("%s: %s has fixed fields but additionalProperties is %v, want false", path, typ, node["additionalProperties"])
	}
	props, _ := node["properties"].(map[string]any)
	var fields, required []string
	for i := 0; i < typ.NumField(); i++ {
		f := typ.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fields = append(fields, name)
		if !slices.Contains(strings.Split(opts, ","), "omitempty") {
			required = append(required, name)
		}
		p, _ := props[name].(map[string]any)
		if p == nil {
			w.t.Errorf("%s: %s.%s (json %q) is not in the schema's properties", path, typ.Name(), f.Name, name)
			continue
		}
		if d, _ := p["description"].(string); strings.TrimSpace(d) == "" {
			w.t.Errorf("%s/%s: no description", path, name)
		}
		w.value(path+"/"+name, f.Type, p)
	}
	for name := range props {
		if !slices.Contains(fields, name) {
			w.t.Errorf("%s: the schema's property %q is no field of %s", path, name, typ)
		}
	}
	var schemaRequired []string
	if rs, ok := node["required"].([]any); ok {
		for _, r := range rs {
			schemaRequired = append(schemaRequired, r.(string))
		}
	}
	sort.Strings(required)
	sort.Strings(schemaRequired)
	if !slices.Equal(required, schemaRequired) {
		w.t.Errorf("%s: %s's required is %v, want the fields without omitempty %v", path, typ, schemaRequired, required)
	}
}
