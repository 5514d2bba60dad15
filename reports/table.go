package reports

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/pkg/twwidth"
	"github.com/olekukonko/tablewriter/tw"
)

// TableWidth is the width the table renderer keeps within, so that the
// summary reads in a default terminal and in CI logs.
const TableWidth = 100

func init() {
	Register("table", "terminal summary: verdict, score parts, expectations, faults, rollback",
		RendererFunc(renderTable))
}

// renderTable writes the summary printed at the end of a run. Sections
// follow the order a reader asks questions in: did it pass, why this score,
// which expectation failed, what happened to requests and data, what was
// injected, how the rollback went, what was left behind.
func renderTable(w io.Writer, r *Report) error {
	r, err := safeCopy(r, false) // no terminal control from the report's strings
	if err != nil {
		return err
	}
	p := &printer{w: w}
	verdict := "FAIL"
	if r.Passed {
		verdict = "PASS"
	}
	outcome := string(r.Outcome)
	if outcome == "" {
		outcome = "no outcome"
	}
	scored := r.Score.Grade != "" // a report written before Evaluate ran
	if scored {
		p.linef("%s: %s, %s, grade %s (%d/100)", r.Scenario, outcome, verdict, r.Score.Grade, r.Score.Total)
	} else {
		p.linef("%s: %s, %s, not scored", r.Scenario, outcome, verdict)
	}
	if r.Description != "" {
		p.linef("%s", r.Description)
	}
	var run []string
	if r.RunID != "" {
		run = append(run, "run "+r.RunID)
	}
	if r.Provider != "" {
		run = append(run, "provider "+r.Provider)
	}
	run = append(run, fmt.Sprintf("seed %d", r.Seed))
	if !r.StartedAt.IsZero() && !r.EndedAt.IsZero() {
		run = append(run, "took "+secs(r.EndedAt.Sub(r.StartedAt).Seconds()))
	}
	p.linef("%s", strings.Join(run, ", "))
	if r.Interrupted {
		p.linef("interrupted: the run went through the safe abort")
	}
	if r.Error != "" {
		p.linef("error: %s", r.Error)
	}
	if d := r.Decision; d != nil {
		p.linef("decision: %s at %s: %s", d.Verdict, r.at(d.At), d.Reason)
	}

	if !scored {
		p.section("Score: not scored")
	} else {
		p.section("Score")
		p.table([]string{"part", "points", "max", "detail"}, []tw.Align{tw.AlignLeft, tw.AlignRight, tw.AlignRight, tw.AlignLeft},
			func(add func(...string)) {
				for _, part := range r.Score.Breakdown() {
					add(part.Name, strconv.FormatFloat(part.Points, 'f', 1, 64), num(part.Max), part.Detail)
				}
				add("total", strconv.Itoa(r.Score.Total), "100", "grade "+r.Score.Grade)
			})
	}

	if len(r.Expectations) == 0 {
		p.section("Expectations: none set")
	} else {
		p.section("Expectations")
		p.table([]string{"name", "ok", "detail"}, nil, func(add func(...string)) {
			for _, e := range r.Expectations {
				add(e.Name, okFail(e.OK), e.Detail)
			}
		})
	}

	p.section("Requests and data")
	p.linef("requests: %s", requestsSummary(r.Requests))
	if ex := excludedSummary(r.Requests); ex != "" {
		p.linef("blast radius: %s", ex)
	}
	p.linef("ledger: %s", ledgerSummary(r.Data.Ledger))
	schema := schemaSummary(r.Data, "NOT restored", func(s string) string { return s })
	p.linef("schema: %s", schema)
	for _, line := range r.Data.SchemaDiff {
		p.linef("  schema %s", line)
	}
	if len(r.Data.Invariants) == 0 {
		p.linef("invariants: none")
	}
	for _, inv := range r.Data.Invariants {
		if inv.Error != "" {
			p.linef("invariant %s: ERROR %s", inv.Name, inv.Error)
			continue
		}
		p.linef("invariant %s: %s (expect %s) %s", inv.Name, num(inv.Value), num(inv.Expect), okFail(inv.OK))
	}

	if len(r.Faults) == 0 {
		p.section("Faults: none")
	} else {
		p.section("Faults")
		p.table([]string{"name", "kind", "target", "applied", "reverted", "effective"}, nil,
			func(add func(...string)) {
				for _, f := range r.Faults {
					reverted := r.atPtr(f.RevertedAt)
					if f.AppliedAt != nil && f.RevertedAt == nil {
						reverted = "NOT REVERTED"
					}
					add(f.Name, f.Kind, f.Target, r.atPtr(f.AppliedAt), reverted, effective(f))
				}
			})
	}

	switch {
	case len(r.Rollback.Steps) == 0:
		p.section("Rollback: none ran")
	default:
		idem := "idempotent: a second run changed nothing"
		if !r.Rollback.Idempotent {
			idem = "NOT idempotent: a second run changed something"
		}
		p.section("Rollback (" + idem + ")")
		p.table([]string{"#", "step", "ok", "changed", "at", "detail"},
			[]tw.Align{tw.AlignRight, tw.AlignLeft, tw.AlignLeft, tw.AlignLeft, tw.AlignRight, tw.AlignLeft},
			func(add func(...string)) {
				for i, s := range r.Rollback.Steps {
					add(strconv.Itoa(i+1), s.Name, okFail(s.OK), yesNo(s.Changed), r.at(s.At), s.Detail)
				}
			})
	}

	if len(r.Leftovers) == 0 {
		p.section("Leftovers: none")
	} else {
		p.section("Leftovers")
		for _, l := range r.Leftovers {
			p.linef("  - %s", l)
		}
	}

	p.section("Formula")
	formula := r.Score.Formula
	if formula == "" {
		formula = Formula
	}
	for _, line := range strings.Split(formula, "\n") {
		p.linef("  %s", line)
	}
	if r.RunDir != "" {
		p.section("Run directory: " + r.RunDir)
	}
	return p.err
}

