package reports

import (
	"bytes"
	"testing"
)

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
