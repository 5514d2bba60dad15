// Package faultset schedules a drill's faults and guarantees their revert:
// every apply and revert is journaled before it acts, and RevertAll (run by
// the rollback and by teardown) reverts whatever is still applied.
package faultset

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/drillhq/drill/harness/journal"
	"github.com/drillhq/drill/harness/metrics"
	"github.com/drillhq/drill/injectors"
	"github.com/drillhq/drill/reports"
	"github.com/drillhq/drill/scenarios"
)

// Set schedules the scenario's faults and guarantees their revert:
// every apply and revert is journaled before it acts, and revertAll (run by
// the rollback and by teardown) reverts whatever is still applied.
type Set struct {
	host Host
	// env is the running system's fault points and recent its traffic
	// just before now; both are bound once the system is up (bind).
	env    injectors.Env
	recent func(target string) metrics.Window
	// ctx is the drill's, from Schedule: it bounds a fault an operator
	// injects.
	ctx    context.Context
	mu     sync.Mutex
	closed bool // after rollback or teardown no new fault is applied
	runs   []*Run
}

// Host is what the fault set needs of the drill around it, and no
// more: the journal, progress lines, and the release's exposure mark.
type Host struct {
	J      *journal.Journal
	Say    func(format string, args ...any)
	Expose func(time.Time)
}

type Run struct {
	f        *scenarios.Fault
	inj      injectors.Injector
	applied  *time.Time
	reverted *time.Time
	applyErr string
	skipped  string
	// reverting marks a Revert running outside fs.mu.
	reverting bool
	// attempted marks an Apply begun, whether or not it succeeded.
	attempted bool
	// before is the target's traffic in the intervals just before the
	// fault, during what it saw while applied: the observation a kind's
	// Verifier judges its effect from.
	before, during metrics.Window
	effect         *injectors.Effect
}

func New(sc *scenarios.Scenario, seed int64, host Host) *Set {
	fs := &Set{host: host}
	for i, f := range sc.Faults {
		kind, ok := injectors.Lookup(f.Kind)
		if !ok {
			panic(fmt.Sprintf("fault kind %q passed validation but is not registered", f.Kind))
		}
		inj := kind.New(injectors.Spec{Name: f.Name, Target: f.Target, Probability: f.Probability,
			Seed: seed*1000003 + int64(i), Params: f.Params})
		fs.runs = append(fs.runs, &Run{f: f, inj: inj})
	}
	return fs
}

// bind gives the set the fault points of the running system and a view
// of its recent traffic (nil: none), before any fault is applied.
func (fs *Set) Bind(env injectors.Env, recent func(target string) metrics.Window) {
	fs.env, fs.recent = env, recent
}

// schedule starts one goroutine per fault; each waits for its trigger,
// applies, holds for its duration and reverts. They end with ctx.
func (fs *Set) Schedule(ctx context.Context) {
	fs.ctx = ctx
	start := time.Now()
	for _, r := range fs.runs {
		injectors.Go(ctx, "fault "+r.f.Name, func() { fs.drive(ctx, r, start) })
	}
}

func (fs *Set) drive(ctx context.Context, r *Run, start time.Time) {
	var trigger <-chan time.Time
	delay := time.Duration(0)
	switch at := r.f.At; {
	case at.Step > 0:
		trigger = fs.host.J.Wait(fmt.Sprintf("step.start:%d", at.Step))
	case at.After != "":
		trigger, delay = fs.host.J.Wait(at.After), at.Delay
	default:
		ch := make(chan time.Time, 1)
		ch <- start
		trigger, delay = ch, at.Offset
	}
	var t0 time.Time
	select {
	case <-ctx.Done():
		return
	case t0 = <-trigger:
	}
	if !sleepUntil(ctx, t0.Add(delay)) {
		return
	}
	if !fs.Apply(ctx, r) {
		return
	}
	fs.hold(ctx, r)
}

// hold reverts an applied fault once its duration has passed (a fault
// without one is held until the rollback or teardown).
func (fs *Set) hold(ctx context.Context, r *Run) {
	if r.f.Duration <= 0 {
		return // held until rollback or teardown
	}
	if !sleepUntil(ctx, r.applied.Add(r.f.Duration)) {
		return
	}
	fs.revert(context.WithoutCancel(ctx), r, "duration elapsed")
}

