package harness

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/drillhq/drill/harness/approval"
	"github.com/drillhq/drill/harness/dbcheck"
	"github.com/drillhq/drill/harness/journal"
	"github.com/drillhq/drill/harness/judge"
	"github.com/drillhq/drill/harness/metrics"
	"github.com/drillhq/drill/harness/provider"
	"github.com/drillhq/drill/harness/strategy"
	"github.com/drillhq/drill/reports"
	"github.com/drillhq/drill/scenarios"
)

// exposure is T0: the first moment a bad release or a fault could reach
// users. The rollout and the faults mark it; the load counts the blast
// radius from it.
type exposure struct {
	mu  sync.Mutex
	j   *journal.Journal
	at  *time.Time
	mon *monitor
}

// mark records t as the exposure if it is the first (or an earlier) one.
func (e *exposure) mark(t time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.at == nil || t.Before(*e.at) {
		e.at = &t
		e.mon.markExposure(t)
		e.j.RecordAt(t, journal.Exposure, "note", "T0: first bad-release or fault exposure")
	}
}

// follow has later exposures marked in mon's load too (the blast radius
// counts from T0).
func (e *exposure) follow(mon *monitor) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.mon = mon
}

// time is the exposure, or nil.
func (e *exposure) time() *time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.at
}

// rollout runs the phases of the release — of each of its services, in
// release order — under one judge per service that newJudge builds. It
// returns the first rollback decision of any judge, or nil when every
// phase passed.
func (d *drill) rollout(ctx context.Context, sys *System, mon *monitor, ref Reference, g group, exp *exposure, newJudge func() (judge.Judge, error)) (*judge.Decision, error) {
	jdgs := make([]judge.Judge, len(g))
	for i := range g {
		var err error
		if jdgs[i], err = newJudge(); err != nil {
			return nil, err
		}
	}
	probes, err := dbcheck.OpenProbes(d.sc, sys.dbs)
	if err != nil {
		return nil, err
	}
	defer probes.Close()
	ro := d.sc.Rollout
	first := g[0].names()
	var services []string
	for _, rel := range g {
		names := rel.names()
		services = append(services, fmt.Sprintf("%s %s -> %s", rel.svc.Name, names.Baseline, names.To))
	}
	d.j.Record(journal.RolloutStart, "service", g[0].svc.Name, "from", first.Baseline, "to", first.To, "strategy", ro.Strategy, "flag", g[0].flag, "release", services)
	d.say("rollout %s (%s, %d phases, judge %s)", strings.Join(services, ", "), ro.Strategy, len(g[0].phases), ro.Analysis.Judge)
	for _, rel := range g {
		if dec, err := d.startCanary(ctx, sys, rel, exp); dec != nil || err != nil {
			return dec, err
		}
	}
	if dec := d.contractGate(ctx, sys); dec != nil {
		return dec, nil
	}
	var cur strategy.Phase
	observe := func(tw map[string]map[string]metrics.Window) *judge.Decision {
		invariants := d.observeInvariants(ctx, probes)
		for i, rel := range g {
			// Database invariants are charged to the first service's
			// canary: they are judged once, not once per service.
			var inv map[string]judge.SidePair
			if i == 0 {
				inv = invariants
			}
			if dec := d.analyse(sys, mon, ref, rel, cur, inv, jdgs[i], tw); dec != nil {
				if len(g) > 1 {
					dec.Reason = rel.svc.Name + ": " + dec.Reason
				}
				return dec
			}
		}
		return nil
	}
	d.con.SetRollout(true)
	defer d.con.SetRollout(false)
	dec, err := d.steps(ctx, sys, mon, g, exp, jdgs, newJudge, observe, &cur)
	if errors.Is(err, errPromoteNow) {
		return nil, nil
	}
	return dec, err
}

