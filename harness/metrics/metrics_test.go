package metrics

import (
	"encoding/json"
	"maps"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func TestOutcomeFailed(t *testing.T) {
	tests := []struct {
		name string
		o    Outcome
		want bool
	}{
		{"200", Outcome{Status: 200}, false},
		{"201", Outcome{Status: 201}, false},
		{"302", Outcome{Status: 302}, false},
		{"404 is the client's", Outcome{Status: 404}, false},
		{"429", Outcome{Status: 429}, false},
		{"500", Outcome{Status: 500}, true},
		{"502", Outcome{Status: 502}, true},
		{"503", Outcome{Status: 503}, true},
		{"599", Outcome{Status: 599}, true},
		{"reset without status", Outcome{Err: true}, true},
		{"200 then reset mid-body", Outcome{Status: 200, Err: true}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.o.Failed(); got != tt.want {
				t.Errorf("%+v.Failed() = %v, want %v", tt.o, got, tt.want)
			}
		})
	}
}

// exactQuantile is the value of rank round(q·n) (1-based, clamped to
// 1..n) of sorted, the rank HDR histograms report.
func exactQuantile(sorted []time.Duration, q float64) time.Duration {
	n := len(sorted)
	rank := int(q*float64(n) + 0.5)
	rank = max(1, min(rank, n))
	return sorted[rank-1]
}

// checkWithinPrecision fails unless got is the HDR value of want's bucket:
// not below want (truncated to the 1 µs unit) and at most one part in 10³
// (3 significant figures) above it.
func checkWithinPrecision(t *testing.T, what string, got, want time.Duration) {
	t.Helper()
	lo := want.Truncate(time.Microsecond)
	hi := lo + lo/1000 + time.Microsecond
	if got < lo || got > hi {
		t.Errorf("%s = %v, want %v within HDR precision [%v, %v]", what, got, want, lo, hi)
	}
}

func TestRecorderCountsAreExact(t *testing.T) {
	r := NewRecorder("orders")
	r.Cut(t0) // align the first window to a known start
	statuses := map[string][]Outcome{
		"v1": {{Status: 200}, {Status: 201}, {Status: 404}, {Status: 500}, {Err: true}, {Status: 200}},
		"v2": {{Status: 503}, {Status: 502}, {Status: 200}},
	}
	for label, os := range statuses {
		for _, o := range os {
			r.Record(label, o)
		}
	}
	ws := r.Cut(t0.Add(time.Second))
	if len(ws) != 2 {
		t.Fatalf("Cut returned %d windows, want 2", len(ws))
	}
	want := []struct {
		label            string
		requests, failed int64
	}{{"v1", 6, 2}, {"v2", 3, 2}}
	for i, w := range want {
		got := ws[i]
		if got.Source != "orders" || got.Label != w.label || got.Requests != w.requests || got.Failed != w.failed {
			t.Errorf("window %d = {%s %s %d req %d failed}, want {orders %s %d req %d failed}",
				i, got.Source, got.Label, got.Requests, got.Failed, w.label, w.requests, w.failed)
		}
		if !got.Start.Equal(t0) || !got.End.Equal(t0.Add(time.Second)) {
			t.Errorf("window %d spans %v..%v, want %v..%v", i, got.Start, got.End, t0, t0.Add(time.Second))
		}
		if got.Hist.Count() != w.requests {
			t.Errorf("window %d histogram holds %d latencies, want %d", i, got.Hist.Count(), w.requests)
		}
	}
	if rate := ws[0].ErrorRate(); rate != 2.0/6 {
		t.Errorf("v1 error rate = %v, want %v", rate, 2.0/6)
	}
	if tp := ws[1].Throughput(); tp != 3 {
		t.Errorf("v2 throughput = %v, want 3/s", tp)
	}
}

