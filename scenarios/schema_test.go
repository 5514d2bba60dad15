package scenarios

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/drillhq/drill/injectors"
)

var update = flag.Bool("update", false, "rewrite scenario.schema.json from the model")

// shippedKinds are the registered fault kinds without those only this
// package's tests register (kinds_test.go): the schema is of the kinds a
// drill binary knows.
func shippedKinds(t *testing.T) []string {
	t.Helper()
	kinds := injectors.Kinds()
	for _, k := range testKinds {
		if !slices.Contains(kinds, k) {
			t.Fatalf("test kind %q is not registered: update testKinds", k)
		}
	}
	return slices.DeleteFunc(kinds, func(k string) bool { return slices.Contains(testKinds, k) })
}

// TestSchemaUpToDate regenerates the schema and compares it with the
// committed file, which editors read.
func TestSchemaUpToDate(t *testing.T) {
	got, err := jsonSchema(shippedKinds(t))
	if err != nil {
		t.Fatalf("generating the schema: %v", err)
	}
	if *update {
		if err := os.WriteFile(SchemaFile, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(SchemaFile)
	if err != nil {
		t.Fatalf("%v (run go test ./scenarios -run Schema -update, or make schema, to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("scenarios/%s is out of date with the loader's model: run make schema (go test ./scenarios -run Schema -update) and commit it", SchemaFile)
	}
}

// TestJSONSchemaIncludesTestKinds: JSONSchema describes every registered
// kind (the test-only ones too, in this binary), params included.
func TestJSONSchemaIncludesTestKinds(t *testing.T) {
	b, err := JSONSchema()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range testKinds {
		if !bytes.Contains(b, []byte(`"const": "`+k+`"`)) {
			t.Errorf("JSONSchema has no params rule for kind %s", k)
		}
	}
}

// scenarioSchema is the committed schema, compiled, and its JSON.
type scenarioSchema struct {
	doc      any
	c        *jsonschema.Compiler
	root     *jsonschema.Schema
	compiled map[string]*jsonschema.Schema
}

func loadSchema(t *testing.T) *scenarioSchema {
	t.Helper()
	data, err := os.ReadFile(SchemaFile)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource(SchemaFile, doc); err != nil {
		t.Fatal(err)
	}
	root, err := c.Compile(SchemaFile)
	if err != nil {
		t.Fatalf("the schema does not compile: %v", err)
	}
	return &scenarioSchema{doc: doc, c: c, root: root, compiled: map[string]*jsonschema.Schema{}}
}

// at compiles the subschema at JSON pointer ptr.
func (s *scenarioSchema) at(t *testing.T, ptr string) *jsonschema.Schema {
	t.Helper()
	if c, ok := s.compiled[ptr]; ok {
		return c
	}
	c, err := s.c.Compile(SchemaFile + "#" + ptr)
	if err != nil {
		t.Fatalf("compiling %s: %v", ptr, err)
	}
	s.compiled[ptr] = c
	return c
}

// node returns the schema object at JSON pointer ptr.
func (s *scenarioSchema) node(t *testing.T, ptr string) map[string]any {
	t.Helper()
	var v any = s.doc
	for _, tok := range strings.Split(ptr, "/")[1:] {
		tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
		switch x := v.(type) {
		case map[string]any:
			v = x[tok]
		case []any:
			var i int
			fmt.Sscan(tok, &i)
			v = x[i]
		}
	}
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("no schema object at %s", ptr)
	}
	return m
}

func ptrJoin(ptr string, toks ...string) string {
	for _, tok := range toks {
		ptr += "/" + strings.NewReplacer("~", "~0", "/", "~1").Replace(tok)
	}
	return ptr
}

// yamlValue converts a YAML node to what a YAML language server hands the
// schema: JSON values by the node's resolved tag, merge keys expanded (by
// the loader's own pairs, with its bounds).
func yamlValue(p *parser, n *yaml.Node) any {
	n = deref(n)
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil
		}
		return yamlValue(p, n.Content[0])
	case yaml.MappingNode:
		m := map[string]any{}
		for _, e := range p.pairs(n) {
			m[e.k.Value] = yamlValue(p, e.v)
		}
		return m
	case yaml.SequenceNode:
		out := []any{}
		for _, c := range n.Content {
			out = append(out, yamlValue(p, c))
		}
		return out
	}
	var v any
	switch n.ShortTag() {
	case "!!null":
		return nil
	case "!!bool", "!!int", "!!float":
		if n.Decode(&v) == nil {
			return v
		}
	}
	return n.Value
}

