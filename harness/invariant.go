package harness

import (
	"context"
	"math"
	"strconv"

	"github.com/drillhq/drill/harness/dbcheck"
	"github.com/drillhq/drill/harness/journal"
	"github.com/drillhq/drill/reports"
)

// checkInvariants runs every verify.data.invariants probe once, at the end
// of the drill.
func (d *drill) checkInvariants(ctx context.Context, sys *System) []reports.Invariant {
	var out []reports.Invariant
	for _, inv := range d.sc.Verify.Data.Invariants {
		r := reports.Invariant{Name: inv.Name, Expect: inv.Expect}
		var err error
		r.Value, err = dbcheck.ReadInvariant(ctx, sys.dbs[inv.Database], inv)
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
