package reports

import (
	"fmt"
	"io"
	"math"

	"github.com/olekukonko/tablewriter/tw"
)

// DefaultMaxDrop is how many score points a run may lose against the one
// it is compared with before `drill compare` calls it a regression.
const DefaultMaxDrop = 5

// Comparison is two runs of a scenario side by side: the nightly
// regression gate.
type Comparison struct {
	Old, New *Report
	Rows     []CompareRow
	// Regressions says what got worse beyond the gate: the score dropping
	// by more than the allowed points, or an expectation that held and
	// now fails. Empty when NEW is no worse.
	Regressions []string
}

// CompareRow is one measure of both runs.
type CompareRow struct {
	What, Old, New, Change string
	Worse                  bool // NEW is worse on this measure
}

// Compare sets two reports side by side. maxDrop is the score loss
// allowed before it counts as a regression.
func Compare(old, cur *Report, maxDrop float64) *Comparison {
	c := &Comparison{Old: old, New: cur}
	num := func(what string, o, n *float64, unit string, higherIsWorse bool) {
		row := CompareRow{What: what, Old: optNum(o, unit), New: optNum(n, unit)}
		switch {
		case o != nil && n != nil:
			d := *n - *o
			row.Change = signed(d, unit)
			row.Worse = (higherIsWorse && d > 1e-9) || (!higherIsWorse && d < -1e-9)
		case o != nil && n == nil:
			row.Change, row.Worse = "gone", true
		case o == nil && n != nil:
			row.Change = "new"
		}
		c.Rows = append(c.Rows, row)
	}
	f := func(v float64) *float64 { return &v }
	total := func(r *Report) *float64 { return f(float64(r.Score.Total)) }
	c.Rows = append(c.Rows, CompareRow{What: "outcome", Old: string(old.Outcome), New: string(cur.Outcome),
		Worse: old.Outcome == old.Expect.Outcome && cur.Outcome != cur.Expect.Outcome && cur.Expect.Outcome != ""})
	c.Rows = append(c.Rows, CompareRow{What: "passed", Old: yesNo(old.Passed), New: yesNo(cur.Passed), Worse: old.Passed && !cur.Passed})
	num("score", total(old), total(cur), "", false)
	c.Rows = append(c.Rows, CompareRow{What: "grade", Old: old.Score.Grade, New: cur.Score.Grade, Worse: cur.Score.Grade > old.Score.Grade})
	parts := []struct {
		name string
		get  func(Parts) float64
	}{
		{"detection", func(p Parts) float64 { return p.Detection }},
		{"recovery", func(p Parts) float64 { return p.Recovery }},
		{"blast_radius", func(p Parts) float64 { return p.BlastRadius }},
		{"data_integrity", func(p Parts) float64 { return p.DataIntegrity }},
		{"hygiene", func(p Parts) float64 { return p.Hygiene }},
	}
	for _, p := range parts {
		num("  "+p.name, f(p.get(old.Score.Parts)), f(p.get(cur.Score.Parts)), "", false)
	}
	num("detection time", old.DetectionSeconds, cur.DetectionSeconds, "s", true)
	num("recovery time", old.RecoverySeconds, cur.RecoverySeconds, "s", true)
	rate := func(r *Report) *float64 {
		if r.Requests.Total == 0 {
			return nil
		}
		return f(100 * float64(r.Requests.Failed) / float64(r.Requests.Total))
	}
	num("failed requests", rate(old), rate(cur), "%", true)
	num("excess failed", f(float64(old.Requests.ExcessFailed)), f(float64(cur.Requests.ExcessFailed)), "", true)
	lost := func(r *Report) *float64 {
		if !r.Data.Ledger.Checked {
			return nil
		}
		return f(float64(r.Data.Ledger.Lost + r.Data.Ledger.Changed))
	}
	num("writes lost or changed", lost(old), lost(cur), "", true)
	num("leftovers", f(float64(len(old.Leftovers))), f(float64(len(cur.Leftovers))), "", true)

	if drop := float64(old.Score.Total - cur.Score.Total); drop > maxDrop {
		c.Regressions = append(c.Regressions, fmt.Sprintf("score dropped %g points (%d -> %d), more than --max-drop %g",
			drop, old.Score.Total, cur.Score.Total, maxDrop))
	}
	was := map[string]bool{}
	for _, e := range old.Expectations {
		was[e.Name] = e.OK
	}
	for _, e := range cur.Expectations {
		if ok, seen := was[e.Name]; seen && ok && !e.OK {
			c.Regressions = append(c.Regressions, fmt.Sprintf("expectation %s held and now fails: %s", e.Name, e.Detail))
		}
	}
	return c
}

// Render prints the comparison: a side-by-side table, then the verdict.
func (c *Comparison) Render(w io.Writer) error {
	p := &printer{w: w}
	p.linef("%s: %s vs %s", c.New.Scenario, c.Old.RunID, c.New.RunID)
	if c.Old.Scenario != c.New.Scenario {
		p.linef("warning: comparing different scenarios (%s and %s)", c.Old.Scenario, c.New.Scenario)
	}
	p.linef("")
	p.table([]string{"", "old", "new", "change", ""}, []tw.Align{tw.AlignLeft, tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignLeft},
		func(add func(...string)) {
			for _, r := range c.Rows {
				flag := ""
				if r.Worse {
					flag = "worse"
				}
				add(r.What, r.Old, r.New, r.Change, flag)
			}
		})
	p.linef("")
	if len(c.Regressions) == 0 {
		p.linef("no regression")
	}
	for _, r := range c.Regressions {
		p.linef("REGRESSION: %s", r)
	}
	return p.err
}

func optNum(v *float64, unit string) string {
	if v == nil {
		return "-"
	}
	return trimNum(*v) + unit
}

func signed(d float64, unit string) string {
	if math.Abs(d) < 1e-9 {
		return "="
	}
	s := trimNum(d) + unit
	if d > 0 {
		s = "+" + s
	}
	return s
}

func trimNum(v float64) string { return fmt.Sprintf("%.3g", v) }
