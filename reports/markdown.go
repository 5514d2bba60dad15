package reports

import (
	"fmt"
	"io"
	"strconv"
	"strings"
)

func init() {
	RegisterFile("markdown", "report.md", "tabletop review notes: verdict, decision, score, timeline, per-version metrics, data, questions",
		RendererFunc(renderMarkdown))
}

// renderMarkdown writes the notes a team reads in a tabletop review of one
// drill: what happened, in the order it happened, and at the end the
// questions the run raises. It reads nothing but r, and its output depends
// on nothing but r (maps are walked in sorted order).
func renderMarkdown(w io.Writer, r *Report) error {
	// No terminal control, raw HTML or script link from the report's
	// strings (the HTML renderer escapes through goldmark instead).
	r, err := safeCopy(r, true)
	if err != nil {
		return err
	}
	p := &printer{w: w}
	for _, section := range mdSections {
		section(p, r)
	}
	return p.err
}

// mdSections are the report's sections in reading order. The HTML report
// renders the same sections, with its charts after the first mdLead of
// them (the verdict and the decision), so the two never drift apart.
var mdSections = []func(*printer, *Report){
	mdHeader, mdDecision,
	mdScore, mdExpectations, mdGameDay, mdTimeline, mdMetrics, mdData, mdFaults, mdRelease, mdStages, mdContracts, mdCompatibility, mdRollback, mdLeftovers, mdQuestions,
}

// mdHeading starts a section: a blank line, the heading, a blank line.
func mdHeading(p *printer, title string) {
	p.linef("")
	p.linef("## %s", title)
	p.linef("")
}

// mdLead is how many of mdSections come before the HTML report's charts.
const mdLead = 2

func mdHeader(p *printer, r *Report) {
	verdict := r.Verdict()
	scenario := inline(r.Scenario)
	if scenario == "" {
		scenario = "unnamed scenario"
	}
	if r.Score.Grade != "" {
		p.linef("# %s: %s — %s, grade %s (%d/100)", scenario, outcomeWords(r.Outcome), verdict, r.Score.Grade, r.Score.Total)
	} else {
		p.linef("# %s: %s — %s, not scored", scenario, outcomeWords(r.Outcome), verdict)
	}
	if d := strings.TrimSpace(r.Description); d != "" {
		p.linef("")
		p.linef("%s", d)
	}
	var run []string
	if r.RunID != "" {
		run = append(run, "run `"+inlineCode(r.RunID)+"`")
	}
	if r.Provider != "" {
		run = append(run, "provider "+inline(r.Provider))
	}
	run = append(run, fmt.Sprintf("seed %d", r.Seed))
	if !r.StartedAt.IsZero() && !r.EndedAt.IsZero() {
		run = append(run, "took "+secs(r.EndedAt.Sub(r.StartedAt).Seconds()))
	}
	p.linef("")
	p.linef("%s", strings.Join(run, " · "))
	if len(r.Tags) > 0 {
		tags := make([]string, len(r.Tags))
		for i, t := range r.Tags {
			tags[i] = "`" + inlineCode(t) + "`"
		}
		p.linef("")
		p.linef("Tags: %s", strings.Join(tags, " "))
	}
	if msg := r.starvedText(); msg != "" {
		p.linef("")
		p.linef("**Inconclusive:** %s", inline(strings.TrimPrefix(msg, "inconclusive: ")))
	}
	if r.Interrupted {
		p.linef("")
		p.linef("**Interrupted:** the run was stopped and went through the safe abort.")
	}
	if r.Error != "" {
		p.linef("")
		p.linef("**Error:** %s", inline(r.Error))
	}
}

func mdDecision(p *printer, r *Report) {
	mdHeading(p, "Decision")
	d := r.Decision
	if d == nil {
		p.linef("The analysis never decided.")
		return
	}
	verdict := d.Verdict
	if verdict == "" {
		verdict = "no verdict"
	}
	p.linef("**%s** at %s: %s", inline(verdict), r.at(d.At), inline(d.Reason))
	if len(d.Evidence) == 0 {
		return
	}
	p.linef("")
	p.linef("Evidence:")
	p.linef("")
	for _, k := range sortedKeys(d.Evidence) {
		p.linef("- %s: %s", inline(k), inline(short(value(d.Evidence[k]), 160)))
	}
}

