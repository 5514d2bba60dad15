package injectors_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/drillhq/drill/harness/metrics"
	"github.com/drillhq/drill/harness/router"
	"github.com/drillhq/drill/injectors"
)

// The HTTP kinds are tested through a real router from harness/router in
// front of a real instance (httptest on 127.0.0.1), with real clients.
// What the clients saw is turned into the Observation a drill would make,
// so that each kind's Verify is checked against real traffic too.

// httpEnv is the Env of these tests: routers by service name.
type httpEnv map[string]*router.Router

func (e httpEnv) HTTP(target string) (injectors.HTTPPoint, error) {
	svc, version, _ := strings.Cut(target, ".")
	rt, ok := e[svc]
	if !ok {
		return nil, fmt.Errorf("no router for service %q", svc)
	}
	return rt.Point(version), nil
}

func (e httpEnv) Link(from, to string) (injectors.HTTPPoint, error) {
	rt, ok := e[to]
	if !ok {
		return nil, fmt.Errorf("no router for service %q", to)
	}
	return rt.CallerPoint(from), nil
}

func (httpEnv) Processes(string) (injectors.ProcessPoint, error) {
	return nil, errors.New("no processes in this test")
}

func (httpEnv) Conn(string) (injectors.ConnPoint, error) {
	return nil, errors.New("no databases in this test")
}

// hService is one service behind a router: versions v1 and v2 of the same
// instance, split 50/50.
type hService struct {
	rt   *router.Router
	rec  *metrics.Recorder
	base string
	hits atomic.Int64 // requests that reached the instance
}

// hStart starts an instance that answers body (or "ok") behind a router
// for service name.
func hStart(t *testing.T, name string, body []byte) *hService {
	t.Helper()
	if body == nil {
		body = []byte("ok")
	}
	s := &hService{}
	in := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		_, _ = w.Write(body)
	}))
	t.Cleanup(in.Close)
	s.rec = metrics.NewRecorder("router:" + name)
	s.rt = router.New(name, s.rec, router.WithSeed(1))
	for _, v := range []string{"v1", "v2"} {
		if err := s.rt.SetBackend(v, in.URL); err != nil {
			t.Fatal(err)
		}
	}
	s.rt.SetSplit("v1", "v2", 0.5)
	base, err := s.rt.Start(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	s.base = base
	t.Cleanup(func() { _ = s.rt.Close() })
	return s
}

// recorded closes the router, which waits for every outcome to be
// recorded, and returns the requests and failures it recorded.
func (s *hService) recorded(t *testing.T) (requests, failed int64) {
	t.Helper()
	if err := s.rt.Close(); err != nil {
		t.Fatal(err)
	}
	for _, w := range s.rec.Cut(time.Now()) {
		requests += w.Requests
		failed += w.Failed
	}
	return requests, failed
}

// observe returns what the router recorded since the last call, the way
// the harness reduces a router's windows for a Verifier. It first waits
// until no request is in flight, as a request is recorded before it stops
// counting as in flight.
func (s *hService) observe(t *testing.T) injectors.Traffic {
	t.Helper()
	hWait(t, 10*time.Second, "requests recorded", func() bool {
		return s.rt.InFlight("v1") == 0 && s.rt.InFlight("v2") == 0
	})
	w := metrics.Merge(s.rec.Cut(time.Now())...)
	tr := injectors.Traffic{Requests: w.Requests, Failed: w.Failed, ByStatus: w.Status}
	if w.Requests > 0 {
		tr.P50 = w.Quantile(0.5).Seconds()
		tr.P99 = w.Quantile(0.99).Seconds()
		tr.Mean = w.Hist.Mean().Seconds()
	}
	return tr
}

