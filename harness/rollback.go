package harness

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/drillhq/drill/harness/dbcheck"
	"github.com/drillhq/drill/harness/faultset"
	"github.com/drillhq/drill/harness/journal"
	"github.com/drillhq/drill/harness/provider"
	"github.com/drillhq/drill/reports"
	"github.com/drillhq/drill/scenarios"
)

// rollbackStep is one step of the ordered rollback of docs/design: each
// reports whether it changed anything, so running the rollback again shows
// it is idempotent.
type rollbackStep struct {
	name string
	// service is the service the step acts on in a release of several
	// services; "" for a step acting on the whole drill.
	service string
	run     func(ctx context.Context) (changed bool, detail string, err error)
}

// rollbackPlan is the ordered undo of docs/design for a release of one or
// more services: each step runs for every service in reverse release
// order (consumers before the providers they call, so no consumer is
// left calling a provider version it was not released with), and every
// service's traffic is back before anything is stopped or migrated.
func (d *drill) rollbackPlan(sys *System, g group, fs *faultset.Set, decided time.Time) []rollbackStep {
	var plan []rollbackStep
	each := func(name string, run func(ctx context.Context, rel *release) (bool, string, error)) {
		for _, rel := range g.reversed() {
			step := rollbackStep{name: name, run: func(ctx context.Context) (bool, string, error) { return run(ctx, rel) }}
			if len(g) > 1 {
				step.service = rel.svc.Name
			}
			plan = append(plan, step)
		}
	}
	each("route-to-baseline", func(ctx context.Context, rel *release) (bool, string, error) {
		return d.routeToBaseline(ctx, sys, rel, decided)
	})
	plan = append(plan, rollbackStep{name: stepRevertFaults, run: func(ctx context.Context) (bool, string, error) { return revertFaults(ctx, fs) }})
	each("stop-canary", func(ctx context.Context, rel *release) (bool, string, error) { return d.stopCanary(ctx, sys, rel) })
	each("migrate-to-baseline", func(ctx context.Context, rel *release) (bool, string, error) {
		return migrateToBaseline(ctx, sys, rel, fs)
	})
	// Flags are the drill's, not a service's: restored once.
	plan = append(plan, rollbackStep{name: "restore-flags", run: func(ctx context.Context) (bool, string, error) {
		return d.restoreFlags(ctx, sys, g[0], decided)
	}})
	return plan
}

// Rollback is what the rollback stage returns: its steps, the steps of the
// second run, and whether that second run changed nothing.
type Rollback struct {
	Steps, Rerun []reports.Step
	Idempotent   bool
}

// rollback runs the plan, then runs it again to prove nothing is left to
// undo. The recovery window and data checks (step 6) follow in
// verifyRecovery and verifyData.
func (d *drill) rollback(ctx context.Context, sys *System, g group, fs *faultset.Set, decided time.Time) Rollback {
	d.say("rolling back")
	d.j.Record(journal.RollbackStart)
	rb := d.undo(ctx, sys, g, fs, decided)
	d.j.Record(journal.RollbackDone)
	return rb
}

// undo runs the plan twice and records whether the second run was a no-op.
func (d *drill) undo(ctx context.Context, sys *System, g group, fs *faultset.Set, decided time.Time) Rollback {
	plan := d.rollbackPlan(sys, g, fs, decided)
	rb := Rollback{Steps: d.runRollbackPlan(ctx, plan, journal.RollbackStep), Idempotent: true}
	rb.Rerun = d.runRollbackPlan(ctx, plan, "rollback.rerun")
	for _, s := range rb.Rerun {
		if s.Changed || !s.OK {
			rb.Idempotent = false
		}
	}
	if rb.Idempotent {
		d.j.Record(journal.RollbackIdempotent, "detail", "second run changed nothing")
	} else {
		d.j.Record(journal.RollbackNotIdempotent, "detail", "second run changed something; see rerun steps")
	}
	return rb
}

