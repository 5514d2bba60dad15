// Package stall tells the harness when the machine itself stalled under
// it, so that windows measuring the machine are not judged as the system
// under test.
package stall

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shirou/gopsutil/v4/cpu"

	"github.com/drillhq/drill/reports"
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

// Meter gathers, over a whole drill, the evidence that the machine starved
// it (reports.Host): the windows cut across stalls, the CPU time the
// hypervisor stole, and how far the load generator fell behind its rate.
// Its methods are safe for concurrent use and on a nil Meter.
type Meter struct {
	mu             sync.Mutex
	windows        int
	stalled        int
	worst          time.Duration
	expected, sent int64
	t0             *cpu.TimesStat
}

// NewMeter starts measuring: the CPU times now are the steal's zero.
func NewMeter() *Meter {
	m := &Meter{}
	if ts, err := cpu.Times(false); err == nil && len(ts) == 1 {
		m.t0 = &ts[0]
	}
	return m
}

// Window counts one analysis interval whose heartbeat was late by late.
func (m *Meter) Window(late time.Duration) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.windows++
	if late >= Threshold {
		m.stalled++
	}
	m.worst = max(m.worst, late)
}

// Load adds one load generator's requests: those its rate asked for and
// those it sent (a drill with stages runs one load per stage).
func (m *Meter) Load(expected, sent int64) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expected += expected
	m.sent += sent
}

// Host is the evidence so far, judged (reports.Host.Judge).
func (m *Meter) Host() *reports.Host {
	if m == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	h := &reports.Host{Windows: m.windows, StalledWindows: m.stalled, LoadExpected: m.expected, LoadSent: m.sent}
	if m.worst >= Threshold {
		h.WorstStallMs = m.worst.Milliseconds()
	}
	if n, err := cpu.Counts(true); err == nil {
		h.CPUs = n
	}
	if ts, err := cpu.Times(false); err == nil && len(ts) == 1 && m.t0 != nil {
		h.StealPercent = stealPercent(*m.t0, ts[0])
	}
	h.Judge()
	return h
}

// stealPercent is the share of CPU time between two samples that the
// hypervisor stole, in percent.
func stealPercent(a, b cpu.TimesStat) float64 {
	total := b.Total() - a.Total()
	if total <= 0 {
		return 0
	}
	return 100 * (b.Steal - a.Steal) / total
}
