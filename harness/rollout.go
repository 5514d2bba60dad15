package harness

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/drillhq/drill/harness/dbcheck"
	"github.com/drillhq/drill/harness/journal"
	"github.com/drillhq/drill/harness/judge"
	"github.com/drillhq/drill/harness/metrics"
	"github.com/drillhq/drill/harness/provider"
	"github.com/drillhq/drill/harness/strategy"
	"github.com/drillhq/drill/reports"
	"github.com/drillhq/drill/scenarios"
)

// release is the rollout's record of what it changed, which the rollback
// (or a safe abort) undoes: made before the rollout starts, updated as it
// goes, so that whatever stops the rollout leaves an exact account.
type release struct {
	svc      *scenarios.Service
	base, to *scenarios.Version
	strat    strategy.Strategy

	mu         sync.Mutex
	canaryLive bool // canary started and not yet rolled back or promoted
	migratedUp bool // the schema may differ from the baseline's from here on
	// upFailedAt is the version whose up migration failed in this drill:
	// the one dirty state the rollback may force past.
	upFailedAt uint
}

func newRelease(sc *scenarios.Scenario) (*release, error) {
	ro := sc.Rollout
	svc := sc.Environment.Service(ro.Service)
	strat, err := strategy.New(ro.Strategy, ro.StrategyParams)
	if err != nil {
		return nil, err
	}
	return &release{svc: svc, base: svc.Version(svc.Baseline), to: svc.Version(ro.To), strat: strat}, nil
}

// names is the release as the strategy sees it.
func (r *release) names() strategy.Release {
	return strategy.Release{Service: r.svc.Name, Baseline: r.base.Name, To: r.to.Name}
}

func (r *release) set(f func(r *release)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f(r)
}

// state reads the release's flags.
func (r *release) state() (canaryLive, migratedUp bool, upFailedAt uint) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.canaryLive, r.migratedUp, r.upFailedAt
}

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

// rollout runs the steps of the release under the judge newJudge builds.
// It returns the judge's rollback decision, or nil when every step passed.
func (d *drill) rollout(ctx context.Context, sys *System, mon *monitor, ref Reference, rel *release, exp *exposure, newJudge func() (judge.Judge, error)) (*judge.Decision, error) {
	jdg, err := newJudge()
	if err != nil {
		return nil, err
	}
	probes, err := d.newInvariantProbes(sys)
	if err != nil {
		return nil, err
	}
	defer probes.close()
	ro := d.sc.Rollout
	d.j.Record(journal.RolloutStart, "service", rel.svc.Name, "from", rel.base.Name, "to", rel.to.Name, "strategy", ro.Strategy)
	d.say("rollout %s %s -> %s (%d steps, judge %s)", rel.svc.Name, rel.base.Name, rel.to.Name, len(ro.Steps), ro.Analysis.Judge)
	if dec, err := d.startCanary(ctx, sys, rel, exp); dec != nil || err != nil {
		return dec, err
	}
	observe := func(tw map[string]map[string]metrics.Window) *judge.Decision {
		return d.analyse(ctx, sys, mon, ref, rel, probes, jdg, tw)
	}
	for i, st := range ro.Steps {
		stepNo := i + 1
		if st.IsApproval() {
			if dec, err := d.approvalStep(ctx, mon, stepNo, st, observe); dec != nil || err != nil {
				return dec, err
			}
			continue
		}
		what := rel.strat.Step(sys.routers[rel.svc.Name], rel.names(), st.Weight)
		now := time.Now()
		d.j.Record(journal.StepStart, "step", stepNo, "weight", st.Weight, "hold", st.Hold.String())
		d.j.Signal(fmt.Sprintf("step.start:%d", stepNo))
		exp.mark(now)
		d.say("step %d: %s for %s", stepNo, what, st.Hold)
		held := time.Duration(0)
		for held < st.Hold {
			tw, err := mon.tick(ctx)
			if err != nil {
				return nil, err
			}
			if dec := observe(tw); dec != nil {
				if ro.OnFailure != scenarios.OnFailureContinue {
					return dec, nil
				}
				d.j.Record(journal.DecisionIgnored, "reason", dec.Reason, "policy", "on_failure: continue")
				// A fresh judge, so one bad stretch is not counted forever.
				if jdg, err = newJudge(); err != nil {
					return nil, err
				}
			}
			if jdg.Decide().Verdict != judge.Pause {
				held += d.interval
			}
		}
		d.j.Record(journal.StepEnd, "step", stepNo)
	}
	return nil, nil
}

// startCanary migrates the schema to the new version (against live
// traffic: the release is exposed from here) and starts the canary with
// no traffic. A failed migration is a failed canary: its decision is
// returned.
func (d *drill) startCanary(ctx context.Context, sys *System, rel *release, exp *exposure) (*judge.Decision, error) {
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
	rel.strat.Begin(sys.routers[rel.svc.Name], rel.names())
	return nil, nil
}