func (d *drill) runRollbackPlan(ctx context.Context, plan []rollbackStep, event string) []reports.Step {
	var out []reports.Step
	for _, st := range plan {
		d.j.Record(event+".start", "step", st.name, "service", st.service)
		changed, detail, err := st.run(ctx)
		s := reports.Step{Name: st.name, Service: st.service, OK: err == nil, Changed: changed, Detail: detail, At: time.Now()}
		if err != nil {
			s.Detail = strings.TrimSpace(detail + " " + err.Error())
		}
		d.j.Record(event, "step", st.name, "service", st.service, "ok", s.OK, "changed", changed, "detail", s.Detail)
		switch {
		case event != journal.RollbackStep:
		case st.name == stepRevertFaults && d.sc.GameDay.HiddenFaults:
			// What was reverted names the hidden faults.
			d.say("  rollback %-20s (faults hidden until the drill ends)", s.Label())
		default:
			d.say("  rollback %-20s %s", s.Label(), s.Detail)
		}
		out = append(out, s)
	}
	return out
}

// routeToBaseline moves all traffic back to the baseline, as the release's
// strategy moves it. A baseline that is no longer running (blue scaled
// down after scale_down_delay) is started again first, cold, so that
// traffic is never routed to nothing; under `rollback: {mode: redeploy}`
// the baseline is always started again from the run's artifact store and
// replaces the running one. Either way the new instance's build is
// proven against the digest recorded at start; the report shows which it
// was.
func (d *drill) routeToBaseline(ctx context.Context, sys *System, rel *release, decided time.Time) (bool, string, error) {
	rt := sys.routers[rel.svc.Name]
	if rt == nil {
		return false, "no router", nil
	}
	rel.stopScaleDown()
	var notes []string
	warm := "warm"
	inst := sys.instance(rel.svc.Name, rel.base.Name)
	down := inst == nil || !inst.Alive()
	redeploy := d.sc.Rollback.Mode == scenarios.RollbackRedeploy && !rel.redeployDone()
	var redeployErr error
	if rel.newVersion() && (down || redeploy) {
		warm = "cold"
		note, err := d.redeployBaseline(ctx, sys, rel, inst, down)
		notes = append(notes, note)
		if err != nil && down {
			return false, strings.Join(notes, "; "), err
		}
		// A failed redeploy of a baseline that still runs fails the step
		// loudly, but traffic still goes back to the running instance:
		// leaving users on the bad release would be worse.
		redeployErr = err
	}
	changed, detail, err := rel.strat.Revert(sys.target(rel.svc.Name), rel.names())
	notes = append(notes, detail)
	if changed || warm == "cold" {
		back := time.Since(decided).Seconds()
		rel.set(func(r *release) {
			if r.out.RouteBackSeconds == nil {
				r.out.RouteBackSeconds = &back
				// Warm or cold says something only where the baseline
				// was to be scaled down (a phase's ScaleDownAfter).
				if r.scaleDown != nil {
					r.out.SwitchBack = warm
				}
			}
		})
	}
	return changed || warm == "cold", strings.Join(notes, "; "), errors.Join(redeployErr, err)
}