// instance converts v to the validator's form (numbers as json.Number).
func instance(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return inst
}

func parseYAML(t *testing.T, data []byte) *yaml.Node {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("YAML: %v", err)
	}
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		return doc.Content[0]
	}
	return &doc
}

var schemaPrinter = message.NewPrinter(language.English)

// violations validates data and lists each violation as "POINTER:
// message", sorted; nil when the document is valid.
func (s *scenarioSchema) violations(t *testing.T, data []byte) []string {
	t.Helper()
	inst := instance(t, yamlValue(&parser{}, parseYAML(t, data)))
	err := s.root.Validate(inst)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		t.Fatal(err)
	}
	var out []string
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			out = append(out, "/"+strings.Join(e.InstanceLocation, "/")+": "+e.ErrorKind.LocalizedString(schemaPrinter))
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	sort.Strings(out)
	return slices.Compact(out)
}

// validScenarioFiles are the shipped scenarios and every test scenario
// that loads: the schema must accept each.
func validScenarioFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	for _, glob := range []string{"*.yaml", "bench/*.yaml", "testdata/*.yaml", "../cmd/drill/testdata/*.yaml"} {
		m, err := filepath.Glob(glob)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) < 20 {
		t.Fatalf("found only %d scenarios: %q", len(files), files)
	}
	return files
}

func TestSchemaValidatesShippedScenarios(t *testing.T) {
	s := loadSchema(t)
	for _, file := range validScenarioFiles(t) {
		t.Run(file, func(t *testing.T) {
			if _, err := Load(file); err != nil {
				t.Fatalf("the loader refuses it: %v", err)
			}
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if v := s.violations(t, data); v != nil {
				t.Errorf("the loader accepts it but the schema does not:\n%s", strings.Join(v, "\n"))
			}
		})
	}
}

// TestSchemaRejectsBadScenarios: every file of testdata/bad is in one of
// two tables. Those with a problem the schema can see (an unknown key, a
// wrong type, a value outside an enumeration or a range) must fail with a
// violation at each location listed; the others are refused by the loader
// for what a schema of the format does not say, each with why.
func TestSchemaRejectsBadScenarios(t *testing.T) {
	schemaLevel := map[string][]string{ // file: locations that must be among the violations
		"artifacts.yaml": {"/artifacts", "/artifacts/retain", "/rollback/mode", "/expect/rollback"},            // unknown keep, retain 0, two unknown values
		"contracts.yaml": {"/contracts/0/request/method", "/contracts/0/expect/status", "/contracts/2/expect"}, // GTE, 700, statsu
		"gameday.yaml":   {"/game_day", "/game_day/dashboard", "/game_day/judge", "/rollout/steps/1/on_timeout"},
		"limits.yaml":    {"/steady_state/attempts", "/steady_state/duration"}, // 2147483647 > 100, -1s
		"release.yaml":   {"/rollout/release/3"},                               // servce
	}
	notSchemaLevel := map[string]struct {
		why   string
		check func(t *testing.T, data []byte) // proves the file is what the reason says
	}{
		"encoding.yaml": {"invalid UTF-8 and a NUL byte: the file is not YAML text a schema could see",
			func(t *testing.T, data []byte) {
				var n yaml.Node
				if yaml.Unmarshal(data, &n) == nil {
					t.Error("it parses as YAML")
				}
			}},
		"syntax-tab.yaml":           {"a YAML syntax error (a tab in indentation)", yamlFails},
		"syntax-unclosed-list.yaml": {"a YAML syntax error (an unclosed flow list)", yamlFails},
		"loopback.yaml": {"a literal loopback address in env is a problem under the docker provider only (ProviderProblems, with the provider a run uses), a string to the format",
			func(t *testing.T, data []byte) {
				sc, err := Parse("loopback.yaml", data)
				if err != nil {
					t.Fatalf("the loader refuses it: %v", err)
				}
				if err := sc.ProviderProblems("docker", map[string]ProviderCaps{"docker": {Build: true, Image: true, Isolated: true}}); err == nil {
					t.Error("the docker provider takes it")
				}
				schemaAccepts(t, data)
			}},
		"merge-bomb.yaml": {"merge keys standing for more than the loader's bound of pairs: a size limit of the file, not of the format (expanding it for a validator is what the bound prevents)",
			func(t *testing.T, data []byte) {
				_, err := Parse("merge-bomb.yaml", data)
				if err == nil || !strings.Contains(err.Error(), "merge keys expand to more than") {
					t.Errorf("the loader does not refuse it for its merges: %v", err)
				}
			}},
	}
	files, err := filepath.Glob("testdata/bad/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no bad scenarios: %v", err)
	}
	s := loadSchema(t)
	for _, file := range files {
		base := filepath.Base(file)
		t.Run(base, func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			want, isSchema := schemaLevel[base]
			other, isOther := notSchemaLevel[base]
			switch {
			case isSchema && isOther, !isSchema && !isOther:
				t.Fatalf("list %s in exactly one of the tables of TestSchemaRejectsBadScenarios", base)
			case isOther:
				other.check(t, data)
				return
			}
			if _, err := Parse(file, data); err == nil {
				t.Fatal("the loader accepts it: it is not a bad scenario")
			}
			got := s.violations(t, data)
			if got == nil {
				t.Fatal("the schema accepts it")
			}
			for _, loc := range want {
				if !slices.ContainsFunc(got, func(v string) bool { return strings.HasPrefix(v, loc+": ") }) {
					t.Errorf("no violation at %s; got:\n%s", loc, strings.Join(got, "\n"))
				}
			}
		})
	}
	for name := range maps.Keys(schemaLevel) {
		if !slices.Contains(files, filepath.Join("testdata", "bad", name)) {
			t.Errorf("%s is listed but not in testdata/bad", name)
		}
	}
	for name := range maps.Keys(notSchemaLevel) {
		if !slices.Contains(files, filepath.Join("testdata", "bad", name)) {
			t.Errorf("%s is listed but not in testdata/bad", name)
		}
	}
}

