package harness

import (
	"context"
	"database/sql"
	"math"
	"strconv"
	"strings"

	"github.com/drillhq/drill/harness/dbcheck"
	"github.com/drillhq/drill/harness/journal"
	"github.com/drillhq/drill/harness/judge"
	"github.com/drillhq/drill/reports"
	"github.com/drillhq/drill/scenarios"
)

// invariantProbes runs the invariant:NAME metrics of the analysis once per
// interval, each on its own database handle (one connection per database,
// apart from the service's pool and the fault proxies, so a database
// fault does not blind the probe).
type invariantProbes struct {
	invs []*scenarios.Invariant
	dbs  map[string]*sql.DB
}

// newInvariantProbes opens the databases of the invariants the analysis
// uses; nil when it uses none.
func (d *drill) newInvariantProbes(sys *System) (*invariantProbes, error) {
	var used []*scenarios.Invariant
	for _, c := range d.sc.Rollout.Analysis.Metrics {
		name, ok := strings.CutPrefix(c.Metric, scenarios.InvariantPrefix)
		if !ok {
			continue
		}
		for _, inv := range d.sc.Verify.Data.Invariants {
			if inv.Name == name {
				used = append(used, inv)
			}
		}
	}
	if len(used) == 0 {
		return nil, nil
	}
	p := &invariantProbes{invs: used, dbs: map[string]*sql.DB{}}
	for _, inv := range used {
		if p.dbs[inv.Database] != nil {
			continue
		}
		db, err := dbcheck.OpenDB(sys.dbs[inv.Database])
		if err != nil {
			p.close()
			return nil, err
		}
		db.SetMaxOpenConns(1)
		p.dbs[inv.Database] = db
	}
	return p, nil
}

// observe probes every invariant and returns the values as canary-side
// metrics: an invariant is database-wide, and only the canary is new, so a
// violation is charged to it (the baseline side has no value).
func (p *invariantProbes) observe(ctx context.Context, j *journal.Journal) map[string]judge.SidePair {
	if p == nil {
		return nil
	}
	out := map[string]judge.SidePair{}
	for _, inv := range p.invs {
		v, err := dbcheck.ProbeInvariant(ctx, p.dbs[inv.Database], inv)
		metric := scenarios.InvariantPrefix + inv.Name
		if err != nil {
			// No value: the judge's on_no_data policy decides, and the
			// journal says why.
			j.Record(journal.InvariantError, "invariant", inv.Name, "error", err.Error())
			out[metric] = judge.SidePair{}
			continue
		}
		out[metric] = judge.SidePair{Canary: v, CanaryOK: true}
	}
	return out
}

func (p *invariantProbes) close() {
	if p == nil {
		return
	}
	for _, db := range p.dbs {
		db.Close()
	}
}

// checkInvariants runs every verify.data.invariants probe once, at the end
// of the drill.
func (d *drill) checkInvariants(ctx context.Context, sys *System) []reports.Invariant {
	var out []reports.Invariant
	for _, inv := range d.sc.Verify.Data.Invariants {
		r := reports.Invariant{Name: inv.Name, Expect: inv.Expect}
		db, err := dbcheck.OpenDB(sys.dbs[inv.Database])
		if err == nil {
			r.Value, err = dbcheck.ProbeInvariant(ctx, db, inv)
			db.Close()
		}
		if err != nil {
			r.Error = err.Error()
		} else {
			r.OK = math.Abs(r.Value-inv.Expect) < 1e-9
		}
		d.j.Record(journal.InvariantCheck, "invariant", inv.Name, "value", r.Value, "expect", inv.Expect, "ok", r.OK, "error", r.Error)
		d.say("invariant %s: %s (expect %s) %s", inv.Name, fmtNum(r.Value), fmtNum(inv.Expect), okWord(r.OK, r.Error))
		out = append(out, r)
	}
	return out
}

func fmtNum(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

func okWord(ok bool, errText string) string {
	switch {
	case errText != "":
		return "ERROR: " + errText
	case ok:
		return "ok"
	}
	return "FAILED"
}