// apply puts a fault in place. The injector runs outside fs.mu: a kill
// with restart waits for a health check, and the tick loop must keep
// observing meanwhile.
func (fs *Set) Apply(ctx context.Context, r *Run) bool {
	fs.mu.Lock()
	if r.attempted {
		// An operator injected it before its own time came (Inject).
		fs.mu.Unlock()
		return false
	}
	if fs.closed {
		r.skipped = "rollout already rolled back or drill ending"
		fs.mu.Unlock()
		fs.host.J.Record(journal.FaultSkipped, "fault", r.f.Name, "reason", r.skipped)
		return false
	}
	r.attempted = true
	fs.mu.Unlock()
	// Journal first: if the harness dies between this line and the next,
	// the journal still says a fault may be in place.
	fs.host.J.Record(journal.FaultApply, "fault", r.f.Name, "kind", r.f.Kind, "target", r.f.Target)
	var before metrics.Window
	if fs.recent != nil {
		before = fs.recent(r.f.Target)
	}
	err := r.inj.Apply(ctx, fs.env)
	fs.mu.Lock()
	if err != nil {
		r.applyErr = err.Error()
		fs.mu.Unlock()
		fs.host.J.Record(journal.FaultApplyFailed, "fault", r.f.Name, "error", err.Error())
		_ = r.inj.Revert(context.WithoutCancel(ctx))
		return false
	}
	now := time.Now()
	r.applied, r.before, r.during = &now, before, metrics.Window{}
	closed := fs.closed
	fs.mu.Unlock()
	fs.host.J.Record(journal.FaultApplied, "fault", r.f.Name)
	if _, armed := r.inj.(injectors.ArmedFault); armed {
		// Armed for a migration: the exposure starts when that migration
		// runs, which the rollout marks.
		fs.host.Say("fault %s (%s on %s) armed", r.f.Name, r.f.Kind, r.f.Target)
	} else {
		fs.host.Say("fault %s (%s on %s) applied", r.f.Name, r.f.Kind, r.f.Target)
		fs.host.Expose(now)
	}
	if closed {
		// The rollback closed the set while Apply ran: undo at once.
		fs.revert(context.WithoutCancel(ctx), r, "applied after the rollback began")
		return false
	}
	return true
}

// Inject applies the fault called name now, whatever its trigger (an
// operator's drill ctl inject), and holds it for its duration. Each fault
// runs once a drill: one applied before, or after the rollback closed the
// set, is refused with the reason.
func (fs *Set) Inject(ctx context.Context, name string) error {
	r := fs.run(name)
	if r == nil {
		return fmt.Errorf("unknown fault %q", name)
	}
	fs.mu.Lock()
	attempted, closed := r.attempted, fs.closed
	fs.mu.Unlock()
	switch {
	case attempted:
		return fmt.Errorf("fault %s was applied already: each fault runs once a drill", name)
	case closed:
		return fmt.Errorf("the rollback or teardown has begun: no fault is applied now")
	}
	if !fs.Apply(ctx, r) {
		if r.Err() != "" {
			return fmt.Errorf("fault %s: %s", name, r.Err())
		}
		return fmt.Errorf("fault %s was not applied: %s", name, cmp.Or(r.skipped, "applied meanwhile by its own trigger"))
	}
	if r.f.Duration > 0 {
		// The drill's context, not the operator's request, bounds it.
		injectors.Go(fs.ctx, "fault "+r.f.Name, func() { fs.hold(fs.ctx, r) })
	}
	return nil
}

// Revert removes the applied fault called name at an operator's request.
func (fs *Set) Revert(ctx context.Context, name string) error {
	r := fs.run(name)
	if r == nil {
		return fmt.Errorf("unknown fault %q", name)
	}
	if !fs.active(r) {
		return fmt.Errorf("fault %s is not applied now", name)
	}
	if !fs.revert(ctx, r, "operator") {
		return fmt.Errorf("fault %s: its revert failed or another revert is running (see the journal)", name)
	}
	return nil
}

func (fs *Set) run(name string) *Run {
	for _, r := range fs.runs {
		if r.f.Name == name {
			return r
		}
	}
	return nil
}

// appliedAny reports whether any fault has been applied, or its apply
// begun, so far. A migration fault only armed so far does not count: it
// acts on nothing until a migration runs.
func (fs *Set) AppliedAny() bool {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for _, r := range fs.runs {
		if _, armed := r.inj.(injectors.ArmedFault); r.attempted && !armed {
			return true
		}
	}
	return false
}

// revert removes a fault once; the injector runs outside fs.mu.
func (fs *Set) revert(ctx context.Context, r *Run, why string) bool {
	fs.mu.Lock()
	if r.applied == nil || r.reverted != nil || r.reverting {
		fs.mu.Unlock()
		return false
	}
	r.reverting = true
	fs.mu.Unlock()
	fs.host.J.Record(journal.FaultRevert, "fault", r.f.Name, "reason", why)
	err := r.inj.Revert(ctx)
	fs.mu.Lock()
	r.reverting = false
	if err != nil {
		fs.mu.Unlock()
		fs.host.J.Record(journal.FaultRevertFailed, "fault", r.f.Name, "error", err.Error())
		return false
	}
	now := time.Now()
	r.reverted = &now
	fs.verify(r)
	fs.mu.Unlock()
	fs.host.J.Record(journal.FaultReverted, "fault", r.f.Name)
	fs.host.Say("fault %s reverted (%s)", r.f.Name, why)
	return true
}

