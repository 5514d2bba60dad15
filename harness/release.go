package harness

import (
	"context"
	"sync"
	"time"

	"github.com/drillhq/drill/harness/journal"
	"github.com/drillhq/drill/harness/strategy"
	"github.com/drillhq/drill/injectors"
	"github.com/drillhq/drill/reports"
	"github.com/drillhq/drill/scenarios"
)

// release is the rollout's record of what it changed, which the rollback
// (or a safe abort) undoes: made before the rollout starts, updated as it
// goes, so that whatever stops the rollout leaves an exact account.
type release struct {
	svc      *scenarios.Service
	base, to *scenarios.Version // to == base for a flag release: no new instance
	strat    strategy.Strategy
	// flag and variant are what a flag release moves; "" otherwise.
	flag, variant string
	phases        []strategy.Phase

	mu         sync.Mutex
	canaryLive bool // canary started and not yet rolled back or promoted
	migratedUp bool // the schema may differ from the baseline's from here on
	// upFailedAt is the version whose up migration failed in this drill:
	// the one dirty state the rollback may force past.
	upFailedAt uint
	// scaleDown stops a pending scale-down of the baseline and waits for
	// one under way; nil when none was scheduled.
	scaleDown func()
	// redeployed: the rollback started the baseline again (or tried to);
	// its second run does not.
	redeployed bool
	// out is what the report's release section shows.
	out reports.Release
}

// group is a release of one or more services (rollout.release), in the
// order they move: providers before consumers. The rollback undoes it in
// reverse order.
type group []*release

// newGroup is one release per service the rollout moves.
func newGroup(sc *scenarios.Scenario) (group, error) {
	var g group
	for _, m := range sc.Rollout.Moves() {
		rel, err := newRelease(sc, m)
		if err != nil {
			return nil, err
		}
		g = append(g, rel)
	}
	return g, nil
}

// reversed is the group in rollback order: consumers before providers.
func (g group) reversed() group {
	out := make(group, len(g))
	for i, r := range g {
		out[len(g)-1-i] = r
	}
	return out
}

// state says whether any service's canary is live, and whether any
// service's schema may differ from its baseline's.
func (g group) state() (canaryLive, migratedUp bool) {
	for _, r := range g {
		live, up, _ := r.state()
		canaryLive, migratedUp = canaryLive || live, migratedUp || up
	}
	return canaryLive, migratedUp
}

// stopScaleDown stops every pending scale-down (see release.stopScaleDown).
func (g group) stopScaleDown() {
	for _, r := range g {
		r.stopScaleDown()
	}
}

// report is the release section: the first service's, with every
// service's own in Services when the release moved several.
func (g group) report() *reports.Release {
	if len(g) == 0 {
		return nil
	}
	out := g[0].report()
	if len(g) > 1 {
		for _, r := range g {
			out.Services = append(out.Services, *r.report())
		}
	}
	return out
}

// service is the release of the named service, or nil.
func (g group) service(name string) *release {
	for _, r := range g {
		if r.svc.Name == name {
			return r
		}
	}
	return nil
}

func newRelease(sc *scenarios.Scenario, m *scenarios.Move) (*release, error) {
	ro := sc.Rollout
	svc := sc.Environment.Service(m.Service)
	strat, err := strategy.New(ro.Strategy, ro.StrategyParams)
	if err != nil {
		return nil, err
	}
	phases, err := ro.Phases()
	if err != nil {
		return nil, err
	}
	kind, _ := strategy.Lookup(ro.Strategy)
	rel := &release{svc: svc, base: svc.Version(svc.Baseline), strat: strat}
	rel.to = rel.base
	if kind.Moves == strategy.MovesVariant {
		rel.flag, rel.variant = ro.Flag, m.To
	} else {
		rel.to = svc.Version(m.To)
	}
	rel.phases = phases
	rel.out = reports.Release{Strategy: ro.Strategy, Service: svc.Name, From: rel.base.Name, To: m.To, Flag: rel.flag}
	if rel.flag != "" {
		rel.out.From = sc.Flags[rel.flag].DefaultVariant
	}
	return rel, nil
}