// hClient makes a fresh connection per request: a reset then fails
// exactly one request, where keep-alive would let net/http retry it on
// another connection.
func hClient(t *testing.T) *http.Client {
	t.Helper()
	tr := &http.Transport{DisableKeepAlives: true, DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// hResult is what a client saw of one request; status 0 is a transport
// error.
type hResult struct {
	status  int
	err     error
	version string
	fault   string // X-Drill-Fault
	body    []byte
	latency time.Duration
	// bodyTime runs from the response's headers to the end of its body.
	bodyTime time.Duration
}

func hGet(ctx context.Context, c *http.Client, url string) hResult {
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return hResult{err: err}
	}
	res, err := c.Do(req)
	if err != nil {
		return hResult{err: err, latency: time.Since(start)}
	}
	defer res.Body.Close()
	headers := time.Now()
	body, err := io.ReadAll(res.Body)
	r := hResult{status: res.StatusCode, version: res.Header.Get(router.HeaderVersion),
		fault: res.Header.Get("X-Drill-Fault"), body: body, err: err, latency: time.Since(start), bodyTime: time.Since(headers)}
	if err != nil {
		r.status = 0
	}
	return r
}

// hRun sends n requests from workers concurrent clients.
func hRun(t *testing.T, c *http.Client, url string, n, workers int) []hResult {
	t.Helper()
	out := make([]hResult, n)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				out[i] = hGet(context.Background(), c, url)
			}
		})
	}
	wg.Wait()
	return out
}

// hTraffic summarises what clients saw the way the harness summarises a
// router's windows.
func hTraffic(rs []hResult) injectors.Traffic {
	tr := injectors.Traffic{Requests: int64(len(rs)), ByStatus: map[int]int64{}}
	lat := make([]float64, 0, len(rs))
	var sum float64
	for _, r := range rs {
		tr.ByStatus[r.status]++
		if r.status == 0 || r.status >= 500 {
			tr.Failed++
		}
		s := r.latency.Seconds()
		lat = append(lat, s)
		sum += s
	}
	if len(lat) > 0 {
		slices.Sort(lat)
		tr.Mean = sum / float64(len(lat))
		tr.P50 = lat[len(lat)/2]
		tr.P99 = lat[min(len(lat)-1, len(lat)*99/100)]
	}
	return tr
}

func hCount(rs []hResult, cond func(hResult) bool) int {
	n := 0
	for _, r := range rs {
		if cond(r) {
			n++
		}
	}
	return n
}

func isReset(r hResult) bool { return r.status == 0 && errors.Is(r.err, syscall.ECONNRESET) }

// hDecode is the strict decode function the scenario loader hands a kind,
// here from JSON: unknown fields are errors.
func hDecode(src string) func(any) error {
	return func(v any) error {
		if src == "" {
			return nil
		}
		d := json.NewDecoder(strings.NewReader(src))
		d.DisallowUnknownFields()
		return d.Decode(v)
	}
}

func hNew(t *testing.T, kind, target string, probability float64, seed int64, params string) injectors.Injector {
	t.Helper()
	k, ok := injectors.Lookup(kind)
	if !ok {
		t.Fatalf("kind %q not registered", kind)
	}
	p, err := k.Parse(hDecode(params))
	if err != nil {
		t.Fatalf("parse %s %s: %v", kind, params, err)
	}
	return k.New(injectors.Spec{Name: kind, Target: target, Probability: probability, Seed: seed, Params: p})
}

func hApply(t *testing.T, inj injectors.Injector, env injectors.Env) {
	t.Helper()
	if err := inj.Apply(context.Background(), env); err != nil {
		t.Fatalf("apply: %v", err)
	}
}

// hRevert reverts twice: the second must be a harmless no-op.
func hRevert(t *testing.T, inj injectors.Injector) {
	t.Helper()
	for i := range 2 {
		if err := inj.Revert(context.Background()); err != nil {
			t.Fatalf("revert #%d: %v", i+1, err)
		}
	}
}

func hVerify(t *testing.T, inj injectors.Injector, before, during injectors.Traffic) injectors.Effect {
	t.Helper()
	v, ok := inj.(injectors.Verifier)
	if !ok {
		t.Fatalf("%T does not implement injectors.Verifier", inj)
	}
	e := v.Verify(injectors.Observation{Before: before, During: during})
	t.Logf("verify: effective=%v, %s", e.Effective, e.Measured)
	return e
}

// hWait polls cond until it holds, failing the test after timeout.
func hWait(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, timeout)
		}
		time.Sleep(time.Millisecond) // polling, not synchronisation by sleep
	}
}