// observe adds an interval's windows to every applied fault's observation.
func (fs *Set) Observe(tw map[string]map[string]metrics.Window) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for _, r := range fs.runs {
		if r.applied == nil || r.reverted != nil {
			continue
		}
		if w, ok := targetWindow(tw, r.f.Target); ok {
			r.during = metrics.Merge(r.during, w)
		}
	}
}

// verify asks the kind whether its fault took effect; fs.mu is held.
func (fs *Set) verify(r *Run) {
	v, ok := r.inj.(injectors.Verifier)
	if !ok {
		return
	}
	obs := injectors.Observation{Before: traffic(r.before), During: traffic(r.during)}
	if r.applied != nil && r.reverted != nil {
		obs.Applied = r.reverted.Sub(*r.applied)
	}
	e := v.Verify(obs)
	r.effect = &e
	fs.host.J.Record(journal.FaultEffect, "fault", r.f.Name, "effective", e.Effective, "measured", e.Measured)
	if !e.Effective {
		fs.host.Say("fault %s did NOT take effect as configured: %s", r.f.Name, e.Measured)
	}
}

// targetWindow picks a target's router window out of one interval: one
// version's, or every version's merged for a whole service.
func targetWindow(tw map[string]map[string]metrics.Window, target string) (metrics.Window, bool) {
	svc, version, _ := strings.Cut(target, ".")
	src, ok := tw["router:"+svc]
	if !ok {
		return metrics.Window{}, false
	}
	if version != "" {
		w, ok := src[version]
		return w, ok
	}
	var ws []metrics.Window
	for _, w := range src {
		ws = append(ws, w)
	}
	return metrics.Merge(ws...), len(ws) > 0
}

// traffic reduces a window to what a Verifier reads.
func traffic(w metrics.Window) injectors.Traffic {
	t := injectors.Traffic{Requests: w.Requests, Failed: w.Failed, ByStatus: w.Status}
	if w.Requests > 0 {
		t.P50 = w.Quantile(0.5).Seconds()
		t.P99 = w.Quantile(0.99).Seconds()
		t.Mean = w.Hist.Mean().Seconds()
	}
	return t
}

// revertAll closes the set to new faults and reverts every applied one. It
// returns the names it reverted; a second call reverts nothing.
func (fs *Set) RevertAll(ctx context.Context, why string) (reverted []string, failed []string) {
	return fs.RevertWhere(ctx, why, func(*Run) bool { return true })
}

// revertWhere closes the set to new faults and reverts the applied ones
// that match.
func (fs *Set) RevertWhere(ctx context.Context, why string, match func(*Run) bool) (reverted []string, failed []string) {
	fs.mu.Lock()
	fs.closed = true
	runs := append([]*Run(nil), fs.runs...)
	fs.mu.Unlock()
	for _, r := range runs {
		if !match(r) {
			continue
		}
		if fs.revert(ctx, r, why) {
			reverted = append(reverted, r.f.Name)
		} else if fs.active(r) {
			failed = append(failed, r.f.Name)
		}
	}
	return reverted, failed
}

// OnDown says whether r acts on the rollback's own down migration (a
// down-failure): such a fault must stay armed through the rollback's
// revert-faults step until migrate-to-baseline has run, or it could never
// take effect.
func OnDown(r *Run) bool {
	k, ok := injectors.Lookup(r.f.Kind)
	return ok && injectors.MigrationDirection(k) == "down"
}

func (fs *Set) active(r *Run) bool {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return r.applied != nil && r.reverted == nil
}

// report lists the faults for report.json.
func (fs *Set) Report() []reports.Fault {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	var out []reports.Fault
	for _, r := range fs.runs {
		f := reports.Fault{Name: r.f.Name, Kind: r.f.Kind, Target: r.f.Target, AppliedAt: r.applied, RevertedAt: r.reverted}
		if r.effect != nil {
			eff := r.effect.Effective
			f.Effective, f.Measured = &eff, r.effect.Measured
		}
		switch {
		case r.applyErr != "":
			f.Measured = "apply failed: " + r.applyErr
		case r.skipped != "":
			f.Measured = "not applied: " + r.skipped
		case r.applied == nil:
			f.Measured = "not applied: its time never came"
		}
		out = append(out, f)
	}
	return out
}

// sleepUntil waits until t; false when ctx ended first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

// Runs are the scenario's faults as the set runs them, in file order.
func (fs *Set) Runs() []*Run { return fs.runs }

// Err is why the fault's apply failed ("" when it did not).
func (r *Run) Err() string { return r.applyErr }
