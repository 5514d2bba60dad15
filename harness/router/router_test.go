package router

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/drillhq/drill/harness/metrics"
	"github.com/drillhq/drill/injectors"
)

// faultFunc adapts a function to injectors.HTTPFault.
type faultFunc func(w http.ResponseWriter, r *http.Request) bool

func (f faultFunc) Intercept(w http.ResponseWriter, r *http.Request) bool { return f(w, r) }

var _ injectors.HTTPFault = faultFunc(nil)

// answer500 is a fault that answers every request itself.
var answer500 = faultFunc(func(w http.ResponseWriter, r *http.Request) bool {
	http.Error(w, "injected", http.StatusInternalServerError)
	return true
})

// delay returns a fault that holds each request for d, or until its
// client leaves, and counts the requests it saw.
func delay(d time.Duration, calls *atomic.Int64) faultFunc {
	return func(w http.ResponseWriter, r *http.Request) bool {
		calls.Add(1)
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
		}
		return false
	}
}

// instance is a fake service version: it answers with its name and echoes
// the drill headers it received.
type instance struct {
	*httptest.Server
	hits atomic.Int64
}

func newInstance(t *testing.T, name string) *instance {
	t.Helper()
	in := &instance{}
	in.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in.hits.Add(1)
		w.Header().Set("X-Seen-Version", r.Header.Get(HeaderVersion))
		w.Header().Set("X-Seen-Request-ID", r.Header.Get(HeaderRequestID))
		// An instance that sets the router's headers itself must not
		// produce duplicates.
		w.Header().Set(HeaderVersion, "instance-says-"+name)
		_, _ = io.WriteString(w, name)
	}))
	t.Cleanup(in.Close)
	return in
}

// start builds and starts a router, closing it at the end of the test.
func start(t *testing.T, rec *metrics.Recorder, opts ...Option) (*Router, string) {
	t.Helper()
	rt := New("orders", rec, opts...)
	base, err := rt.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Close() })
	return rt, base
}

func newClient(t *testing.T) *http.Client {
	t.Helper()
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

type reply struct {
	status  int
	header  http.Header
	body    string
	version string
}

// get sends a GET; failures are reported with t.Errorf, which unlike
// t.Fatal may be called from the workers' goroutines.
func get(t *testing.T, c *http.Client, url string, header http.Header) reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Errorf("new request: %v", err)
		return reply{}
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	res, err := c.Do(req)
	if err != nil {
		t.Errorf("GET %s: %v", url, err)
		return reply{}
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Errorf("GET %s: read body: %v", url, err)
	}
	return reply{status: res.StatusCode, header: res.Header, body: string(b), version: res.Header.Get(HeaderVersion)}
}

// tally is what clients saw, per version.
type tally map[string]*[2]int64 // requests, failed

func (ta tally) add(version string, failed bool) {
	c, ok := ta[version]
	if !ok {
		c = new([2]int64)
		ta[version] = c
	}
	c[0]++
	if failed {
		c[1]++
	}
}

// recorded closes the router, which waits for every handler and so for
// every Record, and sums the windows per label.
func recorded(t *testing.T, rt *Router, rec *metrics.Recorder) tally {
	t.Helper()
	if err := rt.Close(); err != nil {
		t.Fatal(err)
	}
	got := tally{}
	for _, w := range rec.Cut(time.Now()) {
		if w.Hist.Count() != w.Requests {
			t.Errorf("%s: %d latencies for %d requests", w.Label, w.Hist.Count(), w.Requests)
		}
		got[w.Label] = &[2]int64{w.Requests, w.Failed}
	}
	return got
}

func checkTally(t *testing.T, got, want tally) {
	t.Helper()
	for v, w := range want {
		g := got[v]
		if g == nil {
			g = new([2]int64)
		}
		if *g != *w {
			t.Errorf("version %q: recorded %d requests / %d failed, clients saw %d / %d", v, g[0], g[1], w[0], w[1])
		}
	}
	for v, g := range got {
		if want[v] == nil && g[0] != 0 {
			t.Errorf("version %q: recorded %d requests, clients saw none", v, g[0])
		}
	}
}

