// Package metrics turns request outcomes into per-label windows (one per
// analysis interval, normally 1 s) that judges and reports read.
//
// A Recorder keeps, per label, two counters and one HDR histogram for the
// window in progress; Cut closes every window at once and hands them back.
// Nothing is kept per request, so memory does not grow with load: a closed
// window holds only the non-zero buckets of its histogram.
package metrics

import (
	"maps"
	"slices"
	"sync"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Outcome is what one request came to, as its client saw it.
type Outcome struct {
	// Status is the HTTP status the client received; 0 when it received
	// none.
	Status int
	// Latency runs from the request's arrival to the end of its response.
	Latency time.Duration
	// Err is set when the request ended without a complete HTTP response:
	// a transport error, a connection reset, a timeout, or a client that
	// went away.
	Err bool
}

// Failed reports whether the outcome counts against the error rate: a 5xx
// status or a transport error. A 4xx is the client's mistake, not the
// service's, so it is not a failure.
func (o Outcome) Failed() bool {
	return o.Err || o.Status >= 500
}

// Recorder collects outcomes into per-label windows. It is safe for
// concurrent use; Record takes one mutex and does not allocate once a
// label has been seen.
type Recorder struct {
	source string

	mu     sync.Mutex
	start  time.Time
	series map[string]*series
	labels []string // sorted keys of series, so Cut's order is stable
	tap    func(label string, o Outcome)
}

// series is the window in progress of one label.
type series struct {
	requests, failed int64
	// status counts answers per HTTP status (0: no answer). A service
	// answers with a handful of distinct statuses, so this stays tiny.
	status map[int]int64
	// hist is dense and reused from window to window: recording into it is
	// O(1) and never allocates; Cut copies its non-zero buckets out.
	hist *hdrhistogram.Histogram
}

// NewRecorder returns a recorder whose windows name source (a service's
// router, say) and whose first window starts now.
func NewRecorder(source string) *Recorder {
	return &Recorder{
		source: source,
		start:  time.Now(),
		series: map[string]*series{},
	}
}

// Source returns the source the recorder's windows carry.
func (r *Recorder) Source() string { return r.source }

// Declare makes label produce a window at every Cut from now on, even a
// window without requests, so that "no traffic" is visible as such rather
// than as a missing series.
func (r *Recorder) Declare(label string) {
	r.mu.Lock()
	r.lookup(label)
	r.mu.Unlock()
}

// lookup returns the series of label, creating it; r.mu must be held.
func (r *Recorder) lookup(label string) *series {
	s, ok := r.series[label]
	if !ok {
		s = &series{hist: newDense(), status: map[int]int64{}}
		r.series[label] = s
		i, _ := slices.BinarySearch(r.labels, label)
		r.labels = slices.Insert(r.labels, i, label)
	}
	return s
}

// Tap sets f to be called with every outcome Record or RecordDeclared
// records (not those RecordDeclared refuses), after the recorder's lock is
// released, so a slow f delays only the request it is called for, never
// the other requests or Cut. Set it before traffic starts: outcomes
// recorded earlier are not replayed. f must be safe for concurrent use;
// nil removes the tap, and then recording costs one nil check more.
func (r *Recorder) Tap(f func(label string, o Outcome)) {
	r.mu.Lock()
	r.tap = f
	r.mu.Unlock()
}

// Record adds one outcome to the current window of label.
func (r *Recorder) Record(label string, o Outcome) { r.record(label, o, true) }

// RecordDeclared adds one outcome to label only if label was declared or
// recorded before, and says whether it did: labels named by what a system
// under test answers (a flag variant) cannot grow the recorder without
// bound.
func (r *Recorder) RecordDeclared(label string, o Outcome) bool { return r.record(label, o, false) }

func (r *Recorder) record(label string, o Outcome, create bool) bool {
	// Computed before locking to keep the critical section short.
	v := toUnit(o.Latency)
	failed := o.Failed()

	r.mu.Lock()
	s, ok := r.series[label]
	if !ok {
		if !create {
			r.mu.Unlock()
			return false
		}
		s = r.lookup(label)
	}
	s.requests++
	if failed {
		s.failed++
	}
	st := o.Status
	if o.Err {
		st = 0
	}
	s.status[st]++
	_ = s.hist.RecordValue(v) // in range by toUnit
	// Read under the lock, so that a Tap racing with traffic is not a data
	// race, but called outside it.
	tap := r.tap
	r.mu.Unlock()
	if tap != nil {
		tap(label, o)
	}
	return true
}

// Cut closes the current window of every label seen or declared so far,
// ending it at end, and starts the next ones there. Windows come back
// sorted by label; a label without requests since the last Cut yields a
// window with zero requests. The first windows start when the recorder
// was created.
func (r *Recorder) Cut(end time.Time) []Window {
	r.mu.Lock()
	defer r.mu.Unlock()
	ws := make([]Window, 0, len(r.labels))
	for _, label := range r.labels {
		s := r.series[label]
		// Packing scans the dense counters (~17k) under the lock; at one
		// Cut per second that stalls Record for some microseconds, which is
		// cheaper than double-buffering a 139 KiB histogram per label.
		ws = append(ws, Window{
			Source:   r.source,
			Label:    label,
			Start:    r.start,
			End:      end,
			Requests: s.requests,
			Failed:   s.failed,
			Status:   maps.Clone(s.status),
			Hist:     pack(s.hist),
		})
		s.requests, s.failed = 0, 0
		clear(s.status)
		s.hist.Reset()
	}
	r.start = end
	return ws
}