// newVersion says whether the release starts a new version's instance
// (canary, blue-green) rather than changing a flag of the running one.
func (r *release) newVersion() bool { return r.to != r.base }

// names is the release as the strategy sees it.
func (r *release) names() strategy.Release {
	if r.flag != "" {
		return strategy.Release{Service: r.svc.Name, Baseline: r.out.From, To: r.variant, Flag: r.flag}
	}
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

// redeployDone says whether the rollback already redeployed the baseline.
func (r *release) redeployDone() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.redeployed
}

// report is the release section of the report.
func (r *release) report() *reports.Release {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.out
	return &out
}

// stopScaleDown cancels a pending scale-down of the baseline, or waits for
// one under way to finish: the rollback then knows whether blue is warm.
func (r *release) stopScaleDown() {
	r.mu.Lock()
	stop := r.scaleDown
	r.mu.Unlock()
	if stop != nil {
		stop()
	}
}

// scheduleScaleDown stops the baseline's instance after delay, as Argo
// Rollouts scales the old ReplicaSet down scaleDownDelaySeconds after the
// switch: until then a rollback is a switch back to a warm blue.
func (d *drill) scheduleScaleDown(ctx context.Context, sys *System, rel *release, delay time.Duration) {
	cancel := make(chan struct{})
	done := make(chan struct{})
	var once sync.Once
	rel.set(func(r *release) {
		r.scaleDown = func() {
			once.Do(func() { close(cancel) })
			<-done
		}
	})
	injectors.Go(ctx, "scale-down of "+rel.base.Name, func() {
		defer close(done)
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-cancel:
			return
		case <-ctx.Done():
			return
		case <-t.C:
		}
		inst := sys.instance(rel.svc.Name, rel.base.Name)
		if inst == nil || !inst.Alive() {
			return
		}
		rt := sys.routers[rel.svc.Name]
		wctx, wcancel := context.WithTimeout(ctx, d.loadTimeout())
		_ = rt.WaitIdle(wctx, rel.base.Name)
		wcancel()
		rt.RemoveBackend(rel.base.Name)
		err := inst.Stop(context.WithoutCancel(ctx))
		now := time.Now().UTC()
		rel.set(func(r *release) { r.out.ScaledDownAt = &now })
		d.j.Record(journal.InstanceStop, "service", rel.svc.Name, "version", rel.base.Name, "reason", "scale_down_delay "+delay.String()+" passed", "error", errText(err))
		d.say("scale_down_delay passed: stopped %s %s (a rollback now redeploys it cold)", rel.svc.Name, rel.base.Name)
	})
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// switchWatch measures a switch: how long until the old side has no
// request in flight (every request on the new side), and how many
// requests failed across it. A request in flight at the switch has ended,
// one way or another, a client timeout after the drain; the failures are
// counted over that span.
func (d *drill) watchSwitch(ctx context.Context, sys *System, mon *monitor, rel *release, from string, at time.Time) {
	_, failedBefore := mon.load.Counts()
	d.bg.Add(1)
	injectors.Go(ctx, "switch watch", func() {
		defer d.bg.Done()
		rt := sys.routers[rel.svc.Name]
		wctx, cancel := context.WithTimeout(ctx, d.loadTimeout())
		_ = rt.WaitIdle(wctx, from)
		cancel()
		drained := time.Now()
		secs := drained.Sub(at).Seconds()
		rel.set(func(r *release) { r.out.SwitchSeconds = &secs })
		t := time.NewTimer(d.loadTimeout())
		defer t.Stop()
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		_, failedAfter := mon.load.Counts()
		n := failedAfter - failedBefore
		rel.set(func(r *release) { r.out.SwitchFailed = &n })
		d.j.Record(journal.SwitchDone, "from", from, "seconds", secs, "failed", n, "drained_at", drained.UTC())
	})
}
