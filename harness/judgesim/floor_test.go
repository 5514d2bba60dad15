package judgesim

import (
	"math"
	"testing"
	"time"
)

// TestNeymanPearsonPower checks the power against values worked by hand:
// 1 s of a 5%-error canary at 100 requests/s against a 0.1% baseline is
// Poisson(5) against Poisson(0.1). At size 1%, reject at 2 failures or
// more (P0 = 1 − 1.1·e^−0.1 = 0.004679) and at 1 failure with probability
// (0.01 − 0.004679)/0.0904837 = 0.058806: power 0.959572 + 0.058806 ×
// 0.0336897 = 0.961553.
func TestNeymanPearsonPower(t *testing.T) {
	for _, c := range []struct {
		mu0, mu1, alpha, want float64
	}{
		{0.1, 5, 0.01, 0.961553},
		// 0.75 s: P0(>=2) = 1 − 1.075·e^−0.075 = 0.002738, gamma =
		// 0.007262/0.069581 = 0.104367; power 0.888366 + 0.104367 ×
		// 0.088211 = 0.897572.
		{0.075, 3.75, 0.01, 0.897572},
		// alpha 0: nothing is ever rejected beyond what alpha allows.
		{0.1, 5, 0, 0},
		// no baseline failures at all: one failure decides, and no
		// failure is rejected with probability alpha.
		{0, 2, 0.01, 1 - 0.99*math.Exp(-2)},
	} {
		if got := NeymanPearsonPower(c.mu0, c.mu1, c.alpha); math.Abs(got-c.want) > 5e-6 {
			t.Errorf("NeymanPearsonPower(%g, %g, %g) = %.6f, want %.6f", c.mu0, c.mu1, c.alpha, got, c.want)
		}
	}
}

// TestDetectionFloor: with the default traffic (100 canary requests/s,
// 0.1% baseline errors, 250 ms intervals), the 5% canary's p95 floor is
// 1 s at alpha 1% (0.75 s gives 0.8976 < 0.95, 1 s gives 0.9616), and the
// 1% canary's is far longer.
func TestDetectionFloor(t *testing.T) {
	tr := DefaultTraffic()
	if got, ok := DetectionFloor(tr, 0.05, 0.01, 0.95, time.Minute); !ok || got != time.Second {
		t.Errorf("5%% floor = %v (%v), want 1s", got, ok)
	}
	got, ok := DetectionFloor(tr, 0.01, 0.005, 0.95, time.Minute)
	if !ok || got < 8*time.Second || got > 10*time.Second {
		t.Errorf("1%% floor at alpha 0.5%% = %v (%v), want between 8 and 10 s", got, ok)
	}
	if _, ok := DetectionFloor(tr, 0.01, 0.005, 0.95, time.Second); ok {
		t.Error("a 1 s limit is long enough for the 1% canary")
	}
}

// TestLatencyDetectionFloor: the default traffic's baseline p99 is
// 20 ms·e^(0.5·2.3263) = 64.0 ms, so max_ratio 1.2 tolerates 76.8 ms; a
// ×1.5 canary (median 30 ms) is above it with probability
// 1 − Φ(ln(76.8/30)/0.5) = 1 − Φ(1.880) = 3.005%, against the 1% a canary
// at the tolerance has. The most powerful test of Poisson(t) against
// Poisson(3.005t) at size 0.5% first reaches 95% power at 8 s (7.75 s
// gives less): the p95 floor.
func TestLatencyDetectionFloor(t *testing.T) {
	tr := DefaultTraffic()
	f, p1, ok := LatencyDetectionFloor(tr, 1.5, 0.99, 1.2, 0.005, 0.95, time.Minute)
	if !ok || f != 8*time.Second || math.Abs(p1-0.03005) > 0.00002 {
		t.Errorf("latency x1.5 floor at alpha 0.5%% = %v (%v), p1 %.5f; want 8s, 0.03005", f, ok, p1)
	}
	if got := NeymanPearsonPower(7.75, 7.75*p1*100, 0.005); got >= 0.95 {
		t.Errorf("power at 7.75 s = %.4f, want < 0.95", got)
	}
	// A canary within its tolerance is not detectable at all.
	if _, _, ok := LatencyDetectionFloor(tr, 1.2, 0.99, 1.2, 0.005, 0.95, time.Minute); ok {
		t.Error("a x1.2 canary under max_ratio 1.2 has a floor")
	}
}