// hBinomial checks that k of n is p within four standard deviations.
func hBinomial(t *testing.T, what string, k, n int, p float64) {
	t.Helper()
	sd := math.Sqrt(float64(n) * p * (1 - p))
	if math.Abs(float64(k)-float64(n)*p) > 4*sd {
		t.Errorf("%s: %d of %d, want %.0f ± %.0f (p=%v, 4σ)", what, k, n, float64(n)*p, 4*sd, p)
	} else {
		t.Logf("%s: %d of %d (%.1f%%), configured %.0f%% ± %.1f%% (4σ)", what, k, n, 100*float64(k)/float64(n), 100*p, 400*sd/float64(n))
	}
}

func allOK(t *testing.T, what string, rs []hResult) {
	t.Helper()
	for _, r := range rs {
		if r.status != http.StatusOK || r.fault != "" {
			t.Fatalf("%s: a request got %d (fault %q, err %v)", what, r.status, r.fault, r.err)
		}
	}
}

func TestAbortResetsConnectionsAndGoesAway(t *testing.T) {
	s := hStart(t, "svc", nil)
	env := httpEnv{"svc": s.rt}
	c := hClient(t)
	inj := hNew(t, "abort", "svc.v2", 1, 1, "")

	before := hRun(t, c, s.base, 200, 4)
	allOK(t, "before", before)
	hApply(t, inj, env)
	hits := s.hits.Load()
	during := hRun(t, c, s.base, 400, 4)
	hits = s.hits.Load() - hits
	hRevert(t, inj)
	after := hRun(t, c, s.base, 200, 4)
	allOK(t, "after revert", after)

	resets := hCount(during, isReset)
	for _, r := range during {
		if r.status != 0 && (r.status != http.StatusOK || r.version != "v1") {
			t.Fatalf("during: %s answered %d; only v2 is aborted", r.version, r.status)
		}
		if r.status == 0 && !isReset(r) {
			t.Fatalf("during: client error %v, want a connection reset", r.err)
		}
	}
	if hits != int64(len(during)-resets) {
		t.Errorf("the instance got %d requests, %d were not reset: aborted requests were forwarded", hits, len(during)-resets)
	}
	// Only v2 (half the split) is aborted.
	hBinomial(t, "resets", resets, len(during), 0.5)
	requests, failed := s.recorded(t)
	if requests != 800 || failed != int64(resets) {
		t.Errorf("router recorded %d requests, %d failed; clients sent 800, %d were reset", requests, failed, resets)
	}
}

func TestTimeoutHoldsUntilTheClientGivesUp(t *testing.T) {
	s := hStart(t, "svc", nil)
	s.rt.SetSplit("v1", "", 0)
	env := httpEnv{"svc": s.rt}
	inj := hNew(t, "timeout", "svc", 1, 1, "")
	hApply(t, inj, env)

	c := hClient(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan hResult, 1)
	go func() { done <- hGet(ctx, c, s.base) }()
	hWait(t, 5*time.Second, "request held at the router", func() bool { return s.rt.InFlight("v1") == 1 })
	cancel() // the client gives up
	if r := <-done; !errors.Is(r.err, context.Canceled) {
		t.Fatalf("client got %d, %v; want its own cancellation", r.status, r.err)
	}
	// The router lets go of the request as soon as its client left.
	hWait(t, 5*time.Second, "held request released", func() bool { return s.rt.InFlight("v1") == 0 })
	hRevert(t, inj)
	allOK(t, "after revert", hRun(t, c, s.base, 20, 2))
	if got := s.hits.Load(); got != 20 {
		t.Errorf("the instance got %d requests, want only the 20 after revert", got)
	}
	requests, failed := s.recorded(t)
	if requests != 21 || failed != 1 {
		t.Errorf("router recorded %d requests, %d failed; want 21, 1 (the request whose client gave up)", requests, failed)
	}
}

func TestTimeoutIsBoundedByMax(t *testing.T) {
	s := hStart(t, "svc", nil)
	inj := hNew(t, "timeout", "svc", 1, 1, `{"max": "20ms"}`)
	hApply(t, inj, httpEnv{"svc": s.rt})
	defer hRevert(t, inj)
	r := hGet(context.Background(), hClient(t), s.base)
	if r.status != http.StatusGatewayTimeout || !strings.Contains(r.fault, "timeout") {
		t.Fatalf("got %d (fault %q, err %v), want 504 from the timeout fault after max", r.status, r.fault, r.err)
	}
	if s.hits.Load() != 0 {
		t.Errorf("a held request reached the instance")
	}
}

