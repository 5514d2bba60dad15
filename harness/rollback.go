package harness

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/drillhq/drill/harness/dbcheck"
	"github.com/drillhq/drill/harness/journal"
	"github.com/drillhq/drill/harness/strategy"
	"github.com/drillhq/drill/reports"
)

// rollbackStep is one step of the ordered rollback of docs/design: each
// reports whether it changed anything, so running the rollback again shows
// it is idempotent.
type rollbackStep struct {
	name string
	run  func(ctx context.Context) (changed bool, detail string, err error)
}

func (d *drill) rollbackPlan() []rollbackStep {
	return []rollbackStep{
		{"route-to-baseline", d.routeToBaseline},
		{"revert-faults", d.revertFaults},
		{"stop-canary", d.stopCanary},
		{"migrate-to-baseline", d.migrateToBaseline},
		{"restore-flags", d.restoreFlags},
	}
}

// rollback runs the plan, then runs it again to prove nothing is left to
// undo. The recovery window and data checks (step 6) follow in
// verifyRecovery and verifyData.
func (d *drill) rollback(ctx context.Context) {
	d.say("rolling back")
	d.j.Record(journal.RollbackStart)
	d.undo(ctx)
	d.j.Record(journal.RollbackDone)
}

// undo runs the plan twice and records whether the second run was a no-op.
func (d *drill) undo(ctx context.Context) {
	d.rbSteps = d.runRollbackPlan(ctx, journal.RollbackStep)
	d.rbRerun = d.runRollbackPlan(ctx, "rollback.rerun")
	d.rbIdempotent = true
	for _, s := range d.rbRerun {
		if s.Changed || !s.OK {
			d.rbIdempotent = false
		}
	}
	if d.rbIdempotent {
		d.j.Record(journal.RollbackIdempotent, "detail", "second run changed nothing")
	} else {
		d.j.Record(journal.RollbackNotIdempotent, "detail", "second run changed something; see rerun steps")
	}
}

func (d *drill) runRollbackPlan(ctx context.Context, event string) []reports.Step {
	var out []reports.Step
	for _, st := range d.rollbackPlan() {
		d.j.Record(event+".start", "step", st.name)
		changed, detail, err := st.run(ctx)
		s := reports.Step{Name: st.name, OK: err == nil, Changed: changed, Detail: detail, At: time.Now()}
		if err != nil {
			s.Detail = strings.TrimSpace(detail + " " + err.Error())
		}
		d.j.Record(event, "step", st.name, "ok", s.OK, "changed", changed, "detail", s.Detail)
		if event == journal.RollbackStep {
			d.say("  rollback %-20s %s", st.name, s.Detail)
		}
		out = append(out, s)
	}
	return out
}

func (d *drill) routeToBaseline(context.Context) (bool, string, error) {
	svc := d.sc.Environment.Service(d.sc.Rollout.Service)
	rt := d.routers[svc.Name]
	if rt == nil {
		return false, "no router", nil
	}
	strat, err := strategy.Get(d.sc.Rollout.Strategy)
	if err != nil {
		return false, "", err
	}
	changed, detail := strat.Revert(rt, strategy.Release{Service: svc.Name, Baseline: svc.Baseline, To: d.sc.Rollout.To})
	return changed, detail, nil
}

// revertFaults reverts every fault but those armed for the rollback's down
// migration, which migrateToBaseline reverts once that has run.
func (d *drill) revertFaults(ctx context.Context) (bool, string, error) {
	reverted, failed := d.faults.revertWhere(ctx, "rollback", func(r *faultRun) bool { return !onDown(r) })
	if len(failed) > 0 {
		return len(reverted) > 0, "", fmt.Errorf("could not revert %s", strings.Join(failed, ", "))
	}
	if len(reverted) == 0 {
		return false, "no active fault", nil
	}
	return true, "reverted " + strings.Join(reverted, ", "), nil
}

