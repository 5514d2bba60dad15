package dbcheck

import (
	"context"
	"database/sql"
	"strings"

	"github.com/drillhq/drill/harness/provider"
	"github.com/drillhq/drill/scenarios"
)

// Probes runs the invariant:NAME metrics of a rollout's analysis once per
// interval, each on its own database handle (one connection per database,
// apart from the service's pool and the fault proxies, so a database
// fault does not blind the probe).
type Probes struct {
	invs []*scenarios.Invariant
	dbs  map[string]*sql.DB
}

// Reading is one invariant's value at one interval, or why there is none.
type Reading struct {
	Invariant string
	Metric    string // the analysis metric: scenarios.InvariantPrefix + Invariant
	Value     float64
	Err       error
}

// OpenProbes opens the databases (from dbs, by name) of the invariants
// sc's analysis uses; nil when it uses none. Close releases them.
func OpenProbes(sc *scenarios.Scenario, dbs map[string]*provider.DatabaseHandle) (*Probes, error) {
	var used []*scenarios.Invariant
	for _, c := range sc.Rollout.Analysis.Metrics {
		name, ok := strings.CutPrefix(c.Metric, scenarios.InvariantPrefix)
		if !ok {
			continue
		}
		for _, inv := range sc.Verify.Data.Invariants {
			if inv.Name == name {
				used = append(used, inv)
			}
		}
	}
	if len(used) == 0 {
		return nil, nil
	}
	p := &Probes{invs: used, dbs: map[string]*sql.DB{}}
	for _, inv := range used {
		if p.dbs[inv.Database] != nil {
			continue
		}
		db, err := OpenDB(dbs[inv.Database])
		if err != nil {
			p.Close()
			return nil, err
		}
		db.SetMaxOpenConns(1)
		p.dbs[inv.Database] = db
	}
	return p, nil
}

// Observe probes every invariant once, in the order the scenario defines
// them; nothing on a nil Probes.
func (p *Probes) Observe(ctx context.Context) []Reading {
	if p == nil {
		return nil
	}
	out := make([]Reading, 0, len(p.invs))
	for _, inv := range p.invs {
		v, err := ProbeInvariant(ctx, p.dbs[inv.Database], inv)
		out = append(out, Reading{Invariant: inv.Name, Metric: scenarios.InvariantPrefix + inv.Name, Value: v, Err: err})
	}
	return out
}

// Close closes the probes' database handles; safe on a nil Probes.
func (p *Probes) Close() {
	if p == nil {
		return
	}
	for _, db := range p.dbs {
		db.Close()
	}
}

// ReadInvariant runs inv's probe once, on a handle of its own to database
// h (the end-of-drill check of verify.data.invariants).
func ReadInvariant(ctx context.Context, h *provider.DatabaseHandle, inv *scenarios.Invariant) (float64, error) {
	db, err := OpenDB(h)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	return ProbeInvariant(ctx, db, inv)
}