func TestSplitProportions(t *testing.T) {
	const n, weight = 10_000, 0.2
	v1, v2 := newInstance(t, "v1"), newInstance(t, "v2")
	rec := metrics.NewRecorder("orders")
	rt, base := start(t, rec, WithSeed(7))
	must(t, rt.SetBackend("v1", v1.URL))
	must(t, rt.SetBackend("v2", v2.URL))
	rt.SetSplit("v1", "v2", weight)

	c := newClient(t)
	seen := tally{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	const workers = 8
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				r := get(t, c, base+"/orders/x", nil)
				if r.body != r.version {
					t.Errorf("routed to %q but answered by %q", r.version, r.body)
				}
				mu.Lock()
				seen.add(r.version, r.status >= 500)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if seen["v1"] == nil || seen["v2"] == nil {
		t.Fatalf("a version got no traffic: %v", seen)
	}

	canary := float64(seen["v2"][0])
	// Binomial: 5 standard deviations (±200 of 2000) is never exceeded by
	// chance, and the seed makes the run deterministic anyway.
	sd := math.Sqrt(n * weight * (1 - weight))
	if math.Abs(canary-n*weight) > 5*sd {
		t.Errorf("canary got %v of %d requests, want %v ± %.0f", canary, n, n*weight, 5*sd)
	}
	if seen["v1"][0]+seen["v2"][0] != n {
		t.Errorf("versions add up to %d requests, want %d", seen["v1"][0]+seen["v2"][0], n)
	}
	if v1.hits.Load() != seen["v1"][0] || v2.hits.Load() != seen["v2"][0] {
		t.Errorf("instances served %d/%d, clients saw %d/%d", v1.hits.Load(), v2.hits.Load(), seen["v1"][0], seen["v2"][0])
	}
	checkTally(t, recorded(t, rt, rec), seen)
}

func TestSameSeedSameSequence(t *testing.T) {
	v1, v2 := newInstance(t, "v1"), newInstance(t, "v2")
	sequence := func(seed int64) string {
		rt, base := start(t, nil, WithSeed(seed))
		must(t, rt.SetBackend("v1", v1.URL))
		must(t, rt.SetBackend("v2", v2.URL))
		rt.SetSplit("v1", "v2", 0.5)
		c := newClient(t)
		var b strings.Builder
		for i := range 300 {
			if i == 150 {
				// A weight change mid-run must not desynchronise runs.
				rt.SetSplit("v1", "v2", 0.1)
			}
			b.WriteString(get(t, c, base, nil).version[1:])
		}
		return b.String()
	}
	a, b, other := sequence(42), sequence(42), sequence(43)
	if a != b {
		t.Errorf("seed 42 routed differently twice:\n%s\n%s", a, b)
	}
	if a == other {
		t.Errorf("seeds 42 and 43 routed identically: %s", a)
	}
}

func TestSplitEdges(t *testing.T) {
	v1, v2 := newInstance(t, "v1"), newInstance(t, "v2")
	tests := []struct {
		name             string
		baseline, canary string
		weight           float64
		wantWeight       float64
		want             string // the only version expected
	}{
		{"weight 0", "v1", "v2", 0, 0, "v1"},
		{"weight 1", "v1", "v2", 1, 1, "v2"},
		{"above 1 clamps", "v1", "v2", 1.5, 1, "v2"},
		{"below 0 clamps", "v1", "v2", -0.5, 0, "v1"},
		{"NaN is 0", "v1", "v2", math.NaN(), 0, "v1"},
		{"no canary", "v1", "", 0.7, 0, "v1"},
		{"promoted", "v2", "", 0, 0, "v2"},
	}
	rt, base := start(t, nil)
	must(t, rt.SetBackend("v1", v1.URL))
	must(t, rt.SetBackend("v2", v2.URL))
	c := newClient(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt.SetSplit(tt.baseline, tt.canary, tt.weight)
			if b, c, w := rt.Split(); b != tt.baseline || c != tt.canary || w != tt.wantWeight {
				t.Errorf("Split() = %q, %q, %v; want %q, %q, %v", b, c, w, tt.baseline, tt.canary, tt.wantWeight)
			}
			for range 50 {
				if r := get(t, c, base, nil); r.version != tt.want || r.body != tt.want {
					t.Fatalf("routed to %q (answered by %q), want only %q", r.version, r.body, tt.want)
				}
			}
		})
	}
}