// printer writes lines and tables, keeping the first error so that the
// renderer reads top to bottom without an error check per line.
type printer struct {
	w   io.Writer
	err error
}

func (p *printer) linef(format string, args ...any) {
	if p.err != nil {
		return
	}
	_, p.err = fmt.Fprintf(p.w, format+"\n", args...)
}

func (p *printer) section(title string) {
	p.linef("")
	p.linef("%s", title)
}

// table renders one tablewriter table. Columns get widths from fitWidths,
// and cells wrap at word boundaries within them, so that long details stay
// within TableWidth.
func (p *printer) table(header []string, align []tw.Align, rows func(add func(...string))) {
	if p.err != nil {
		return
	}
	var cells [][]string
	rows(func(row ...string) { cells = append(cells, row) })
	widths := tw.NewMapper[int, int]()
	for i, w := range fitWidths(header, cells, TableWidth) {
		widths[i] = w + 2 // a space of padding on each side
	}
	opts := []tablewriter.Option{
		// Headers such as p99_ms must print as written, not as "P 99 MS".
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithHeaderAlignment(tw.AlignLeft),
		tablewriter.WithRowAutoWrap(tw.WrapNormal),
		tablewriter.WithColumnWidths(widths),
	}
	if align != nil {
		opts = append(opts, tablewriter.WithRowAlignmentConfig(tw.CellAlignment{PerColumn: align}))
	} else {
		opts = append(opts, tablewriter.WithRowAlignment(tw.AlignLeft))
	}
	t := tablewriter.NewTable(p.w, opts...)
	t.Header(toAny(header)...)
	for _, row := range cells {
		if p.err = t.Append(toAny(row)...); p.err != nil {
			return
		}
	}
	p.err = t.Render()
}

// minColumn is the narrowest fitWidths makes a column: narrower, words
// would break mid-way.
const minColumn = 12