// steps runs the rollout's phases in order until one returns a decision
// (errPromoteNow: an operator promoted).
func (d *drill) steps(ctx context.Context, sys *System, mon *monitor, g group, exp *exposure, jdgs []judge.Judge, newJudge func() (judge.Judge, error), observe func(map[string]map[string]metrics.Window) *judge.Decision, cur *strategy.Phase) (*judge.Decision, error) {
	for i, ph := range g[0].phases {
		no := i + 1
		if ph.Approval {
			d.step(no, ph.Name, 0)
			if dec, err := d.approvalStep(ctx, mon, no, d.stepOf(ph), observe); dec != nil || err != nil {
				return dec, err
			}
			continue
		}
		*cur = ph
		d.step(no, ph.Name, ph.Weight)
		stopPreview, err := d.enterPhase(ctx, sys, mon, g, exp, no, ph)
		if err != nil {
			return nil, err
		}
		dec, err := d.holdPhase(ctx, mon, ph, jdgs, newJudge, observe)
		stopPreview()
		if dec != nil || err != nil {
			return dec, err
		}
		d.j.Record(journal.StepEnd, "step", no)
	}
	return nil, nil
}

func stepName(i int) string { return fmt.Sprintf("step %d", i) }

// enterPhase puts a phase in place for every service of the release, in
// release order: the strategy moves traffic; the harness measures a
// switch, schedules the baseline's scale-down and starts the phase's
// preview load. It returns what stops the preview.
func (d *drill) enterPhase(ctx context.Context, sys *System, mon *monitor, g group, exp *exposure, no int, ph strategy.Phase) (func(), error) {
	now := time.Now()
	var whats []string
	for _, rel := range g {
		from, _, _ := sys.routers[rel.svc.Name].Split()
		what, err := rel.strat.Apply(sys.target(rel.svc.Name), rel.names(), ph)
		if err != nil {
			return func() {}, err
		}
		if len(g) > 1 {
			what = rel.svc.Name + ": " + what
		}
		whats = append(whats, what)
		if ph.Switch {
			d.watchSwitch(ctx, sys, mon, rel, from, now)
		}
		if ph.ScaleDownAfter > 0 {
			d.scheduleScaleDown(ctx, sys, rel, ph.ScaleDownAfter)
		}
	}
	what := strings.Join(whats, "; ")
	d.j.Record(journal.StepStart, "step", no, "phase", ph.Name, "weight", ph.Weight, "hold", ph.Hold.String(), "detail", what)
	d.j.Signal(fmt.Sprintf("step.start:%d", no))
	// T0 is the first request the new side serves: live traffic, or a
	// blue-green preview's (no user is exposed then, so the blast radius
	// stays 0, but the detection time counts from green's first request).
	if ph.Weight > 0 || ph.PreviewRate > 0 {
		exp.mark(now)
	}
	d.say("%s: %s for %s", ph.Name, what, ph.Hold)
	if ph.PreviewRate > 0 {
		// The loader allows a preview for a release of one service only.
		return d.startPreview(ctx, sys, mon, g[0], ph.PreviewRate)
	}
	return func() {}, nil
}

// holdPhase ticks the monitor until the phase's hold has passed, feeding
// the judges. Intervals any judge paused on do not count: every service
// of the release must have been judged for the whole hold.
func (d *drill) holdPhase(ctx context.Context, mon *monitor, ph strategy.Phase, jdgs []judge.Judge, newJudge func() (judge.Judge, error), observe func(map[string]map[string]metrics.Window) *judge.Decision) (*judge.Decision, error) {
	held := time.Duration(0)
	for held < ph.Hold {
		tw, err := mon.tick(ctx)
		if err != nil {
			return nil, err
		}
		if dec, err := d.takeOrder(); dec != nil || err != nil {
			return dec, err
		}
		if dec := observe(tw); dec != nil {
			if d.sc.Rollout.OnFailure != scenarios.OnFailureContinue {
				return dec, nil
			}
			d.j.Record(journal.DecisionIgnored, "reason", dec.Reason, "policy", "on_failure: continue")
			// Fresh judges, so one bad stretch is not counted forever.
			for i := range jdgs {
				if jdgs[i], err = newJudge(); err != nil {
					return nil, err
				}
			}
		}
		paused := false
		for _, j := range jdgs {
			paused = paused || j.Decide().Verdict == judge.Pause
		}
		// An operator's pause holds the step as a judge's does.
		if !paused && !d.con.Paused() {
			held += d.interval
		}
	}
	return nil, nil
}

