package scenarios

import (
	"fmt"
	"maps"

	"github.com/drillhq/drill/harness/strategy"
)

// CanaryService returns the service the rollout replaces, or nil when the
// rollout names none.
func (s *Scenario) CanaryService() *Service {
	return s.Environment.Service(s.Rollout.Service)
}

// CanaryVersion returns the version the rollout brings in, or nil.
func (s *Scenario) CanaryVersion() *Version {
	svc := s.CanaryService()
	if svc == nil {
		return nil
	}
	return svc.Version(s.Rollout.To)
}

// BaselineVersion returns the version of the named service that runs
// before the rollout (its baseline), or nil when there is no such service.
func (s *Scenario) BaselineVersion(service string) *Version {
	svc := s.Environment.Service(service)
	if svc == nil {
		return nil
	}
	return svc.Version(svc.Baseline)
}

// Effective returns the named version as it runs: build, image and
// command inherited from the service unless the version overrides one of
// them, and the version's env merged over the service's. It returns nil
// for an unknown version. The result is a copy; changing it changes
// nothing in the scenario.
func (s *Service) Effective(version string) *Version {
	v := s.Version(version)
	if v == nil {
		return nil
	}
	out := *v
	if v.Build == "" && v.Image == "" && len(v.Command) == 0 {
		out.Build, out.Image, out.Command = s.Build, s.Image, s.Command
	}
	out.Command = append([]string(nil), out.Command...)
	out.Env = maps.Clone(s.Env)
	if out.Env == nil && v.Env != nil {
		out.Env = map[string]string{}
	}
	maps.Copy(out.Env, v.Env)
	return &out
}

// Phases are the phases the rollout runs, as its strategy makes them from
// the steps (blue-green's preview and post-switch from its own settings):
// the harness holds and judges each, and the loader's traffic warnings
// look at each.
func (r *Rollout) Phases() ([]strategy.Phase, error) {
	st, err := strategy.New(r.Strategy, r.StrategyParams)
	if err != nil {
		return nil, err
	}
	var steps []strategy.Phase
	for i, s := range r.Steps {
		steps = append(steps, strategy.Phase{Name: fmt.Sprintf("step %d", i+1), Step: i + 1, Weight: s.Weight, Hold: s.Hold, Approval: s.IsApproval()})
	}
	return st.Phases(steps), nil
}