func TestTimeoutRevertReleasesHeldRequests(t *testing.T) {
	s := hStart(t, "svc", nil)
	s.rt.SetSplit("v1", "", 0)
	inj := hNew(t, "timeout", "svc", 1, 1, `{"max": "1h"}`)
	hApply(t, inj, httpEnv{"svc": s.rt})
	c := hClient(t)
	done := make(chan hResult, 3)
	for range 3 {
		go func() { done <- hGet(context.Background(), c, s.base) }()
	}
	hWait(t, 5*time.Second, "three requests held", func() bool { return s.rt.InFlight("v1") == 3 })
	hRevert(t, inj)
	for range 3 {
		if r := <-done; r.status != http.StatusGatewayTimeout {
			t.Errorf("held request got %d (%v) on revert, want 504", r.status, r.err)
		}
	}
	if s.hits.Load() != 0 {
		t.Errorf("requests held by the fault reached the instance")
	}
	allOK(t, "after revert", hRun(t, c, s.base, 10, 2))
}

// hBody is large enough to be paced over several chunks.
var hBody = bytes.Repeat([]byte("0123456789abcdef"), 1000) // 16000 bytes

func TestBandwidthPacesBodiesAndGoesAway(t *testing.T) {
	const rate = 40_000 // bytes/s: 0.4 s for the body
	s := hStart(t, "svc", hBody)
	s.rt.SetSplit("v1", "", 0)
	env := httpEnv{"svc": s.rt}
	c := hClient(t)
	inj := hNew(t, "bandwidth", "svc.v1", 1, 1, `{"rate": "40KB/s"}`)

	before := hRun(t, c, s.base, 20, 1)
	allOK(t, "before", before)
	obsBefore := s.observe(t)
	hApply(t, inj, env)
	during := hRun(t, c, s.base, 6, 3)
	obsDuring := s.observe(t)
	hRevert(t, inj)
	after := hRun(t, c, s.base, 20, 1)
	allOK(t, "after revert", after)

	var rates []float64
	for _, r := range during {
		if r.status != http.StatusOK || !bytes.Equal(r.body, hBody) || r.fault != "bandwidth" {
			t.Fatalf("paced response: %d, %d bytes, fault %q, err %v; want the whole body, marked", r.status, len(r.body), r.fault, r.err)
		}
		rates = append(rates, float64(len(hBody))/r.bodyTime.Seconds())
	}
	// Proof of effect: the clients received the bodies at the configured
	// rate, within -25% (the median, so that one response stalled by a
	// busy machine does not decide). Never faster: the bucket starts
	// empty; 2% for the clocks of client and router.
	slices.Sort(rates)
	if got := rates[len(rates)/2]; got > 1.02*rate || got < 0.75*rate {
		t.Errorf("clients received bodies at %.0f B/s (median of %.0f), want %d B/s -25%%", got, rates, rate)
	} else {
		t.Logf("clients received bodies at %.0f B/s (median of %.0f), configured %d B/s", got, rates, rate)
	}
	// Single bodies may read a little fast: the client's clock starts after
	// the first write and the bucket starts full. A pacing that does not
	// work would read many times the rate.
	for _, got := range rates {
		if got > 1.15*rate {
			t.Errorf("a client received a body at %.0f B/s, faster than the configured %d B/s", got, rate)
		}
	}
	if e := hVerify(t, inj, obsBefore, obsDuring); !e.Effective {
		t.Errorf("Verify: not effective: %s", e.Measured)
	}
}

func TestBandwidthStopsWhenTheClientLeaves(t *testing.T) {
	s := hStart(t, "svc", hBody)
	s.rt.SetSplit("v1", "", 0)
	// 16000 bytes at 1KB/s would take 16 s.
	inj := hNew(t, "bandwidth", "svc", 1, 1, `{"rate": "1000"}`)
	hApply(t, inj, httpEnv{"svc": s.rt})
	defer hRevert(t, inj)

	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.base, nil)
	res, err := hClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	first := make([]byte, 10)
	if _, err := io.ReadFull(res.Body, first); err != nil {
		t.Fatal(err)
	}
	cancel()
	res.Body.Close()
	// The pacing honours the request's context: the handler ends long
	// before the body would have been sent.
	hWait(t, 4*time.Second, "paced response abandoned", func() bool { return s.rt.InFlight("v1") == 0 })
	if requests, failed := s.recorded(t); requests != 1 || failed != 1 {
		t.Errorf("router recorded %d requests, %d failed; want the abandoned one as failed", requests, failed)
	}
}