var hex16 = regexp.MustCompile(`^[0-9a-f]{16}$`)

func TestHeaders(t *testing.T) {
	v1 := newInstance(t, "v1")
	rt, base := start(t, nil)
	must(t, rt.SetBackend("v1", v1.URL))
	rt.SetSplit("v1", "", 0)
	c := newClient(t)

	t.Run("propagates the client's request ID", func(t *testing.T) {
		r := get(t, c, base, http.Header{HeaderRequestID: {"req-123"}})
		if got := r.header.Get("X-Seen-Request-ID"); got != "req-123" {
			t.Errorf("instance saw request ID %q, want req-123", got)
		}
		if got := r.header.Values(HeaderRequestID); len(got) != 1 || got[0] != "req-123" {
			t.Errorf("response request ID = %q, want [req-123]", got)
		}
	})
	t.Run("generates a request ID", func(t *testing.T) {
		a, b := get(t, c, base, nil), get(t, c, base, nil)
		idA, idB := a.header.Get(HeaderRequestID), b.header.Get(HeaderRequestID)
		if !hex16.MatchString(idA) || !hex16.MatchString(idB) || idA == idB {
			t.Errorf("generated IDs %q and %q, want two distinct 16-hex-digit IDs", idA, idB)
		}
		if seen := a.header.Get("X-Seen-Request-ID"); seen != idA {
			t.Errorf("instance saw ID %q, client got %q", seen, idA)
		}
	})
	t.Run("stamps the version both ways", func(t *testing.T) {
		r := get(t, c, base, http.Header{HeaderVersion: {"spoofed"}})
		if got := r.header.Get("X-Seen-Version"); got != "v1" {
			t.Errorf("instance saw version %q, want v1", got)
		}
		if got := r.header.Values(HeaderVersion); len(got) != 1 || got[0] != "v1" {
			t.Errorf("response versions = %q, want exactly [v1]", got)
		}
	})
	t.Run("stamps responses a fault writes", func(t *testing.T) {
		remove := rt.Point("").Install(answer500)
		defer remove()
		r := get(t, c, base, http.Header{HeaderRequestID: {"f-1"}})
		if r.status != 500 || r.version != "v1" || r.header.Get(HeaderRequestID) != "f-1" {
			t.Errorf("fault response: %d, version %q, ID %q; want 500, v1, f-1", r.status, r.version, r.header.Get(HeaderRequestID))
		}
	})
}

func TestFaultAppliesOnlyToItsVersion(t *testing.T) {
	v1, v2 := newInstance(t, "v1"), newInstance(t, "v2")
	rec := metrics.NewRecorder("orders")
	rt, base := start(t, rec, WithSeed(1))
	must(t, rt.SetBackend("v1", v1.URL))
	must(t, rt.SetBackend("v2", v2.URL))
	rt.SetSplit("v1", "v2", 0.5)
	c := newClient(t)
	seen := tally{}

	remove := rt.Point("v2").Install(answer500)
	for range 200 {
		r := get(t, c, base, nil)
		seen.add(r.version, r.status >= 500)
		want := map[string]int{"v1": 200, "v2": 500}[r.version]
		if r.status != want {
			t.Fatalf("%s answered %d, want %d", r.version, r.status, want)
		}
	}
	if v2.hits.Load() != 0 {
		t.Errorf("v2's instance got %d requests through a fault that answers them all", v2.hits.Load())
	}
	if seen["v2"] == nil || seen["v2"][1] == 0 || seen["v1"] == nil {
		t.Fatalf("both versions should have had traffic: %v", seen)
	}

	remove()
	remove() // idempotent
	for range 200 {
		r := get(t, c, base, nil)
		seen.add(r.version, r.status >= 500)
		if r.status != 200 {
			t.Fatalf("%s answered %d after the fault was removed", r.version, r.status)
		}
	}
	if v2.hits.Load() == 0 {
		t.Errorf("v2's instance got no traffic after the fault was removed")
	}
	checkTally(t, recorded(t, rt, rec), seen)
}