func mdScore(p *printer, r *Report) {
	mdHeading(p, "Score")
	if r.Score.Grade == "" {
		p.linef("Not scored.")
	} else {
		rows := [][]string{}
		for _, part := range r.Score.Breakdown() {
			rows = append(rows, []string{part.Name, strconv.FormatFloat(part.Points, 'f', 1, 64), num(part.Max), part.Detail})
		}
		rows = append(rows, []string{"**total**", "**" + strconv.Itoa(r.Score.Total) + "**", "100", "grade " + r.Score.Grade})
		mdTable(p, []string{"part", "points", "max", "detail"}, "lrrl", rows)
	}
	formula := r.Score.Formula
	if formula == "" {
		formula = Formula
	}
	p.linef("")
	p.linef("Formula:")
	p.linef("")
	codeBlock(p, strings.Split(formula, "\n"))
}

func mdExpectations(p *printer, r *Report) {
	mdHeading(p, "Expectations")
	if len(r.Expectations) == 0 {
		p.linef("None set.")
		return
	}
	var rows [][]string
	for _, e := range r.Expectations {
		rows = append(rows, []string{e.Name, okFail(e.OK), e.Detail})
	}
	mdTable(p, []string{"expectation", "ok", "detail"}, "lll", rows)
}

func mdData(p *printer, r *Report) {
	mdHeading(p, "Data checks")
	p.linef("- ledger: %s", ledgerSummary(r.Data.Ledger))
	schema := schemaSummary(r.Data, "**NOT restored**", inline)
	p.linef("- schema: %s", schema)
	if len(r.Data.SchemaDiff) > 0 {
		p.linef("")
		p.linef("Schema differences from before the rollout:")
		p.linef("")
		codeBlock(p, r.Data.SchemaDiff)
	}
	p.linef("")
	if len(r.Data.Invariants) == 0 {
		p.linef("No invariants.")
		return
	}
	var rows [][]string
	for _, inv := range r.Data.Invariants {
		val, ok := num(inv.Value), okFail(inv.OK)
		if inv.Error != "" {
			val, ok = "-", "ERROR"
		}
		rows = append(rows, []string{inv.Name, val, num(inv.Expect), ok, inv.Error})
	}
	mdTable(p, []string{"invariant", "value", "expect", "ok", "error"}, "lrrll", rows)
}

func mdFaults(p *printer, r *Report) {
	mdHeading(p, "Faults")
	if len(r.Faults) == 0 {
		p.linef("None injected.")
		return
	}
	var rows [][]string
	for _, f := range r.Faults {
		applied := r.atPtr(f.AppliedAt)
		if f.AppliedAt == nil {
			applied = "never"
		}
		reverted := r.atPtr(f.RevertedAt)
		if f.AppliedAt != nil && f.RevertedAt == nil {
			reverted = "**NOT REVERTED**"
		}
		rows = append(rows, []string{f.Name, f.Kind, f.Target, applied, reverted, effective(f)})
	}
	mdTable(p, []string{"fault", "kind", "target", "applied", "reverted", "effective"}, "lllrrl", rows)
}

func mdRollback(p *printer, r *Report) {
	mdHeading(p, "Rollback")
	if len(r.Rollback.Steps) == 0 {
		p.linef("None ran.")
		return
	}
	var rows [][]string
	for i, s := range r.Rollback.Steps {
		rows = append(rows, []string{strconv.Itoa(i + 1), s.Label(), okFail(s.OK), yesNo(s.Changed), r.at(s.At), s.Detail})
	}
	mdTable(p, []string{"#", "step", "ok", "changed", "at", "detail"}, "rlllrl", rows)
	p.linef("")
	if r.Rollback.Idempotent {
		p.linef("Idempotent: running the rollback a second time changed nothing.")
	} else {
		var changed []string
		for _, s := range r.Rollback.Rerun {
			if s.Changed {
				changed = append(changed, inline(s.Label()))
			}
		}
		msg := "**Not idempotent:** running the rollback a second time changed something"
		if len(changed) > 0 {
			msg += " (" + strings.Join(changed, ", ") + ")"
		}
		p.linef("%s.", msg)
	}
}