func yamlFails(t *testing.T, data []byte) {
	t.Helper()
	var n yaml.Node
	if yaml.Unmarshal(data, &n) == nil {
		t.Error("it parses as YAML")
	}
}

func schemaAccepts(t *testing.T, data []byte) {
	t.Helper()
	if v := loadSchema(t).violations(t, data); v != nil {
		t.Errorf("the schema refuses it:\n%s", strings.Join(v, "\n"))
	}
}

// minimalScenario is the smallest scenario the loader accepts.
const minimalScenario = `version: 1
name: minimal
environment:
  services:
    api: {build: x, versions: {v1: {}, v2: {}}}
load: {target: api, rate: 10/s, requests: [{path: /}]}
rollout:
  service: api
  to: v2
  steps: [{weight: 50%, hold: 1s}]
  analysis: {judge: threshold}
`

// TestSchemaInline: edits of a minimal scenario. Each one the loader
// refuses for a reason the schema can see must fail validation at the
// location given; each one the loader accepts must pass.
func TestSchemaInline(t *testing.T) {
	s := loadSchema(t)
	for _, tt := range []struct {
		name  string
		edits []string // old, new, …: replaced in minimalScenario; an empty old appends new
		at    string   // where the violation is; "" when the file is valid
	}{
		{"unknown top-level key", []string{"version: 1\n", "version: 1\nbogus: 1\n"}, "/"},
		{"rate as a number", []string{"rate: 10/s", "rate: 10"}, "/load/rate"},
		{"rate without a unit", []string{"rate: 10/s", "rate: fast"}, "/load/rate"},
		{"unknown judge", []string{"judge: threshold", "judge: bayes"}, "/rollout/analysis/judge"},
		{"unknown fault kind", []string{"", "faults: [{name: f, kind: latncy, target: api}]"}, "/faults/0/kind"},
		{"unknown fault param", []string{"", "faults: [{name: f, kind: latency, target: api, params: {delay: 1s, dealy: 1s}}]"}, "/faults/0/params"},
		{"params of a kind that takes none", []string{"", "faults: [{name: f, kind: abort, target: api, params: {}}]"}, "/faults/0/params"},
		{"a duration without a unit", []string{"hold: 1s", "hold: 5"}, "/rollout/steps/0/hold"},
		{"unknown strategy field", []string{"  analysis:", "  blue_gren: {}\n  analysis:"}, "/rollout"},
		{"blue_green under canary", []string{"  analysis:", "  blue_green: {}\n  analysis:"}, "/rollout"},
		{"steps under blue-green", []string{"  analysis:", "  strategy: blue-green\n  analysis:"}, "/rollout"},
		{"rate and ramp", []string{"rate: 10/s,", "rate: 10/s, ramp: {from: 1/s, to: 2/s, over: 1s},"}, "/load"},
		{"a step with weight and approval", []string{"{weight: 50%, hold: 1s}", "{weight: 50%, approval: manual}"}, "/rollout/steps/0"},
		{"an SLO on an instance metric", []string{"", "steady_state: {duration: 1s, slo: [{metric: cpu, max: 50%}]}"}, "/steady_state/slo/0/metric"},
		{"a latency bound as a percentage", []string{"analysis: {judge: threshold}", "analysis: {metrics: [{metric: latency_p99, max: 5%}]}"}, "/rollout/analysis/metrics/0/max"},

		{"x- keys with anchors", []string{"version: 1\n", "version: 1\nx-anchors:\n  step: &step {hold: 1s}\n"}, ""},
		{"anchors merged", []string{"version: 1\n", "x-step: &step {hold: 1s}\nversion: 1\n"}, ""},
		{"a merged step", []string{"{weight: 50%, hold: 1s}", "{<<: {hold: 1s}, weight: 50%}"}, ""},
		{"names that YAML reads as numbers", []string{"versions: {v1: {}, v2: {}}}", "versions: {1: {}, 2: {}}}", "  to: v2", "  to: 2"}, ""},
		{"a zero warmup", []string{"", "steady_state: {duration: 1s, warmup: 0}"}, ""},
		{"-0s", []string{"hold: 1s", "hold: -0s"}, ""},
		{"a percentage probability", []string{"", "faults: [{name: f, kind: latency, target: api, probability: 25%, at: {step: 1}, params: {delay: 1ms}}]"}, ""},
		{"a secret", []string{"build: x,", "build: x, env: {TOKEN: {value: abcdefgh, secret: true}},"}, ""},
		{"YAML 1.1 booleans in params", []string{"", "faults: [{name: f, kind: migration-failure, target: db, params: {statement: 1, multi_statement: no}}]"}, "loader"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src := minimalScenario
			for i := 0; i < len(tt.edits); i += 2 {
				if tt.edits[i] == "" {
					src += tt.edits[i+1] + "\n"
					continue
				}
				if !strings.Contains(src, tt.edits[i]) {
					t.Fatalf("%q is not in the scenario", tt.edits[i])
				}
				src = strings.Replace(src, tt.edits[i], tt.edits[i+1], 1)
			}
			data := []byte(src)
			_, loadErr := Parse("inline.yaml", data)
			got := s.violations(t, data)
			switch {
			case tt.at == "loader":
				// Refused by the loader for a reference (no database db);
				// what matters is that the schema takes the params.
				if got != nil {
					t.Errorf("the schema refuses it:\n%s", strings.Join(got, "\n"))
				}
			case tt.at == "" && loadErr != nil:
				t.Fatalf("the loader refuses it: %v", loadErr)
			case tt.at == "" && got != nil:
				t.Errorf("the loader accepts it but the schema does not:\n%s", strings.Join(got, "\n"))
			case tt.at != "" && loadErr == nil:
				t.Fatalf("the loader accepts it")
			case tt.at != "" && !slices.ContainsFunc(got, func(v string) bool { return strings.HasPrefix(v, tt.at+": ") }):
				t.Errorf("no violation at %s; got:\n%s", tt.at, strings.Join(got, "\n"))
			}
		})
	}
}