func TestFaultsRunInInstallOrder(t *testing.T) {
	v1 := newInstance(t, "v1")
	rec := metrics.NewRecorder("orders")
	rt, base := start(t, rec)
	must(t, rt.SetBackend("v1", v1.URL))
	rt.SetSplit("v1", "", 0)

	var (
		mu    sync.Mutex
		order []string
	)
	note := func(name string, answer int) faultFunc {
		return func(w http.ResponseWriter, r *http.Request) bool {
			mu.Lock()
			order = append(order, name)
			mu.Unlock()
			if answer != 0 {
				w.WriteHeader(answer)
				return true
			}
			return false
		}
	}
	rt.Point("").Install(note("all", 0))
	rt.Point("v1").Install(note("v1-teapot", http.StatusTeapot))
	rt.Point("").Install(note("never", http.StatusInternalServerError))
	rt.Point("v2").Install(note("other-version", http.StatusInternalServerError))
	// The same fault installed twice is two installations.
	twice := note("twice", 0)
	removeFirst := rt.Point("").Install(twice)
	rt.Point("").Install(twice)
	removeFirst()

	r := get(t, newClient(t), base, nil)
	if r.status != http.StatusTeapot {
		t.Errorf("status = %d, want 418 from the first fault that answers", r.status)
	}
	if got := strings.Join(order, ","); got != "all,v1-teapot" {
		t.Errorf("faults ran as %s, want all,v1-teapot", got)
	}
	if v1.hits.Load() != 0 {
		t.Errorf("a request answered by a fault reached the instance")
	}
	// A 4xx is not a failure, even when a fault writes it.
	checkTally(t, recorded(t, rt, rec), tally{"v1": {1, 0}})
}

func TestDelayCountsInLatency(t *testing.T) {
	const d = 20 * time.Millisecond
	v1, v2 := newInstance(t, "v1"), newInstance(t, "v2")
	rec := metrics.NewRecorder("orders")
	rt, base := start(t, rec, WithSeed(3))
	must(t, rt.SetBackend("v1", v1.URL))
	must(t, rt.SetBackend("v2", v2.URL))
	rt.SetSplit("v1", "v2", 0.5)
	var calls atomic.Int64
	rt.Point("v2").Install(delay(d, &calls))

	c := newClient(t)
	seen := tally{}
	for range 40 {
		r := get(t, c, base, nil)
		seen.add(r.version, false)
		if r.status != 200 {
			t.Fatalf("%s answered %d", r.version, r.status)
		}
	}
	if calls.Load() != seen["v2"][0] {
		t.Errorf("delay ran for %d requests, v2 got %d", calls.Load(), seen["v2"][0])
	}
	for _, w := range rec.Cut(time.Now()) {
		// A lower bound only: the delay must be part of the latency. (HDR
		// reports the bottom of the bucket for q=0, within 0.1%.)
		if w.Label == "v2" && w.Quantile(0) < d-d/1000 {
			t.Errorf("fastest delayed request took %v, want at least %v", w.Quantile(0), d)
		}
	}
}