// redeployBaseline starts the baseline again (from the artifact store
// when the run keeps one), proves its digest, and stops the instance it
// replaces (old, when still running). It is attempted once per drill: the
// rollback's second run finds it done, or failed, and changes nothing.
func (d *drill) redeployBaseline(ctx context.Context, sys *System, rel *release, old provider.Instance, down bool) (string, error) {
	rel.set(func(r *release) { r.redeployed = true })
	why := "mode: redeploy"
	if down {
		why = rel.base.Name + " was scaled down"
	}
	start := time.Now()
	if _, err := sys.startInstance(ctx, rel.svc, rel.base); err != nil {
		d.j.Record(journal.BaselineRedeploy, "service", rel.svc.Name, "version", rel.base.Name, "ok", false, "error", err.Error())
		return fmt.Sprintf("%s: could not start %s %s again", why, rel.svc.Name, rel.base.Name), err
	}
	took := time.Since(start).Seconds()
	digest, same := sys.redeployDigest(ctx, rel.svc.Name, rel.base.Name)
	if stored, err := sys.storedDigest(ctx, rel.svc.Name, rel.base.Name); err == nil && stored != "" {
		digest, same = stored, digestMatches(sys, rel.svc.Name, rel.base.Name, stored)
	}
	rel.set(func(r *release) {
		r.out.RedeploySeconds, r.out.RedeployDigest, r.out.RedeployDigestMatches = &took, digest, same
	})
	d.j.Record(journal.BaselineRedeploy, "service", rel.svc.Name, "version", rel.base.Name, "ok", true, "seconds", took, "digest", digest, "digest_matches", same)
	note := fmt.Sprintf("%s: started %s again in %.1fs", why, rel.base.Name, took)
	if old != nil && old.Alive() {
		// The router already sends the baseline's traffic to the new
		// instance (startInstance); the old one drains as it stops.
		if err := old.Stop(ctx); err != nil {
			return note, err
		}
		note += ", replacing the running one"
	}
	if same != nil && !*same {
		return note, fmt.Errorf("the redeployed %s %s is %s, not the build recorded at start", rel.svc.Name, rel.base.Name, digest)
	}
	return note, nil
}

// digestMatches says whether digest is the one recorded at start for
// service version (nil when none was recorded).
func digestMatches(sys *System, service, version, digest string) *bool {
	if a := artifactOf(sys, service, version); a != nil {
		same := a.Digest == digest
		return &same
	}
	return nil
}

// revertFaults reverts every fault but those armed for the rollback's down
// migration, which migrateToBaseline reverts once that has run.
func revertFaults(ctx context.Context, fs *faultset.Set) (bool, string, error) {
	reverted, failed := fs.RevertWhere(ctx, "rollback", func(r *faultset.Run) bool { return !faultset.OnDown(r) })
	if len(failed) > 0 {
		return len(reverted) > 0, "", fmt.Errorf("could not revert %s", strings.Join(failed, ", "))
	}
	if len(reverted) == 0 {
		return false, "no active fault", nil
	}
	return true, "reverted " + strings.Join(reverted, ", "), nil
}

func (d *drill) stopCanary(ctx context.Context, sys *System, rel *release) (bool, string, error) {
	rel.set(func(r *release) { r.canaryLive = false })
	if !rel.newVersion() {
		return false, "no new instance (the release changed a flag)", nil
	}
	inst := sys.instance(rel.svc.Name, rel.to.Name)
	if inst == nil || !inst.Alive() {
		return false, "canary not running", nil
	}
	if rt := sys.routers[rel.svc.Name]; rt != nil {
		// Traffic was moved away in step 1; let requests already on their
		// way finish so that stopping the canary cuts nothing off.
		wctx, cancel := context.WithTimeout(ctx, d.loadTimeout())
		_ = rt.WaitIdle(wctx, rel.to.Name)
		cancel()
		rt.RemoveBackend(rel.to.Name)
	}
	if err := inst.Stop(ctx); err != nil {
		return true, "", err
	}
	return true, "stopped " + inst.Name(), nil
}

