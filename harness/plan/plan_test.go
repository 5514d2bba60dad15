package plan

import (
	"math"
	"testing"
	"time"
)

// TestWarmupIntervals: steady_state.warmup is rounded up to whole
// analysis intervals; 0 means no warm-up.
func TestWarmupIntervals(t *testing.T) {
	tests := []struct {
		warmup, interval time.Duration
		want             int
	}{
		{0, time.Second, 0},
		{3 * time.Second, time.Second, 3},
		{3 * time.Second, 250 * time.Millisecond, 12},
		{2500 * time.Millisecond, time.Second, 3},
		{time.Millisecond, time.Second, 1},
		{-time.Second, time.Second, 0},
	}
	for _, tt := range tests {
		if got := WarmupIntervals(tt.warmup, tt.interval); got != tt.want {
			t.Errorf("WarmupIntervals(%s, %s) = %d, want %d", tt.warmup, tt.interval, got, tt.want)
		}
	}
}

// TestSaturation: sums and products of durations stop at the largest
// Duration instead of wrapping, and negative terms count as 0.
func TestSaturation(t *testing.T) {
	if got := SatAdd(time.Second, -time.Second, 2*time.Second); got != 3*time.Second {
		t.Errorf("SatAdd with a negative term = %s", got)
	}
	if got := SatAdd(math.MaxInt64-1, time.Second); got != math.MaxInt64 {
		t.Errorf("SatAdd overflowing = %d", got)
	}
	if got := SatMul(math.MaxInt64/2, 3); got != math.MaxInt64 {
		t.Errorf("SatMul overflowing = %d", got)
	}
	if got := SatMul(time.Second, -1); got != 0 {
		t.Errorf("SatMul by a negative count = %s", got)
	}
}
