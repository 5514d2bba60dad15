// Package strategy holds the release strategies: how a rollout moves a
// service's traffic from its baseline to the new version, phase by phase,
// and how the rollback moves it back. Each strategy is one file registered
// by name (canary.go, bluegreen.go, flag.go); the harness runs the phases,
// the judge and the rollback order, and asks the strategy only what the
// phases are and where traffic goes.
//
// The package does not import the scenario loader: the loader asks this
// registry which names `rollout.strategy` may take and which rollout
// fields they own.
package strategy

import (
	"time"

	"github.com/drillhq/drill/internal/registry"
)

// Router is the traffic control a strategy acts on: the router in front of
// the rollout's service, which splits requests between two versions.
type Router interface {
	// SetSplit sends weight (0..1) of the requests to canary and the rest
	// to base; an empty canary sends everything to base.
	SetSplit(base, canary string, weight float64)
	// Split is the split in place.
	Split() (base, canary string, weight float64)
	// SetPreview makes version the one the router's preview listener
	// reaches ("" for none).
	SetPreview(version string)
}

// Target is everything a strategy may move: the router in front of the
// release's service and the flag service (nil when the scenario defines
// no flags).
type Target struct {
	Router Router
	Flags  Flags
}

// Release names what one rollout moves between.
type Release struct {
	Service  string
	Baseline string // the version serving before the rollout
	To       string // the new version, or the flag's new variant
	// Flag is the flag a flag release moves; "" for other strategies.
	Flag string
}

// Phase is one stretch of a rollout that the harness puts in place, holds
// and judges interval by interval.
type Phase struct {
	// Name says what the phase is, for the operator and the plan
	// ("step 2", "preview", "post-switch").
	Name string
	// Step is the 1-based index of the scenario step the phase came from;
	// 0 for phases a strategy makes itself.
	Step   int
	Weight float64 // the new side's share of live traffic (0..1)
	Hold   time.Duration
	// Approval is a manual gate: the operator decides, the judge watches.
	Approval bool
	// PreviewRate, when above 0, sends synthetic load built from the
	// scenario's request templates at this many requests per second to
	// the new version alone (the router's preview listener).
	PreviewRate float64
	// Switch says the phase moves all live traffic at once: the harness
	// measures the switch (drain of the old side, failed requests).
	Switch bool
	// Reference says the judge has no live baseline in this phase and
	// compares the new side with the steady-state reference.
	Reference bool
	// ScaleDownAfter, when above 0, stops the baseline's instance this long
	// after the phase began (blue-green's scale_down_delay): a rollback
	// after it must start the baseline again, cold.
	ScaleDownAfter time.Duration
}

// Strategy moves a release's traffic. Begin, Apply, Promote and Revert
// are idempotent: the rollback runs twice to prove that nothing is left
// to undo.
type Strategy interface {
	// Phases turns the scenario's steps (as phases with Step, Weight, Hold
	// and Approval set) into the phases the rollout runs.
	Phases(steps []Phase) []Phase
	// Labels are the metric labels at the service's router that the judge
	// compares: the baseline side's and the new side's.
	Labels(rel Release) (base, canary string)
	// Begin readies traffic once the new version is healthy, before the
	// first phase: it takes no live traffic yet.
	Begin(t Target, rel Release) error
	// Apply puts a phase in place and says what it did, for the operator
	// ("v2 at 10%").
	Apply(t Target, rel Release, p Phase) (string, error)
	// Promote sends all traffic to the new side for good.
	Promote(t Target, rel Release) error
	// Revert sends all traffic back to the baseline. changed is false
	// when there was nothing to move; detail says what moved.
	Revert(t Target, rel Release) (changed bool, detail string, err error)
}

// Kind is one registered strategy: the settings it owns in the scenario
// and how to build it for a release. Like a fault kind, a strategy decodes
// its own settings: the loader hands it the YAML node and keeps no list.
type Kind struct {
	// Field names the rollout field holding the strategy's own settings
	// (blue-green's `blue_green`); "" when it has none.
	Field string
	// Parse decodes and validates those settings: decode is bound to the
	// field's YAML node and strict (an unknown field is a problem at its
	// position). It returns the value New is given. nil when Field is "".
	Parse func(decode func(v any) error) (any, error)
	// New builds the strategy for one release from what Parse returned
	// (nil when the scenario wrote no settings).
	New func(params any) (Strategy, error)
	// Moves says what `rollout.to` names under this strategy: a version of
	// the service (MovesVersion, the default), or a variant of the flag
	// its Field names (MovesVariant: no new instance is started).
	Moves string
	// NoSteps says the strategy makes its phases from its own settings:
	// `rollout.steps` is refused under it.
	NoSteps bool
	// Previews says a phase sends the scenario's own request templates to
	// the new version (blue-green's preview): the load target must be the
	// rollout service, or the templates would not fit it.
	Previews bool
}

// What `rollout.to` names (Kind.Moves).
const (
	MovesVersion = ""
	MovesVariant = "variant"
)

var strategies = registry.New[Kind]("strategy")

// Register adds a strategy under name; strategies call it from init.
func Register(name, description string, k Kind) { strategies.Register(name, description, k) }

// Lookup returns the strategy registered as name.
func Lookup(name string) (Kind, error) { return strategies.Get(name) }

// New builds the strategy registered as name with its parsed settings.
func New(name string, params any) (Strategy, error) {
	k, err := strategies.Get(name)
	if err != nil {
		return nil, err
	}
	return k.New(params)
}

// Fields lists the rollout fields registered strategies own, with the
// strategy owning each: the loader accepts them, and only under their
// own strategy.
func Fields() map[string]string {
	out := map[string]string{}
	for _, n := range strategies.Names() {
		if k, _ := strategies.Get(n); k.Field != "" {
			out[k.Field] = n
		}
	}
	return out
}

// Names lists the registered strategies, sorted.
func Names() []string { return strategies.Names() }

// Description returns the one-line description of a strategy.
func Description(name string) string { return strategies.Description(name) }

// stepPhases is the scenario's steps as they are: canary and flag
// rollouts hold each step; a 100% step has no live baseline left.
func stepPhases(steps []Phase) []Phase {
	out := make([]Phase, len(steps))
	for i, p := range steps {
		p.Reference = !p.Approval && p.Weight >= 1
		out[i] = p
	}
	return out
}
