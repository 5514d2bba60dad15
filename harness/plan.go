package harness

import (
	"fmt"
	"time"

	"github.com/drillhq/drill/harness/plan"
	"github.com/drillhq/drill/scenarios"
)

// PlanEntry is one line of a drill's planned timeline (see package plan).
type PlanEntry = plan.Entry

// Plan computes a scenario's timeline without running anything (see
// plan.Build), for the release the drill would make: the strategy's
// phases come from the same newGroup the rollout runs. With stages, each
// stage's timeline follows the one before, as the stage would run (its
// rate, its faults), each in its own environment.
func Plan(sc *scenarios.Scenario) []PlanEntry {
	if len(sc.Stages) == 0 {
		return planOne(sc)
	}
	var out []PlanEntry
	var offset time.Duration
	approx := false
	for i, st := range sc.Stages {
		one := forStage(sc, st)
		what := fmt.Sprintf("stage %d of %d: %s, its own environment, load %s", i+1, len(sc.Stages), st.Name, one.Load.Rate)
		if st.Approval == scenarios.ApprovalManual {
			what += "; an operator approves promoting into it first"
		}
		out = append(out, PlanEntry{At: offset, Approx: approx, What: what})
		approx = approx || st.Approval == scenarios.ApprovalManual
		var end time.Duration
		for _, e := range planOne(one) {
			e.At += offset
			e.Approx = e.Approx || approx
			end = max(end, e.At)
			out = append(out, e)
		}
		offset = end
	}
	return out
}

// planOne is the timeline of one environment.
func planOne(sc *scenarios.Scenario) []PlanEntry {
	g, err := newGroup(sc)
	if err != nil || len(g) == 0 {
		return plan.Build(sc, plan.Release{}, err)
	}
	// Every service of a release moves through the same phases: the
	// timeline is the first's.
	rel := g[0]
	return plan.Build(sc, plan.Release{Names: rel.names(), Phases: rel.phases, Base: rel.base, To: rel.to}, nil)
}