// analyse feeds one interval to the judge: the baseline's and the
// canary's windows at the service's router (at a 100% step the steady
// state's reference stands in for the baseline), their cpu and rss, and
// the invariants. It returns the judge's rollback decision, or nil.
func (d *drill) analyse(ctx context.Context, sys *System, mon *monitor, ref Reference, rel *release, probes *invariantProbes, jdg judge.Judge, tw map[string]map[string]metrics.Window) *judge.Decision {
	src := tw[sys.recorders[rel.svc.Name].Source()]
	iv := judge.Interval{At: mon.nextCut, Baseline: src[rel.base.Name], Canary: src[rel.to.Name], LiveBaseline: true, Reference: ref.Rollout}
	_, _, w := sys.routers[rel.svc.Name].Split()
	if w >= 1 {
		iv.Baseline, iv.LiveBaseline = ref.Rollout, false
	}
	// Per-instance cpu and rss sampled by this tick; at 100% the baseline
	// side is the baseline's usage before the canary started, as for the
	// router metrics above.
	iv.Extra = mon.res.Extra(rel.svc.Name, rel.base.Name, rel.to.Name, mon.nextCut, w >= 1)
	for m, p := range probes.observe(ctx, d.j) {
		if iv.Extra == nil {
			iv.Extra = map[string]judge.SidePair{}
		}
		iv.Extra[m] = p
	}
	jdg.Observe(iv)
	dec := jdg.Decide()
	d.j.Record("analysis", "verdict", string(dec.Verdict), "reason", dec.Reason, "evidence", dec.Evidence)
	if dec.Verdict == judge.Rollback {
		return &dec
	}
	return nil
}

// approvalStep is a `approval: manual` step: the operator decides while
// the judge keeps watching. A rejection is a rollback decision.
func (d *drill) approvalStep(ctx context.Context, mon *monitor, stepNo int, st *scenarios.Step, observe func(map[string]map[string]metrics.Window) *judge.Decision) (*judge.Decision, error) {
	d.j.Record(journal.StepStart, "step", stepNo, "approval", st.Approval)
	d.j.Signal(fmt.Sprintf("step.start:%d", stepNo))
	dec, approved, err := d.approvalGate(ctx, mon, stepNo, observe)
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

// approvalGate waits for an operator while the judge keeps watching.
func (d *drill) approvalGate(ctx context.Context, mon *monitor, step int, observe func(map[string]map[string]metrics.Window) *judge.Decision) (*judge.Decision, bool, error) {
	if d.opts.AutoApprove {
		d.j.Record(journal.ApprovalAuto, "step", step)
		d.say("step %d: approval passed by --auto-approve", step)
		return nil, true, nil
	}
	d.say("step %d: APPROVAL NEEDED - type 'yes' to continue the rollout, 'no' to roll back", step)
	d.j.Record(journal.ApprovalWait, "step", step)
	answers := d.operatorAnswers()
	deadline := time.Now().Add(approvalTimeout)
	for time.Now().Before(deadline) {
		tw, err := mon.tick(ctx)
		if err != nil {
			return nil, false, err
		}
		if dec := observe(tw); dec != nil {
			return dec, false, nil
		}
		select {
		case a, ok := <-answers:
			if !ok {
				d.j.Record(journal.ApprovalRejected, "step", step, "reason", "no operator input (stdin closed); use --auto-approve in unattended runs")
				d.say("no operator input: treating the gate as rejected (use --auto-approve in CI)")
				return nil, false, nil
			}
			switch strings.ToLower(strings.TrimSpace(a)) {
			case "y", "yes":
				d.j.Record(journal.ApprovalGranted, "step", step)
				return nil, true, nil
			case "n", "no":
				d.j.Record(journal.ApprovalRejected, "step", step, "reason", "operator")
				return nil, false, nil
			default:
				d.say("answer 'yes' or 'no'")
			}
		default:
		}
	}
	d.j.Record(journal.ApprovalRejected, "step", step, "reason", "timed out after "+approvalTimeout.String())
	return nil, false, nil
}

// operatorAnswers reads lines from stdin once per run.
func (d *drill) operatorAnswers() <-chan string {
	d.approvalsOnce.Do(func() {
		in := d.opts.Stdin
		// A stdin shared by several drills hands out its own lines: a
		// scanner here would read ahead into the next drill's answers.
		if ls, ok := in.(interface{ Lines() <-chan string }); ok {
			d.approvals = ls.Lines()
			return
		}
		ch := make(chan string, 4)
		d.approvals = ch
		if in == nil {
			close(ch)
			return
		}
		go func() {
			defer close(ch)
			sc := bufio.NewScanner(in)
			for sc.Scan() {
				ch <- sc.Text()
			}
		}()
	})
	return d.approvals
}

// promote makes the canary the serving version and stops the old one. It
// returns the decision the report gives.
func (d *drill) promote(ctx context.Context, sys *System, rel *release) (*reports.Decision, error) {
	rt := sys.routers[rel.svc.Name]
	rel.strat.Promote(rt, rel.names())
	rel.set(func(r *release) { r.canaryLive = false })
	old := sys.instance(rel.svc.Name, rel.base.Name)
	dec := &reports.Decision{At: time.Now().UTC(), Verdict: "promote", Reason: "every step passed its analysis"}
	d.j.Record(journal.Promote, "service", rel.svc.Name, "version", rel.to.Name)
	d.say("promoted %s %s", rel.svc.Name, rel.to.Name)
	if old != nil {
		wctx, cancel := context.WithTimeout(ctx, d.loadTimeout())
		_ = rt.WaitIdle(wctx, rel.base.Name)
		cancel()
		rt.RemoveBackend(rel.base.Name)
		if err := old.Stop(ctx); err != nil {
			return dec, err
		}
		d.j.Record(journal.InstanceStop, "service", rel.svc.Name, "version", rel.base.Name, "reason", "promoted")
	}
	return dec, nil
}
