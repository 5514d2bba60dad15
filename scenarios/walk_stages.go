package scenarios

import (
	"fmt"
	"slices"
	"time"

	"go.yaml.in/yaml/v3"
)

// Stage is one environment a release is promoted through (`stages:`), in
// order: each is its own copy of the environment — instances, routers,
// databases — with its own load and gate. A stage starts only once the
// one before it promoted, and promotes exactly the builds (by digest)
// that passed there.
type Stage struct {
	Name string
	// Rate replaces load.rate (and any ramp) in this stage; zero keeps
	// the load's own.
	Rate Rate
	// Approval is "manual" for a gate before the stage starts: an
	// operator approves promoting into it (--auto-approve passes it).
	Approval string
	// Timeout and OnTimeout bound the gate as a rollout step's do.
	Timeout   time.Duration
	OnTimeout string
	Pos       Pos
}

// stages walks `stages:`. Faults name a stage with `stage:`; w.stages
// keeps the names for them.
func (w *walk) stages(o *object) []*Stage {
	var out []*Stage
	seen := map[string]*yaml.Node{}
	n := o.get("stages")
	items := o.list("stages")
	if n != nil && len(items) == 0 && (isNull(n) || n.Kind == yaml.SequenceNode) {
		w.add(o.key("stages"), "e.g. stages: [{name: staging, rate: 50/s}, {name: production, approval: manual}]",
			"stages: at least one stage is required (or leave stages out: one environment)")
	}
	for i, item := range items {
		st := &Stage{Pos: w.pos(item)}
		so := w.object(nil, item, fmt.Sprintf("stages[%d]", i), stageFields.known...)
		so.require(stageFields.required...)
		if so.str("name", &st.Name) {
			switch {
			case !entityNameRE.MatchString(st.Name):
				w.add(so.get("name"), "use letters, digits, - and _, e.g. staging", "name: %q is not a valid stage name", st.Name)
			case seen[st.Name] != nil:
				w.add(so.get("name"), "give each stage its own name", "name: duplicate stage %q (first at line %d)", st.Name, seen[st.Name].Line)
			default:
				seen[st.Name] = so.get("name")
			}
		}
		if so.rate("rate", &st.Rate) && st.Rate.Freq <= 0 {
			w.add(so.get("rate"), "", "rate: must be positive, got %s", st.Rate)
		}
		if so.str("approval", &st.Approval) && !slices.Contains(approvals, st.Approval) {
			w.add(so.get("approval"), didYouMean(st.Approval, approvals), "unknown approval %q (known: manual)", st.Approval)
		}
		w.gateTimeout(so, fmt.Sprintf("stages[%d]", i), so.has("approval"), &st.Timeout, &st.OnTimeout)
		out = append(out, st)
	}
	return out
}

// faultStage checks a fault's `stage:` names a stage of the scenario.
func (w *walk) faultStage(n *yaml.Node, name string, stages []*Stage) {
	var names []string
	for _, st := range stages {
		if st.Name == name {
			return
		}
		if st.Name != "" && !slices.Contains(names, st.Name) {
			names = append(names, st.Name)
		}
	}
	if len(stages) == 0 {
		w.add(n, "add stages:, or leave stage out", "stage: %q, but the scenario has no stages", name)
		return
	}
	w.add(n, didYouMean(name, names), "stage: unknown stage %q (stages: %s)", name, orNone(names))
}
