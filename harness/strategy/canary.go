package strategy

import "fmt"

func init() {
	Register("canary", "moves a growing share of requests to the new version, step by step (weight per step), and all of it back on rollback",
		Kind{New: func(any) (Strategy, error) { return canary{}, nil }})
}

// canary splits traffic by weight at the service's router, as Flagger and
// Argo Rollouts do with a mesh or ingress: every step is a weight.
type canary struct{}

func (canary) Begin(r Router, rel Release) { r.SetSplit(rel.Baseline, rel.To, 0) }

func (canary) Step(r Router, rel Release, weight float64) string {
	r.SetSplit(rel.Baseline, rel.To, weight)
	return fmt.Sprintf("%s at %.0f%%", rel.To, weight*100)
}

func (canary) Promote(r Router, rel Release) { r.SetSplit(rel.To, "", 0) }

func (canary) Revert(r Router, rel Release) (bool, string) {
	base, to, w := r.Split()
	if base == rel.Baseline && to == "" {
		return false, "already 100% to " + rel.Baseline
	}
	r.SetSplit(rel.Baseline, "", 0)
	return true, fmt.Sprintf("100%% to %s (was %.0f%% to %s)", rel.Baseline, w*100, to)
}
