package harness

import (
	"context"
	"fmt"
	"os"
	"sort"
	"syscall"
	"time"

	"github.com/drillhq/drill/harness/dbcheck"
	"github.com/drillhq/drill/harness/journal"
	"github.com/drillhq/drill/harness/ledger"
	"github.com/drillhq/drill/harness/metrics"
	"github.com/drillhq/drill/harness/provider"
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
// meets the steady-state SLOs and is back near the baseline. Tr is the end
// of the first such window; it must come within `within` of detection.
func (d *drill) verifyRecovery(ctx context.Context) error {
	window, within := defaultRecoveryWindow, defaultRecoveryWithin
	if r := d.sc.Verify.Recovery; r != nil {
		window, within = r.Window, r.Within
	}
	from := time.Now()
	if d.detected != nil {
		from = *d.detected
	}
	deadline := from.Add(within)
	need := max(int(window/d.interval), 1)
	d.say("verifying recovery: %s window within %s of detection", window, within)
	d.j.Record(journal.RecoveryStart, "window", window.String(), "within", within.String())
	// The window in progress when the rollback finished still holds canary
	// traffic; start from a clean interval.
	if _, err := d.tick(ctx); err != nil {
		return err
	}
	var ring []metrics.Window
	for time.Now().Before(deadline) {
		tw, err := d.tick(ctx)
		if err != nil {
			return err
		}
		if d.stalled {
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
		ok, detail := checkSLOs(d.sc.SteadyState.SLO, merged, &d.baseline)
		if ok {
			t := d.nextCut
			d.recovered = &t
			d.j.Record(journal.RecoveryDone, "ok", true, "detail", detail)
			d.say("recovered: %s", detail)
			return nil
		}
		d.j.Record(journal.RecoveryCheck, "ok", false, "detail", detail)
	}
	d.j.Record(journal.RecoveryDone, "ok", false, "detail", "no window met the baseline within "+within.String())
	d.say("NOT recovered within %s", within)
	return nil
}

// verifyData stops the load (so the ledger is final) and runs the data
// checks: every acknowledged write against the database, the invariants,
// and the schema against its snapshot from before the rollout.
func (d *drill) verifyData(ctx context.Context) error {
	d.stopLoad()
	if hook := d.opts.BeforeDataCheck; hook != nil {
		if err := hook(ctx, d.dbs); err != nil {
			return fmt.Errorf("before data check: %w", err)
		}
	}
	// The three checks are independent: a ledger that cannot be read
	// must not cost the report its schema and invariant verdicts.
	err := d.checkLedgerData(ctx)
	d.invariantRes = d.checkInvariants(ctx)
	d.checkSchema(ctx)
	return err
}

func (d *drill) checkLedgerData(ctx context.Context) error {
	spec := d.sc.Verify.Data.Ledger
	if spec == nil {
		return nil
	}
	h := d.dbs[spec.Database]
	db, err := dbcheck.OpenDB(h)
	if err != nil {
		return err
	}
	defer db.Close()
	d.j.Record(journal.LedgerCheckStart, "database", spec.Database, "table", spec.Table)
	res, err := ledger.Check(ctx, db, spec, d.ledger.Path())
	if err != nil {
		d.j.Record(journal.LedgerCheckFailed, "error", err.Error())
		return fmt.Errorf("ledger check: %w", err)
	}
	d.ledgerRes = &res
	d.j.Record(journal.LedgerCheckDone, "acknowledged", res.Acknowledged, "lost", res.Lost, "changed", res.Changed,
		"duplicated", res.Duplicated, "indeterminate", res.Indeterminate, "examples", res.Examples)
	d.say("ledger: %d acknowledged, %d lost, %d changed, %d duplicated, %d indeterminate",
		res.Acknowledged, res.Lost, res.Changed, res.Duplicated, res.Indeterminate)
	for _, ex := range res.Examples {
		d.say("  %s", ex)
	}
	return nil
}

// stopLoad ends the load and waits for in-flight requests; idempotent.
func (d *drill) stopLoad() {
	if d.load == nil {
		return
	}
	d.loadCancel()
	d.load.Wait()
	if d.ledger != nil {
		_ = d.ledger.Close()
	}
	if !d.loadStopped {
		d.loadStopped = true
		total, failed := d.load.Counts()
		d.j.Record(journal.LoadStop, "requests", total, "failed", failed)
	}
}

// finish is the teardown that always runs (success, failure, Ctrl-C,
// panic), then the report.
func (d *drill) finish(runErr error) *reports.Report {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if runErr != nil {
		d.errText = runErr.Error()
		d.j.Record(journal.RunError, "error", runErr.Error())
		d.mu.Lock()
		live := d.canaryLive
		d.mu.Unlock()
		if live || d.migratedUp && d.outcome == "" {
			// Safe abort: the same ordered undo a rollback does.
			d.outcome = reports.OutcomeAborted
			d.abortRollout(ctx, "run stopped: "+runErr.Error())
		}
	}
	if d.outcome == "" {
		d.outcome = reports.OutcomeAborted
	}
	d.j.Record(journal.TeardownStart)
	d.stopLoad()
	if _, failed := d.faults.revertAll(ctx, "teardown"); len(failed) > 0 {
		d.leftovers = append(d.leftovers, "faults not reverted: "+fmt.Sprint(failed))
	}
	if d.prov != nil {
		if err := d.prov.Close(ctx); err != nil {
			d.j.Record(journal.TeardownProvider, "error", err.Error())
		}
	}
	for name, rt := range d.routers {
		if err := rt.Close(); err != nil {
			d.j.Record(journal.TeardownRouter, "service", name, "error", err.Error())
		}
	}
	d.leftovers = append(d.leftovers, d.checkLeftovers()...)
	d.j.Record(journal.TeardownDone, "leftovers", d.leftovers)
	rep := d.report()
	if err := reports.Write(d.runDir, rep); err != nil {
		fmt.Fprintf(d.log, "write report: %v\n", err)
	}
	_ = d.j.Close()
	return rep
}

// checkLeftovers proves nothing the drill created survives it: every
// process it started is gone and its temp dir is removed.
func (d *drill) checkLeftovers() []string {
	var out []string
	d.mu.Lock()
	pids := make([]int, 0, len(d.pids))
	for pid := range d.pids {
		pids = append(pids, pid)
	}
	d.mu.Unlock()
	sort.Ints(pids)
	for _, pid := range pids {
		// Signal 0 checks existence; a reaped child is gone (ESRCH).
		if err := syscall.Kill(pid, 0); err == nil {
			out = append(out, fmt.Sprintf("process %s (pid %d) still running", d.pids[pid], pid))
		}
	}
	if ll, ok := d.prov.(provider.LeftoverLister); ok {
		ctx, cancel := context.WithTimeout(context.Background(), sweepTimeout)
		out = append(out, ll.Leftovers(ctx)...)
		cancel()
	}
	if err := os.RemoveAll(d.tmpDir); err != nil {
		out = append(out, fmt.Sprintf("temp dir %s: %v", d.tmpDir, err))
	} else if _, err := os.Stat(d.tmpDir); err == nil {
		out = append(out, "temp dir "+d.tmpDir+" still exists")
	}
	return out
}

// report assembles report.json from the run's state and scores it.
func (d *drill) report() *reports.Report {
	sc := d.sc
	rep := &reports.Report{
		SchemaVersion: reports.SchemaVersion,
		Scenario:      sc.Name, Description: sc.Description,
		RunID: d.runID, Provider: d.provider, Seed: d.seed,
		StartedAt: d.started.UTC(), EndedAt: time.Now().UTC(),
		Outcome:     d.outcome,
		Interrupted: d.interrupted,
		Expect:      expectFor(sc.Expect),
		ExposureAt:  d.exposure, DetectedAt: d.detected, RecoveredAt: d.recovered,
		SteadyState: d.steady,
		Faults:      d.faults.report(),
		Leftovers:   d.leftovers,
		Series:      d.series,
		RunDir:      d.runDir,
		Error:       d.errorText(),
		Decision:    d.decision,
	}
	if d.exposure != nil && d.detected != nil {
		v := journal.Seconds(d.detected.Sub(*d.exposure))
		rep.DetectionSeconds = &v
	}
	if d.detected != nil && d.recovered != nil {
		v := journal.Seconds(d.recovered.Sub(*d.detected))
		rep.RecoverySeconds = &v
	}
	if d.load != nil {
		rep.Requests = d.load.Requests(d.baseline.ErrorRate())
	}
	if d.ledgerRes != nil {
		r := d.ledgerRes
		rep.Data.Ledger = reports.Ledger{Acknowledged: r.Acknowledged, Lost: r.Lost, Changed: r.Changed,
			Duplicated: r.Duplicated, Indeterminate: r.Indeterminate, Checked: true}
	}
	rep.Data.Invariants = d.invariantRes
	rep.Data.SchemaRestored, rep.Data.SchemaVersion, rep.Data.SchemaDiff = d.schema.restored, d.schema.version, d.schema.diff
	rep.Rollback = reports.Rollback{Steps: d.rbSteps, Rerun: d.rbRerun, Idempotent: d.rbIdempotent || d.rbSteps == nil}
	for _, e := range d.j.Events() {
		rep.Timeline = append(rep.Timeline, reports.Event{T: e.T, ElapsedSeconds: e.Elapsed, Event: e.Event, Fields: e.Fields})
	}
	reports.Evaluate(rep)
	return rep
}

func expectFor(e scenarios.Expect) reports.Expect {
	out := reports.Expect{Outcome: reports.Outcome(e.Outcome)}
	if e.DetectWithin > 0 {
		v := e.DetectWithin.Seconds()
		out.DetectWithinSeconds = &v
	}
	if e.RecoverWithin > 0 {
		v := e.RecoverWithin.Seconds()
		out.RecoverWithinSeconds = &v
	}
	if e.MinScore > 0 {
		v := e.MinScore
		out.MinScore = &v
	}
	return out
}

// errorText is the report's error line; an interruption says so plainly
// rather than "context canceled".
func (d *drill) errorText() string {
	if d.interrupted {
		return "interrupted by signal; safe abort done"
	}
	return d.errText
}