func migrateToBaseline(ctx context.Context, sys *System, rel *release, fs *faultset.Set) (bool, string, error) {
	// A down-failure acts on this step's migration: it is reverted once
	// the step is over, whatever the step did.
	defer fs.RevertWhere(ctx, "rollback: down migration done", faultset.OnDown)
	svc, base := rel.svc, rel.base
	if svc.Database == "" || base.Migration == 0 || sys.dbs[svc.Database] == nil {
		return false, "no schema to restore", nil
	}
	m := sys.migrator(svc)
	st, err := m.State()
	if err != nil {
		return false, "", err
	}
	if !st.Dirty && !st.None && st.Version == base.Migration {
		return false, fmt.Sprintf("schema already at version %d", base.Migration), nil
	}
	from := st
	var notes []string
	changed := false
	if st.Dirty {
		if _, _, upFailedAt := rel.state(); st.Version != upFailedAt {
			// Not the canary's failed up migration: a down migration failed
			// (here or in an earlier run of this step). Forcing would
			// record a version the schema is not at; a person must look.
			return false, fmt.Sprintf("schema stuck at version %s: a down migration failed part-way; "+
				"fix the schema by hand, then `migrate force` the version it is really at", st), &dbcheck.DirtyError{Version: st.Version}
		}
		note, err := cleanFailedUp(ctx, sys, m, st.Version)
		notes = append(notes, note)
		changed = true
		if err != nil {
			return changed, strings.Join(notes, "; "), err
		}
	}
	c, err := m.Run(ctx, base.Migration)
	changed = changed || c
	if err != nil {
		now, serr := m.State()
		where := "unknown"
		if serr == nil {
			where = now.String()
		}
		notes = append(notes, fmt.Sprintf("schema stuck at version %s on the way from %s to %d", where, from, base.Migration))
		return changed, strings.Join(notes, "; "), err
	}
	notes = append(notes, fmt.Sprintf("schema %s -> %d", from, base.Migration))
	return changed, strings.Join(notes, "; "), nil
}

// cleanFailedUp gets a database out of the dirty state the canary's failed
// up migration v left, as golang-migrate's docs say to: decide which
// version the schema is really at and force it. What v applied before it
// failed is undone first by v's own down migration, when it can run on
// the half-applied schema (an idempotent down, with IF EXISTS); otherwise
// the schema is forced to the last clean version, and whatever v left
// behind shows in the schema check.
func cleanFailedUp(ctx context.Context, sys *System, m dbcheck.Migrator, v uint) (string, error) {
	prev := m.Prev(v)
	// What the failed file left behind, for the review: the schema now
	// against the one before the rollout.
	var left []string
	if before, ok := sys.schemaBefore[m.DB.Name]; ok {
		if now, err := sys.snapshot(ctx, m.DB.Name); err == nil {
			left = dbcheck.Diff(before, now)
		}
	}
	sys.j.Record(journal.MigrateDirty, "version", v, "last_clean", prev, "left_behind", left)
	if err := m.Force(int(v)); err != nil {
		return "", err
	}
	_, downErr := m.Run(ctx, uint(max(prev, 0)))
	if downErr == nil {
		sys.j.Record(journal.MigrateDirtyCleaned, "version", v, "detail", "the down migration ran on the half-applied schema")
		return fmt.Sprintf("dirty at %d: ran its down migration over the half-applied schema", v), nil
	}
	sys.j.Record(journal.MigrateDirtyDownFailed, "version", v, "error", downErr.Error())
	if err := m.Force(prev); err != nil {
		return fmt.Sprintf("dirty at %d: its down migration failed (%v)", v, downErr), err
	}
	return fmt.Sprintf("dirty at %d: its down migration failed on the half-applied schema (%v); forced to %d, the last clean version", v, downErr, prev), nil
}

// abortRollout stops the rollout without verification (on_failure: abort,
// or a safe abort after Ctrl-C): traffic back, faults out, canary stopped,
// schema back.
func (d *drill) abortRollout(ctx context.Context, sys *System, g group, fs *faultset.Set, why string) Rollback {
	d.say("aborting rollout: %s", why)
	d.j.Record(journal.AbortStart, "reason", why)
	rb := d.undo(ctx, sys, g, fs, time.Now())
	d.j.Record(journal.AbortDone)
	return rb
}

// stepRevertFaults is the rollback step that reverts the faults: its
// detail names them, which a game day with hidden faults keeps from the
// operators until the drill ends.
const stepRevertFaults = "revert-faults"
