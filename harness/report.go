package harness

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/drillhq/drill/harness/journal"
	"github.com/drillhq/drill/reports"
	"github.com/drillhq/drill/scenarios"
)

// finish is the teardown that always runs (success, failure, Ctrl-C,
// panic), then the report of whatever the stages returned.
func (d *drill) finish(runErr error, r *results) *reports.Report {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if runErr != nil {
		r.errText = runErr.Error()
		d.j.Record(journal.RunError, "error", runErr.Error())
		if live, migratedUp := r.rels.state(); live || migratedUp && r.outcome == "" {
			// Safe abort: the same ordered undo a rollback does.
			r.outcome = reports.OutcomeAborted
			rb := d.abortRollout(ctx, r.sys, r.rels, d.faults, "run stopped: "+runErr.Error())
			r.rollback = &rb
		}
	}
	if r.outcome == "" {
		r.outcome = reports.OutcomeAborted
	}
	d.j.Record(journal.TeardownStart)
	// A pending scale-down would stop blue behind the teardown's back.
	r.rels.stopScaleDown()
	r.mon.stop()
	// Background watchers (the switch's) journal their end before the
	// journal closes.
	d.bg.Wait()
	if _, failed := d.faults.RevertAll(ctx, "teardown"); len(failed) > 0 {
		r.leftovers = append(r.leftovers, "faults not reverted: "+fmt.Sprint(failed))
	}
	if r.sys != nil {
		r.sys.close(ctx)
		r.leftovers = append(r.leftovers, r.sys.leftovers()...)
	}
	r.leftovers = append(r.leftovers, d.closeStages(ctx)...)
	// The console's socket lives in the temp dir: closed first.
	d.closeConsole()
	r.leftovers = append(r.leftovers, d.removeTempDir()...)
	d.j.Record(journal.TeardownDone, "leftovers", r.leftovers)
	rep := d.report(r)
	rep.Stages = d.stageReports(r, rep)
	if err := reports.Write(d.runDir, rep); err != nil {
		fmt.Fprintf(d.log, "write report: %v\n", err)
	}
	_ = d.j.Close()
	return rep
}

// removeTempDir removes the run's temp dir and proves it gone.
func (d *drill) removeTempDir() []string {
	if err := os.RemoveAll(d.tmpDir); err != nil {
		return []string{fmt.Sprintf("temp dir %s: %v", d.tmpDir, err)}
	}
	if _, err := os.Stat(d.tmpDir); err == nil {
		return []string{"temp dir " + d.tmpDir + " still exists"}
	}
	return nil
}

// report assembles report.json from the stages' results and scores it.
func (d *drill) report(r *results) *reports.Report {
	sc := d.sc
	rep := &reports.Report{
		SchemaVersion: reports.SchemaVersion,
		Scenario:      sc.Name, Description: sc.Description, Tags: sc.Tags,
		RunID: d.runID, Provider: d.provider, Seed: d.seed,
		StartedAt: d.started.UTC(), EndedAt: time.Now().UTC(),
		Outcome:     r.outcome,
		Interrupted: r.interrupted,
		Expect:      expectFor(sc.Expect),
		ExposureAt:  d.exp.time(), DetectedAt: r.detected, RecoveredAt: r.recovered,
		SteadyState: r.ref.Report,
		Faults:      d.faults.Report(),
		Leftovers:   r.leftovers,
		Series:      map[string]map[string][]reports.SeriesPoint{},
		RunDir:      d.runDir,
		Error:       r.errorText(),
		Decision:    r.decision,
	}
	if r.rels != nil {
		rep.Release = r.rels.report()
	}
	rep.Artifacts = []reports.Artifact{}
	rep.Contracts, rep.Compatibility = []reports.ContractResult{}, compatibility(r.sys)
	if r.sys != nil {
		rep.Artifacts = append(rep.Artifacts, r.sys.artifacts...)
		rep.Contracts = contractReport(r.sys, r.sys.checked)
	}
	if rep.ExposureAt != nil && r.detected != nil {
		v := journal.Seconds(r.detected.Sub(*rep.ExposureAt))
		rep.DetectionSeconds = &v
	}
	if r.detected != nil && r.recovered != nil {
		v := journal.Seconds(r.recovered.Sub(*r.detected))
		rep.RecoverySeconds = &v
	}
	if r.mon != nil {
		rep.Series = r.mon.series
		rep.Requests = r.mon.load.Requests(r.ref.Client.ErrorRate())
	}
	if l := r.verified.Ledger; l != nil {
		rep.Data.Ledger = reports.Ledger{Acknowledged: l.Acknowledged, Lost: l.Lost, Changed: l.Changed,
			Duplicated: l.Duplicated, Indeterminate: l.Indeterminate, Checked: true}
	}
	rep.Data.Invariants = r.verified.Invariants
	s := r.verified.Schema
	rep.Data.SchemaRestored, rep.Data.SchemaVersion, rep.Data.SchemaDiff = s.restored, s.version, s.diff
	rep.Rollback = reports.Rollback{Idempotent: true}
	if rb := r.rollback; rb != nil {
		rep.Rollback = reports.Rollback{Steps: rb.Steps, Rerun: rb.Rerun, Idempotent: rb.Idempotent}
	}
	rep.GameDay = d.gameDayReport(r, rep)
	if r.mon != nil {
		// Only a drill whose load ran measured anything the machine could
		// have starved.
		rep.Host = d.meter.Host()
	}
	for _, e := range d.j.Events() {
		rep.Timeline = append(rep.Timeline, reports.Event{T: e.T, ElapsedSeconds: e.Elapsed, Event: e.Event, Fields: e.Fields})
	}
	reports.Evaluate(rep)
	return rep
}

func expectFor(e scenarios.Expect) reports.Expect {
	out := reports.Expect{Outcome: reports.Outcome(e.Outcome), Rollback: e.Rollback}
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
func (r *results) errorText() string {
	if r.interrupted {
		return "interrupted by signal; safe abort done"
	}
	return r.errText
}