// startCanary migrates the schema to the new version (against live
// traffic: the release is exposed from here) and starts the canary with
// no traffic. A failed migration is a failed canary: its decision is
// returned.
func (d *drill) startCanary(ctx context.Context, sys *System, rel *release, exp *exposure) (*judge.Decision, error) {
	if !rel.newVersion() {
		// A flag release: the running build serves both code paths. It is
		// live from here: a safe abort must restore the flag.
		rel.set(func(r *release) { r.canaryLive = true })
		return nil, rel.strat.Begin(sys.target(rel.svc.Name), rel.names())
	}
	if rel.to.Migration != rel.base.Migration {
		rel.set(func(r *release) { r.migratedUp = true })
		exp.mark(time.Now())
		if err := sys.migrate(ctx, rel.svc, rel.to, "migrate.canary"); err != nil {
			var env *provider.EnvError
			if errors.As(err, &env) || ctx.Err() != nil {
				return nil, err
			}
			// Caught before the canary took any traffic: roll back
			// (through the dirty state it left).
			ev := map[string]any{"migration": rel.to.Migration, "error": err.Error()}
			if st, serr := sys.migrator(rel.svc).State(); serr == nil {
				ev["schema_version"] = st.String()
				if st.Dirty {
					rel.set(func(r *release) { r.upFailedAt = st.Version })
				}
			}
			return &judge.Decision{Verdict: judge.Rollback, Reason: fmt.Sprintf("the canary's migration to %d failed: %s", rel.to.Migration, dbcheck.MigrationCause(err)), Evidence: ev}, nil
		}
	}
	sys.recorders[rel.svc.Name].Declare(rel.to.Name)
	rel.set(func(r *release) { r.canaryLive = true })
	if _, err := sys.startInstance(ctx, rel.svc, rel.to); err != nil {
		return nil, err
	}
	return nil, rel.strat.Begin(sys.target(rel.svc.Name), rel.names())
}

// observeInvariants reads every invariant once for this interval, as
// judge metrics: database-wide, so a violation is charged to the canary
// (the baseline side has no value).
func (d *drill) observeInvariants(ctx context.Context, probes *dbcheck.Probes) map[string]judge.SidePair {
	var out map[string]judge.SidePair
	for _, r := range probes.Observe(ctx) {
		if out == nil {
			out = map[string]judge.SidePair{}
		}
		if r.Err != nil {
			// No value: the judge's on_no_data policy decides, and the
			// journal says why.
			d.j.Record(journal.InvariantError, "invariant", r.Invariant, "error", r.Err.Error())
			out[r.Metric] = judge.SidePair{}
			continue
		}
		out[r.Metric] = judge.SidePair{Canary: r.Value, CanaryOK: true}
	}
	return out
}

// analyse feeds one interval to a service's judge: the baseline side's
// and the new side's windows at the service's router, under the labels
// the strategy names (versions, or a flag's variants), their cpu and rss,
// and the invariants. In a phase without a live baseline (a 100% step,
// after a blue-green switch) the steady state's reference stands in for
// it. It returns the judge's rollback decision, or nil.
func (d *drill) analyse(sys *System, mon *monitor, ref Reference, rel *release, ph strategy.Phase, invariants map[string]judge.SidePair, jdg judge.Judge, tw map[string]map[string]metrics.Window) *judge.Decision {
	src := tw[sys.recorders[rel.svc.Name].Source()]
	baseLabel, newLabel := rel.strat.Labels(rel.names())
	reference := ref.Services[rel.svc.Name]
	iv := judge.Interval{At: mon.nextCut, Baseline: src[baseLabel], Canary: src[newLabel], LiveBaseline: true, Reference: reference}
	if ph.Reference {
		iv.Baseline, iv.LiveBaseline = reference, false
	}
	// Per-instance cpu and rss sampled by this tick; without a live
	// baseline, the baseline side is its usage before the rollout.
	iv.Extra = mon.res.Extra(rel.svc.Name, rel.base.Name, rel.to.Name, mon.nextCut, ph.Reference)
	for m, v := range invariants {
		if iv.Extra == nil {
			iv.Extra = map[string]judge.SidePair{}
		}
		iv.Extra[m] = v
	}
	jdg.Observe(iv)
	dec := jdg.Decide()
	d.j.Record("analysis", "service", rel.svc.Name, "verdict", string(dec.Verdict), "reason", dec.Reason, "evidence", dec.Evidence)
	return d.judged(rel.svc.Name, dec)
}

