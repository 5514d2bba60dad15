package reports

import (
	"bytes"
	"testing"
)

// render renders r with the renderer registered as name.
func render(t *testing.T, name string, r *Report) string {
	t.Helper()
	rd, ok := Lookup(name)
	if !ok {
		t.Fatalf("renderer %q not registered", name)
	}
	var buf bytes.Buffer
	if err := rd.Render(&buf, r); err != nil {
		t.Fatalf("Render %s: %v", name, err)
	}
	return buf.String()
}

// event is a journal entry at sec seconds of a test report, with fields
// given as key, value pairs.
func event(sec float64, name string, kv ...any) Event {
	f := map[string]any{}
	for i := 0; i+1 < len(kv); i += 2 {
		f[kv[i].(string)] = kv[i+1]
	}
	return Event{T: at(sec), ElapsedSeconds: sec, Event: name, Fields: f}
}

// goldenReport is a drill every renderer is checked on.
type goldenReport struct {
	name   string
	report *Report
}

// goldenReports are the drills of the golden files: the three outcomes a
// drill ends in, one that went wrong everywhere, and an empty report. Every
// report is built on the fixed clock t0, so the files never change with the
// time of day.
func goldenReports() []goldenReport {
	return []goldenReport{
		{"rolled_back", rolledBackReport()},
		{"promoted", promotedReport()},
		{"aborted", abortedReport()},
		{"failed", failedReport()},
		{"empty", &Report{Scenario: "empty"}},
	}
}

// TestGolden renders every golden report with every registered renderer
// and compares the result with testdata/<renderer>_<report>.golden (go test
// ./reports -update rewrites them). A renderer registered without golden
// files fails here.
func TestGolden(t *testing.T) {
	for _, name := range Names() {
		rd, _ := Lookup(name)
		for _, g := range goldenReports() {
			t.Run(name+"/"+g.name, func(t *testing.T) {
				var first, second bytes.Buffer
				if err := rd.Render(&first, g.report); err != nil {
					t.Fatalf("Render: %v", err)
				}
				checkGolden(t, name+"_"+g.name+".golden", first.String())
				if err := rd.Render(&second, g.report); err != nil {
					t.Fatalf("second Render: %v", err)
				}
				if !bytes.Equal(first.Bytes(), second.Bytes()) {
					t.Error("two renders of the same report differ")
				}
			})
		}
	}
}
