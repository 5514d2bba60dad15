package strategy

import "fmt"

func init() {
	Register("canary", "moves a growing share of requests to the new version, step by step (weight per step), and all of it back on rollback",
		Kind{New: func(any) (Strategy, error) { return canary{}, nil }})
}

// canary splits traffic by weight at the service's router, as Flagger and
// Argo Rollouts do with a mesh or ingress: every step is a weight.
type canary struct{}

func (canary) Phases(steps []Phase) []Phase { return stepPhases(steps) }

func (canary) Labels(rel Release) (string, string) { return rel.Baseline, rel.To }

func (canary) Begin(t Target, rel Release) error {
	t.Router.SetSplit(rel.Baseline, rel.To, 0)
	return nil
}

func (canary) Apply(t Target, rel Release, p Phase) (string, error) {
	t.Router.SetSplit(rel.Baseline, rel.To, p.Weight)
	return fmt.Sprintf("%s at %.0f%%", rel.To, p.Weight*100), nil
}

func (canary) Promote(t Target, rel Release) error {
	t.Router.SetSplit(rel.To, "", 0)
	return nil
}

func (canary) Revert(t Target, rel Release) (bool, string, error) {
	return routeBack(t.Router, rel)
}

// routeBack sends every request to the baseline, saying what it moved.
func routeBack(r Router, rel Release) (bool, string, error) {
	base, to, w := r.Split()
	if base == rel.Baseline && to == "" {
		return false, "already 100% to " + rel.Baseline, nil
	}
	r.SetSplit(rel.Baseline, "", 0)
	if base != rel.Baseline {
		return true, fmt.Sprintf("100%% to %s (was 100%% to %s)", rel.Baseline, base), nil
	}
	return true, fmt.Sprintf("100%% to %s (was %.0f%% to %s)", rel.Baseline, w*100, to), nil
}