func TestQuantilesMatchSortedSliceWithinPrecision(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	tests := []struct {
		name string
		gen  func() time.Duration
		n    int
	}{
		{"uniform 1-100ms", func() time.Duration { return time.Duration(1e6 + rng.Int64N(99e6)) }, 10_000},
		{"lognormal around 5ms", func() time.Duration {
			return time.Duration(math.Exp(rng.NormFloat64()*0.8) * 5e6)
		}, 20_000},
		{"bimodal fast and slow", func() time.Duration {
			if rng.IntN(100) < 3 {
				return time.Duration(300e6 + rng.Int64N(50e6))
			}
			return time.Duration(200e3 + rng.Int64N(800e3))
		}, 50_000},
		{"single request", func() time.Duration { return 1234567 * time.Nanosecond }, 1},
		{"sub-millisecond", func() time.Duration { return time.Duration(1e3 + rng.Int64N(999e3)) }, 5_000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewRecorder("svc")
			var all []time.Duration
			for range tt.n {
				d := tt.gen()
				all = append(all, d)
				r.Record("v1", Outcome{Status: 200, Latency: d})
			}
			slices.Sort(all)
			w := r.Cut(time.Now())[0]
			for _, q := range []float64{0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999, 1} {
				checkWithinPrecision(t, "quantile", w.Quantile(q), exactQuantile(all, q))
			}
			checkWithinPrecision(t, "max", w.Hist.Max(), all[len(all)-1])
			for metric, q := range map[string]float64{
				"latency_p50": 0.5, "latency_p90": 0.9, "latency_p95": 0.95, "latency_p99": 0.99,
			} {
				v, ok := w.Value(metric)
				if !ok {
					t.Fatalf("Value(%q) not ok", metric)
				}
				checkWithinPrecision(t, metric, time.Duration(v*1e9), exactQuantile(all, q))
			}
		})
	}
}

func TestLatencyClampedToRange(t *testing.T) {
	h := NewHist(-time.Second, 0, 90*time.Second, time.Hour)
	if h.Count() != 4 {
		t.Fatalf("count = %d, want 4: out-of-range latencies must still count", h.Count())
	}
	if q := h.Quantile(0.25); q != 0 {
		t.Errorf("lowest quartile = %v, want 0 (negative clamped)", q)
	}
	checkWithinPrecision(t, "max", h.Max(), 60*time.Second)
}

func TestMergeEqualsOneWindowOverTheSpan(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	split := NewRecorder("svc")
	whole := NewRecorder("svc")
	split.Cut(t0)
	var parts []Window
	var all []time.Duration
	for sec := range 10 {
		n := 500 + rng.IntN(1000)
		for range n {
			d := time.Duration(rng.ExpFloat64() * 20e6)
			o := Outcome{Status: 200, Latency: d}
			if rng.IntN(50) == 0 {
				o.Status = 500
			}
			all = append(all, d)
			split.Record("canary", o)
			whole.Record("canary", o)
		}
		parts = append(parts, split.Cut(t0.Add(time.Duration(sec+1)*time.Second))...)
	}
	got := Merge(parts...)
	want := whole.Cut(t0.Add(10 * time.Second))[0]
	want.Start = t0

	if got.Label != "canary" || got.Source != "svc" {
		t.Errorf("merged labels = %q/%q, want svc/canary", got.Source, got.Label)
	}
	if !got.Start.Equal(t0) || !got.End.Equal(t0.Add(10*time.Second)) {
		t.Errorf("merged span = %v..%v, want 10 s from %v", got.Start, got.End, t0)
	}
	if got.Requests != want.Requests || got.Failed != want.Failed || got.Requests != int64(len(all)) {
		t.Errorf("merged counts = %d/%d, want %d/%d", got.Requests, got.Failed, want.Requests, want.Failed)
	}
	if got.Hist.Count() != got.Requests {
		t.Errorf("merged histogram holds %d, want %d", got.Hist.Count(), got.Requests)
	}
	slices.Sort(all)
	for _, q := range []float64{0.5, 0.9, 0.95, 0.99, 1} {
		// Same geometry, same buckets: merged quantiles are identical to
		// recording everything into one window, not just close.
		if g, w := got.Quantile(q), want.Quantile(q); g != w {
			t.Errorf("merged q%v = %v, one window says %v", q, g, w)
		}
		checkWithinPrecision(t, "merged quantile", got.Quantile(q), exactQuantile(all, q))
	}
	if tp := got.Throughput(); math.Abs(tp-float64(len(all))/10) > 1e-9 {
		t.Errorf("merged throughput = %v, want %v", tp, float64(len(all))/10)
	}
	// Merging must not alter its inputs.
	if parts[0].Hist.Count() != parts[0].Requests {
		t.Errorf("Merge modified an input histogram")
	}
}

