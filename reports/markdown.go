package reports

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/drillhq/drill/harness/journal"
)

func init() {
	Register("markdown", "tabletop review notes: verdict, decision, score, timeline, per-version metrics, data, questions",
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
	mdScore, mdExpectations, mdTimeline, mdMetrics, mdData, mdFaults, mdRollback, mdLeftovers, mdQuestions,
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
	verdict := "FAIL"
	if r.Passed {
		verdict = "PASS"
	}
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

// reviewEvents are the journal events the timeline shows; everything else
// (starts of steps that also record their end, routine bookkeeping) is left
// out. A name ending in "." stands for every event with that prefix.
var reviewEvents = []string{
	"exposure", journal.StepStart,
	journal.FaultApplied, journal.FaultReverted, journal.FaultEffect, journal.FaultSkipped,
	"decision.", "analysis",
	journal.RollbackStep, journal.RecoveryDone,
	"migrate.", journal.SchemaCheck, journal.InvariantCheck, journal.InvariantError,
	journal.LedgerCheckDone, journal.LedgerCheckFailed, journal.SteadyStateAttempt,
}

func reviewed(e Event) bool {
	for _, name := range reviewEvents {
		if e.Event == name || (strings.HasSuffix(name, ".") && strings.HasPrefix(e.Event, name)) {
			if e.Event == "analysis" {
				return fmt.Sprint(e.Fields["verdict"]) == "rollback"
			}
			return true
		}
	}
	return false
}

// eventKeys lists, per event, the fields shown first and in this order;
// other fields follow sorted. Fields in eventSkip are never shown: the
// evidence is summarized in the decision section, the ledger's examples
// are too long for a cell.
var eventKeys = map[string][]string{
	journal.StepStart:          {"step", "weight", "hold", "approval"},
	journal.FaultEffect:        {"fault", "effective", "measured"},
	journal.RollbackStep:       {"step", "ok", "changed", "detail"},
	journal.RecoveryDone:       {"ok", "detail"},
	journal.SchemaCheck:        {"restored", "version", "detail"},
	journal.InvariantCheck:     {"invariant", "value", "expect", "ok", "error"},
	journal.LedgerCheckDone:    {"acknowledged", "lost", "changed", "duplicated", "indeterminate"},
	journal.SteadyStateAttempt: {"attempt", "ok", "detail"},
	"analysis":                 {"verdict", "reason"},
	journal.DecisionRollback:   {"reason"},
}

var eventSkip = map[string]bool{"evidence": true, "examples": true, "diff": true}

func mdTimeline(p *printer, r *Report) {
	mdHeading(p, "Timeline")
	var rows [][]string
	for _, e := range r.Timeline {
		if !reviewed(e) {
			continue
		}
		rows = append(rows, []string{num(math.Round(e.ElapsedSeconds*1000) / 1000), "`" + inlineCode(e.Event) + "`", eventDetail(e)})
	}
	switch {
	case len(r.Timeline) == 0:
		p.linef("The journal is empty.")
		return
	case len(rows) == 0:
		p.linef("No event a reviewer needs among the %d in the journal; the full journal is in report.json.", len(r.Timeline))
		return
	}
	mdTable(p, []string{"t (s)", "event", "detail"}, "rll", rows)
	if n := len(r.Timeline) - len(rows); n > 0 {
		p.linef("")
		p.linef("%d routine %s left out; the full journal is in report.json.", n, plural(int64(n), "event", "events"))
	}
}

func eventDetail(e Event) string {
	var parts []string
	seen := map[string]bool{}
	add := func(k string) {
		seen[k] = true
		v, ok := e.Fields[k]
		if !ok || eventSkip[k] || isEmpty(v) {
			return
		}
		parts = append(parts, k+" "+short(value(v), 120))
	}
	for _, k := range eventKeys[e.Event] {
		add(k)
	}
	for _, k := range sortedKeys(e.Fields) {
		if !seen[k] {
			add(k)
		}
	}
	if v, ok := e.Fields["examples"]; ok && !isEmpty(v) {
		if n := length(v); n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s in report.json", n, plural(int64(n), "example", "examples")))
		}
	}
	return strings.Join(parts, ", ")
}

// phase is a stretch of the run the metrics are averaged over.
type phase struct {
	name  string
	start time.Time
}

// phases splits the run at each step.start and at the rollback decision,
// as the timeline records them. It returns the name of the stretch before
// the first split and the splits in time order.
func phases(r *Report) (string, []phase) {
	var splits []phase
	steps := 0
	decided := false
	for _, e := range r.Timeline {
		switch e.Event {
		case journal.StepStart:
			steps++
			name := "step " + strconv.Itoa(steps)
			if s, ok := e.Fields["step"]; ok && !isEmpty(s) {
				name = "step " + value(s)
			}
			splits = append(splits, phase{name, e.T})
		case journal.DecisionRollback:
			if !decided {
				decided = true
				splits = append(splits, phase{"after rollback decision", e.T})
			}
		}
	}
	if !decided && r.Decision != nil && r.Decision.Verdict == "rollback" && !r.Decision.At.IsZero() {
		splits = append(splits, phase{"after rollback decision", r.Decision.At})
	}
	sort.SliceStable(splits, func(i, j int) bool { return splits[i].start.Before(splits[j].start) })
	switch {
	case len(splits) == 0:
		return "whole run", nil
	case steps == 0:
		return "before rollback decision", splits
	}
	return "steady state", splits
}

type agg struct {
	windows          int
	requests, failed int64
	rateSum, p99Sum  float64
}

func (a agg) errorRate() float64 {
	if a.requests > 0 {
		return float64(a.failed) / float64(a.requests)
	}
	return a.rateSum / float64(a.windows)
}

func mdMetrics(p *printer, r *Report) {
	mdHeading(p, "Requests and per-version metrics")
	p.linef("Requests: %s.", requestsSummary(r.Requests))
	if ex := excludedSummary(r.Requests); ex != "" {
		p.linef("Blast radius: %s.", ex)
	}
	first, splits := phases(r)
	var rows [][]string
	for _, src := range sortedKeys(r.Series) {
		if strings.HasPrefix(src, "resources:") {
			continue // CPU and memory, not requests
		}
		for _, label := range sortedKeys(r.Series[src]) {
			byPhase := map[string]*agg{}
			for _, pt := range r.Series[src][label] {
				name := first
				for _, s := range splits {
					if !pt.Start.Before(s.start) {
						name = s.name
					}
				}
				a := byPhase[name]
				if a == nil {
					a = &agg{}
					byPhase[name] = a
				}
				a.windows++
				a.requests += pt.Requests
				a.failed += pt.Failed
				a.rateSum += pt.ErrorRate
				a.p99Sum += pt.P99Ms
			}
			order := []string{first}
			for _, s := range splits {
				order = append(order, s.name)
			}
			done := map[string]bool{}
			for _, name := range order {
				a := byPhase[name]
				if a == nil || done[name] {
					continue
				}
				done[name] = true
				rows = append(rows, []string{src, label, name, strconv.Itoa(a.windows), strconv.FormatInt(a.requests, 10),
					percent(a.errorRate()), strconv.FormatFloat(a.p99Sum/float64(a.windows), 'f', 1, 64)})
			}
		}
	}
	if len(rows) == 0 {
		p.linef("")
		p.linef("No window metrics were recorded.")
		return
	}
	p.linef("")
	mdTable(p, []string{"source", "version", "phase", "windows", "requests", "error rate", "p99 ms (mean)"}, "lllrrrr", rows)
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
		rows = append(rows, []string{strconv.Itoa(i + 1), s.Name, okFail(s.OK), yesNo(s.Changed), r.at(s.At), s.Detail})
	}
	mdTable(p, []string{"#", "step", "ok", "changed", "at", "detail"}, "rlllrl", rows)
	p.linef("")
	if r.Rollback.Idempotent {
		p.linef("Idempotent: running the rollback a second time changed nothing.")
	} else {
		var changed []string
		for _, s := range r.Rollback.Rerun {
			if s.Changed {
				changed = append(changed, inline(s.Name))
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

func mdQuestions(p *printer, r *Report) {
	mdHeading(p, "Questions for the review")
	qs := reviewQuestions(r)
	if len(qs) == 0 {
		next := "a harsher fault (more latency, a higher error rate, a partition) or a smaller canary step"
		if r.Outcome == OutcomePromoted {
			next = "a fault the analysis should catch, to see that it rolls back"
		}
		p.linef("Nothing went wrong in this drill; next time, try %s.", next)
		return
	}
	for i, q := range qs {
		p.linef("%d. %s", i+1, q)
	}
}

// reviewQuestions lists a question for each thing that went wrong, in the
// order of the report's sections.
func reviewQuestions(r *Report) []string {
	var qs []string
	ask := func(format string, args ...any) { qs = append(qs, fmt.Sprintf(format, args...)) }
	if r.Error != "" {
		ask("The run ended with an error (%s): what would have prevented it?", inline(r.Error))
	}
	if r.Interrupted {
		ask("The run was interrupted and went through the safe abort: did the abort leave everything as it should?")
	}
	attempts, failedAttempts := 0, 0
	for _, e := range r.Timeline {
		if e.Event == journal.SteadyStateAttempt {
			attempts++
			if b, ok := e.Fields["ok"].(bool); ok && !b {
				failedAttempts++
			}
		}
	}
	if attempts > 1 {
		ask("The steady state needed %d attempts (%d failed): is the baseline noisy, or the hypothesis too strict?", attempts, failedAttempts)
	}
	if !r.SteadyState.OK && r.SteadyState.Detail != "" {
		ask("The steady state did not hold (%s): was the system healthy before the drill?", inline(r.SteadyState.Detail))
	}
	if !nothingToDetect(r) {
		if wronglyPromoted(r) {
			ask("The release was promoted although %s was expected: why did the analysis not catch it?", outcomeWords(r.Expect.Outcome))
		}
		limit, def := detectWithin(r)
		lim := "the " + secs(limit) + " expected"
		if def {
			lim = "the default " + secs(limit)
		}
		switch {
		case r.DetectionSeconds == nil && !wronglyPromoted(r):
			ask("Nothing was detected: which signal should have caught the bad release?")
		case r.DetectionSeconds != nil && *r.DetectionSeconds > limit:
			ask("Detection took %s, slower than %s: what made it slow (windows, thresholds, traffic)?", secs(*r.DetectionSeconds), lim)
		}
		rlimit, rdef := recoverWithin(r)
		rlim := "the " + secs(rlimit) + " expected"
		if rdef {
			rlim = "the default " + secs(rlimit)
		}
		switch {
		case r.RecoverySeconds == nil && r.DetectedAt != nil:
			ask("Recovery never came after the detection: what kept the system from returning to its baseline?")
		case r.RecoverySeconds != nil && *r.RecoverySeconds > rlimit:
			ask("Recovery took %s, slower than %s: which rollback step took the time?", secs(*r.RecoverySeconds), rlim)
		}
	}
	for _, e := range r.Expectations {
		if !e.OK {
			ask("Expectation %s failed (%s): was the expectation right, or the system wrong?", inline(e.Name), inline(e.Detail))
		}
	}
	for _, f := range r.Faults {
		if f.Effective != nil && !*f.Effective {
			m := ""
			if f.Measured != "" {
				m = " (" + inline(f.Measured) + ")"
			}
			ask("Fault %s had no observable effect%s: did it hit the right target, and does the drill prove anything without it?", inline(f.Name), m)
		}
		if f.AppliedAt != nil && f.RevertedAt == nil {
			ask("Fault %s was never reverted: what stopped the revert?", inline(f.Name))
		}
	}
	l := r.Data.Ledger
	if l.Lost > 0 {
		ask("%d acknowledged %s lost: where did they go, and would a client notice?", l.Lost, plural(l.Lost, "write was", "writes were"))
	}
	if l.Changed > 0 {
		ask("%d acknowledged %s changed: which code path rewrote %s?", l.Changed, plural(l.Changed, "write was", "writes were"), plural(l.Changed, "it", "them"))
	}
	if l.Duplicated > 0 {
		ask("%d %s duplicated: are the writes idempotent across retries and the rollback?", l.Duplicated, plural(l.Duplicated, "write was", "writes were"))
	}
	if s := r.Data.SchemaRestored; s != nil && !*s {
		v := ""
		if r.Data.SchemaVersion != "" {
			v = " (at version " + inline(r.Data.SchemaVersion) + ")"
		}
		ask("The schema was not restored%s: does the down migration undo everything the up migration did?", v)
	}
	for _, inv := range r.Data.Invariants {
		switch {
		case inv.Error != "":
			ask("Invariant %s could not be read (%s): is the probe robust to the schema the rollback leaves?", inline(inv.Name), inline(inv.Error))
		case !inv.OK:
			ask("Invariant %s failed (value %s, expected %s): what broke it?", inline(inv.Name), num(inv.Value), num(inv.Expect))
		}
	}
	for _, s := range r.Rollback.Steps {
		if !s.OK {
			ask("Rollback step %s failed (%s): what would an operator do by hand?", inline(s.Name), inline(s.Detail))
		}
	}
	if len(r.Rollback.Steps) > 0 && !r.Rollback.Idempotent {
		ask("The rollback is not idempotent: what changed the second time, and is it safe to run twice in an incident?")
	}
	if n := len(r.Leftovers); n > 0 {
		ask("%d %s left behind (%s): which cleanup missed %s?", n, plural(int64(n), "thing was", "things were"),
			inline(strings.Join(r.Leftovers, "; ")), plural(int64(n), "it", "them"))
	}
	return qs
}

// mdTable writes a GitHub-flavoured Markdown table. align has one letter
// per column: l or r.
func mdTable(p *printer, header []string, align string, rows [][]string) {
	line := func(cells []string) {
		esc := make([]string, len(header))
		for i := range header {
			if i < len(cells) {
				esc[i] = cell(cells[i])
			}
		}
		p.linef("| %s |", strings.Join(esc, " | "))
	}
	line(header)
	sep := make([]string, len(header))
	for i := range header {
		sep[i] = "---"
		if i < len(align) && align[i] == 'r' {
			sep[i] = "--:"
		}
	}
	p.linef("|%s|", strings.Join(sep, "|"))
	for _, row := range rows {
		line(row)
	}
}

// cell escapes s for a Markdown table cell: a backslash or a pipe would
// end the cell or escape its delimiter, a newline would end the row.
func cell(s string) string {
	s = strings.ReplaceAll(s, `\`, `\\`)
	s = strings.ReplaceAll(s, "|", `\|`)
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	s = strings.TrimSpace(s)
	return strings.ReplaceAll(s, "\n", "<br>")
}

// inline makes s fit on one line of prose or a heading.
func inline(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func inlineCode(s string) string { return strings.ReplaceAll(inline(s), "`", "'") }

// codeBlock writes lines in a fenced block whose fence is longer than any
// run of backticks inside.
func codeBlock(p *printer, lines []string) {
	longest := 0
	for _, l := range lines {
		run := 0
		for _, c := range l {
			if c == '`' {
				run++
				longest = max(longest, run)
			} else {
				run = 0
			}
		}
	}
	fence := strings.Repeat("`", max(3, longest+1))
	p.linef("%s", fence)
	for _, l := range lines {
		p.linef("%s", strings.TrimRight(l, "\r"))
	}
	p.linef("%s", fence)
}

func outcomeWords(o Outcome) string {
	if o == "" {
		return "no outcome"
	}
	return strings.ReplaceAll(string(o), "_", " ")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// value formats a journal field or evidence value, which is a Go value in
// a fresh report and its JSON decoding in one read from report.json.
func value(v any) string {
	switch x := v.(type) {
	case nil:
		return "-"
	case string:
		return x
	case bool:
		return yesNo(x)
	case float64:
		return num(roundSig(x))
	case float32:
		return num(roundSig(float64(x)))
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return fmt.Sprint(x)
	case time.Duration:
		return x.String()
	case fmt.Stringer:
		return x.String()
	case error:
		return x.Error()
	case map[string]any:
		parts := make([]string, 0, len(x))
		for _, k := range sortedKeys(x) {
			parts = append(parts, k+"="+value(x[k]))
		}
		return "{" + strings.Join(parts, ", ") + "}"
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = value(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case []string:
		return "[" + strings.Join(x, ", ") + "]"
	}
	// Other maps and structs: through JSON, whose maps come out sorted.
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	var generic any
	if json.Unmarshal(b, &generic) == nil {
		if _, isMap := generic.(map[string]any); isMap {
			return value(generic)
		}
		if _, isList := generic.([]any); isList {
			return value(generic)
		}
	}
	return string(b)
}

// roundSig keeps a measured number short: four significant digits.
func roundSig(v float64) float64 {
	if v == math.Trunc(v) || math.IsNaN(v) || math.IsInf(v, 0) {
		return v // counts and whole numbers print in full
	}
	f, err := strconv.ParseFloat(strconv.FormatFloat(v, 'g', 4, 64), 64)
	if err != nil {
		return v
	}
	return f
}

func isEmpty(v any) bool {
	if v == nil {
		return true
	}
	if s, ok := v.(string); ok {
		return s == ""
	}
	return length(v) == 0 && isList(v)
}

func isList(v any) bool {
	k := reflect.ValueOf(v).Kind()
	return k == reflect.Slice || k == reflect.Array || k == reflect.Map
}

func length(v any) int {
	if !isList(v) {
		return -1
	}
	return reflect.ValueOf(v).Len()
}

// short cuts s to at most n runes.
func short(s string, n int) string {
	rs := []rune(s)
	if len(rs) <= n {
		return s
	}
	return string(rs[:n-1]) + "…"
}
