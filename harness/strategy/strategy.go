// Package strategy holds the release strategies: how a rollout moves a
// service's traffic from its baseline to the new version step by step, and
// how the rollback moves it back. Each strategy is one file registered by
// name (canary.go today); the harness runs the steps, the judge and the
// rollback order, and asks the strategy only where traffic goes.
//
// The package does not import the scenario loader: the loader asks this
// registry which names `rollout.strategy` may take.
package strategy

import "github.com/drillhq/drill/internal/registry"

// Router is the traffic control a strategy acts on: the router in front of
// the rollout's service, which splits requests between two versions.
type Router interface {
	// SetSplit sends weight (0..1) of the requests to canary and the rest
	// to base; an empty canary sends everything to base.
	SetSplit(base, canary string, weight float64)
	// Split is the split in place.
	Split() (base, canary string, weight float64)
}

// Release names the versions one rollout moves between.
type Release struct {
	Service  string
	Baseline string // the version serving before the rollout
	To       string // the new version
}

// Strategy moves a release's traffic. Every method is idempotent: the
// rollback runs twice to prove that nothing is left to undo.
type Strategy interface {
	// Begin readies traffic once the new version is healthy, before the
	// first step: it takes no traffic yet.
	Begin(r Router, rel Release)
	// Step puts a step of weight (0..1) in place and says what it did,
	// for the operator ("v2 at 10%").
	Step(r Router, rel Release, weight float64) string
	// Promote sends all traffic to the new version.
	Promote(r Router, rel Release)
	// Revert sends all traffic back to the baseline. changed is false
	// when there was nothing to move; detail says what moved.
	Revert(r Router, rel Release) (changed bool, detail string)
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
}

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