func TestMergeEdgeCases(t *testing.T) {
	empty := Merge()
	if empty.Requests != 0 || empty.Hist.Count() != 0 || empty.Quantile(0.99) != 0 {
		t.Errorf("Merge() = %+v, want an empty window", empty)
	}
	a := Window{Source: "s", Label: "v1", Start: t0, End: t0.Add(time.Second), Requests: 1, Hist: NewHist(time.Millisecond)}
	b := Window{Source: "s", Label: "v2", Start: t0, End: t0.Add(time.Second), Requests: 2} // nil Hist
	m := Merge(a, b)
	if m.Label != "" || m.Source != "s" || m.Requests != 3 || m.Hist.Count() != 1 {
		t.Errorf("Merge(v1, v2) = %+v, want label cleared, source kept, 3 requests, 1 latency", m)
	}
}

func TestZeroWindows(t *testing.T) {
	r := NewRecorder("svc")
	r.Declare("canary")
	r.Cut(t0)
	r.Record("baseline", Outcome{Status: 200, Latency: time.Millisecond})
	ws := r.Cut(t0.Add(time.Second))
	if len(ws) != 2 || ws[0].Label != "baseline" || ws[1].Label != "canary" {
		t.Fatalf("labels = %v, want [baseline canary]", labelsOf(ws))
	}
	if ws[1].Requests != 0 {
		t.Errorf("declared canary has %d requests, want 0", ws[1].Requests)
	}
	// Both labels keep producing windows once seen or declared.
	ws = r.Cut(t0.Add(2 * time.Second))
	if len(ws) != 2 {
		t.Fatalf("second Cut returned %v, want both labels", labelsOf(ws))
	}
	for _, w := range ws {
		if w.Requests != 0 || w.Failed != 0 || w.Hist.Count() != 0 {
			t.Errorf("%s: %d requests, %d failed, %d latencies; want an empty window", w.Label, w.Requests, w.Failed, w.Hist.Count())
		}
		if !w.Start.Equal(t0.Add(time.Second)) || !w.End.Equal(t0.Add(2*time.Second)) {
			t.Errorf("%s spans %v..%v, want the second after the previous Cut", w.Label, w.Start, w.End)
		}
		for _, m := range []string{"error_rate", "latency_p50", "latency_p90", "latency_p95", "latency_p99"} {
			if v, ok := w.Value(m); ok || v != 0 {
				t.Errorf("%s: Value(%q) = %v, %v; want 0, false for a window without requests", w.Label, m, v, ok)
			}
		}
		if v, ok := w.Value("throughput"); !ok || v != 0 {
			t.Errorf("%s: Value(throughput) = %v, %v; want 0, true", w.Label, v, ok)
		}
		s := w.Summary()
		if s.ErrorRate != 0 || s.P99 != 0 || s.Max != 0 || s.Throughput != 0 {
			t.Errorf("%s: summary of an empty window = %+v, want zeros", w.Label, s)
		}
	}
	if _, ok := ws[0].Value("cpu"); ok {
		t.Errorf("Value of an unknown metric is ok")
	}
	if got := NewRecorder("x").Cut(t0); len(got) != 0 {
		t.Errorf("a recorder that saw nothing cut %d windows, want 0", len(got))
	}
}

func labelsOf(ws []Window) []string {
	var ls []string
	for _, w := range ws {
		ls = append(ls, w.Label)
	}
	return ls
}

func TestWindowsChainStartToEnd(t *testing.T) {
	before := time.Now()
	r := NewRecorder("svc")
	r.Declare("v1")
	first := r.Cut(time.Now())[0]
	if first.Start.Before(before) || first.Start.After(first.End) {
		t.Errorf("first window starts %v, want the recorder's creation time (after %v)", first.Start, before)
	}
	second := r.Cut(first.End.Add(time.Second))[0]
	if !second.Start.Equal(first.End) {
		t.Errorf("second window starts %v, want the previous end %v", second.Start, first.End)
	}
}

