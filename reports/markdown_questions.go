package reports

import (
	"fmt"
	"strings"

	"github.com/drillhq/drill/harness/journal"
)

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
	var qs questions
	for _, section := range questionSections {
		section(&qs, r)
	}
	return qs
}

// questions collects the review's questions.
type questions []string

// ask adds a question.
func (qs *questions) ask(format string, args ...any) {
	*qs = append(*qs, fmt.Sprintf(format, args...))
}

// questionSections ask about one part of the report each, in the order of
// the report's sections.
var questionSections = []func(*questions, *Report){
	askRun, askSteadyState, askTiming, askExpectations, askFaults,
	askLedger, askSchema, askInvariants, askRollback, askLeftovers,
}

func askRun(qs *questions, r *Report) {
	if r.Error != "" {
		qs.ask("The run ended with an error (%s): what would have prevented it?", inline(r.Error))
	}
	if r.Interrupted {
		qs.ask("The run was interrupted and went through the safe abort: did the abort leave everything as it should?")
	}
}

func askSteadyState(qs *questions, r *Report) {
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
		qs.ask("The steady state needed %d attempts (%d failed): is the baseline noisy, or the hypothesis too strict?", attempts, failedAttempts)
	}
	if !r.SteadyState.OK && r.SteadyState.Detail != "" {
		qs.ask("The steady state did not hold (%s): was the system healthy before the drill?", inline(r.SteadyState.Detail))
	}
}

// askTiming asks about a promotion that should not have happened and about
// slow or missing detection and recovery, unless there was nothing to
// detect.
func askTiming(qs *questions, r *Report) {
	if blocked(r) {
		if r.Expect.Outcome != "" && r.Expect.Outcome != OutcomeBlocked {
			qs.ask("The release was blocked by a contract although %s was expected: is the release incompatible, or the contract stricter than its consumer?", outcomeWords(r.Expect.Outcome))
		}
		return
	}
	if nothingToDetect(r) {
		return
	}
	if wronglyPromoted(r) {
		qs.ask("The release was promoted although %s was expected: why did the analysis not catch it?", outcomeWords(r.Expect.Outcome))
	}
	limit, def := detectWithin(r)
	lim := "the " + secs(limit) + " expected"
	if def {
		lim = "the default " + secs(limit)
	}
	switch {
	case r.DetectionSeconds == nil && !wronglyPromoted(r):
		qs.ask("Nothing was detected: which signal should have caught the bad release?")
	case r.DetectionSeconds != nil && *r.DetectionSeconds > limit:
		qs.ask("Detection took %s, slower than %s: what made it slow (windows, thresholds, traffic)?", secs(*r.DetectionSeconds), lim)
	}
	rlimit, rdef := recoverWithin(r)
	rlim := "the " + secs(rlimit) + " expected"
	if rdef {
		rlim = "the default " + secs(rlimit)
	}
	switch {
	case r.RecoverySeconds == nil && r.DetectedAt != nil:
		qs.ask("Recovery never came after the detection: what kept the system from returning to its baseline?")
	case r.RecoverySeconds != nil && *r.RecoverySeconds > rlimit:
		qs.ask("Recovery took %s, slower than %s: which rollback step took the time?", secs(*r.RecoverySeconds), rlim)
	}
}

func askExpectations(qs *questions, r *Report) {
	for _, e := range r.Expectations {
		if !e.OK {
			qs.ask("Expectation %s failed (%s): was the expectation right, or the system wrong?", inline(e.Name), inline(e.Detail))
		}
	}
}

func askFaults(qs *questions, r *Report) {
	for _, f := range r.Faults {
		if f.Effective != nil && !*f.Effective {
			m := ""
			if f.Measured != "" {
				m = " (" + inline(f.Measured) + ")"
			}
			qs.ask("Fault %s had no observable effect%s: did it hit the right target, and does the drill prove anything without it?", inline(f.Name), m)
		}
		if f.AppliedAt != nil && f.RevertedAt == nil {
			qs.ask("Fault %s was never reverted: what stopped the revert?", inline(f.Name))
		}
	}
}

func askLedger(qs *questions, r *Report) {
	l := r.Data.Ledger
	if l.Lost > 0 {
		qs.ask("%d acknowledged %s lost: where did they go, and would a client notice?", l.Lost, plural(l.Lost, "write was", "writes were"))
	}
	if l.Changed > 0 {
		qs.ask("%d acknowledged %s changed: which code path rewrote %s?", l.Changed, plural(l.Changed, "write was", "writes were"), plural(l.Changed, "it", "them"))
	}
	if l.Duplicated > 0 {
		qs.ask("%d %s duplicated: are the writes idempotent across retries and the rollback?", l.Duplicated, plural(l.Duplicated, "write was", "writes were"))
	}
}

func askSchema(qs *questions, r *Report) {
	if s := r.Data.SchemaRestored; s != nil && !*s {
		v := ""
		if r.Data.SchemaVersion != "" {
			v = " (at version " + inline(r.Data.SchemaVersion) + ")"
		}
		qs.ask("The schema was not restored%s: does the down migration undo everything the up migration did?", v)
	}
}

func askInvariants(qs *questions, r *Report) {
	for _, inv := range r.Data.Invariants {
		switch {
		case inv.Error != "":
			qs.ask("Invariant %s could not be read (%s): is the probe robust to the schema the rollback leaves?", inline(inv.Name), inline(inv.Error))
		case !inv.OK:
			qs.ask("Invariant %s failed (value %s, expected %s): what broke it?", inline(inv.Name), num(inv.Value), num(inv.Expect))
		}
	}
}

func askRollback(qs *questions, r *Report) {
	for _, s := range r.Rollback.Steps {
		if !s.OK {
			qs.ask("Rollback step %s failed (%s): what would an operator do by hand?", inline(s.Label()), inline(s.Detail))
		}
	}
	if len(r.Rollback.Steps) > 0 && !r.Rollback.Idempotent {
		qs.ask("The rollback is not idempotent: what changed the second time, and is it safe to run twice in an incident?")
	}
}

func askLeftovers(qs *questions, r *Report) {
	if n := len(r.Leftovers); n > 0 {
		qs.ask("%d %s left behind (%s): which cleanup missed %s?", n, plural(int64(n), "thing was", "things were"),
			inline(strings.Join(r.Leftovers, "; ")), plural(int64(n), "it", "them"))
	}
}
