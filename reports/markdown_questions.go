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
