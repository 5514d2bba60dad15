package metrics

import (
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// tapped is one call of a recorder's tap.
type tapped struct {
	label string
	o     Outcome
}

func TestTapSeesWhatWasRecorded(t *testing.T) {
	r := NewRecorder("router:orders")
	var (
		mu  sync.Mutex
		got []tapped
	)
	r.Tap(func(label string, o Outcome) {
		// Declare takes the recorder's lock: were the tap called under it,
		// this would deadlock.
		r.Declare(label)
		mu.Lock()
		got = append(got, tapped{label, o})
		mu.Unlock()
	})
	r.Declare("flag=on")

	r.Record("v1", Outcome{Status: 200, Latency: time.Millisecond})
	r.Record("v2", Outcome{Status: 503, Latency: 2 * time.Millisecond})
	if r.RecordDeclared("flag=off", Outcome{Status: 200}) {
		t.Fatal("RecordDeclared recorded an undeclared label")
	}
	if !r.RecordDeclared("flag=on", Outcome{Status: 200, Err: true}) {
		t.Fatal("RecordDeclared refused a declared label")
	}
	r.Record("v1", Outcome{Err: true, Latency: 3 * time.Millisecond})

	want := []tapped{
		{"v1", Outcome{Status: 200, Latency: time.Millisecond}},
		{"v2", Outcome{Status: 503, Latency: 2 * time.Millisecond}},
		{"flag=on", Outcome{Status: 200, Err: true}},
		{"v1", Outcome{Err: true, Latency: 3 * time.Millisecond}},
	}
	if !slices.Equal(got, want) {
		t.Errorf("tap saw %v, want %v (and not the refused flag=off)", got, want)
	}

	r.Tap(nil)
	r.Record("v1", Outcome{Status: 200})
	if len(got) != len(want) {
		t.Errorf("tap called %d times after it was removed", len(got)-len(want))
	}
}

// TestTapCountsMatchWindows records from several goroutines: the tap sees
// exactly the requests the windows count (run with -race).
func TestTapCountsMatchWindows(t *testing.T) {
	r := NewRecorder("svc")
	var tapped, tappedFailed atomic.Int64
	r.Tap(func(_ string, o Outcome) {
		tapped.Add(1)
		if o.Failed() {
			tappedFailed.Add(1)
		}
	})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 1000 {
				r.Record([]string{"baseline", "canary"}[i&1], Outcome{Status: 200 + 300*((i+g)%7/6)})
			}
		})
	}
	wg.Wait()
	var requests, failed int64
	for _, w := range r.Cut(time.Now()) {
		requests += w.Requests
		failed += w.Failed
	}
	if tapped.Load() != requests || tappedFailed.Load() != failed {
		t.Errorf("tap saw %d requests (%d failed), windows hold %d (%d failed)",
			tapped.Load(), tappedFailed.Load(), requests, failed)
	}
}

// BenchmarkRecordTapped is BenchmarkRecord with a tap that counts: the
// cost of the call itself, beside BenchmarkRecord's nil tap.
func BenchmarkRecordTapped(b *testing.B) {
	r := NewRecorder("svc")
	var n atomic.Int64
	r.Tap(func(string, Outcome) { n.Add(1) })
	labels := []string{"baseline", "canary"}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			r.Record(labels[i&1], Outcome{Status: 200, Latency: time.Duration(i&1023) * 37 * time.Microsecond})
		}
	})
}
