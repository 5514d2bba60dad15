package dbcheck

import (
	"context"
	"testing"

	"github.com/drillhq/drill/harness/internal/testdb"
	"github.com/drillhq/drill/harness/judge"
	"github.com/drillhq/drill/harness/provider"
	"github.com/drillhq/drill/scenarios"
)

// TestProbesReadOnlyTheAnalysedInvariants: the probes open and read the
// invariants the analysis names (an error is a reading, not a failure),
// and a scenario whose analysis names none has no probes.
func TestProbesReadOnlyTheAnalysedInvariants(t *testing.T) {
	h := testdb.SQLite(t)
	execOn(t, h, "CREATE TABLE t (n INTEGER); INSERT INTO t VALUES (1), (2)")
	sc := &scenarios.Scenario{}
	sc.Verify.Data.Invariants = []*scenarios.Invariant{
		{Name: "rows", Database: "db", SQL: "SELECT count(*) FROM t"},
		{Name: "broken", Database: "db", SQL: "SELECT n FROM missing"},
		{Name: "unused", Database: "db", SQL: "SELECT 1"},
	}
	dbs := map[string]*provider.DatabaseHandle{"db": h}
	if p, err := OpenProbes(sc, dbs); p != nil || err != nil {
		t.Fatalf("no invariant analysed: %v, %v", p, err)
	}
	sc.Rollout.Analysis.Metrics = []*judge.Check{{Metric: "error_rate"}, {Metric: "invariant:rows"}, {Metric: "invariant:broken"}}
	p, err := OpenProbes(sc, dbs)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	got := p.Observe(context.Background())
	if len(got) != 2 || got[0].Metric != "invariant:rows" || got[0].Value != 2 || got[0].Err != nil {
		t.Fatalf("readings %+v", got)
	}
	if got[1].Invariant != "broken" || got[1].Err == nil {
		t.Errorf("a failing probe: %+v", got[1])
	}
	if v, err := ReadInvariant(context.Background(), h, sc.Verify.Data.Invariants[0]); v != 2 || err != nil {
		t.Errorf("ReadInvariant = %v, %v", v, err)
	}
}