func TestFirstNFailsExactlyNThenPasses(t *testing.T) {
	s := hStart(t, "svc", nil)
	env := httpEnv{"svc": s.rt}
	c := hClient(t)
	inj := hNew(t, "first-n", "svc", 1, 1, `{"n": 7}`)

	allOK(t, "before", hRun(t, c, s.base, 50, 4))
	before := s.observe(t)
	hApply(t, inj, env)
	during := hRun(t, c, s.base, 200, 8) // concurrent: still exactly n
	failed := hCount(during, func(r hResult) bool { return r.status == http.StatusServiceUnavailable && r.fault != "" })
	if ok := hCount(during, func(r hResult) bool { return r.status == http.StatusOK }); failed != 7 || ok != 193 {
		t.Errorf("%d answered 503 and %d 200 of 200, want exactly 7 and 193", failed, ok)
	}
	if e := hVerify(t, inj, before, s.observe(t)); !e.Effective {
		t.Errorf("Verify: not effective: %s", e.Measured)
	}
	hRevert(t, inj)
	allOK(t, "after revert", hRun(t, c, s.base, 50, 4))
	// The count is not reset: applied again, the fault has nothing left
	// to fail.
	hApply(t, inj, env)
	allOK(t, "re-applied after n failures", hRun(t, c, s.base, 50, 4))
	hRevert(t, inj)
}

func TestFirstNSequenceAndStatus(t *testing.T) {
	s := hStart(t, "svc", nil)
	inj := hNew(t, "first-n", "svc.v2", 1, 1, `{"n": 3, "status": 429}`)
	hApply(t, inj, httpEnv{"svc": s.rt})
	defer hRevert(t, inj)
	var v2 []int
	for _, r := range hRun(t, hClient(t), s.base, 40, 1) {
		if r.version == "v2" {
			v2 = append(v2, r.status)
		} else if r.status != http.StatusOK {
			t.Fatalf("v1 answered %d: the fault targets v2", r.status)
		}
	}
	if len(v2) < 4 || !slices.Equal(v2[:3], []int{429, 429, 429}) || slices.Contains(v2[3:], 429) {
		t.Errorf("v2 statuses %v, want the first three 429 and none after", v2)
	}
}

func TestPartitionCutsOffOneCaller(t *testing.T) {
	pricing := hStart(t, "pricing", nil)
	orders, err := pricing.rt.CallerURL("orders")
	if err != nil {
		t.Fatal(err)
	}
	billing, err := pricing.rt.CallerURL("billing")
	if err != nil {
		t.Fatal(err)
	}
	env := httpEnv{"pricing": pricing.rt}
	c := hClient(t)
	inj := hNew(t, "partition", "pricing", 1, 1, `{"from": "orders"}`)

	allOK(t, "before", hRun(t, c, orders, 100, 4))
	before := pricing.observe(t)
	hApply(t, inj, env)
	hApply(t, inj, env) // applying twice installs it once
	during := hRun(t, c, orders, 200, 4)
	if n := hCount(during, isReset); n != len(during) {
		t.Errorf("%d of %d requests from orders were reset, want all", n, len(during))
	}
	obs := pricing.observe(t)
	if obs.ByStatus[0] != int64(len(during)) {
		t.Errorf("router recorded %d transport errors for %d resets", obs.ByStatus[0], len(during))
	}
	if e := hVerify(t, inj, before, obs); !e.Effective {
		t.Errorf("Verify: not effective: %s", e.Measured)
	}
	hRevert(t, inj)
	allOK(t, "billing during the partition", hRun(t, c, billing, 50, 4))
	allOK(t, "main listener during the partition", hRun(t, c, pricing.base, 50, 4))
	hRevert(t, inj)
	allOK(t, "orders after revert", hRun(t, c, orders, 100, 4))
}