// TestSchemaMatchesWalker is the drift test: it loads every scenario the
// schema is tested on with a hook that records, for each mapping the
// walker reads as an object of the format, the keys it accepts there, and
// walks the same YAML through the schema. At every such mapping the
// schema must have an object whose properties are exactly those keys, and
// nowhere else an object that refuses unknown keys; and every such object
// of the schema must be met at least once, so that no part of the schema
// goes unchecked. A field added to the walker and not to the schema (or
// the reverse) fails here, whether or not it goes through fields.go.
func TestSchemaMatchesWalker(t *testing.T) {
	s := loadSchema(t)
	covered := map[string]bool{}
	check := func(t *testing.T, name string, data []byte) {
		type seen struct {
			n     *yaml.Node
			known []string
		}
		var walked []seen
		p := &parser{file: name, seen: func(n *yaml.Node, known []string) {
			walked = append(walked, seen{n, slices.Clone(known)})
		}}
		root := parseYAML(t, data)
		p.scenario(root)
		if len(p.probs) > 0 {
			t.Fatalf("the loader refuses it: %v", p.probs.sorted())
		}
		cw := &coWalk{t: t, s: s, p: &parser{file: name}, objects: map[*yaml.Node][]string{}}
		cw.visit(root, []string{""})
		byNode := map[*yaml.Node]bool{}
		for _, w := range walked {
			byNode[w.n] = true
			ptrs := cw.objects[w.n]
			if len(ptrs) == 0 {
				t.Errorf("%s:%d:%d: the loader reads a mapping with fields %v where the schema has no object", name, w.n.Line, w.n.Column, w.known)
				continue
			}
			props := map[string]bool{}
			for _, ptr := range ptrs {
				covered[ptr] = true
				for k := range s.node(t, ptr)["properties"].(map[string]any) {
					props[k] = true
				}
			}
			got := slices.Sorted(maps.Keys(props))
			want := slices.Sorted(slices.Values(w.known))
			if !slices.Equal(got, want) {
				t.Errorf("%s:%d:%d: the loader accepts %v, the schema (%v) has %v", name, w.n.Line, w.n.Column, want, ptrs, got)
			}
		}
		for n, ptrs := range cw.objects {
			if !byNode[n] {
				t.Errorf("%s:%d:%d: the schema has an object (%v) where the loader reads no object of the format", name, n.Line, n.Column, ptrs)
			}
		}
	}
	for _, file := range validScenarioFiles(t) {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(file, func(t *testing.T) { check(t, file, data) })
	}
	for name, data := range coverageScenarios {
		t.Run(name, func(t *testing.T) { check(t, name, []byte(data)) })
	}
	// Every object of the schema was compared with the walker somewhere.
	var all []string
	var find func(ptr string, v any)
	find = func(ptr string, v any) {
		switch x := v.(type) {
		case map[string]any:
			if x["additionalProperties"] == false {
				all = append(all, ptr)
			}
			for k, c := range x {
				find(ptrJoin(ptr, k), c)
			}
		case []any:
			for i, c := range x {
				find(ptrJoin(ptr, fmt.Sprint(i)), c)
			}
		}
	}
	find("", s.doc)
	sort.Strings(all)
	for _, ptr := range all {
		if !covered[ptr] {
			t.Errorf("the schema's object at %s is not met by any scenario the test loads: add one to coverageScenarios", ptr)
		}
	}
	if len(all) < 30 {
		t.Errorf("only %d objects in the schema", len(all))
	}
}

