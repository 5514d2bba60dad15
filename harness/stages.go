package harness

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/drillhq/drill/harness/faultset"
	"github.com/drillhq/drill/harness/journal"
	"github.com/drillhq/drill/harness/judge"
	"github.com/drillhq/drill/harness/provider"
	"github.com/drillhq/drill/reports"
	"github.com/drillhq/drill/scenarios"
)

// stageRun is a stage that ran before the current one: its results, kept
// for the report and torn down with the rest at finish (a promoted stage
// stays promoted until the drill ends).
type stageRun struct {
	stage   *scenarios.Stage
	r       *results
	started time.Time
	rate    float64
	// summary is the stage's section of the report, made when it ended
	// (while the drill's scenario, faults and exposure were still its).
	summary reports.Stage
}

// executeStages promotes the release through the scenario's stages, in
// order: each stage is a whole drill (provision, steady state, rollout,
// rollback or promotion, verification) in its own copy of the
// environment, with its own load and gate. The next stage starts only
// when this one promoted, and rolls out exactly the builds that passed
// here (checkPromoted). r ends as the last stage's results.
func (d *drill) executeStages(ctx context.Context, r *results) error {
	base := d.sc
	d.base = base
	for i, st := range base.Stages {
		if i > 0 {
			prev := *r
			done := &d.stages[len(d.stages)-1]
			done.r = &prev
			// An earlier stage is judged as what it had to be: promoted.
			rep := d.report(&prev)
			rep.Expect = reports.Expect{Outcome: reports.OutcomePromoted}
			reports.Evaluate(rep)
			done.summary = d.stageSummary(done, &prev, rep)
			// The stage is over: its faults go (a promoted stage keeps
			// its new versions, not the trouble injected into it).
			d.faults.RevertAll(context.WithoutCancel(ctx), "stage "+base.Stages[i-1].Name+" done")
			*r = results{}
		}
		d.sc = forStage(base, st)
		d.stage = st.Name
		for _, dir := range []string{d.stageDir(), d.stageTemp()} {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return &provider.EnvError{What: "create stage directory " + dir, Err: err}
			}
		}
		d.exp = &exposure{j: d.j}
		d.faults = faultset.New(d.sc, d.seed, faultset.Host{J: d.j, Say: d.sayFault, Expose: d.exp.mark})
		d.con.SetStage(st.Name)
		d.stages = append(d.stages, stageRun{stage: st, started: time.Now(), rate: d.sc.Load.Rate.PerSecond()})
		d.j.Record(journal.StageStart, "stage", st.Name, "index", i+1, "of", len(base.Stages), "rate", d.sc.Load.Rate.String())
		d.say("=== stage %d of %d: %s (%s) ===", i+1, len(base.Stages), st.Name, d.sc.Load.Rate)
		if st.Approval == scenarios.ApprovalManual {
			if ok, err := d.stageGate(ctx, st); err != nil || !ok {
				r.outcome = reports.OutcomeAborted
				return err
			}
		}
		err := d.executeStage(ctx, r)
		d.j.Record(journal.StageDone, "stage", st.Name, "outcome", string(r.outcome))
		if err != nil || r.outcome != reports.OutcomePromoted {
			return err
		}
	}
	return nil
}

// forStage is the scenario as one stage runs it: the stage's rate, and
// only the faults for every stage or for this one.
func forStage(sc *scenarios.Scenario, st *scenarios.Stage) *scenarios.Scenario {
	out := *sc
	if st.Rate.Freq > 0 {
		out.Load.Rate, out.Load.Ramp = st.Rate, nil
	}
	out.Faults = nil
	for _, f := range sc.Faults {
		if f.Stage == "" || f.Stage == st.Name {
			out.Faults = append(out.Faults, f)
		}
	}
	return &out
}

// stageGate is a stage's `approval: manual`: an operator approves
// promoting the release into it. Nothing runs in the stage meanwhile.
func (d *drill) stageGate(ctx context.Context, st *scenarios.Stage) (bool, error) {
	gate := d.gate("stage "+st.Name, st.Timeout, st.OnTimeout)
	d.say("stage %s: promote the release into it?", st.Name)
	_, ok, err := gate.Wait(ctx, 0, func(ctx context.Context) (*judge.Decision, error) {
		t := time.NewTimer(d.interval)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-t.C:
			return nil, nil
		}
	})
	if err == nil && !ok {
		d.j.Record(journal.StageRejected, "stage", st.Name)
		d.say("stage %s: promotion rejected; the release stops before it", st.Name)
	}
	return ok, err
}

// stageDir is where the current stage's provider writes (logs) and its
// ledger lives: the run directory, or a folder per stage.
func (d *drill) stageDir() string {
	if d.stage == "" {
		return d.runDir
	}
	return filepath.Join(d.runDir, "stages", d.stage)
}