func mdLeftovers(p *printer, r *Report) {
	mdHeading(p, "Leftovers")
	if len(r.Leftovers) == 0 {
		p.linef("Nothing was left behind.")
		return
	}
	for _, l := range r.Leftovers {
		p.linef("- %s", inline(l))
	}
}

func outcomeWords(o Outcome) string {
	if o == "" {
		return "no outcome"
	}
	return strings.ReplaceAll(string(o), "_", " ")
}

// mdRelease says what the rollout moved and how: a blue-green switch and
// switch back, a flag's restoration and its proof on every instance.
func mdRelease(p *printer, r *Report) {
	rel := r.Release
	if rel == nil || (rel.Strategy == "canary" && rel.RouteBackSeconds == nil) {
		return // a canary's story is the timeline and the rollback
	}
	mdHeading(p, "Release")
	what := fmt.Sprintf("%s %s → %s", inline(rel.Service), inline(rel.From), inline(rel.To))
	if rel.Flag != "" {
		what = fmt.Sprintf("flag %s of %s: %s → %s", inline(rel.Flag), inline(rel.Service), inline(rel.From), inline(rel.To))
	}
	p.linef("Strategy %s: %s.", inline(rel.Strategy), what)
	var rows [][]string
	add := func(name string, v *float64, unit, note string) {
		if v != nil {
			rows = append(rows, []string{name, strconv.FormatFloat(*v, 'f', 3, 64) + unit, note})
		}
	}
	add("switch_seconds", rel.SwitchSeconds, " s", "switch until blue had nothing in flight")
	if rel.SwitchFailed != nil {
		rows = append(rows, []string{"switch_failed", strconv.FormatInt(*rel.SwitchFailed, 10), "client requests failed across the switch (goal 0)"})
	}
	if rel.ScaledDownAt != nil {
		rows = append(rows, []string{"scaled_down_at", r.at(*rel.ScaledDownAt), "blue stopped after scale_down_delay"})
	}
	if rel.SwitchBack != "" {
		rows = append(rows, []string{"switch_back", rel.SwitchBack, "warm: blue was still up; cold: blue was started again first"})
	}
	add("route_back_seconds", rel.RouteBackSeconds, " s", "rollback decision until all traffic was on the baseline")
	add("redeploy_seconds", rel.RedeploySeconds, " s", "cold start of the baseline")
	if rel.RedeployDigest != "" {
		same := "unknown"
		if rel.RedeployDigestMatches != nil {
			same = yesNo(*rel.RedeployDigestMatches)
		}
		rows = append(rows, []string{"redeploy_digest", inline(rel.RedeployDigest), "the build recorded at start: " + same})
	}
	add("flags_restored_seconds", rel.FlagsRestoredSeconds, " s", "rollback decision until every instance served the restored flags")
	if len(rows) > 0 {
		p.linef("")
		mdTable(p, []string{"measure", "value", "what"}, "lrl", rows)
	}
	for _, f := range rel.Flags {
		p.linef("")
		p.linef("Flag %s restored at revision %d: published %s, served %s, %s.", inline(f.Key), f.Revision, yesNo(f.Published), yesNo(f.Served), okFail(f.OK))
		var ir [][]string
		for _, e := range f.Instances {
			ir = append(ir, []string{inline(e.Instance), inline(e.Variant), strconv.FormatInt(e.Revision, 10), r.at(e.Since), yesNo(e.Fallback)})
		}
		if len(ir) > 0 {
			p.linef("")
			mdTable(p, []string{"instance", "last variant", "revision", "since", "fallback"}, "llrrl", ir)
		}
		if f.Detail != "" {
			p.linef("")
			p.linef("%s", inline(f.Detail))
		}
	}
}
