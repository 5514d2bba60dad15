package harness

import (
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drillhq/drill/harness/journal"
	"github.com/drillhq/drill/reports"
	"github.com/drillhq/drill/scenarios"
)

func stageDrill(t *testing.T, stdin string, auto bool) *drill {
	t.Helper()
	j, err := journal.Open(filepath.Join(t.TempDir(), "journal.jsonl"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return &drill{sc: &scenarios.Scenario{}, j: j, log: io.Discard, started: time.Now(), interval: 10 * time.Millisecond,
		opts: Options{Stdin: strings.NewReader(stdin), AutoApprove: auto}}
}

func countEvents(d *drill, name string) int {
	n := 0
	for _, e := range d.j.Events() {
		if e.Event == name {
			n++
		}
	}
	return n
}

// TestStageGate: a stage's approval passes on yes or --auto-approve, and
// a no or the end of input keeps the release out of the stage, journaled.
func TestStageGate(t *testing.T) {
	st := &scenarios.Stage{Name: "production", Approval: scenarios.ApprovalManual}
	for _, tc := range []struct {
		name, in string
		auto, ok bool
	}{
		{"operator approves", "yes\n", false, true},
		{"auto-approve", "", true, true},
		{"operator rejects", "no\n", false, false},
		{"no operator input", "", false, false},
	} {
		d := stageDrill(t, tc.in, tc.auto)
		ok, err := d.stageGate(context.Background(), st)
		if err != nil || ok != tc.ok {
			t.Errorf("%s: ok %v err %v, want ok %v", tc.name, ok, err, tc.ok)
		}
		if got := countEvents(d, journal.StageRejected); got != map[bool]int{true: 0, false: 1}[tc.ok] {
			t.Errorf("%s: %d stage.rejected events", tc.name, got)
		}
	}
}

// TestForStage: a stage's rate replaces the load's (and its ramp), and
// only the faults for every stage or for this one run in it.
func TestForStage(t *testing.T) {
	sc := &scenarios.Scenario{
		Load:   scenarios.LoadSpec{Rate: scenarios.Rate{Freq: 100, Per: time.Second}, Ramp: &scenarios.Ramp{}},
		Faults: []*scenarios.Fault{{Name: "everywhere"}, {Name: "prod-only", Stage: "production"}, {Name: "staging-only", Stage: "staging"}},
	}
	got := forStage(sc, &scenarios.Stage{Name: "production", Rate: scenarios.Rate{Freq: 20, Per: time.Second}})
	if got.Load.Rate.PerSecond() != 20 || got.Load.Ramp != nil {
		t.Errorf("load %+v: want the stage's 20/s and no ramp", got.Load)
	}
	var names []string
	for _, f := range got.Faults {
		names = append(names, f.Name)
	}
	if strings.Join(names, ",") != "everywhere,prod-only" {
		t.Errorf("faults %v: want everywhere,prod-only", names)
	}
	if len(sc.Faults) != 3 || sc.Load.Rate.PerSecond() != 100 {
		t.Errorf("the scenario itself changed: %+v", sc.Load)
	}
	if kept := forStage(sc, &scenarios.Stage{Name: "staging"}); kept.Load.Rate.PerSecond() != 100 {
		t.Errorf("a stage without rate: %v, want the load's own", kept.Load.Rate)
	}
}

// TestCheckPromoted: a stage may roll out only the digest the stage before
// it promoted; another build is refused, journaled with both digests.
func TestCheckPromoted(t *testing.T) {
	svc := &scenarios.Service{Name: "orders", Baseline: "v1", Versions: []*scenarios.Version{{Name: "v1"}, {Name: "v2"}}}
	sc := &scenarios.Scenario{Environment: scenarios.Environment{Services: []*scenarios.Service{svc}},
		Rollout: scenarios.Rollout{Service: "orders", To: "v2", Strategy: "canary"}}
	g, err := newGroup(sc)
	if err != nil {
		t.Fatal(err)
	}
	built := func(digest string) *System {
		return &System{artifacts: []reports.Artifact{{Service: "orders", Version: "v2", Digest: digest}}}
	}
	for _, tc := range []struct {
		prev, now string
		ok        bool
	}{{"sha256:aa", "sha256:aa", true}, {"sha256:aa", "sha256:bb", false}, {"", "sha256:bb", false}} {
		d := stageDrill(t, "", true)
		d.stage = "production"
		d.stages = []stageRun{{stage: &scenarios.Stage{Name: "staging"}, r: &results{sys: built(tc.prev)}}, {stage: &scenarios.Stage{Name: "production"}}}
		err := d.checkPromoted(built(tc.now), g)
		if (err == nil) != tc.ok {
			t.Errorf("promoted %q, built %q: err %v, want ok %v", tc.prev, tc.now, err, tc.ok)
		}
		if countEvents(d, journal.StageDigest) != 1 {
			t.Errorf("promoted %q, built %q: want one stage.digest event", tc.prev, tc.now)
		}
	}
}
