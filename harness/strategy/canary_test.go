package strategy

import (
	"fmt"
	"testing"
	"time"

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
	tg := Target{Router: r}
	if err := c.Begin(tg, rel); err != nil {
		t.Fatal(err)
	}
	if got := split(); got != "v1 v2 0" {
		t.Fatalf("after Begin: %s, want v2 in the split at 0", got)
	}
	if d, _ := c.Apply(tg, rel, Phase{Weight: 0.25}); d != "v2 at 25%" || split() != "v1 v2 0.25" {
		t.Fatalf("Step: %q, split %s", d, split())
	}
	changed, detail, _ := c.Revert(tg, rel)
	if !changed || detail != "100% to v1 (was 25% to v2)" || split() != "v1  0" {
		t.Fatalf("Revert: %v %q, split %s", changed, detail, split())
	}
	if changed, detail, _ := c.Revert(tg, rel); changed || detail != "already 100% to v1" {
		t.Fatalf("second Revert: %v %q, want a no-op", changed, detail)
	}
	_ = c.Promote(tg, rel)
	if split() != "v2  0" {
		t.Fatalf("Promote: split %s, want all to v2", split())
	}
}

func TestBlueGreenPreviewsThenSwitchesAtOnce(t *testing.T) {
	k, err := Lookup("blue-green")
	if err != nil {
		t.Fatal(err)
	}
	s, err := k.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	ph := s.Phases([]Phase{{Step: 1, Weight: 0.5}})
	if len(ph) != 2 || ph[0].PreviewRate != 20 || ph[0].Weight != 0 || ph[0].Reference ||
		!ph[1].Switch || !ph[1].Reference || ph[1].Weight != 1 || ph[1].ScaleDownAfter != 30*time.Second {
		t.Fatalf("phases %+v: want a preview at 20/s and a switch judged against the reference, steps ignored", ph)
	}
	rel := Release{Service: "orders", Baseline: "v1", To: "v2"}
	r := router.New("orders", metrics.NewRecorder("router:orders"))
	tg := Target{Router: r}
	_ = s.Begin(tg, rel)
	if b, c, _ := r.Split(); b != "v1" || c != "" {
		t.Fatalf("Begin: split %s/%s, want all live traffic on blue", b, c)
	}
	if _, err := s.Apply(tg, rel, ph[1]); err != nil {
		t.Fatal(err)
	}
	if b, c, _ := r.Split(); b != "v2" || c != "" {
		t.Fatalf("switch: split %s/%s, want all on green", b, c)
	}
	if changed, detail, _ := s.Revert(tg, rel); !changed || detail != "100% to v1 (was 100% to v2)" {
		t.Fatalf("Revert: %v %q", changed, detail)
	}
	if changed, _, _ := s.Revert(tg, rel); changed {
		t.Fatal("second Revert changed something")
	}
}
