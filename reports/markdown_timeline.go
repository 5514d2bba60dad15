package reports

import (
	"fmt"
	"math"
	"strings"

	"github.com/drillhq/drill/harness/journal"
)

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
	// People in the loop: every command, a gate's wait and answer, the
	// judge's rollback that did not act.
	"operator.", "approval.", journal.JudgeWouldRollback, journal.PauseExpired,
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
	journal.OperatorCommand:    {"as", "command", "arg", "via", "effect"},
	journal.OperatorRefused:    {"as", "command", "arg", "via", "effect"},
	journal.JudgeWouldRollback: {"service", "mode", "reason"},
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
