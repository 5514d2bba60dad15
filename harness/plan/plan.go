// Package plan computes a drill's timeline without running anything
// (`drill plan`), and holds the saturating time arithmetic that timeline
// and the load's hard bound share: a scenario's durations are the user's,
// and a sum of them must not wrap.
package plan

import (
	"cmp"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/drillhq/drill/harness/journal"
	"github.com/drillhq/drill/harness/strategy"
	"github.com/drillhq/drill/injectors"
	"github.com/drillhq/drill/scenarios"
)

// Entry is one line of a drill's planned timeline. At is the offset from
// the start of load (-1: it may never happen); Approx marks times that
// depend on how the drill goes (an operator, the judge).
type Entry struct {
	At     time.Duration
	Approx bool
	What   string
}

// Release is the rollout a plan shows, as the drill would run it (the
// harness makes it): the names the strategy moves, its phases, and the
// versions before and after (To == Base for a flag release, which starts
// no new instance).
type Release struct {
	Names    strategy.Release
	Phases   []strategy.Phase
	Base, To *scenarios.Version
}

// Build computes sc's timeline without running anything: phases, steps
// and when each fault is applied and reverted, assuming every step passes
// and gates are approved at once. Faults scheduled after an event that
// may never happen (a rollback decision) say so. relErr is why the
// release could not be made (the plan then says so where the rollout
// would start).
func Build(sc *scenarios.Scenario, rel Release, relErr error) []Entry {
	p := &planner{events: map[string]time.Duration{}, stepAt: map[int]time.Duration{}}
	interval := sc.Rollout.Analysis.Interval
	if interval <= 0 {
		interval = time.Second
	}
	warm := SatMul(interval, WarmupIntervals(sc.SteadyState.Warmup, interval))
	p.add(0, false, "load starts: %s to %s (warm-up %s)", rateText(sc.Load), sc.Load.Target, warm)
	p.add(warm, false, "steady state: %s, checking %d SLO(s) (measured again on a miss, %d attempts in all; each extra attempt starts the rollout %s later)",
		sc.SteadyState.Duration, len(sc.SteadyState.SLO), max(sc.SteadyState.Attempts, 1), sc.SteadyState.Duration)
	p.rollout(sc, rel, relErr, SatAdd(warm, sc.SteadyState.Duration))
	for _, f := range sc.Faults {
		p.fault(f)
	}
	sort.SliceStable(p.out, func(i, j int) bool {
		if p.out[i].At < 0 || p.out[j].At < 0 {
			return p.out[j].At < 0 && p.out[i].At >= 0
		}
		return p.out[i].At < p.out[j].At
	})
	return p.out
}

// planner accumulates a plan: its entries, when the events faults can wait
// for happen, and whether the times from here on are approximate.
type planner struct {
	out    []Entry
	events map[string]time.Duration
	stepAt map[int]time.Duration
	approx bool // a gate came before: later times depend on an operator
}

func (p *planner) add(at time.Duration, approx bool, format string, args ...any) {
	p.out = append(p.out, Entry{At: at, Approx: approx, What: fmt.Sprintf(format, args...)})
}