// TestPartitionVerifyWithOtherCallers checks Verify when the router also
// serves callers the partition does not cut off: transport errors are
// then the probability times the partitioned caller's share.
func TestPartitionVerifyWithOtherCallers(t *testing.T) {
	pricing := hStart(t, "pricing", nil)
	orders, _ := pricing.rt.CallerURL("orders")
	billing, _ := pricing.rt.CallerURL("billing")
	c := hClient(t)
	inj := hNew(t, "partition", "pricing", 1, 1, `{"from": "orders"}`)
	hRun(t, c, orders, 100, 4)
	hRun(t, c, billing, 100, 4)
	before := pricing.observe(t)
	hApply(t, inj, httpEnv{"pricing": pricing.rt})
	hRun(t, c, orders, 100, 4)
	hRun(t, c, billing, 300, 4)
	during := pricing.observe(t)
	hRevert(t, inj)
	if e := hVerify(t, inj, before, during); !e.Effective || !strings.Contains(e.Measured, "25%") {
		t.Errorf("Verify = %v %q, want effective at 25%% transport errors (orders sent a quarter)", e.Effective, e.Measured)
	}
}

func TestPartitionApplyRefusesBadTargets(t *testing.T) {
	pricing := hStart(t, "pricing", nil)
	env := httpEnv{"pricing": pricing.rt}
	tests := []struct{ target, from, want string }{
		{"pricing.v1", "orders", "not on version"},
		{"pricing", "pricing", "to itself"},
		{"nowhere", "orders", "no router"},
	}
	for _, tt := range tests {
		inj := hNew(t, "partition", tt.target, 1, 1, `{"from": "`+tt.from+`"}`)
		err := inj.Apply(context.Background(), env)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("apply %s from %s: %v, want an error about %q", tt.target, tt.from, err, tt.want)
		}
		// Revert after a failed Apply is safe.
		hRevert(t, inj)
	}
}

// TestHTTPKindsHonourProbability runs each kind at probability 0.3 and
// checks that the share of requests it acted on is 0.3 within binomial
// tolerance, that the router recorded them as the clients saw them, and
// that its Verify agrees from the router's records.
func TestHTTPKindsHonourProbability(t *testing.T) {
	const p, n = 0.3, 1000
	tests := []struct {
		kind, params string
		acted        func(hResult) bool
		status       int // what the router records for the requests acted on; -1: 200
	}{
		{"abort", "", isReset, 0},
		{"timeout", `{"max": "1ms"}`, func(r hResult) bool { return r.status == http.StatusGatewayTimeout }, http.StatusGatewayTimeout},
		{"bandwidth", `{"rate": "1MiB/s"}`, func(r hResult) bool { return r.fault == "bandwidth" }, -1},
		{"partition", `{"from": "orders"}`, isReset, 0},
		{"error", `{"status": 502, "rate": "100%"}`, func(r hResult) bool { return r.status == http.StatusBadGateway }, http.StatusBadGateway},
	}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			s := hStart(t, "svc", nil)
			url := s.base
			if tt.kind == "partition" {
				var err error
				if url, err = s.rt.CallerURL("orders"); err != nil {
					t.Fatal(err)
				}
			}
			c := hClient(t)
			inj := hNew(t, tt.kind, "svc", p, 42, tt.params)
			allOK(t, "before", hRun(t, c, url, 200, 8))
			before := s.observe(t)
			hApply(t, inj, httpEnv{"svc": s.rt})
			during := hRun(t, c, url, n, 8)
			obs := s.observe(t)
			hRevert(t, inj)
			after := hRun(t, c, url, 200, 8)
			allOK(t, "after revert", after)
			acted := hCount(during, tt.acted)
			hBinomial(t, tt.kind, acted, n, p)
			if tt.status >= 0 && obs.ByStatus[tt.status] != int64(acted) {
				t.Errorf("router recorded %d requests as %d, clients saw %d", obs.ByStatus[tt.status], tt.status, acted)
			}
			for _, r := range during {
				if !tt.acted(r) && (r.status != http.StatusOK || r.fault != "") {
					t.Fatalf("a request the fault did not act on got %d (fault %q, %v)", r.status, r.fault, r.err)
				}
			}
			if tt.kind == "bandwidth" {
				// Bodies of two bytes take 2 µs at 1MiB/s: pacing them is
				// not measurable at the router, and Verify must not
				// pretend otherwise.
				if e := hVerify(t, inj, before, obs); e.Effective || !strings.Contains(e.Measured, "not measurable") {
					t.Errorf("Verify = %v %q, want not effective: not measurable", e.Effective, e.Measured)
				}
				return
			}
			if e := hVerify(t, inj, before, obs); !e.Effective {
				t.Errorf("Verify: not effective: %s", e.Measured)
			}
		})
	}
}

