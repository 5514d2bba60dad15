package reports

import (
	"strings"
	"testing"
)

// TestMarkdownTables checks the tables of every golden report (TestGolden
// checks the text).
func TestMarkdownTables(t *testing.T) {
	for _, tt := range goldenReports() {
		t.Run(tt.name, func(t *testing.T) {
			checkTables(t, render(t, "markdown", tt.report))
		})
	}
}

// unescapedPipes counts the pipes of a table row that delimit cells.
func unescapedPipes(line string) int {
	n := 0
	for i := 0; i < len(line); i++ {
		switch line[i] {
		case '\\':
			i++ // whatever follows is escaped
		case '|':
			n++
		}
	}
	return n
}

// checkTables fails when a row of a table has another number of cells than
// its header, or when a table's rows are interrupted.
func checkTables(t *testing.T, md string) {
	t.Helper()
	want := -1
	for i, line := range strings.Split(md, "\n") {
		if !strings.HasPrefix(line, "|") {
			want = -1
			continue
		}
		n := unescapedPipes(line)
		if want < 0 {
			want = n
			continue
		}
		if n != want {
			t.Errorf("line %d has %d cell delimiters, its table's header %d:\n%s", i+1, n, want, line)
		}
	}
}

func TestMarkdownEscapesCells(t *testing.T) {
	r := rolledBackReport()
	r.Scenario = "evil|name\nwith a newline"
	r.Description = "a | description\nover two lines"
	r.Expectations[0].Detail = "left | right\nnext line \\| tricky"
	r.Faults[0].Name = "slow|pricing\r\nfault"
	r.Rollback.Steps[0].Detail = "a|b|c\n| starts with a pipe"
	r.Data.Invariants[0].Name = "x|y"
	r.Timeline = append(r.Timeline, Event{T: at(23), ElapsedSeconds: 23, Event: "rollback.step",
		Fields: map[string]any{"step": "route|baseline", "ok": true, "detail": "line one\nline | two"}})
	md := render(t, "markdown", r)
	checkTables(t, md)
	lines := strings.Split(md, "\n")
	if !strings.HasPrefix(lines[0], "# evil|name with a newline: rolled back") {
		t.Errorf("title not on one line: %q", lines[0])
	}
	for _, want := range []string{
		`| outcome | ok | left \| right<br>next line \\\| tricky |`,
		`| slow\|pricing<br>fault | latency |`,
		`a\|b\|c<br>\| starts with a pipe`,
		`| x\|y | 0 |`,
		`step route\|baseline, ok yes, detail line one<br>line \| two`,
	} {
		if !strings.Contains(md, want) {
			t.Errorf("output lacks %q:\n%s", want, md)
		}
	}
}

// problemReport plants one of every problem the review questions ask about.
func problemReport() *Report {
	r := rolledBackReport()
	r.DetectionSeconds = f64(31)
	r.RecoverySeconds = f64(95)
	r.Faults[0].Effective = boolp(false)
	r.Faults[0].Measured = "p99 +1ms"
	r.Data.Ledger.Lost, r.Data.Ledger.Changed, r.Data.Ledger.Duplicated = 3, 2, 1
	r.Data.SchemaRestored = boolp(false)
	r.Data.SchemaVersion = "2 (dirty)"
	r.Data.Invariants = []Invariant{{Name: "totals-match", Value: 17}, {Name: "no-negative", Error: "no such table"}}
	r.Leftovers = []string{"container orders-v2-0"}
	r.Rollback.Idempotent = false
	r.Rollback.Steps[3].OK = false
	r.Timeline = append(r.Timeline,
		Event{T: at(1), ElapsedSeconds: 1, Event: "steady_state.attempt", Fields: map[string]any{"attempt": 1, "ok": false}},
		Event{T: at(4), ElapsedSeconds: 4, Event: "steady_state.attempt", Fields: map[string]any{"attempt": 2, "ok": false}},
		Event{T: at(7), ElapsedSeconds: 7, Event: "steady_state.attempt", Fields: map[string]any{"attempt": 3, "ok": true}})
	Evaluate(r)
	return r
}

func TestMarkdownReviewQuestions(t *testing.T) {
	md := render(t, "markdown", problemReport())
	_, qs, ok := strings.Cut(md, "## Questions for the review\n")
	if !ok {
		t.Fatalf("no questions section:\n%s", md)
	}
	for _, want := range []string{
		"Detection took 31s, slower than the 10s expected",
		"Recovery took 95s, slower than the 30s expected",
		"Fault slow-pricing had no observable effect (p99 +1ms)",
		"3 acknowledged writes were lost",
		"2 acknowledged writes were changed",
		"1 write was duplicated",
		"The schema was not restored (at version 2 (dirty))",
		"Invariant totals-match failed (value 17, expected 0)",
		"Invariant no-negative could not be read (no such table)",
		"1 thing was left behind (container orders-v2-0)",
		"Expectation detect_within failed",
		"Expectation recover_within failed",
		"Expectation min_score failed",
		"The steady state needed 3 attempts (2 failed)",
		"Rollback step migrate-down failed",
		"The rollback is not idempotent",
	} {
		if !strings.Contains(qs, want) {
			t.Errorf("questions lack %q:\n%s", want, qs)
		}
	}
	if strings.Contains(qs, "Nothing went wrong") {
		t.Errorf("questions say nothing went wrong:\n%s", qs)
	}

	for name, r := range map[string]*Report{"rolled_back": rolledBackReport(), "promoted": promotedReport()} {
		_, qs, _ := strings.Cut(render(t, "markdown", r), "## Questions for the review\n")
		if !strings.Contains(qs, "Nothing went wrong in this drill; next time, try") {
			t.Errorf("%s: a clean drill should say nothing went wrong:\n%s", name, qs)
		}
	}

	// The failed drill: promoted though a rollback was expected, never detected.
	_, qs, _ = strings.Cut(render(t, "markdown", failedReport()), "## Questions for the review\n")
	for _, want := range []string{
		"promoted although rolled back was expected",
		"Fault db-partition had no observable effect",
		"Fault db-partition was never reverted",
		"The run was interrupted",
	} {
		if !strings.Contains(qs, want) {
			t.Errorf("failed report: questions lack %q:\n%s", want, qs)
		}
	}
}

func TestMarkdownPhases(t *testing.T) {
	md := render(t, "markdown", promotedReport())
	for _, want := range []string{
		"| checkout | baseline | steady state | 2 | 1000 | 0.10% | 39.0 |",
		"| checkout | canary | step 1 | 2 | 100 | 0.00% | 61.0 |",
		"| checkout | canary | step 3 | 2 | 1000 | 0.10% | 65.0 |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("metrics lack %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "resources:checkout") {
		t.Error("resource series should not be in the request metrics")
	}
}