// coverageScenarios reach the parts of the format no shipped scenario
// uses, so that the drift test compares every object of the schema: the
// params of every fault kind among them.
var coverageScenarios = map[string]string{
	"every-kind.yaml": `version: 1
name: every-kind
environment:
  databases: {db: {engine: postgres}}
  services:
    api:
      build: x
      database: db
      env: {TOKEN: {value: abcdefgh, secret: true}}
      versions: {v1: {migration: 1}, v2: {migration: 2, env: {KEY: {value: abcdefgh, secret: true}}}}
    web: {build: y, versions: {v1: {}}}
flags:
  f: {state: ENABLED, variants: {on: true, off: false}, defaultVariant: off}
load: {target: api, ramp: {from: 1/s, to: 2/s, over: 1s}, requests: [{path: /}]}
rollout: {service: api, to: v2, steps: [{weight: 50%, hold: 1s}]}
faults:
  - {name: a, kind: bandwidth, target: api, params: {rate: 10KB/s}}
  - {name: b, kind: cpu-throttle, target: api, params: {limit: 50%, period: 100ms}}
  - {name: c, kind: db-latency, target: db, params: {delay: 1ms, jitter: 1ms}}
  - {name: d, kind: down-failure, target: db, params: {statement: 1}}
  - {name: e, kind: first-n, target: api, params: {n: 1, status: 503}}
  - {name: f, kind: flag-service-down, target: flags, params: {}}
  - {name: g, kind: migration-slow, target: db, params: {delay: 1s}}
  - {name: h, kind: partition, target: api, params: {from: web}}
  - {name: i, kind: pause, target: api, params: {}}
  - {name: j, kind: restart, target: api, params: {}}
  - {name: k, kind: timeout, target: api, params: {max: 1s}}
`,
}

