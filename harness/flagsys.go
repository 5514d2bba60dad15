package harness

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/drillhq/drill/harness/flags"
	"github.com/drillhq/drill/harness/journal"
	"github.com/drillhq/drill/harness/load"
	"github.com/drillhq/drill/harness/metrics"
	"github.com/drillhq/drill/harness/provider"
	"github.com/drillhq/drill/harness/strategy"
	"github.com/drillhq/drill/injectors"
	"github.com/drillhq/drill/reports"
	"github.com/drillhq/drill/scenarios"
)

// startFlags starts drill's flag service when the scenario defines flags,
// and declares every flag=variant label at every service's router, so
// that the variants the instances stamp are recorded (and only those).
func (sys *System) startFlags(ctx context.Context) error {
	if len(sys.sc.Flags) == 0 {
		return nil
	}
	defs := map[string]*flags.Flag{}
	for k, f := range sys.sc.Flags {
		defs[k] = f.Clone()
	}
	sys.flags = flags.NewServer(defs)
	u, err := sys.flags.Start(ctx)
	if err != nil {
		return &provider.EnvError{What: "start the flag service", Err: err}
	}
	sys.flagsURL = u
	if fa, ok := sys.prov.(provider.ForwardAllower); ok {
		fa.AllowForward(u)
	}
	for _, rec := range sys.recorders {
		for k, f := range sys.sc.Flags {
			for v := range f.Variants {
				rec.Declare(k + "=" + v)
			}
		}
	}
	sys.j.Record(journal.FlagSet, "url", u, "flags", sys.sc.FlagKeys, "detail", "flag service started with the scenario's definitions")
	return nil
}

// flagEnv is what every instance is told about the flag service:
// DRILL_FLAGS_URL (OFREP's base URL) and DRILL_FLAGS (key=defaultVariant,
// the fallback when the service cannot answer). See fixtures/README.md.
func (sys *System) flagEnv(env map[string]string) {
	if sys.flags == nil {
		return
	}
	var defaults []string
	for _, k := range sys.sc.FlagKeys {
		defaults = append(defaults, k+"="+sys.sc.Flags[k].DefaultVariant)
	}
	env["DRILL_FLAGS_URL"] = sys.flagsURL
	env["DRILL_FLAGS"] = strings.Join(defaults, ",")
}

// target is what a strategy moves for service svc.
func (sys *System) target(svc string) strategy.Target {
	t := strategy.Target{Router: sys.routers[svc]}
	if sys.flags != nil {
		t.Flags = sys.flags
	}
	return t
}

// Flags is the flag service as a fault point (flag-service-down,
// flag-stale).
func (sys *System) Flags() (injectors.FlagPoint, error) {
	if sys.flags == nil {
		return nil, fmt.Errorf("the scenario defines no flags")
	}
	return sys.flags, nil
}

// previewSeed keeps the preview's placeholders (${uuid}, ${seq}) apart
// from the live load's, which draws from the scenario seed itself.
const previewSeed = 0x70726576 // "prev"

// startPreview sends synthetic load, built from the scenario's own request
// templates, at rate requests per second to the router's preview listener
// (the new version alone). Its writes are acknowledged writes like any
// other and go to the drill's ledger. It returns what stops it.
func (d *drill) startPreview(ctx context.Context, sys *System, mon *monitor, rel *release, rate float64) (func(), error) {
	u, err := sys.routers[rel.svc.Name].PreviewURL()
	if err != nil {
		return func() {}, &provider.EnvError{What: "preview listener", Err: err}
	}
	psc := *d.sc
	psc.Seed = d.seed ^ previewSeed
	psc.Load.Ramp = nil
	psc.Load.Rate = scenarios.Rate{Freq: max(int(math.Round(rate*60)), 1), Per: time.Minute}
	// A recorder of its own: the client's view of live traffic (the
	// steady state, the recovery) must not see the preview. The router
	// records the preview under the new version's label.
	g := load.New(&psc, u, metrics.NewRecorder("preview"), mon.ledger)
	pctx, cancel := context.WithCancel(ctx)
	d.j.Record(journal.PreviewStart, "version", rel.to.Name, "rate_per_s", rate, "url", u)
	injectors.Go(pctx, "preview load", func() { g.Run(pctx, d.maxDuration()) })
	return func() {
		cancel()
		g.Wait()
		total, failed := g.Counts()
		d.j.Record(journal.PreviewStop, "version", rel.to.Name, "requests", total, "failed", failed)
	}, nil
}

// restoreFlags is rollback step 5: every flag the drill changed goes back
// to its definition before the drill, then each is read back from the
// flag service (published and served) and from every instance's last
// evaluation (GET /debug/flags), until every instance serves it.
func (d *drill) restoreFlags(ctx context.Context, sys *System, rel *release, decided time.Time) (bool, string, error) {
	if sys.flags == nil {
		return false, "no feature flags in this scenario", nil
	}
	var changed []string
	var proofs []reports.FlagProof
	for _, k := range sys.sc.FlagKeys {
		if _, rev := sys.flags.Published(k); rev == 0 {
			continue // never changed: nothing to restore or prove
		}
		c, detail, err := strategy.RestoreFlag(sys.flags, k)
		if err != nil {
			return len(changed) > 0, detail, err
		}
		if c {
			changed = append(changed, detail)
		}
		proofs = append(proofs, flags.Prove(ctx, sys.flags, k, sys.liveURLs, time.Now().Add(flagProofTimeout)))
	}
	if len(proofs) == 0 {
		return false, "no flag was changed", nil
	}
	ok := true
	var last time.Time
	for _, p := range proofs {
		ok = ok && p.OK
		for _, e := range p.Instances {
			last = maxTime(last, e.Since)
		}
	}
	rel.set(func(r *release) {
		r.out.Flags = proofs
		if ok && !last.IsZero() && r.out.FlagsRestoredSeconds == nil {
			s := max(last.Sub(decided).Seconds(), 0)
			r.out.FlagsRestoredSeconds = &s
		}
	})
	d.j.Record(journal.FlagsProof, "ok", ok, "flags", proofs)
	detail := fmt.Sprintf("%d flag(s) proven restored on the flag service and every instance", len(proofs))
	if len(changed) > 0 {
		detail = strings.Join(changed, "; ") + "; " + detail
	}
	if !ok {
		return len(changed) > 0, detail, fmt.Errorf("a flag is not served restored everywhere: see report release.flags")
	}
	return len(changed) > 0, detail, nil
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// flagProofTimeout bounds how long step 5 waits for every instance to
// evaluate a restored flag: the flag service's staleness plus the time
// load takes to reach every instance.
const flagProofTimeout = 30 * time.Second

// liveURLs is every live instance's base URL by service.version: the
// instances rollback step 5 asks for their last flag evaluation.
func (sys *System) liveURLs() map[string]string {
	out := map[string]string{}
	for svc, vs := range sys.liveInstances() {
		for ver, inst := range vs {
			if inst.Alive() {
				out[svc+"."+ver] = inst.URL()
			}
		}
	}
	return out
}
