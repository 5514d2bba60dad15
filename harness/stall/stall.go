// Package stall tells the harness when the machine itself stalled under
// it, so that windows measuring the machine are not judged as the system
// under test.
package stall

import (
	"context"
	"sync/atomic"
	"time"
)

// The harness, its load generator and the services share one machine. When
// the machine itself stalls (a VM descheduled, a noisy neighbour), every
// latency measured in that second is the stall, not the system under
// test, and an absolute SLO judged over it fails for no reason in the
// system. A heartbeat detects such stalls from inside the harness: it
// ticks every heartbeatEvery and keeps the worst lateness per window
// (Threshold marks a stalled one). A slow service does not make the
// harness's own timer late; a frozen machine does.
const (
	heartbeatEvery = 50 * time.Millisecond
	// Threshold is the lateness that marks a window as stalled.
	Threshold = 200 * time.Millisecond
)

// Heartbeat measures the harness's scheduling lateness.
type Heartbeat struct {
	worst atomic.Int64 // nanoseconds, since the last Take
}

// Start starts a heartbeat that runs until ctx ends.
func Start(ctx context.Context) *Heartbeat {
	h := &Heartbeat{}
	go func() {
		t := time.NewTicker(heartbeatEvery)
		defer t.Stop()
		last := time.Now()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				// A ticker drops ticks it cannot deliver; the gap between
				// two received ticks still shows how long we were frozen.
				late := time.Since(last) - heartbeatEvery
				last = now
				for {
					cur := h.worst.Load()
					if int64(late) <= cur || h.worst.CompareAndSwap(cur, int64(late)) {
						break
					}
				}
			}
		}
	}()
	return h
}

// Take returns the worst lateness since the last Take and resets it; 0
// on a nil Heartbeat.
func (h *Heartbeat) Take() time.Duration {
	if h == nil {
		return 0
	}
	return time.Duration(h.worst.Swap(0))
}
