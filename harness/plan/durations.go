package plan

import (
	"math"
	"time"
)

// SatAdd adds durations, saturating at the largest Duration instead of
// wrapping; negative terms count as 0.
func SatAdd(a time.Duration, bs ...time.Duration) time.Duration {
	a = max(a, 0)
	for _, b := range bs {
		if b <= 0 {
			continue
		}
		if a > math.MaxInt64-b {
			return math.MaxInt64
		}
		a += b
	}
	return a
}

// SatMul multiplies a duration by a count, saturating like SatAdd.
func SatMul(d time.Duration, n int) time.Duration {
	if d <= 0 || n <= 0 {
		return 0
	}
	if d > math.MaxInt64/time.Duration(n) {
		return math.MaxInt64
	}
	return d * time.Duration(n)
}

// WarmupIntervals is how many analysis intervals of load the warm-up
// takes: steady_state.warmup rounded up to whole intervals, since windows
// are cut on interval boundaries.
func WarmupIntervals(warmup, interval time.Duration) int {
	if warmup <= 0 || interval <= 0 {
		return 0
	}
	n := int(warmup / interval)
	if warmup%interval != 0 {
		n++
	}
	return n
}
