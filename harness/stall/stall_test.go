package stall

import (
	"context"
	"testing"
	"time"
)

// TestHeartbeatSeesAFreeze: a heartbeat that was not scheduled for a
// while reports the gap once, and a nil heartbeat reports none.
func TestHeartbeatSeesAFreeze(t *testing.T) {
	var none *Heartbeat
	if got := none.Take(); got != 0 {
		t.Errorf("nil heartbeat: %s", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h := Start(ctx)
	time.Sleep(3 * heartbeatEvery)
	h.Take()
	// Simulate a freeze: claim a late tick, as the ticker goroutine would.
	h.worst.Store(int64(Threshold))
	if got := h.Take(); got < Threshold {
		t.Errorf("Take after a freeze = %s, want at least %s", got, Threshold)
	}
	if got := h.Take(); got >= Threshold {
		t.Errorf("a second Take = %s: the freeze was not reset", got)
	}
}
