package harness

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/drillhq/drill/harness/journal"
	"github.com/drillhq/drill/harness/judge"
	"github.com/drillhq/drill/reports"
	"github.com/drillhq/drill/scenarios"
)

// invariantTimeout bounds one probe: a probe that outlives the analysis
// interval would stall the judge, and a probe stuck on a lock must not
// hang the drill.
const invariantTimeout = 2 * time.Second

// probeInvariant runs an invariant's SQL and returns its single numeric
// result. A query that returns no row, more than one column, NULL or a
// non-number is an error: an invariant that cannot be read must not pass.
func probeInvariant(ctx context.Context, db *sql.DB, inv *scenarios.Invariant) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, invariantTimeout)
	defer cancel()
	rows, err := db.QueryContext(ctx, inv.SQL)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return 0, err
	}
	if len(cols) != 1 {
		return 0, fmt.Errorf("the query returns %d columns; it must return one number", len(cols))
	}
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return 0, err
		}
		return 0, errors.New("the query returned no row; it must return one number")
	}
	var v any
	if err := rows.Scan(&v); err != nil {
		return 0, err
	}
	f, err := number(v)
	if err != nil {
		return 0, err
	}
	return f, rows.Close()
}

// number converts a scanned SQL value to a float64.
func number(v any) (float64, error) {
	switch x := v.(type) {
	case int64:
		return float64(x), nil
	case float64:
		return x, nil
	case bool:
		if x {
			return 1, nil
		}
		return 0, nil
	case []byte:
		return strconv.ParseFloat(strings.TrimSpace(string(x)), 64)
	case string:
		return strconv.ParseFloat(strings.TrimSpace(x), 64)
	case nil:
		return 0, errors.New("the query returned NULL; it must return a number (wrap it in COALESCE)")
	}
	return 0, fmt.Errorf("the query returned %T; it must return a number", v)
}

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
func (d *drill) newInvariantProbes() (*invariantProbes, error) {
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
		db, err := openDB(d.dbs[inv.Database])
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
func (p *invariantProbes) observe(ctx context.Context, d *drill) map[string]judge.SidePair {
	if p == nil {
		return nil
	}
	out := map[string]judge.SidePair{}
	for _, inv := range p.invs {
		v, err := probeInvariant(ctx, p.dbs[inv.Database], inv)
		metric := scenarios.InvariantPrefix + inv.Name
		if err != nil {
			// No value: the judge's on_no_data policy decides, and the
			// journal says why.
			d.j.Record(journal.InvariantError, "invariant", inv.Name, "error", err.Error())
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
func (d *drill) checkInvariants(ctx context.Context) []reports.Invariant {
	var out []reports.Invariant
	for _, inv := range d.sc.Verify.Data.Invariants {
		r := reports.Invariant{Name: inv.Name, Expect: inv.Expect}
		db, err := openDB(d.dbs[inv.Database])
		if err == nil {
			r.Value, err = probeInvariant(ctx, db, inv)
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
