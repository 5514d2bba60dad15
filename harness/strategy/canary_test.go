package strategy

import (
	"fmt"
	"testing"

	"github.com/drillhq/drill/harness/metrics"
	"github.com/drillhq/drill/harness/router"
)

func TestCanaryMovesTrafficAndBack(t *testing.T) {
	c, err := New("canary", nil)
	if err != nil {
		t.Fatal(err)
	}
	rel := Release{Service: "orders", Baseline: "v1", To: "v2"}
	// The router a drill puts in front of the service, unstarted: the
	// split is its configuration, read back with Split.
	r := router.New("orders", metrics.NewRecorder("router:orders"))
	r.SetSplit("v1", "", 0)
	split := func() string { b, c, w := r.Split(); return fmt.Sprintf("%s %s %g", b, c, w) }
	c.Begin(r, rel)
	if got := split(); got != "v1 v2 0" {
		t.Fatalf("after Begin: %s, want v2 in the split at 0", got)
	}
	if d := c.Step(r, rel, 0.25); d != "v2 at 25%" || split() != "v1 v2 0.25" {
		t.Fatalf("Step: %q, split %s", d, split())
	}
	changed, detail := c.Revert(r, rel)
	if !changed || detail != "100% to v1 (was 25% to v2)" || split() != "v1  0" {
		t.Fatalf("Revert: %v %q, split %s", changed, detail, split())
	}
	if changed, detail := c.Revert(r, rel); changed || detail != "already 100% to v1" {
		t.Fatalf("second Revert: %v %q, want a no-op", changed, detail)
	}
	c.Promote(r, rel)
	if split() != "v2  0" {
		t.Fatalf("Promote: split %s, want all to v2", split())
	}
}