func TestSummaryJSON(t *testing.T) {
	w := Window{
		Source: "orders", Label: "v2", Start: t0, End: t0.Add(2 * time.Second),
		Requests: 4, Failed: 1,
		Hist: NewHist(10*time.Millisecond, 20*time.Millisecond, 30*time.Millisecond, 40*time.Millisecond),
	}
	b, err := json.Marshal(w.Summary())
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"start": "2025-01-02T03:04:05Z", "end": "2025-01-02T03:04:07Z",
		"source": "orders", "label": "v2", "requests": 4.0, "failed": 1.0,
		"error_rate": 0.25, "throughput": 2.0,
		"p50_ms": 20.0, "p90_ms": 40.0, "p95_ms": 40.0, "p99_ms": 40.0, "max_ms": 40.0,
	}
	for k, v := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("summary JSON lacks %q: %s", k, b)
			continue
		}
		if f, isF := v.(float64); isF {
			// Latencies are HDR bucket tops: within 0.1%.
			if gf, _ := g.(float64); math.Abs(gf-f) > f/1000+1e-9 {
				t.Errorf("%s = %v, want %v", k, g, v)
			}
		} else if g != v {
			t.Errorf("%s = %v, want %v", k, g, v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("summary JSON has %d fields, want %d: %s", len(got), len(want), b)
	}
}

func TestHistBuckets(t *testing.T) {
	h := NewHist(time.Millisecond, time.Millisecond, 5*time.Millisecond)
	var got []int64
	var vals []time.Duration
	for v, n := range h.Buckets() {
		vals = append(vals, v)
		got = append(got, n)
	}
	if !slices.Equal(got, []int64{2, 1}) || h.Len() != 2 {
		t.Errorf("buckets = %v %v (len %d), want two buckets counting 2 and 1", vals, got, h.Len())
	}
	var nilHist *Hist
	if nilHist.Count() != 0 || nilHist.Len() != 0 || nilHist.Quantile(0.5) != 0 || nilHist.Max() != 0 || nilHist.Mean() != 0 {
		t.Errorf("nil Hist is not empty")
	}
	for range nilHist.Buckets() {
		t.Errorf("nil Hist has buckets")
	}
	checkWithinPrecision(t, "mean", NewHist(time.Millisecond, 3*time.Millisecond).Mean(), 2*time.Millisecond)
}

// TestConcurrentRecordAndCut records from many goroutines while another
// goroutine cuts windows; every outcome must land in exactly one window.
func TestConcurrentRecordAndCut(t *testing.T) {
	const goroutines, perG = 8, 5000
	r := NewRecorder("svc")
	var (
		mu  sync.Mutex
		all []Window
	)
	stop := make(chan struct{})
	cutDone := make(chan struct{})
	go func() {
		defer close(cutDone)
		for {
			select {
			case <-stop:
				return
			default:
			}
			ws := r.Cut(time.Now())
			mu.Lock()
			all = append(all, ws...)
			mu.Unlock()
			runtime.Gosched()
		}
	}()
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			label := []string{"v1", "v2"}[g%2]
			for i := range perG {
				o := Outcome{Status: 200, Latency: time.Duration(i) * time.Microsecond}
				if i%10 == 0 {
					o.Status = 503
				}
				r.Record(label, o)
			}
		})
	}
	wg.Wait()
	close(stop)
	<-cutDone
	all = append(all, r.Cut(time.Now())...)

	totals := map[string][2]int64{}
	for _, w := range all {
		if w.Hist.Count() != w.Requests {
			t.Fatalf("window %s holds %d latencies for %d requests", w.Label, w.Hist.Count(), w.Requests)
		}
		c := totals[w.Label]
		totals[w.Label] = [2]int64{c[0] + w.Requests, c[1] + w.Failed}
	}
	for _, label := range []string{"v1", "v2"} {
		want := [2]int64{goroutines / 2 * perG, goroutines / 2 * perG / 10}
		if totals[label] != want {
			t.Errorf("%s: %d requests / %d failed over all windows, want %d / %d",
				label, totals[label][0], totals[label][1], want[0], want[1])
		}
	}
}