// coWalk finds, for each mapping of a YAML document, the schema objects
// that apply to it.
type coWalk struct {
	t       *testing.T
	s       *scenarioSchema
	p       *parser
	objects map[*yaml.Node][]string // mapping → pointers of the objects refusing unknown keys there
}

// expand returns ptrs and every subschema they apply to n: $ref, allOf,
// anyOf, oneOf (all branches: those not about mappings hold no
// properties), dependentSchemas whose key n holds, and then or else as the
// validator evaluates if on n.
func (cw *coWalk) expand(n *yaml.Node, ptrs []string) []string {
	var out []string
	seen := map[string]bool{}
	var inst any
	var add func(ptr string)
	add = func(ptr string) {
		if seen[ptr] {
			return
		}
		seen[ptr] = true
		out = append(out, ptr)
		s := cw.s.node(cw.t, ptr)
		if r, ok := s["$ref"].(string); ok {
			add(strings.TrimPrefix(r, "#"))
		}
		for _, kw := range []string{"allOf", "anyOf", "oneOf"} {
			if xs, ok := s[kw].([]any); ok {
				for i := range xs {
					add(ptrJoin(ptr, kw, fmt.Sprint(i)))
				}
			}
		}
		if deps, ok := s["dependentSchemas"].(map[string]any); ok && n.Kind == yaml.MappingNode {
			for _, e := range cw.p.pairs(n) {
				if deps[e.k.Value] != nil {
					add(ptrJoin(ptr, "dependentSchemas", e.k.Value))
				}
			}
		}
		if _, ok := s["if"]; ok {
			if inst == nil {
				inst = instance(cw.t, yamlValue(cw.p, n))
			}
			if cw.s.at(cw.t, ptrJoin(ptr, "if")).Validate(inst) == nil {
				if s["then"] != nil {
					add(ptrJoin(ptr, "then"))
				}
			} else if s["else"] != nil {
				add(ptrJoin(ptr, "else"))
			}
		}
	}
	for _, ptr := range ptrs {
		add(ptr)
	}
	return out
}

func (cw *coWalk) visit(n *yaml.Node, ptrs []string) {
	n = deref(n)
	if len(ptrs) == 0 {
		return
	}
	ptrs = cw.expand(n, ptrs)
	switch n.Kind {
	case yaml.MappingNode:
		for _, ptr := range ptrs {
			if cw.s.node(cw.t, ptr)["additionalProperties"] == false {
				cw.objects[n] = append(cw.objects[n], ptr)
			}
		}
		for _, e := range cw.p.pairs(n) {
			var child []string
			for _, ptr := range ptrs {
				s := cw.s.node(cw.t, ptr)
				if props, ok := s["properties"].(map[string]any); ok && props[e.k.Value] != nil {
					child = append(child, ptrJoin(ptr, "properties", e.k.Value))
					continue
				}
				matched := false
				if pats, ok := s["patternProperties"].(map[string]any); ok {
					for pat := range pats {
						if regexp.MustCompile(pat).MatchString(e.k.Value) {
							child = append(child, ptrJoin(ptr, "patternProperties", pat))
							matched = true
						}
					}
				}
				if _, ok := s["additionalProperties"].(map[string]any); ok && !matched {
					child = append(child, ptrJoin(ptr, "additionalProperties"))
				}
			}
			cw.visit(e.v, child)
		}
	case yaml.SequenceNode:
		var child []string
		for _, ptr := range ptrs {
			if _, ok := cw.s.node(cw.t, ptr)["items"].(map[string]any); ok {
				child = append(child, ptrJoin(ptr, "items"))
			}
		}
		for _, c := range n.Content {
			cw.visit(c, child)
		}
	}
}