func (d *drill) stopCanary(ctx context.Context) (bool, string, error) {
	ro := d.sc.Rollout
	d.mu.Lock()
	inst := d.instances[ro.Service][ro.To]
	d.canaryLive = false
	d.mu.Unlock()
	if inst == nil || !inst.Alive() {
		return false, "canary not running", nil
	}
	if rt := d.routers[ro.Service]; rt != nil {
		// Traffic was moved away in step 1; let requests already on their
		// way finish so that stopping the canary cuts nothing off.
		wctx, cancel := context.WithTimeout(ctx, d.loadTimeout())
		_ = rt.WaitIdle(wctx, ro.To)
		cancel()
		rt.RemoveBackend(ro.To)
	}
	if err := inst.Stop(ctx); err != nil {
		return true, "", err
	}
	return true, "stopped " + inst.Name(), nil
}

func (d *drill) migrateToBaseline(ctx context.Context) (bool, string, error) {
	// A down-failure acts on this step's migration: it is reverted once
	// the step is over, whatever the step did.
	defer d.faults.revertWhere(ctx, "rollback: down migration done", onDown)
	svc := d.sc.Environment.Service(d.sc.Rollout.Service)
	base := svc.Version(svc.Baseline)
	if svc.Database == "" || base.Migration == 0 || d.dbs[svc.Database] == nil {
		return false, "no schema to restore", nil
	}
	m := d.migrator(svc)
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
		if st.Version != d.upFailedAt {
			// Not the canary's failed up migration: a down migration failed
			// (here or in an earlier run of this step). Forcing would
			// record a version the schema is not at; a person must look.
			return false, fmt.Sprintf("schema stuck at version %s: a down migration failed part-way; "+
				"fix the schema by hand, then `migrate force` the version it is really at", st), &dbcheck.DirtyError{Version: st.Version}
		}
		note, err := d.cleanFailedUp(ctx, m, st.Version)
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
func (d *drill) cleanFailedUp(ctx context.Context, m dbcheck.Migrator, v uint) (string, error) {
	prev := m.Prev(v)
	// What the failed file left behind, for the review: the schema now
	// against the one before the rollout.
	var left []string
	if before, ok := d.schema.before[m.DB.Name]; ok {
		if now, err := d.snapshot(ctx, m.DB.Name); err == nil {
			left = dbcheck.Diff(before, now)
		}
	}
	d.j.Record(journal.MigrateDirty, "version", v, "last_clean", prev, "left_behind", left)
	if err := m.Force(int(v)); err != nil {
		return "", err
	}
	_, downErr := m.Run(ctx, uint(max(prev, 0)))
	if downErr == nil {
		d.j.Record(journal.MigrateDirtyCleaned, "version", v, "detail", "the down migration ran on the half-applied schema")
		return fmt.Sprintf("dirty at %d: ran its down migration over the half-applied schema", v), nil
	}
	d.j.Record(journal.MigrateDirtyDownFailed, "version", v, "error", downErr.Error())
	if err := m.Force(prev); err != nil {
		return fmt.Sprintf("dirty at %d: its down migration failed (%v)", v, downErr), err
	}
	return fmt.Sprintf("dirty at %d: its down migration failed on the half-applied schema (%v); forced to %d, the last clean version", v, downErr, prev), nil
}

// restoreFlags is the place feature flags are restored; format v1 has no
// flags yet, so it is a recorded no-op rather than a silent gap.
func (d *drill) restoreFlags(context.Context) (bool, string, error) {
	return false, "no feature flags in this scenario", nil
}

// abortRollout stops the rollout without verification (on_failure: abort,
// or a safe abort after Ctrl-C): traffic back, faults out, canary stopped,
// schema back.
func (d *drill) abortRollout(ctx context.Context, why string) {
	d.say("aborting rollout: %s", why)
	d.j.Record(journal.AbortStart, "reason", why)
	d.undo(ctx)
	d.j.Record(journal.AbortDone)
}

// loadTimeout is the client's request timeout: no request outlives it.
func (d *drill) loadTimeout() time.Duration {
	if d.sc.Load.Timeout > 0 {
		return d.sc.Load.Timeout
	}
	return 2 * time.Second
}