func TestClientGoneIsRecordedAsError(t *testing.T) {
	v1 := newInstance(t, "v1")
	rec := metrics.NewRecorder("orders")
	rt, base := start(t, rec)
	must(t, rt.SetBackend("v1", v1.URL))
	rt.SetSplit("v1", "", 0)

	entered, left := make(chan struct{}), make(chan struct{})
	rt.Point("").Install(faultFunc(func(w http.ResponseWriter, r *http.Request) bool {
		close(entered)
		<-r.Context().Done()
		close(left)
		return false
	}))
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base, nil)
		res, err := newClient(t).Do(req)
		if err == nil {
			res.Body.Close()
		}
		errc <- err
	}()
	<-entered
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("client error = %v, want context.Canceled", err)
	}
	<-left // the router noticed the client leave, before any Close
	checkTally(t, recorded(t, rt, rec), tally{"v1": {1, 1}})
	if v1.hits.Load() != 0 {
		t.Errorf("a request whose client left was still forwarded")
	}
}

func TestUpstreamDownIs502(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there any more: connection refused

	rec := metrics.NewRecorder("orders")
	rt, base := start(t, rec)
	must(t, rt.SetBackend("v1", dead))
	rt.SetSplit("v1", "", 0)
	r := get(t, newClient(t), base, nil)
	if r.status != http.StatusBadGateway || r.version != "v1" {
		t.Errorf("got %d from %q, want 502 from v1", r.status, r.version)
	}
	checkTally(t, recorded(t, rt, rec), tally{"v1": {1, 1}})
}

func TestUpstreamResetMidBodyIsError(t *testing.T) {
	in := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, "partial")
		http.NewResponseController(w).Flush()
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close() // reset before the promised 100 bytes
		}
	}))
	defer in.Close()
	rec := metrics.NewRecorder("orders")
	rt, base := start(t, rec)
	must(t, rt.SetBackend("v1", in.URL))
	rt.SetSplit("v1", "", 0)

	res, err := newClient(t).Get(base)
	if err == nil {
		_, err = io.ReadAll(res.Body)
		res.Body.Close()
	}
	if err == nil {
		t.Fatalf("the client read a truncated body without error")
	}
	// 200 was sent, but the response broke: a failure all the same.
	checkTally(t, recorded(t, rt, rec), tally{"v1": {1, 1}})
}

func TestFaultResetIsError(t *testing.T) {
	v1 := newInstance(t, "v1")
	rec := metrics.NewRecorder("orders")
	rt, base := start(t, rec)
	must(t, rt.SetBackend("v1", v1.URL))
	rt.SetSplit("v1", "", 0)
	rt.Point("v1").Install(faultFunc(func(w http.ResponseWriter, r *http.Request) bool {
		// The plain type assertion, as fault code tends to write it.
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return false
		}
		conn.Close()
		return true
	}))
	req, _ := http.NewRequest(http.MethodGet, base, nil)
	req.Close = true // no retry of the request on a fresh connection
	if res, err := newClient(t).Do(req); err == nil {
		res.Body.Close()
		t.Fatalf("a reset connection answered %d", res.StatusCode)
	}
	checkTally(t, recorded(t, rt, rec), tally{"v1": {1, 1}})
}

func TestNoBackendIs503(t *testing.T) {
	v1 := newInstance(t, "v1")
	rec := metrics.NewRecorder("orders")
	rt, base := start(t, rec)
	must(t, rt.SetBackend("v1", v1.URL))
	c := newClient(t)

	rt.SetSplit("v3", "", 0) // v3 never had a backend
	if r := get(t, c, base, nil); r.status != http.StatusServiceUnavailable || r.version != "v3" {
		t.Errorf("got %d from %q, want 503 from v3", r.status, r.version)
	}
	rt.SetSplit("v1", "", 0)
	if r := get(t, c, base, nil); r.status != 200 {
		t.Errorf("got %d from v1, want 200", r.status)
	}
	rt.RemoveBackend("v1")
	rt.RemoveBackend("v1") // unknown: nothing happens
	if r := get(t, c, base, nil); r.status != http.StatusServiceUnavailable {
		t.Errorf("got %d after removing v1's backend, want 503", r.status)
	}
	checkTally(t, recorded(t, rt, rec), tally{"v1": {2, 1}, "v3": {1, 1}})
}