func TestRecordDoesNotAllocate(t *testing.T) {
	r := NewRecorder("svc")
	r.Declare("v1")
	o := Outcome{Status: 200, Latency: 3 * time.Millisecond}
	if n := testing.AllocsPerRun(1000, func() { r.Record("v1", o) }); n != 0 {
		t.Errorf("Record allocates %v times per call, want 0", n)
	}
}

// TestWindowMemoryDoesNotGrowWithRequests records 10³ and 10⁶ requests of
// the same latency distribution into one window each and compares what
// the closed windows keep.
func TestWindowMemoryDoesNotGrowWithRequests(t *testing.T) {
	if testing.Short() {
		t.Skip("records a million outcomes")
	}
	retained := func(n int) (bytes uint64, buckets int) {
		rng := rand.New(rand.NewPCG(5, 6))
		r := NewRecorder("svc")
		r.Declare("v1")
		for range n {
			// 1..50 ms at 100 µs steps: 491 distinct latencies.
			d := time.Duration(10+rng.IntN(491)) * 100 * time.Microsecond
			r.Record("v1", Outcome{Status: 200, Latency: d})
		}
		// TotalAlloc counts every byte Cut allocates, slack included, so it
		// bounds what the window retains and, unlike HeapAlloc after a GC,
		// does not depend on what else the heap happens to free.
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		ws := r.Cut(time.Now())
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc, ws[0].Hist.Len()
	}
	smallBytes, smallBuckets := retained(1_000)
	bigBytes, bigBuckets := retained(1_000_000)
	t.Logf("window of 1e3 requests: %d buckets, %d B allocated; of 1e6 requests: %d buckets, %d B",
		smallBuckets, smallBytes, bigBuckets, bigBytes)
	if bigBuckets > 491 {
		t.Errorf("1e6 requests fill %d buckets, want at most the 491 distinct latencies", bigBuckets)
	}
	// One record per request would need 8 MB; a window of buckets needs a
	// few KiB (4 B index + 1..4 B count per bucket, doubled by slice growth).
	if limit := 2*smallBytes + 4<<10; bigBytes > limit {
		t.Errorf("a window of 1e6 requests allocates %d B, one of 1e3 %d B: want at most %d", bigBytes, smallBytes, limit)
	}
	if bigBytes > 32<<10 {
		t.Errorf("a window of 1e6 requests allocates %d B, want < 32 KiB", bigBytes)
	}
}

func BenchmarkRecord(b *testing.B) {
	r := NewRecorder("svc")
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

// BenchmarkCut measures closing the window of one label with a realistic
// spread of latencies (it runs under the recorder's lock once per second).
func BenchmarkCut(b *testing.B) {
	r := NewRecorder("svc")
	now := time.Now()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		for j := range 1000 {
			r.Record("v1", Outcome{Status: 200, Latency: time.Duration(j) * 53 * time.Microsecond})
		}
		b.StartTimer()
		r.Cut(now.Add(time.Duration(i) * time.Second))
	}
}

func TestStatusCounts(t *testing.T) {
	r := NewRecorder("router:svc")
	for _, o := range []Outcome{{Status: 200}, {Status: 200}, {Status: 503}, {Err: true}, {Status: 502, Err: true}} {
		r.Record("v1", o)
	}
	w1 := r.Cut(time.Now())[0]
	want := map[int]int64{200: 2, 503: 1, 0: 2}
	if !maps.Equal(w1.Status, want) {
		t.Fatalf("status = %v, want %v", w1.Status, want)
	}
	r.Record("v1", Outcome{Status: 200})
	w2 := r.Cut(time.Now())[0]
	if !maps.Equal(w2.Status, map[int]int64{200: 1}) {
		t.Fatalf("second window status = %v: counts must restart each window", w2.Status)
	}
	if m := Merge(w1, w2); !maps.Equal(m.Status, map[int]int64{200: 3, 503: 1, 0: 2}) {
		t.Fatalf("merged status = %v", m.Status)
	}
}
