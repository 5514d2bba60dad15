package harness

import (
	"github.com/drillhq/drill/harness/plan"
	"github.com/drillhq/drill/scenarios"
)

// PlanEntry is one line of a drill's planned timeline (see package plan).
type PlanEntry = plan.Entry

// Plan computes a scenario's timeline without running anything (see
// plan.Build), for the release the drill would make: the strategy's
// phases come from the same newRelease the rollout runs.
func Plan(sc *scenarios.Scenario) []PlanEntry {
	g, err := newGroup(sc)
	if err != nil || len(g) == 0 {
		return plan.Build(sc, plan.Release{}, err)
	}
	// Every service of a release moves through the same phases: the
	// timeline is the first's.
	rel := g[0]
	return plan.Build(sc, plan.Release{Names: rel.names(), Phases: rel.phases, Base: rel.base, To: rel.to}, nil)
}