// TestRecordedMatchesClientsUnderChurn sends concurrent traffic while the
// split and the faults change under it; every request must be recorded
// once, under the version its client saw, with the status it saw.
func TestRecordedMatchesClientsUnderChurn(t *testing.T) {
	v1, v2 := newInstance(t, "v1"), newInstance(t, "v2")
	rec := metrics.NewRecorder("orders")
	rt, base := start(t, rec, WithSeed(11))
	must(t, rt.SetBackend("v1", v1.URL))
	must(t, rt.SetBackend("v2", v2.URL))
	rt.SetSplit("v1", "v2", 0.5)
	c := newClient(t)

	var mu sync.Mutex
	seen := tally{}
	send := func() {
		r := get(t, c, base, nil)
		mu.Lock()
		seen.add(r.version, r.status >= 500)
		mu.Unlock()
	}

	stop := make(chan struct{})
	churned := make(chan struct{})
	go func() {
		defer close(churned)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			rt.SetSplit("v1", "v2", float64(i%5)/4)
			remove := rt.Point("v2").Install(answer500)
			rt.Point("").Install(faultFunc(func(http.ResponseWriter, *http.Request) bool { return false }))()
			send() // at least one request meets the fault
			remove()
		}
	}()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 150 {
				send()
			}
		})
	}
	wg.Wait()
	close(stop)
	<-churned

	if seen["v2"] == nil || seen["v2"][1] == 0 {
		t.Errorf("no v2 request ever met the 500 fault: the churn did not overlap traffic")
	}
	checkTally(t, recorded(t, rt, rec), seen)
}

func TestRecordedCountsMatchClientsExactly(t *testing.T) {
	v1, v2 := newInstance(t, "v1"), newInstance(t, "v2")
	rec := metrics.NewRecorder("orders")
	rt, base := start(t, rec, WithSeed(5))
	must(t, rt.SetBackend("v1", v1.URL))
	must(t, rt.SetBackend("v2", v2.URL))
	rt.SetSplit("v1", "v2", 0.3)
	rt.Point("v2").Install(faultFunc(func(w http.ResponseWriter, r *http.Request) bool {
		// Every third v2 request (by its ID's last digit) fails.
		if id := r.Header.Get(HeaderRequestID); id[len(id)-1]%3 == 0 {
			http.Error(w, "injected", http.StatusServiceUnavailable)
			return true
		}
		return false
	}))
	c := newClient(t)
	var mu sync.Mutex
	seen := tally{}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 250 {
				r := get(t, c, base, http.Header{HeaderRequestID: {fmt.Sprintf("g%d-%d", g, i)}})
				mu.Lock()
				seen.add(r.version, r.status >= 500)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if seen["v2"] == nil || seen["v2"][1] == 0 {
		t.Fatalf("no v2 failure to count: %v", seen)
	}
	checkTally(t, recorded(t, rt, rec), seen)
}

func TestFlushPassesThrough(t *testing.T) {
	release := make(chan struct{})
	in := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "first\n")
		w.(http.Flusher).Flush()
		<-release
		_, _ = io.WriteString(w, "second\n")
	}))
	defer in.Close()
	defer close(release)
	rt, base := start(t, nil)
	must(t, rt.SetBackend("v1", in.URL))
	rt.SetSplit("v1", "", 0)

	c := newClient(t)
	c.Timeout = 10 * time.Second // fail rather than hang if the flush is lost
	res, err := c.Get(base)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	line, err := bufio.NewReader(res.Body).ReadString('\n')
	if err != nil || line != "first\n" {
		t.Fatalf("first line = %q, %v; the instance's flush did not reach the client", line, err)
	}
}

