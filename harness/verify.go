package harness

import (
	"context"
	"fmt"
	"time"

	"github.com/drillhq/drill/harness/dbcheck"
	"github.com/drillhq/drill/harness/journal"
	"github.com/drillhq/drill/harness/ledger"
	"github.com/drillhq/drill/harness/metrics"
	"github.com/drillhq/drill/reports"
	"github.com/drillhq/drill/scenarios"
)

// Recovery tolerances: after a rollback the client's view must be back
// near the steady-state baseline, not merely inside the SLOs. Latency gets
// both a ratio and an absolute allowance because a 3 ms baseline p99 would
// otherwise demand sub-5 ms p99 from a system still warming its caches.
const (
	recoveryErrorAllowance = 0.01  // error rate may exceed the baseline by 1 point
	recoveryLatencyRatio   = 1.5   // p99 may be 1.5x the baseline's…
	recoveryLatencyFloor   = 0.025 // …or the baseline's + 25 ms, whichever is larger
)

type limit struct {
	metric string
	limit  float64
}

// recoveryChecks derives the "back at baseline" limits from the baseline.
func recoveryChecks(base metrics.Window) []limit {
	var out []limit
	if v, ok := base.Value(scenarios.MetricErrorRate); ok {
		out = append(out, limit{scenarios.MetricErrorRate, v + recoveryErrorAllowance})
	}
	if v, ok := base.Value(scenarios.MetricLatencyP99); ok {
		out = append(out, limit{scenarios.MetricLatencyP99, max(v*recoveryLatencyRatio, v+recoveryLatencyFloor)})
	}
	return out
}

// Default recovery window when the scenario has no verify.recovery.
const (
	defaultRecoveryWindow = 10 * time.Second
	defaultRecoveryWithin = 30 * time.Second
)

// verifyRecovery waits for a whole recovery window of client traffic that
// meets the steady-state SLOs and is back near the reference. Tr, which it
// returns (nil: not recovered), is the end of the first such window; it
// must come within `within` of detection.
func (d *drill) verifyRecovery(ctx context.Context, mon *monitor, ref Reference, detected time.Time) (*time.Time, error) {
	window, within := defaultRecoveryWindow, defaultRecoveryWithin
	if r := d.sc.Verify.Recovery; r != nil {
		window, within = r.Window, r.Within
	}
	deadline := detected.Add(within)
	need := max(int(window/d.interval), 1)
	d.say("verifying recovery: %s window within %s of detection", window, within)
	d.j.Record(journal.RecoveryStart, "window", window.String(), "within", within.String())
	// The window in progress when the rollback finished still holds canary
	// traffic; start from a clean interval.
	if _, err := mon.tick(ctx); err != nil {
		return nil, err
	}
	var ring []metrics.Window
	for time.Now().Before(deadline) {
		tw, err := mon.tick(ctx)
		if err != nil {
			return nil, err
		}
		if mon.stalled {
			continue // a machine stall is neither recovered nor not: skip it
		}
		ring = append(ring, tw[ClientSource]["all"])
		if len(ring) > need {
			ring = ring[1:]
		}
		if len(ring) < need {
			continue
		}
		merged := metrics.Merge(ring...)
		ok, detail := checkSLOs(d.sc.SteadyState.SLO, merged, &ref.Client)
		if ok {
			t := mon.nextCut
			d.j.Record(journal.RecoveryDone, "ok", true, "detail", detail)
			d.say("recovered: %s", detail)
			return &t, nil
		}
		d.j.Record(journal.RecoveryCheck, "ok", false, "detail", detail)
	}
	d.j.Record(journal.RecoveryDone, "ok", false, "detail", "no window met the baseline within "+within.String())
	d.say("NOT recovered within %s", within)
	return nil, nil
}

// Verification is what the data checks found: every acknowledged write
// against the database, the invariants, and the schema.
type Verification struct {
	Ledger     *ledger.Result // nil: not checked
	Invariants []reports.Invariant
	Schema     schemaVerdict
}

// verifyData stops the load (so the ledger is final) and runs the data
// checks. The schema is compared with its snapshot from before the
// rollout unless the release was promoted: then it is the new version's
// by design.
func (d *drill) verifyData(ctx context.Context, sys *System, mon *monitor, g group, promoted bool) (Verification, error) {
	mon.stop()
	var v Verification
	if hook := d.opts.BeforeDataCheck; hook != nil {
		if err := hook(ctx, sys.dbs); err != nil {
			return v, fmt.Errorf("before data check: %w", err)
		}
	}
	// The three checks are independent: a ledger that cannot be read
	// must not cost the report its schema and invariant verdicts.
	var err error
	v.Ledger, err = d.checkLedgerData(ctx, sys, mon)
	v.Invariants = d.checkInvariants(ctx, sys)
	switch {
	case !promoted:
		v.Schema = d.checkSchema(ctx, sys, g)
	case sys.schemaBefore != nil:
		d.j.Record(journal.SchemaCheck, "skipped", "promoted: the schema is the new version's by design")
	}
	return v, err
}

func (d *drill) checkLedgerData(ctx context.Context, sys *System, mon *monitor) (*ledger.Result, error) {
	spec := d.sc.Verify.Data.Ledger
	if spec == nil {
		return nil, nil
	}
	h := sys.dbs[spec.Database]
	db, err := dbcheck.OpenDB(h)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	d.j.Record(journal.LedgerCheckStart, "database", spec.Database, "table", spec.Table)
	res, err := ledger.Check(ctx, db, spec, mon.ledger.Path())
	if err != nil {
		d.j.Record(journal.LedgerCheckFailed, "error", err.Error())
		return nil, fmt.Errorf("ledger check: %w", err)
	}
	d.j.Record(journal.LedgerCheckDone, "acknowledged", res.Acknowledged, "lost", res.Lost, "changed", res.Changed,
		"duplicated", res.Duplicated, "indeterminate", res.Indeterminate, "examples", res.Examples)
	d.say("ledger: %d acknowledged, %d lost, %d changed, %d duplicated, %d indeterminate",
		res.Acknowledged, res.Lost, res.Changed, res.Duplicated, res.Indeterminate)
	for _, ex := range res.Examples {
		d.say("  %s", ex)
	}
	return &res, nil
}
