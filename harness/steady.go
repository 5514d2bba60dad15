package harness

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/drillhq/drill/harness/journal"
	"github.com/drillhq/drill/harness/judge"
	"github.com/drillhq/drill/harness/metrics"
	"github.com/drillhq/drill/harness/plan"
	"github.com/drillhq/drill/reports"
	"github.com/drillhq/drill/scenarios"
)

// errSteadyState ends a drill whose hypothesis does not hold before the
// rollout: there is nothing meaningful to compare a canary with.
var errSteadyState = errors.New("steady state not met")

// Reference is what the steady state hands the later stages: the system's
// behaviour before the release, which the judge compares a 100% step with
// and the recovery must return to.
type Reference struct {
	// Client is the load generator's view over the steady state: what
	// the recovery is compared with and the blast radius's baseline rate.
	Client metrics.Window
	// Services is each released service's baseline version at its router
	// over the steady state: what a 100% step is compared with, since no
	// live baseline traffic is left to compare.
	Services map[string]metrics.Window
	// Report is the steady state as report.json has it.
	Report reports.SteadyState
}

// steadyState checks the hypothesis over steady_state.duration. A miss is
// measured again, up to steady_state.attempts times in all, unless a fault
// was applied meanwhile (faultApplied): then the miss may be the fault's
// doing and measuring again would prove nothing. The Reference is
// returned whether or not the hypothesis held; errSteadyState says it did
// not.
func (d *drill) steadyState(ctx context.Context, mon *monitor, faultApplied func() bool) (Reference, error) {
	ss := d.sc.SteadyState
	d.say("steady state: %s at %s", ss.Duration, d.sc.Load.Rate)
	// Warm-up: freshly started services open their connection pools and
	// fill their caches in the first moments of load; those requests say
	// nothing about the steady state (k6 and Flagger users know this as
	// ramp-up and the analysis' initial delay). Load is sent, not judged.
	warm := plan.WarmupIntervals(ss.Warmup, d.interval)
	d.j.Record(journal.WarmupStart, "warmup", ss.Warmup.String(), "intervals", warm)
	for range warm {
		if _, err := mon.tick(ctx); err != nil {
			return Reference{}, err
		}
	}
	attempts := max(ss.Attempts, 1)
	var ref Reference
	var ok bool
	var detail string
	for attempt := 1; ; attempt++ {
		r, good, why, err := d.steadyAttempt(ctx, mon, attempt, attempts)
		if err != nil {
			return ref, err // the last whole attempt's reference, if any
		}
		ref, ok, detail = r, good, why
		if ok || attempt >= attempts {
			break
		}
		if faultApplied() {
			detail += "; not measured again: a fault was applied during the measurement"
			break
		}
		d.say("steady state not met (attempt %d of %d): %s; measuring again", attempt, attempts, detail)
	}
	ref.Report = reports.SteadyState{OK: ok, Detail: detail, Baseline: windowValues(ref.Client)}
	d.j.Record(journal.SteadyStateDone, "ok", ok, "detail", detail, "baseline", ref.Report.Baseline)
	if !ok {
		d.say("steady state NOT met: %s", detail)
		return ref, fmt.Errorf("%w: %s", errSteadyState, detail)
	}
	d.say("steady state met: %s", detail)
	return ref, nil
}

// steadyAttempt measures the hypothesis once over steady_state.duration.
func (d *drill) steadyAttempt(ctx context.Context, mon *monitor, attempt, attempts int) (Reference, bool, string, error) {
	ss := d.sc.SteadyState
	d.j.Record(journal.SteadyStateStart, "duration", ss.Duration.String(), "attempt", attempt, "attempts", attempts)
	n := max(int(ss.Duration/d.interval), 1)
	var ws, clean []metrics.Window
	rs := map[string][]metrics.Window{}
	for range n {
		tw, err := mon.tick(ctx)
		if err != nil {
			return Reference{}, false, "", err
		}
		ws = append(ws, tw[ClientSource]["all"])
		for _, m := range d.sc.Rollout.Moves() {
			svc := d.sc.Environment.Service(m.Service)
			rs[svc.Name] = append(rs[svc.Name], tw["router:"+svc.Name][svc.Baseline])
		}
		if !mon.stalled {
			clean = append(clean, tw[ClientSource]["all"])
		}
	}
	// Windows cut across a machine stall measure the machine; they are
	// left out of the hypothesis as long as most windows remain.
	excluded := len(ws) - len(clean)
	if len(clean)*2 < len(ws) {
		clean, excluded = ws, 0
	}
	ref := Reference{Client: metrics.Merge(clean...), Services: map[string]metrics.Window{}}
	for svc, w := range rs {
		ref.Services[svc] = metrics.Merge(w...)
	}
	ok, detail := checkSLOs(ss.SLO, ref.Client, nil)
	if excluded > 0 {
		detail += fmt.Sprintf(" (%d of %d windows left out: machine stalls, see machine.stall events)", excluded, len(ws))
	}
	if attempt > 1 {
		detail += fmt.Sprintf(" (attempt %d of %d)", attempt, attempts)
	}
	d.j.Record(journal.SteadyStateAttempt, "attempt", attempt, "ok", ok, "detail", detail)
	return ref, ok, detail, nil
}

// windowValues lists every window metric that has a value.
func windowValues(w metrics.Window) map[string]float64 {
	out := map[string]float64{"requests": float64(w.Requests)}
	for _, m := range metrics.MetricNames() {
		if v, ok := w.Value(m); ok {
			out[m] = v
		}
	}
	return out
}

// checkSLOs evaluates the steady-state SLOs on a window; with a baseline it
// also demands the window be back near it (see recoveryTolerance).
func checkSLOs(slos []*scenarios.SLO, w metrics.Window, base *metrics.Window) (bool, string) {
	var parts []string
	ok := true
	if w.Requests == 0 {
		return false, "no requests completed"
	}
	for _, s := range slos {
		v, has := w.Value(s.Metric)
		if !has {
			ok = false
			parts = append(parts, fmt.Sprintf("%s: no data", s.Metric))
			continue
		}
		mark := "<="
		if v > s.Max.V {
			ok, mark = false, ">"
		}
		parts = append(parts, fmt.Sprintf("%s %s %s %s", s.Metric, judge.FormatMetric(s.Metric, v), mark, s.Max.Raw))
	}
	if base != nil {
		for _, c := range recoveryChecks(*base) {
			v, has := w.Value(c.metric)
			if !has || v > c.limit {
				ok = false
				parts = append(parts, fmt.Sprintf("%s %s above baseline limit %s", c.metric, judge.FormatMetric(c.metric, v), judge.FormatMetric(c.metric, c.limit)))
			}
		}
	}
	return ok, strings.Join(parts, ", ")
}
