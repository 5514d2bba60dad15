package load

import (
	"cmp"
	"context"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/drillhq/drill/harness/ledger"
	"github.com/drillhq/drill/harness/metrics"
	"github.com/drillhq/drill/reports"
	"github.com/drillhq/drill/scenarios"
)

// requestHeader carries the index of the load request from the targeter to
// the ledger transport; the transport strips it before the request leaves.
const requestHeader = "X-Drill-Load-Request"

// Generator drives vegeta at the load target's router and records every
// result into the client recorder. Nothing per request is kept in memory.
type Generator struct {
	sc       *scenarios.Scenario
	baseURL  string
	rec      *metrics.Recorder
	ledger   *ledger.Writer
	attacker *vegeta.Attacker

	reqs   []loadRequest
	total  int
	mu     sync.Mutex // guards rc (the seeded PRNG and sequence)
	rc     renderCtx
	done   chan struct{}
	counts struct{ total, failed atomic.Int64 }
	// exposure is T0 in Unix nanoseconds (0 until the release or a fault
	// first touches traffic); exposed counts the requests sent at or after
	// it. Only those can be the release's doing: failures while the system
	// warmed up or during a failed steady-state attempt are not its blast
	// radius. A result is attributed by when its request was sent, so a
	// request in flight across T0 counts as before.
	exposure atomic.Int64
	exposed  struct{ total, failed atomic.Int64 }
	started  time.Time
	// pacer is the attack's pacer and attacked how long it ran (until
	// stopped or its bound): together the requests the rate asked for.
	pacer    vegeta.Pacer
	attacked time.Duration
}

// loadRequest is one of the scenario's requests, its templates parsed,
// with the ledger key and columns when its writes are tracked.
type loadRequest struct {
	spec          *scenarios.Request
	path, body    template
	headers       map[string]template
	needsLedger   bool
	ledgerKey     string
	ledgerColumns []string
}