func TestFirstNHonoursProbability(t *testing.T) {
	// The n failures are the first n requests the coin picks: with
	// probability p the n-th comes after about n/p requests (negative
	// binomial: mean n/p, σ = √(n(1−p))/p).
	const p, n = 0.3, 60
	s := hStart(t, "svc", nil)
	inj := hNew(t, "first-n", "svc", p, 42, fmt.Sprintf(`{"n": %d}`, n))
	hApply(t, inj, httpEnv{"svc": s.rt})
	defer hRevert(t, inj)
	c := hClient(t)
	last, failed := 0, 0
	for i := range 600 {
		if r := hGet(context.Background(), c, s.base); r.status == http.StatusServiceUnavailable {
			failed++
			last = i + 1
		} else if r.status != http.StatusOK {
			t.Fatalf("request %d: %d (%v)", i, r.status, r.err)
		}
	}
	if failed != n {
		t.Fatalf("%d requests failed, want exactly %d", failed, n)
	}
	mean, sd := n/p, math.Sqrt(n*(1-p))/p
	if math.Abs(float64(last)-mean) > 4*sd {
		t.Errorf("the %d-th failure came at request %d, want %.0f ± %.0f (4σ)", n, last, mean, 4*sd)
	} else {
		t.Logf("the %d-th failure came at request %d, expected %.0f ± %.0f (4σ)", n, last, mean, 4*sd)
	}
}

// TestLatencyAndErrorVerifyWithRealTraffic checks the Verify of the two
// older kinds against what their router recorded.
func TestLatencyAndErrorVerifyWithRealTraffic(t *testing.T) {
	// The latency case is a timing measurement: a large delay keeps the
	// scheduling noise of a busy machine well inside ±25%; probabilities
	// below 1 are covered by TestLatencyVerify.
	tests := []struct {
		kind, params string
		p            float64
	}{
		{"latency", `{"delay": "200ms"}`, 1},
		{"error", `{"status": 503, "rate": "50%"}`, 0.6},
	}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			s := hStart(t, "svc", nil)
			c := hClient(t)
			inj := hNew(t, tt.kind, "svc", tt.p, 3, tt.params)
			hRun(t, c, s.base, 200, 20)
			before := s.observe(t)
			hApply(t, inj, httpEnv{"svc": s.rt})
			// A busy machine only ever adds time, so a round that misses is
			// measured again (up to 3); a broken fault misses every round
			// (about +0 if not applied, about twice the delay if applied twice).
			var e injectors.Effect
			for round := 1; round <= 3; round++ {
				hRun(t, c, s.base, 200, 20)
				if e = hVerify(t, inj, before, s.observe(t)); e.Effective {
					break
				}
				t.Logf("round %d not effective (machine load?): %s", round, e.Measured)
			}
			hRevert(t, inj)
			if !e.Effective {
				t.Errorf("Verify: not effective in 3 rounds: %s", e.Measured)
			}
			// Without the fault, the same Verify sees no effect.
			hRun(t, c, s.base, 200, 20)
			if e := hVerify(t, inj, before, s.observe(t)); e.Effective {
				t.Errorf("Verify after revert: effective: %s", e.Measured)
			}
		})
	}
}

func TestHTTPKindsRevertWithoutApply(t *testing.T) {
	for _, tt := range []struct{ kind, params string }{
		{"abort", ""}, {"timeout", ""}, {"bandwidth", `{"rate": "1KB/s"}`},
		{"first-n", `{"n": 1}`}, {"partition", `{"from": "orders"}`},
	} {
		hRevert(t, hNew(t, tt.kind, "svc", 1, 1, tt.params))
		// And after an Apply that failed.
		inj := hNew(t, tt.kind, "nowhere", 1, 1, tt.params)
		if err := inj.Apply(context.Background(), httpEnv{}); err == nil {
			t.Errorf("%s: apply to an unknown service succeeded", tt.kind)
		}
		hRevert(t, inj)
	}
}

