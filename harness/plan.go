package harness

import (
	"fmt"
	"sort"
	"time"

	"github.com/drillhq/drill/harness/journal"
	"github.com/drillhq/drill/injectors"
	"github.com/drillhq/drill/scenarios"
)

// PlanEntry is one line of a drill's planned timeline. At is the offset
// from the start of load; Approx marks times that depend on how the drill
// goes (an operator, the judge).
type PlanEntry struct {
	At     time.Duration
	Approx bool
	What   string
}

// Plan computes a scenario's timeline without running anything: phases,
// steps and when each fault is applied and reverted, assuming every step
// passes and gates are approved at once. Faults scheduled after an event
// that may never happen (a rollback decision) say so.
func Plan(sc *scenarios.Scenario) []PlanEntry {
	var out []PlanEntry
	add := func(at time.Duration, approx bool, format string, args ...any) {
		out = append(out, PlanEntry{At: at, Approx: approx, What: fmt.Sprintf(format, args...)})
	}
	interval := sc.Rollout.Analysis.Interval
	if interval <= 0 {
		interval = time.Second
	}
	warm := satMul(interval, warmupIntervals(sc.SteadyState.Warmup, interval))
	add(0, false, "load starts: %s to %s (warm-up %s)", rateText(sc.Load), sc.Load.Target, warm)
	add(warm, false, "steady state: %s, checking %d SLO(s) (measured again on a miss, %d attempts in all; each extra attempt starts the rollout %s later)",
		sc.SteadyState.Duration, len(sc.SteadyState.SLO), max(sc.SteadyState.Attempts, 1), sc.SteadyState.Duration)
	ss := satAdd(warm, sc.SteadyState.Duration)
	ro := sc.Rollout
	add(ss, false, "rollout of %s: %s -> %s (%s, judge %s every %s)", ro.Service,
		sc.Environment.Service(ro.Service).Baseline, ro.To, ro.Strategy, ro.Analysis.Judge, ro.Analysis.Interval)
	svc := sc.Environment.Service(ro.Service)
	if base, to := svc.Version(svc.Baseline), svc.Version(ro.To); svc.Database != "" && base != nil && to != nil && base.Migration != to.Migration {
		add(ss, false, "canary migration: %s %d -> %d, before the canary takes traffic (a failed migration rolls back)", svc.Database, base.Migration, to.Migration)
	}
	events := map[string]time.Duration{journal.RolloutStart: ss}
	stepAt := map[int]time.Duration{}
	t, approx := ss, false
	for i, st := range ro.Steps {
		stepAt[i+1] = t
		if i == 0 {
			events[journal.StepStart] = t
		}
		if st.IsApproval() {
			add(t, approx, "step %d: approval gate (%s): waits for an operator unless --auto-approve", i+1, st.Approval)
			approx = true
			continue
		}
		add(t, approx, "step %d: %s at %.0f%% for %s", i+1, ro.To, st.Weight*100, st.Hold)
		t = satAdd(t, st.Hold)
	}
	add(t, approx, "promotion if every step passed (any interval may decide rollback instead)")
	for _, f := range sc.Faults {
		var start time.Duration
		fapprox := false
		var when string
		switch at := f.At; {
		case at.Step > 0:
			start, fapprox, when = stepAt[at.Step], approx && at.Step > 1, fmt.Sprintf("at step %d", at.Step)
		case at.After != "":
			base, known := events[at.After]
			if !known {
				add(-1, true, "fault %s (%s on %s): %s after %s, if that happens", f.Name, f.Kind, f.Target, at.Delay, at.After)
				continue
			}
			start, when = satAdd(base, at.Delay), fmt.Sprintf("%s after %s", at.Delay, at.After)
		default:
			start, when = at.Offset, fmt.Sprintf("at %s", at.Offset)
		}
		dur := "until rollback or the end"
		if f.Duration > 0 {
			dur = "for " + f.Duration.String()
		}
		verb := "applied"
		if k, ok := injectors.Lookup(f.Kind); ok {
			switch injectors.MigrationDirection(k) {
			case "up":
				verb = "armed for the canary's migration"
			case "down":
				verb = "armed for the rollback's down migration"
			}
		}
		add(start, fapprox, "fault %s %s (%s on %s, %s, %s)", f.Name, verb, f.Kind, f.Target, when, dur)
		if f.Duration > 0 {
			add(satAdd(start, f.Duration), fapprox, "fault %s reverted", f.Name)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].At < 0 || out[j].At < 0 {
			return out[j].At < 0 && out[i].At >= 0
		}
		return out[i].At < out[j].At
	})
	return out
}

func rateText(l scenarios.LoadSpec) string {
	if l.Ramp != nil {
		return fmt.Sprintf("ramp %s -> %s over %s", l.Ramp.From, l.Ramp.To, l.Ramp.Over)
	}
	return l.Rate.String()
}