// approvalStep is a `approval: manual` step: the operator decides while
// the judge keeps watching. A rejection is a rollback decision.
func (d *drill) approvalStep(ctx context.Context, mon *monitor, stepNo int, st *scenarios.Step, observe func(map[string]map[string]metrics.Window) *judge.Decision) (*judge.Decision, error) {
	d.j.Record(journal.StepStart, "step", stepNo, "approval", scenarios.ApprovalManual)
	d.j.Signal(fmt.Sprintf("step.start:%d", stepNo))
	gate := d.gate(stepName(stepNo), st.Timeout, st.OnTimeout)
	dec, approved, err := gate.Wait(ctx, stepNo, func(ctx context.Context) (*judge.Decision, error) {
		tw, err := mon.tick(ctx)
		if err != nil {
			return nil, err
		}
		if dec, err := d.takeOrder(); dec != nil || err != nil {
			return dec, err
		}
		return observe(tw), nil
	})
	if err != nil || dec != nil {
		return dec, err
	}
	if !approved {
		now := time.Now()
		return &judge.Decision{Verdict: judge.Rollback, Reason: "operator rejected the approval gate at step " + fmt.Sprint(stepNo), Evidence: map[string]any{"at": now}}, nil
	}
	d.j.Record(journal.StepEnd, "step", stepNo)
	return nil, nil
}

// stepOf is the scenario step a phase came from (a zero step for one a
// strategy made).
func (d *drill) stepOf(ph strategy.Phase) *scenarios.Step {
	if ph.Step > 0 && ph.Step <= len(d.sc.Rollout.Steps) {
		return d.sc.Rollout.Steps[ph.Step-1]
	}
	return &scenarios.Step{}
}

// gate is a manual gate of this drill: answered on stdin, by drill ctl
// or on the dashboard, bounded by timeout.
func (d *drill) gate(label string, timeout time.Duration, onTimeout string) approval.Gate {
	return approval.Gate{Journal: d.j, Say: d.say, Auto: d.opts.AutoApprove, Answers: d.operatorAnswers,
		Console: d.con, Operator: d.operatorName(), Attended: d.sc.GameDay.Pos.Line > 0,
		Label: label, Timeout: timeout, OnTimeout: onTimeout}
}

// operatorAnswers reads the operator's answers from stdin once per run.
func (d *drill) operatorAnswers() <-chan string {
	d.approvalsOnce.Do(func() { d.approvals = approval.Lines(d.opts.Stdin) })
	return d.approvals
}

// promote makes every service's new version the serving one, in release
// order, and stops the old ones. It returns the decision the report gives.
func (d *drill) promote(ctx context.Context, sys *System, g group) (*reports.Decision, error) {
	dec := &reports.Decision{At: time.Now().UTC(), Verdict: "promote", Reason: "every step passed its analysis"}
	for _, rel := range g {
		if err := d.promoteOne(ctx, sys, rel); err != nil {
			return dec, err
		}
	}
	return dec, nil
}

func (d *drill) promoteOne(ctx context.Context, sys *System, rel *release) error {
	rt := sys.routers[rel.svc.Name]
	if err := rel.strat.Promote(sys.target(rel.svc.Name), rel.names()); err != nil {
		return err
	}
	rel.set(func(r *release) { r.canaryLive = false })
	// The drill ends here: blue is not kept for the rest of its
	// scale_down_delay.
	rel.stopScaleDown()
	names := rel.names()
	d.j.Record(journal.Promote, "service", rel.svc.Name, "version", names.To, "flag", rel.flag)
	d.say("promoted %s %s", rel.svc.Name, names.To)
	if old := sys.instance(rel.svc.Name, rel.base.Name); old != nil && rel.newVersion() && old.Alive() {
		wctx, cancel := context.WithTimeout(ctx, d.loadTimeout())
		_ = rt.WaitIdle(wctx, rel.base.Name)
		cancel()
		rt.RemoveBackend(rel.base.Name)
		if err := old.Stop(ctx); err != nil {
			return err
		}
		d.j.Record(journal.InstanceStop, "service", rel.svc.Name, "version", rel.base.Name, "reason", "promoted")
	}
	return nil
}