// rollout plans the rollout starting at ss: the new version's migration,
// every phase of the strategy, the promotion.
func (p *planner) rollout(sc *scenarios.Scenario, rel Release, relErr error, ss time.Duration) {
	ro := sc.Rollout
	svc := sc.Environment.Service(ro.Service)
	if relErr != nil {
		p.add(ss, false, "rollout of %s: %v", ro.Service, relErr)
		return
	}
	names := rel.Names
	what := names.Baseline + " -> " + names.To
	if names.Flag != "" {
		what = fmt.Sprintf("flag %s: %s", names.Flag, what)
	}
	if moves := ro.Moves(); len(moves) > 1 {
		// A release of several services: each moves through the same
		// phases, in this order; the rollback undoes them in reverse.
		var all []string
		for _, m := range moves {
			all = append(all, m.Service+" -> "+m.To)
		}
		what = "release " + strings.Join(all, ", ") + "; each step below applies to every service, in this order"
	}
	p.add(ss, false, "rollout of %s: %s (%s, judge %s every %s)", ro.Service, what, ro.Strategy, ro.Analysis.Judge, ro.Analysis.Interval)
	if base, to := rel.Base, rel.To; svc.Database != "" && to != base && base.Migration != to.Migration {
		p.add(ss, false, "migration of the new version: %s %d -> %d, before it takes traffic (a failed migration rolls back)", svc.Database, base.Migration, to.Migration)
	}
	p.events[journal.RolloutStart] = ss
	t := ss
	for i, ph := range rel.Phases {
		p.stepAt[i+1] = t
		if i == 0 {
			p.events[journal.StepStart] = t
		}
		if ph.Approval {
			timeout, onTimeout := scenarios.DefaultGateTimeout, scenarios.OnTimeoutReject
			if ph.Step > 0 && ph.Step <= len(sc.Rollout.Steps) {
				st := sc.Rollout.Steps[ph.Step-1]
				timeout, onTimeout = cmp.Or(st.Timeout, timeout), cmp.Or(st.OnTimeout, onTimeout)
			}
			p.add(t, p.approx, "step %d: approval gate (manual): waits for an operator unless --auto-approve (stdin, drill ctl or the dashboard; %s after %s)", i+1, onTimeout, timeout)
			p.approx = true
			continue
		}
		p.add(t, p.approx, "%s", phaseText(i+1, ph, names))
		if ph.ScaleDownAfter > 0 && ph.ScaleDownAfter < ph.Hold {
			p.add(SatAdd(t, ph.ScaleDownAfter), p.approx, "%s stopped (scale_down_delay %s): a rollback from here starts it again, cold", names.Baseline, ph.ScaleDownAfter)
		}
		t = SatAdd(t, ph.Hold)
	}
	p.add(t, p.approx, "promotion if every phase passed (any interval may decide rollback instead)")
}

// phaseText says what phase no of a rollout does, for the plan.
func phaseText(no int, ph strategy.Phase, rel strategy.Release) string {
	judged := "judged against " + rel.Baseline + "'s live traffic"
	if ph.Reference {
		judged = "judged against the steady state's reference"
	}
	switch {
	case ph.PreviewRate > 0:
		return fmt.Sprintf("step %d (%s): %s gets synthetic load at %g/s from the request templates, no live traffic, for %s, %s",
			no, ph.Name, rel.To, ph.PreviewRate, ph.Hold, judged)
	case ph.Switch:
		return fmt.Sprintf("step %d (%s): switch 100%% to %s at once (%s drains, switch_seconds and switch_failed measured); held %s, %s",
			no, ph.Name, rel.To, rel.Baseline, ph.Hold, judged)
	case rel.Flag != "":
		return fmt.Sprintf("step %d: flag %s=%s for %.0f%% of targeting keys for %s, %s", no, rel.Flag, rel.To, ph.Weight*100, ph.Hold, judged)
	}
	return fmt.Sprintf("step %d: %s at %.0f%% for %s", no, rel.To, ph.Weight*100, ph.Hold)
}

// fault plans when f is applied (or armed) and reverted.
func (p *planner) fault(f *scenarios.Fault) {
	var start time.Duration
	fapprox := false
	var when string
	switch at := f.At; {
	case at.Step > 0:
		start, fapprox, when = p.stepAt[at.Step], p.approx && at.Step > 1, fmt.Sprintf("at step %d", at.Step)
	case at.After != "":
		base, known := p.events[at.After]
		if !known {
			p.add(-1, true, "fault %s (%s on %s): %s after %s, if that happens", f.Name, f.Kind, f.Target, at.Delay, at.After)
			return
		}
		start, when = SatAdd(base, at.Delay), fmt.Sprintf("%s after %s", at.Delay, at.After)
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
	p.add(start, fapprox, "fault %s %s (%s on %s, %s, %s)", f.Name, verb, f.Kind, f.Target, when, dur)
	if f.Duration > 0 {
		p.add(SatAdd(start, f.Duration), fapprox, "fault %s reverted", f.Name)
	}
}

func rateText(l scenarios.LoadSpec) string {
	if l.Ramp != nil {
		return fmt.Sprintf("ramp %s -> %s over %s", l.Ramp.From, l.Ramp.To, l.Ramp.Over)
	}
	return l.Rate.String()
}
