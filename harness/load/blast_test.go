package load

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/drillhq/drill/harness/ledger"
	"github.com/drillhq/drill/harness/metrics"
	"github.com/drillhq/drill/scenarios"
)

// TestBlastRadiusCountsOnlyAfterExposure: a system that fails while it
// warms up, then serves every request, has no blast radius. The failures
// sent before T0 are counted as excluded, with the reason, and none of
// them is an excess failure (before, every failure of the drill was).
func TestBlastRadiusCountsOnlyAfterExposure(t *testing.T) {
	var healthy atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if healthy.Load() {
			w.WriteHeader(http.StatusCreated)
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	lw, err := ledger.Open(filepath.Join(t.TempDir(), "ledger.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer lw.Close()
	sc := ordersLoad(0)
	sc.Load.Rate = scenarios.Rate{Freq: 200, Per: time.Second}
	g := New(sc, srv.URL, metrics.NewRecorder("client"), lw)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go g.Run(ctx, time.Minute)
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitFor("20 failures while warming up", func() bool { return g.counts.failed.Load() >= 20 })
	healthy.Store(true)
	g.MarkExposure(time.Now())
	waitFor("100 requests sent after exposure", func() bool { return g.exposed.total.Load() >= 100 })
	cancel()
	g.Wait()

	q := g.Requests(0)
	if q.ExcessFailed != 0 || q.ExposedFailed != 0 {
		t.Errorf("excess %d, exposed failed %d: failures before T0 counted in the blast radius", q.ExcessFailed, q.ExposedFailed)
	}
	if q.ExcludedFailed < 20 || q.ExcludedFailed != q.Failed {
		t.Errorf("excluded failed = %d of %d failed, want every failure (>= 20)", q.ExcludedFailed, q.Failed)
	}
	if q.ExposedTotal < 100 || q.ExposedTotal+q.ExcludedTotal != q.Total {
		t.Errorf("exposed %d + excluded %d != total %d (or fewer than 100 exposed)", q.ExposedTotal, q.ExcludedTotal, q.Total)
	}
	if q.ExcludedReason == "" {
		t.Error("no reason given for the excluded requests")
	}

	// With the same failures after T0, they are the blast radius.
	healthy.Store(false)
	g2 := New(sc, srv.URL, metrics.NewRecorder("client"), lw)
	g2.MarkExposure(time.Now())
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	go g2.Run(ctx2, time.Minute)
	waitFor("20 failures after exposure", func() bool { return g2.counts.failed.Load() >= 20 })
	cancel2()
	g2.Wait()
	q2 := g2.Requests(0)
	if q2.ExcessFailed != q2.Failed || q2.ExcludedTotal != 0 || q2.ExcludedReason != "" {
		t.Errorf("after T0: excess %d of %d failed, excluded %d (%q); want every failure counted", q2.ExcessFailed, q2.Failed, q2.ExcludedTotal, q2.ExcludedReason)
	}
}

// TestMarkExposureKeepsTheEarliest: a fault and a step may race to mark
// T0; the load's T0 is the earliest, as the drill's is.
func TestMarkExposureKeepsTheEarliest(t *testing.T) {
	g := &Generator{}
	t0 := time.Unix(1000, 0)
	g.MarkExposure(t0.Add(time.Second))
	g.MarkExposure(t0)
	g.MarkExposure(t0.Add(2 * time.Second))
	if got := g.exposure.Load(); got != t0.UnixNano() {
		t.Errorf("exposure = %v, want %v", time.Unix(0, got), t0)
	}
}