// New prepares the scenario's load against baseURL: every result goes to
// rec, and the writes it acknowledges to lw. The requests' placeholders
// draw from a stream seeded by the scenario's seed. Run starts it.
func New(sc *scenarios.Scenario, baseURL string, rec *metrics.Recorder, lw *ledger.Writer) *Generator {
	g := &Generator{sc: sc, baseURL: strings.TrimRight(baseURL, "/"), rec: rec, ledger: lw, done: make(chan struct{})}
	g.rc.rng = rand.New(rand.NewPCG(uint64(sc.Seed), 0x10ad))
	var cols []string
	if sc.Verify.Data.Ledger != nil {
		cols = sc.Verify.Data.Ledger.Columns
	}
	for _, r := range sc.Load.Requests {
		lr := loadRequest{spec: r, path: parseTemplate(r.Path), body: parseTemplate(r.Body), headers: map[string]template{}}
		for k, v := range r.Headers {
			lr.headers[k] = parseTemplate(v)
		}
		lr.needsLedger = lr.path.uses(scenarios.SegLedgerLast) || lr.body.uses(scenarios.SegLedgerLast)
		if r.Ledger != nil {
			lr.ledgerKey = r.Ledger.Key
			lr.ledgerColumns = cols
		}
		g.reqs = append(g.reqs, lr)
		g.total += max(r.Weight, 1)
	}
	timeout := sc.Load.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	// Enough workers for the whole rate to wait a full timeout and no more:
	// a stuck target then slows the generator down (vegeta delays hits)
	// instead of growing its memory without limit.
	maxWorkers := uint64(max(peakRate(sc.Load)*timeout.Seconds(), 64))
	transport := g.ledgerTransport(&http.Transport{
		Proxy:               nil, // loopback only: never through a proxy
		DialContext:         (&net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: int(maxWorkers),
		IdleConnTimeout:     30 * time.Second,
	})
	g.attacker = vegeta.NewAttacker(
		vegeta.Client(&http.Client{Transport: transport, Timeout: timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}),
		vegeta.Workers(16),
		vegeta.MaxWorkers(maxWorkers),
		vegeta.MaxBody(0),
	)
	return g
}

// ledgerTransport sends the load's requests through next and records the
// writes they acknowledge in the ledger.
func (g *Generator) ledgerTransport(next http.RoundTripper) *ledger.Transport {
	return &ledger.Transport{Ledger: g.ledger, Next: next, Mark: requestHeader, Track: g.track}
}

// track maps the request index the targeter marked a request with to the
// ledger key field and columns of that request; key "" when the request is
// not tracked or the mark is not an index.
func (g *Generator) track(mark string) (key string, columns []string) {
	idx, err := strconv.Atoi(mark)
	if err != nil || idx < 0 || idx >= len(g.reqs) {
		return "", nil
	}
	return g.reqs[idx].ledgerKey, g.reqs[idx].ledgerColumns
}

func peakRate(l scenarios.LoadSpec) float64 {
	if l.Ramp != nil {
		return max(l.Ramp.From.PerSecond(), l.Ramp.To.PerSecond())
	}
	return l.Rate.PerSecond()
}

// targeter picks a request by weight from the seeded stream and renders
// its placeholders.
func (g *Generator) targeter(t *vegeta.Target) error {
	g.mu.Lock()
	g.rc.seq++
	pick := g.rc.rng.IntN(g.total)
	idx := 0
	for i := range g.reqs {
		pick -= max(g.reqs[i].spec.Weight, 1)
		if pick < 0 {
			idx = i
			break
		}
	}
	lr := &g.reqs[idx]
	g.rc.ledgerLast = g.ledger.Last()
	if lr.needsLedger && g.rc.ledgerLast == "" {
		// Nothing acknowledged yet: a read of "the last write" has no
		// meaning, so send the first request that does not need one.
		for i := range g.reqs {
			if !g.reqs[i].needsLedger {
				idx, lr = i, &g.reqs[i]
				break
			}
		}
	}
	path := lr.path.render(&g.rc)
	body := lr.body.render(&g.rc)
	hdr := http.Header{}
	for k, v := range lr.headers {
		hdr.Set(k, v.render(&g.rc))
	}
	g.mu.Unlock()
	if body != "" && hdr.Get("Content-Type") == "" {
		hdr.Set("Content-Type", "application/json")
	}
	hdr.Set(requestHeader, strconv.Itoa(idx))
	t.Method = cmp.Or(lr.spec.Method, http.MethodGet)
	t.URL = g.baseURL + path
	t.Body = []byte(body)
	t.Header = hdr
	return nil
}

// Run attacks until ctx ends or maxDuration passes (a hard bound: load
// never outlives its drill). It returns when every in-flight request ended.
func (g *Generator) Run(ctx context.Context, maxDuration time.Duration) {
	defer close(g.done)
	var pacer vegeta.Pacer = vegeta.ConstantPacer{Freq: g.sc.Load.Rate.Freq, Per: g.sc.Load.Rate.Per}
	if r := g.sc.Load.Ramp; r != nil {
		pacer = rampPacer{from: r.From.PerSecond(), to: r.To.PerSecond(), over: r.Over}
	}
	g.started, g.pacer = time.Now(), pacer
	results := g.attacker.Attack(g.targeter, pacer, maxDuration, "drill")
	stopped := make(chan time.Duration, 1)
	stop := context.AfterFunc(ctx, func() {
		stopped <- time.Since(g.started)
		g.attacker.Stop()
	})
	defer func() {
		// The attack ran until it was stopped, or else for its bound.
		if !stop() {
			g.attacked = <-stopped
		} else {
			g.attacked = min(time.Since(g.started), maxDuration)
		}
	}()
	for res := range results {
		o := metrics.Outcome{Status: int(res.Code), Latency: res.Latency, Err: res.Code == 0}
		g.rec.Record("all", o)
		g.counts.total.Add(1)
		exposed := false
		if t0 := g.exposure.Load(); t0 != 0 && res.Timestamp.UnixNano() >= t0 {
			exposed = true
			g.exposed.total.Add(1)
		}
		if o.Failed() {
			g.counts.failed.Add(1)
			if exposed {
				g.exposed.failed.Add(1)
			}
		}
	}
}

// Requests is the report's count of the load. The blast radius is the
// failures above the baseline rate among the requests sent at or after T0
// only; what came before is counted as excluded, with the reason.
func (g *Generator) Requests(baselineRate float64) reports.Requests {
	total, failed := g.counts.total.Load(), g.counts.failed.Load()
	et, ef := g.exposed.total.Load(), g.exposed.failed.Load()
	excess := int64(float64(ef) - baselineRate*float64(et) + 0.5)
	q := reports.Requests{Total: total, Failed: failed, ExcessFailed: max(excess, 0), BaselineFailureRate: baselineRate,
		ExposedTotal: et, ExposedFailed: ef, ExcludedTotal: total - et, ExcludedFailed: failed - ef}
	if q.ExcludedTotal > 0 {
		q.ExcludedReason = "warm-up and steady state"
		if g.exposure.Load() == 0 {
			q.ExcludedReason = "the release never reached traffic"
		}
	}
	return q
}

// Counts is how many requests the load sent so far, and how many of them
// failed.
func (g *Generator) Counts() (total, failed int64) {
	return g.counts.total.Load(), g.counts.failed.Load()
}

// MarkExposure sets T0 for the exposed counts, keeping the earliest mark
// as the drill does (a fault and a step may race to mark it).
func (g *Generator) MarkExposure(t time.Time) {
	n := t.UnixNano()
	for {
		cur := g.exposure.Load()
		if (cur != 0 && cur <= n) || g.exposure.CompareAndSwap(cur, n) {
			return
		}
	}
}

// Pace is how many requests the rate asked for while the attack ran and
// how many the generator sent; valid once Run returned. A generator that
// sent fewer was not scheduled enough to keep its rate: evidence that the
// machine starved the drill (reports.Host).
func (g *Generator) Pace() (expected, sent int64) {
	if g.pacer == nil {
		return 0, 0
	}
	var hits float64
	switch p := g.pacer.(type) {
	case vegeta.ConstantPacer:
		hits = p.Rate(0) * g.attacked.Seconds()
	case rampPacer:
		hits = p.hits(g.attacked)
	}
	return int64(hits), g.counts.total.Load()
}

// Wait blocks until Run returned.
func (g *Generator) Wait() { <-g.done }

// rampPacer raises the rate linearly from `from` to `to` over `over`, then
// holds `to`.
type rampPacer struct {
	from, to float64
	over     time.Duration
}

func (p rampPacer) Pace(elapsed time.Duration, hits uint64) (time.Duration, bool) {
	expected := p.hits(elapsed)
	if float64(hits) < expected {
		return 0, false
	}
	// Wait until the integral of the rate reaches the next hit. Solving it
	// (rather than dividing by the current rate) is exact and also works
	// where the rate is 0, at the start of a ramp from 0/s.
	next := p.when(float64(hits) + 1)
	if next < 0 {
		return time.Second, false // the rate is 0 for good: look again later
	}
	return max(next-elapsed, 0), false
}

// when returns the elapsed time at which hits(t) == n, or -1 when the
// rate never gets there.
func (p rampPacer) when(n float64) time.Duration {
	over := p.over.Seconds()
	if over > 0 {
		// hits(t) = from*t + a*t^2 for t <= over, with a = (to-from)/(2*over).
		a, b := (p.to-p.from)/(2*over), p.from
		var t float64
		if math.Abs(a) < 1e-12 {
			if b > 0 {
				t = n / b
			} else {
				t = math.Inf(1)
			}
		} else if disc := b*b + 4*a*n; disc >= 0 {
			t = (-b + math.Sqrt(disc)) / (2 * a)
		} else {
			t = math.Inf(1) // a falling ramp that never reaches n before over
		}
		if t >= 0 && t <= over {
			return time.Duration(t * float64(time.Second))
		}
	}
	atOver := p.hits(p.over)
	if p.to <= 0 {
		return -1
	}
	return p.over + time.Duration((n-atOver)/p.to*float64(time.Second))
}

// Rate is the rate at elapsed, per second.
func (p rampPacer) Rate(elapsed time.Duration) float64 {
	if elapsed >= p.over || p.over <= 0 {
		return p.to
	}
	return p.from + (p.to-p.from)*elapsed.Seconds()/p.over.Seconds()
}

func (p rampPacer) hits(elapsed time.Duration) float64 {
	t := min(elapsed, p.over).Seconds()
	n := p.from*t + (p.to-p.from)*t*t/(2*p.over.Seconds())
	if elapsed > p.over {
		n += p.to * (elapsed - p.over).Seconds()
	}
	return n
}