func TestStartAndClose(t *testing.T) {
	rt := New("orders", nil)
	if err := rt.Close(); err != nil {
		t.Errorf("Close before Start: %v", err)
	}
	rt = New("orders", nil)
	base, err := rt.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^http://127\.0\.0\.1:[1-9][0-9]*$`).MatchString(base) {
		t.Errorf("base URL = %q, want http://127.0.0.1:<port>", base)
	}
	if _, err := rt.Start(context.Background()); err == nil {
		t.Errorf("second Start succeeded")
	}
	if err := rt.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := rt.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := http.Get(base); err == nil {
		t.Errorf("router still serves after Close")
	}
	if _, err := rt.Start(context.Background()); err == nil {
		t.Errorf("Start after Close succeeded")
	}
}

func TestCloseAbortsHeldRequests(t *testing.T) {
	v1 := newInstance(t, "v1")
	rec := metrics.NewRecorder("orders")
	rt, base := start(t, rec)
	must(t, rt.SetBackend("v1", v1.URL))
	rt.SetSplit("v1", "", 0)
	entered := make(chan struct{})
	var calls atomic.Int64
	slow := delay(time.Hour, &calls)
	rt.Point("").Install(faultFunc(func(w http.ResponseWriter, r *http.Request) bool {
		close(entered)
		return slow(w, r)
	}))
	errc := make(chan error, 1)
	go func() {
		res, err := newClient(t).Get(base)
		if err == nil {
			res.Body.Close()
		}
		errc <- err
	}()
	<-entered
	// Close must not wait an hour for the fault.
	checkTally(t, recorded(t, rt, rec), tally{"v1": {1, 1}})
	<-errc
}

func TestSetBackendValidates(t *testing.T) {
	rt := New("orders", nil)
	for _, bad := range []string{"", "127.0.0.1:8080", "ftp://127.0.0.1/", "http://", "http://[::1"} {
		if err := rt.SetBackend("v1", bad); err == nil {
			t.Errorf("SetBackend(%q) accepted", bad)
		}
	}
	if err := rt.SetBackend("", "http://127.0.0.1:1"); err == nil {
		t.Errorf("SetBackend with an empty version accepted")
	}
	if err := rt.SetBackend("v1", "http://127.0.0.1:1"); err != nil {
		t.Errorf("SetBackend of a good URL: %v", err)
	}
}

func TestDeclaresVersions(t *testing.T) {
	rec := metrics.NewRecorder("orders")
	rt := New("orders", rec)
	must(t, rt.SetBackend("v1", "http://127.0.0.1:1"))
	rt.SetSplit("v1", "v2", 0.1)
	var labels []string
	for _, w := range rec.Cut(time.Now()) {
		labels = append(labels, w.Label)
	}
	if strings.Join(labels, ",") != "v1,v2" {
		t.Errorf("windows before any traffic: %v, want v1 and v2 with zero requests", labels)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestWaitIdle checks that WaitIdle returns only once the request held at
// the instance has finished.
func TestWaitIdle(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan struct{}, 1)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
		w.WriteHeader(http.StatusCreated)
	}))
	defer backend.Close()
	rt := New("svc", metrics.NewRecorder("router:svc"))
	if err := rt.SetBackend("v2", backend.URL); err != nil {
		t.Fatal(err)
	}
	rt.SetSplit("v2", "", 0)
	base, err := rt.Start(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	got := make(chan int, 1)
	go func() {
		resp, err := http.Post(base+"/x", "text/plain", nil)
		if err != nil {
			got <- -1
			return
		}
		resp.Body.Close()
		got <- resp.StatusCode
	}()
	<-arrived
	if n := rt.InFlight("v2"); n != 1 {
		t.Fatalf("InFlight = %d, want 1", n)
	}
	idle := make(chan error, 1)
	go func() { idle <- rt.WaitIdle(context.Background(), "v2") }()
	select {
	case err := <-idle:
		t.Fatalf("WaitIdle returned %v while a request was in flight", err)
	default:
	}
	close(release)
	if err := <-idle; err != nil {
		t.Fatal(err)
	}
	if code := <-got; code != http.StatusCreated {
		t.Fatalf("status %d, want 201", code)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := rt.WaitIdle(ctx, "v2"); err != nil {
		t.Fatalf("idle version with a cancelled context: %v", err)
	}
}