func TestHTTPKindsParse(t *testing.T) {
	tests := []struct {
		kind, params string
		want         []string // every problem, reported at once; none: valid
	}{
		{"abort", "", nil},
		{"timeout", "", nil},
		{"timeout", `{"max": "30s"}`, nil},
		{"timeout", `{"max": "0s"}`, []string{"max must be > 0"}},
		{"timeout", `{"max": "soon"}`, []string{"invalid duration"}},
		{"timeout", `{"maximum": "1s"}`, []string{"unknown field"}},
		{"bandwidth", `{"rate": "10KB/s"}`, nil},
		{"bandwidth", "", []string{"needs params.rate > 0"}},
		{"bandwidth", `{"rate": "fast"}`, []string{"invalid rate"}},
		{"first-n", `{"n": 2}`, nil},
		{"first-n", "", []string{"needs params.n > 0"}},
		{"first-n", `{"n": 0, "status": 200}`, []string{"needs params.n > 0", "not an HTTP error status"}},
		{"partition", `{"from": "orders"}`, nil},
		{"partition", "", []string{"needs params.from"}},
		{"partition", `{"form": "orders"}`, []string{"unknown field"}},
	}
	for _, tt := range tests {
		t.Run(tt.kind+" "+tt.params, func(t *testing.T) {
			k, _ := injectors.Lookup(tt.kind)
			_, err := k.Parse(hDecode(tt.params))
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("valid params refused: %v", err)
				}
				return
			}
			for _, w := range tt.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("err = %v, want it to mention %q", err, w)
				}
			}
		})
	}
}

func TestByteRate(t *testing.T) {
	tests := []struct {
		in   string
		want injectors.ByteRate
		str  string // how the rate is written back in reports
	}{
		{"10KB/s", 10_000, "10KB/s"},
		{"10kb/s", 10_000, "10KB/s"},
		{"1MiB/s", 1 << 20, "1MiB/s"},
		{"1.5KiB/s", 1536, "1536B/s"},
		{"10240", 10240, "10KiB/s"},
		{"512B/s", 512, "512B/s"},
		{" 2 MB/s ", 2_000_000, "2MB/s"},
		{"7/s", 7, "7B/s"},
	}
	for _, tt := range tests {
		var r injectors.ByteRate
		if err := r.UnmarshalText([]byte(tt.in)); err != nil || r != tt.want {
			t.Errorf("%q: %d, %v; want %d", tt.in, r, err, tt.want)
		}
		if r.String() != tt.str {
			t.Errorf("%q: String() = %q, want %q", tt.in, r.String(), tt.str)
		}
	}
	for _, bad := range []string{"", "fast", "10XB/s", "-5KB/s", "KB/s", "1e3", "10KB/m"} {
		var r injectors.ByteRate
		if err := r.UnmarshalText([]byte(bad)); err == nil {
			t.Errorf("%q accepted as %d", bad, r)
		}
	}
}

func TestHTTPKindsDescribe(t *testing.T) {
	for kind, targets := range map[string]string{
		"abort": "service | service.version", "timeout": "service | service.version",
		"bandwidth": "service | service.version", "first-n": "service | service.version",
		"partition": "service",
	} {
		k, ok := injectors.Lookup(kind)
		if !ok {
			t.Errorf("%s is not registered", kind)
			continue
		}
		if slices.Contains(injectors.Planned, kind) {
			t.Errorf("%s is still listed as planned", kind)
		}
		d := k.Describe()
		if d.Name != kind || d.Summary == "" || d.Targets != targets {
			t.Errorf("%s: %+v", kind, d)
		}
		for _, p := range d.Params {
			if p.Name == "" || p.Default == "" || p.Description == "" {
				t.Errorf("%s: undocumented param %+v", kind, p)
			}
		}
	}
}

func (httpEnv) Migrations(string) (injectors.MigrationPoint, error) {
	return nil, errors.New("no migrations in this test")
}
