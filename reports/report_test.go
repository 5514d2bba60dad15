package reports

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestWriteReadRoundTrip(t *testing.T) {
	for _, tt := range []struct {
		name string
		r    *Report
	}{
		{"rolled_back", rolledBackReport()},
		{"failed", failedReport()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.name == "rolled_back" && !reflect.DeepEqual(tt.r.normalized(), *tt.r) {
				t.Fatal("the full fixture should need no normalizing, so that the round trip is exact")
			}
			if err := Write(dir, tt.r); err != nil {
				t.Fatalf("Write: %v", err)
			}
			// Read takes the run directory or the file itself.
			for _, path := range []string{dir, filepath.Join(dir, FileName)} {
				got, err := Read(path)
				if err != nil {
					t.Fatalf("Read(%s): %v", path, err)
				}
				// Nil lists come back empty, as report.json has them.
				want := tt.r.normalized()
				if !reflect.DeepEqual(*got, want) {
					t.Errorf("Read(%s) differs from what was written:\n got %+v\nwant %+v", path, *got, want)
				}
			}
			// Writing again gives the same bytes: field order is stable.
			first, _ := os.ReadFile(filepath.Join(dir, FileName))
			if err := Write(dir, tt.r); err != nil {
				t.Fatal(err)
			}
			second, _ := os.ReadFile(filepath.Join(dir, FileName))
			if !bytes.Equal(first, second) {
				t.Error("a second Write gave different bytes")
			}
			entries, _ := os.ReadDir(dir)
			if len(entries) != 1 {
				t.Errorf("run dir holds %d entries, want only %s", len(entries), FileName)
			}
		})
	}
}

// TestContract checks report.json against the field list of DESIGN.md, with
// nulls and empty lists where the design asks for them, on the emptiest
// report the harness could write.
func TestContract(t *testing.T) {
	var buf bytes.Buffer
	if err := Encode(&buf, &Report{Scenario: "s"}); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(buf.String(), "{\n  \"schema_version\": 1,\n") {
		t.Errorf("report.json does not start with schema_version 1:\n%.80s", buf.String())
	}
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	get := func(path string) (any, bool) {
		var v any = m
		for _, k := range strings.Split(path, ".") {
			obj, ok := v.(map[string]any)
			if !ok {
				return nil, false
			}
			if v, ok = obj[k]; !ok {
				return nil, false
			}
		}
		return v, true
	}
	for _, path := range []string{
		"schema_version", "scenario", "run_id", "provider", "seed", "outcome", "passed",
		"expectations", "score.total", "score.grade", "score.parts.detection", "score.parts.recovery",
		"score.parts.blast_radius", "score.parts.data_integrity", "score.parts.hygiene",
		"detection_seconds", "recovery_seconds",
		"requests.total", "requests.failed", "requests.excess_failed",
		"data.ledger.acknowledged", "data.ledger.lost", "data.ledger.changed", "data.ledger.duplicated",
		"data.schema_restored", "data.invariants", "faults", "rollback.steps", "leftovers",
		"timeline", "series",
	} {
		if _, ok := get(path); !ok {
			t.Errorf("report.json lacks %s", path)
		}
	}
	for _, path := range []string{"detection_seconds", "recovery_seconds", "data.schema_restored", "decision"} {
		if v, _ := get(path); v != nil {
			t.Errorf("%s = %v, want null", path, v)
		}
	}
	for _, path := range []string{"leftovers", "expectations", "faults", "timeline", "data.invariants", "rollback.steps", "rollback.rerun"} {
		if v, _ := get(path); !reflect.DeepEqual(v, []any{}) {
			t.Errorf("%s = %#v, want []", path, v)
		}
	}
	if v, _ := get("series"); !reflect.DeepEqual(v, map[string]any{}) {
		t.Errorf("series = %#v, want {}", v)
	}
}

func TestEncodeDoesNotEscapeHTML(t *testing.T) {
	var buf bytes.Buffer
	r := &Report{Data: Data{Invariants: []Invariant{{Name: "total_cents <> qty * price"}}}}
	if err := Encode(&buf, r); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"total_cents <> qty * price"`) {
		t.Errorf("invariant name escaped:\n%s", buf.String())
	}
}

func TestRead(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name    string
		path    string
		wantErr string
	}{
		{"missing path", filepath.Join(dir, "nope"), "no such file"},
		{"dir without report", t.TempDir(), "has no report.json"},
		{"not JSON", write("bad.json", "{"), "unexpected end"},
		{"no schema version", write("other.json", `{"scenario":"x"}`), "not a drill report"},
		{"newer schema", write("newer.json", `{"schema_version":2}`), "schema_version 2 is newer"},
		{"minimal", write("min.json", `{"schema_version":1,"scenario":"x"}`), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Read(tt.path)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Read: %v", err)
				}
				if r.Leftovers == nil || r.Faults == nil || r.Series == nil {
					t.Errorf("Read left nil lists: %+v", r)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Read error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestJSONRendererMatchesReportFile(t *testing.T) {
	r := rolledBackReport()
	dir := t.TempDir()
	if err := Write(dir, r); err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(filepath.Join(dir, FileName))
	j, ok := Lookup("json")
	if !ok {
		t.Fatal(`renderer "json" not registered`)
	}
	var buf bytes.Buffer
	if err := j.Render(&buf, r); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Error("json renderer output differs from report.json")
	}
}

func TestRegistry(t *testing.T) {
	names := Names()
	for _, want := range []string{"json", "table"} {
		if _, ok := Lookup(want); !ok {
			t.Errorf("Lookup(%q) failed", want)
		}
		if Describe(want) == "" {
			t.Errorf("%q has no description", want)
		}
		found := false
		for _, n := range names {
			found = found || n == want
		}
		if !found {
			t.Errorf("Names() = %v, lacks %q", names, want)
		}
	}
	if _, ok := Lookup("nope"); ok {
		t.Error(`Lookup("nope") succeeded`)
	}
	defer func() {
		if recover() == nil {
			t.Error("registering a name twice did not panic")
		}
	}()
	Register("json", "again", RendererFunc(Encode))
}