// fitWidths returns the content width of each column: its widest cell, with
// the widest columns narrowed in turn until the table, borders and padding
// included, fits in total. tablewriter's own MaxWidth splits the width
// evenly between columns, which squeezes the detail column while short
// columns waste space.
func fitWidths(header []string, rows [][]string, total int) []int {
	w := make([]int, len(header))
	for i, h := range header {
		w[i] = twwidth.Width(h)
	}
	for _, row := range rows {
		for i, c := range row {
			if i < len(w) {
				w[i] = max(w[i], twwidth.Width(c))
			}
		}
	}
	budget := total - (3*len(w) + 1) // "│ " before each column, " │" after the last
	sum := 0
	for _, v := range w {
		sum += v
	}
	for sum > budget {
		widest := 0
		for i := range w {
			if w[i] > w[widest] {
				widest = i
			}
		}
		if w[widest] <= minColumn {
			break // cannot fit without breaking words; let it overflow
		}
		w[widest]--
		sum--
	}
	return w
}

func toAny(s []string) []any {
	a := make([]any, len(s))
	for i, v := range s {
		a[i] = v
	}
	return a
}

// at formats t as an offset from the start of the run, which reads more
// easily than wall-clock times when comparing events.
func (r *Report) at(t time.Time) string {
	switch {
	case t.IsZero():
		return "-"
	case r.StartedAt.IsZero():
		return t.UTC().Format("15:04:05.000")
	}
	d, sign := t.Sub(r.StartedAt).Seconds(), "+"
	if d < 0 {
		d, sign = -d, "-"
	}
	return sign + secs(d)
}

func (r *Report) atPtr(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return r.at(*t)
}

func effective(f Fault) string {
	e := "unknown"
	if f.Effective != nil {
		e = yesNo(*f.Effective)
	}
	if f.Measured != "" {
		e += ": " + f.Measured
	}
	return e
}

func okFail(ok bool) string {
	if ok {
		return "ok"
	}
	return "FAIL"
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// requestsSummary is the load's counts in one line, for every renderer.
func requestsSummary(q Requests) string {
	s := fmt.Sprintf("%d total, %d failed", q.Total, q.Failed)
	if q.Total > 0 {
		s += fmt.Sprintf(" (%s), %d excess (%s)", percent(float64(q.Failed)/float64(q.Total)),
			q.ExcessFailed, percent(float64(q.ExcessFailed)/float64(q.Total)))
	} else {
		s += fmt.Sprintf(", %d excess", q.ExcessFailed)
	}
	return s + "; baseline failure rate " + percent(q.BaselineFailureRate)
}

// excludedSummary says which requests the blast radius left out and why,
// or "" when it counted every request.
func excludedSummary(q Requests) string {
	if q.ExcludedTotal == 0 {
		return ""
	}
	return fmt.Sprintf("over %d sent after T0; %d before (%d failed) left out: %s",
		q.ExposedTotal, q.ExcludedTotal, q.ExcludedFailed, q.ExcludedReason)
}

// ledgerSummary is the ledger's counts in one line, for every renderer.
func ledgerSummary(l Ledger) string {
	if !l.Checked {
		return "not checked"
	}
	return fmt.Sprintf("%d acknowledged, %d lost, %d changed, %d duplicated, %d indeterminate",
		l.Acknowledged, l.Lost, l.Changed, l.Duplicated, l.Indeterminate)
}

// schemaSummary says whether the schema was restored and at which
// version; notRestored and code are the renderer's markup for the failure
// and for the version.
func schemaSummary(d Data, notRestored string, code func(string) string) string {
	s := "not checked"
	if d.SchemaRestored != nil {
		s = "restored"
		if !*d.SchemaRestored {
			s = notRestored
		}
	}
	if d.SchemaVersion != "" {
		s += ", at version " + code(d.SchemaVersion)
	}
	return s
}
