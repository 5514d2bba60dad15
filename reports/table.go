package reports

import (
	"fmt"
	"io"
	"strconv"
	"strings"

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
	for _, section := range tableSections {
		section(p, r)
	}
	return p.err
}

// tableSections are the summary's sections in reading order.
var tableSections = []func(*printer, *Report){
	tableHeader, tableScore, tableExpectations, tableRequestsAndData,
	tableFaults, tableStages, tableRollback, tableLeftovers, tableFormula,
}

// tableHeader writes the verdict line, the run's identity and, when there
// is one, the decision.
func tableHeader(p *printer, r *Report) {
	verdict := r.Verdict()
	outcome := string(r.Outcome)
	if outcome == "" {
		outcome = "no outcome"
	}
	if scored(r) {
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
	if len(r.Tags) > 0 {
		p.linef("tags: %s", strings.Join(r.Tags, ", "))
	}
	if msg := r.starvedText(); msg != "" {
		p.linef("%s", msg)
	}
	if r.Interrupted {
		p.linef("interrupted: the run went through the safe abort")
	}
	if r.Error != "" {
		p.linef("error: %s", r.Error)
	}
	if d := r.Decision; d != nil {
		p.linef("decision: %s at %s: %s", d.Verdict, r.at(d.At), d.Reason)
	}
}

// scored says whether r has a score: a report written before Evaluate ran
// has none.
func scored(r *Report) bool { return r.Score.Grade != "" }

func tableScore(p *printer, r *Report) {
	if !scored(r) {
		p.section("Score: not scored")
		return
	}
	p.section("Score")
	p.table([]string{"part", "points", "max", "detail"}, []tw.Align{tw.AlignLeft, tw.AlignRight, tw.AlignRight, tw.AlignLeft},
		func(add func(...string)) {
			for _, part := range r.Score.Breakdown() {
				add(part.Name, strconv.FormatFloat(part.Points, 'f', 1, 64), num(part.Max), part.Detail)
			}
			add("total", strconv.Itoa(r.Score.Total), "100", "grade "+r.Score.Grade)
		})
}

func tableExpectations(p *printer, r *Report) {
	if len(r.Expectations) == 0 {
		p.section("Expectations: none set")
		return
	}
	p.section("Expectations")
	p.table([]string{"name", "ok", "detail"}, nil, func(add func(...string)) {
		for _, e := range r.Expectations {
			add(e.Name, okFail(e.OK), e.Detail)
		}
	})
}

func tableRequestsAndData(p *printer, r *Report) {
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
}

func tableFaults(p *printer, r *Report) {
	if len(r.Faults) == 0 {
		p.section("Faults: none")
		return
	}
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

func tableRollback(p *printer, r *Report) {
	if len(r.Rollback.Steps) == 0 {
		p.section("Rollback: none ran")
		return
	}
	idem := "idempotent: a second run changed nothing"
	if !r.Rollback.Idempotent {
		idem = "NOT idempotent: a second run changed something"
	}
	p.section("Rollback (" + idem + ")")
	p.table([]string{"#", "step", "ok", "changed", "at", "detail"},
		[]tw.Align{tw.AlignRight, tw.AlignLeft, tw.AlignLeft, tw.AlignLeft, tw.AlignRight, tw.AlignLeft},
		func(add func(...string)) {
			for i, s := range r.Rollback.Steps {
				add(strconv.Itoa(i+1), s.Label(), okFail(s.OK), yesNo(s.Changed), r.at(s.At), s.Detail)
			}
		})
}

func tableLeftovers(p *printer, r *Report) {
	if len(r.Leftovers) == 0 {
		p.section("Leftovers: none")
		return
	}
	p.section("Leftovers")
	for _, l := range r.Leftovers {
		p.linef("  - %s", l)
	}
}

// tableFormula ends the summary with the score's formula and where the run
// directory is.
func tableFormula(p *printer, r *Report) {
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
}