// stageTemp is the current stage's temp dir: its databases are its own.
func (d *drill) stageTemp() string {
	if d.stage == "" {
		return d.tmpDir
	}
	return filepath.Join(d.tmpDir, d.stage)
}

// stageRunID names the current stage's provider run (its containers and
// network are its own).
func (d *drill) stageRunID() string {
	if d.stage == "" {
		return d.runID
	}
	return d.runID + "-" + d.stage
}

// checkPromoted proves that the current stage rolls out exactly the
// builds the stage before it promoted: every released service version's
// digest here must be the one recorded there.
func (d *drill) checkPromoted(sys *System, g group) error {
	if len(d.stages) < 2 {
		return nil
	}
	prev := d.stages[len(d.stages)-2]
	for _, rel := range g {
		if !rel.newVersion() {
			continue
		}
		was := artifactOf(prev.r.sys, rel.svc.Name, rel.to.Name)
		now := artifactOf(sys, rel.svc.Name, rel.to.Name)
		ok := was != nil && now != nil && was.Digest == now.Digest
		d.j.Record(journal.StageDigest, "stage", d.stage, "service", rel.svc.Name, "version", rel.to.Name,
			"promoted_digest", digestOf(was), "digest", digestOf(now), "ok", ok)
		if !ok {
			return fmt.Errorf("stage %s would roll out %s %s as %s, but stage %s promoted %s: a stage promotes exactly the build that passed the one before",
				d.stage, rel.svc.Name, rel.to.Name, cmp.Or(digestOf(now), "an unknown build"), prev.stage.Name, cmp.Or(digestOf(was), "an unknown build"))
		}
	}
	return nil
}

func artifactOf(sys *System, service, version string) *reports.Artifact {
	if sys == nil {
		return nil
	}
	for i, a := range sys.artifacts {
		if a.Service == service && a.Version == version {
			return &sys.artifacts[i]
		}
	}
	return nil
}

func digestOf(a *reports.Artifact) string {
	if a == nil {
		return ""
	}
	return a.Digest
}

// stageSummary is a stage's section of the report, from its results and
// its own report.
func (d *drill) stageSummary(sr *stageRun, res *results, rep *reports.Report) reports.Stage {
	s := reports.Stage{Name: sr.stage.Name, Outcome: rep.Outcome, Score: rep.Score.Total, StartedAt: sr.started.UTC(), EndedAt: rep.EndedAt,
		RatePerSecond: sr.rate, Decision: rep.Decision, DetectionSeconds: rep.DetectionSeconds, RecoverySeconds: rep.RecoverySeconds,
		Requests: rep.Requests, Ledger: rep.Data.Ledger, Rollback: nonNilSteps(rep.Rollback.Steps), Left: stageLeft(rep.Outcome),
		Released: []reports.Artifact{}}
	for _, rel := range res.rels {
		if a := artifactOf(res.sys, rel.svc.Name, rel.to.Name); a != nil && rel.newVersion() {
			s.Released = append(s.Released, *a)
		}
	}
	return s
}

// stageReports is every stage's section: those that ended before, the
// last one (r, reported as last), and those never reached.
func (d *drill) stageReports(r *results, last *reports.Report) []reports.Stage {
	if len(d.stages) == 0 {
		return nil
	}
	var out []reports.Stage
	for i := range d.stages {
		if i == len(d.stages)-1 {
			out = append(out, d.stageSummary(&d.stages[i], r, last))
			continue
		}
		out = append(out, d.stages[i].summary)
	}
	for _, st := range d.base.Stages[len(d.stages):] {
		out = append(out, reports.Stage{Name: st.Name, Outcome: "", Left: "not reached", Released: []reports.Artifact{}, Rollback: []reports.Step{}})
	}
	return out
}

func stageLeft(o reports.Outcome) string {
	switch o {
	case reports.OutcomePromoted:
		return "promoted"
	case reports.OutcomeRolledBack:
		return "rolled back"
	}
	return "aborted"
}

func nonNilSteps(s []reports.Step) []reports.Step {
	if s == nil {
		return []reports.Step{}
	}
	return s
}

// closeStages tears down the stages that ended before the last one (the
// last is r, torn down by finish) and returns what they left behind.
func (d *drill) closeStages(ctx context.Context) []string {
	var left []string
	for _, sr := range d.stages {
		if sr.r == nil || sr.r.sys == nil {
			continue
		}
		sr.r.mon.stop()
		sr.r.sys.close(ctx)
		for _, l := range sr.r.sys.leftovers() {
			left = append(left, "stage "+sr.stage.Name+": "+l)
		}
	}
	return left
}
