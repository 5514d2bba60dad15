package harness

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
// ticks every heartbeatEvery and keeps the worst lateness per window. A
// slow service does not make the harness's own timer late; a frozen
// machine does.
const (
	heartbeatEvery = 50 * time.Millisecond
	// stallThreshold is the lateness that marks a window as stalled.
	stallThreshold = 200 * time.Millisecond
)

// heartbeat measures the harness's scheduling lateness.
type heartbeat struct {
	worst atomic.Int64 // nanoseconds, since the last take
}

func startHeartbeat(ctx context.Context) *heartbeat {
	h := &heartbeat{}
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

// take returns the worst lateness since the last take and resets it.
func (h *heartbeat) take() time.Duration {
	if h == nil {
		return 0
	}
	return time.Duration(h.worst.Swap(0))
}
