// Package promexport serves a running drill's metrics to Prometheus
// (drill run --metrics ADDR): requests, errors and latency per service and
// version as the routers record them, the traffic split, which faults are
// active, the drill's phase and rollout step, the judges' verdicts and the
// operator's commands.
//
// It is a view for people watching a drill live, next to Grafana. The
// judge and the report never read it: they read the exact per-interval
// windows of harness/metrics, so what is exported here can be coarser
// (fixed histogram buckets) without changing any decision.
package promexport

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/drillhq/drill/harness/judge"
	"github.com/drillhq/drill/harness/metrics"
)

// latencyBuckets are the upper bounds, in seconds, of
// drill_request_duration_seconds: steps of 1-2.5-5 from 1 ms to 10 s. A
// fixture answering on loopback takes about a millisecond, so the low
// buckets still tell a healthy answer from a slowed one; a latency fault
// adds tens of milliseconds to seconds; 10 s is well above the load's
// default timeout (2 s), and anything slower still counts, in +Inf. Bounds
// 2 to 2.5 times apart keep histogram_quantile's interpolation within a
// bucket of the truth, which is enough to see a fault's step on a chart;
// the judge uses the exact HDR windows, never these.
var latencyBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// phases are the phases of a drill, in order; Phase sets one of them.
var phases = []string{"starting", "provisioning", "steady", "rollout", "rollback", "verify", "done"}

// verdicts are the judge's verdicts; Verdict sets one of them.
var verdicts = []string{string(judge.Continue), string(judge.Pause), string(judge.Rollback)}

// Exporter holds one `drill run` invocation's metrics; every drill of it
// reports under its scenario label.
type Exporter struct {
	reg     *prometheus.Registry
	handler http.Handler

	requests *prometheus.CounterVec
	errs     *prometheus.CounterVec
	duration *prometheus.HistogramVec
	split    *prometheus.GaugeVec
	fault    *prometheus.GaugeVec
	phase    *prometheus.GaugeVec
	step     *prometheus.GaugeVec
	operator *prometheus.CounterVec
	verdict  *prometheus.GaugeVec
}

// New returns an exporter with its own registry: only the drill's
// metrics, none of the process's, and none another package registered
// globally.
func New() *Exporter {
	e := &Exporter{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "drill_requests_total",
			Help: "Requests the drill's routers answered, by HTTP status (code 0: no complete answer).",
		}, []string{"scenario", "service", "version", "code"}),
		errs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "drill_request_errors_total",
			Help: "Requests that failed: a 5xx status or no complete answer.",
		}, []string{"scenario", "service", "version"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "drill_request_duration_seconds",
			Help:    "Request latency through the router, from arrival to the end of the response.",
			Buckets: latencyBuckets,
		}, []string{"scenario", "service", "version"}),
		split: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "drill_traffic_split_ratio",
			Help: "Share of a service's traffic the router sends to a version (0..1).",
		}, []string{"scenario", "service", "version"}),
		fault: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "drill_fault_active",
			Help: "1 while a fault is applied, 0 otherwise.",
		}, []string{"scenario", "fault", "kind", "target"}),
		phase: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "drill_phase",
			Help: "1 for the drill's current phase, 0 for the others.",
		}, []string{"scenario", "phase"}),
		step: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "drill_rollout_step",
			Help: "The rollout step the drill is in (0 before the first).",
		}, []string{"scenario"}),
		operator: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "drill_operator_commands_total",
			Help: "Operator commands that applied.",
		}, []string{"scenario", "command"}),
		verdict: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "drill_judge_verdict",
			Help: "1 for a service's latest judge verdict (continue, pause, rollback), 0 for the others.",
		}, []string{"scenario", "service", "verdict"}),
	}
	e.reg.MustRegister(e.requests, e.errs, e.duration, e.split, e.fault, e.phase, e.step, e.operator, e.verdict)
	e.handler = promhttp.HandlerFor(e.reg, promhttp.HandlerOpts{})
	return e
}

// Handler returns the handler serving the exporter's metrics in the
// Prometheus exposition format.
func (e *Exporter) Handler() http.Handler { return e.handler }

// shutdownTimeout bounds how long stop waits for scrapes in flight: a
// scraper stuck mid-response must not hold up the end of the drill.
const shutdownTimeout = 5 * time.Second

// Serve listens on addr and serves Handler at /metrics until stop is
// called; it returns the URL to scrape, http://HOST:PORT/metrics. addr
// must name a loopback host (127.0.0.1, ::1 or localhost; port 0 picks a
// free one): the metrics name the system under test's services and
// faults, and drill opens nothing beyond the machine it runs on. stop
// is idempotent.
func (e *Exporter) Serve(addr string) (url string, stop func() error, err error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", nil, fmt.Errorf("metrics address %q: %w", addr, err)
	}
	if !loopbackHost(host) {
		shown := host
		switch ip := net.ParseIP(host); {
		case host == "":
			shown = "every interface"
		case ip != nil && ip.IsUnspecified():
			shown = host + " (every interface)"
		}
		return "", nil, fmt.Errorf("metrics address %q: drill serves metrics only on a loopback address (127.0.0.1, ::1 or localhost), not on %s; try %s",
			addr, shown, net.JoinHostPort("127.0.0.1", port))
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("metrics: %w", err)
	}
	// localhost is a name: refuse it too if it resolved off the machine.
	if ta, ok := ln.Addr().(*net.TCPAddr); !ok || !ta.IP.IsLoopback() {
		_ = ln.Close()
		return "", nil, fmt.Errorf("metrics address %q: %s listens on %s, not a loopback address", addr, host, ln.Addr())
	}

	mux := http.NewServeMux()
	mux.Handle("GET /metrics", e.handler)
	// A client that never finishes its headers must not hold a connection
	// (and stop) forever.
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	stop = sync.OnceValue(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		err := srv.Shutdown(ctx)
		if err != nil {
			err = errors.Join(err, srv.Close())
		}
		if serr := <-served; !errors.Is(serr, http.ErrServerClosed) {
			err = errors.Join(serr, err)
		}
		if err != nil {
			return fmt.Errorf("metrics: stop: %w", err)
		}
		return nil
	})
	return "http://" + ln.Addr().String() + "/metrics", stop, nil
}

// loopbackHost reports whether host is localhost or a loopback IP. Other
// names are refused without being resolved.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Drill begins one drill's series, labelled scenario=scenario. A second
// Drill of the same scenario (the scenario run again) starts its gauges
// afresh — the last run's split, faults, phase, step and verdicts are
// dropped — while its counters keep counting, as Prometheus expects of a
// counter. Every phase starts at 0 until the first Phase.
func (e *Exporter) Drill(scenario string) *Drill {
	if e == nil {
		return nil // no --metrics: every method of a nil Drill does nothing
	}
	only := prometheus.Labels{"scenario": scenario}
	for _, g := range []*prometheus.GaugeVec{e.split, e.fault, e.phase, e.step, e.verdict} {
		g.DeletePartialMatch(only)
	}
	d := &Drill{
		requests: e.requests.MustCurryWith(only),
		errs:     e.errs.MustCurryWith(only),
		duration: e.duration.MustCurryWith(only),
		split:    e.split.MustCurryWith(only),
		fault:    e.fault.MustCurryWith(only),
		phase:    e.phase.MustCurryWith(only),
		operator: e.operator.MustCurryWith(only),
		verdict:  e.verdict.MustCurryWith(only),
		step:     e.step.WithLabelValues(scenario),
		verdicts: map[string]string{},
	}
	for _, p := range phases {
		d.phase.WithLabelValues(p).Set(0)
	}
	d.step.Set(0)
	return d
}

// Drill is one drill's series. Its methods are safe for concurrent use,
// and a nil *Drill does nothing, so a harness run without --metrics
// calls them all the same.
type Drill struct {
	// The exporter's vectors with the scenario label bound.
	requests *prometheus.CounterVec
	errs     *prometheus.CounterVec
	duration prometheus.ObserverVec
	split    *prometheus.GaugeVec
	fault    *prometheus.GaugeVec
	phase    *prometheus.GaugeVec
	operator *prometheus.CounterVec
	verdict  *prometheus.GaugeVec
	step     prometheus.Gauge

	// mu makes Phase and Verdict one-hot as a whole: two concurrent calls
	// must not leave two phases at 1.
	mu       sync.Mutex
	current  string            // the phase at 1, "" before the first Phase
	verdicts map[string]string // service → its verdict at 1
}

// Tap returns the function to install with Recorder.Tap on the router of
// service: it counts each outcome under the recorder's label as the
// version (a flag variant's label too), by status, and its latency.
// On a nil *Drill it returns nil, which Recorder.Tap takes as no tap.
func (d *Drill) Tap(service string) func(label string, o metrics.Outcome) {
	if d == nil {
		return nil
	}
	t := &tap{d: d, service: service}
	t.cache.Store(&map[tapKey]*tapSeries{})
	return t.record
}

// tapKey is what one request's series depend on.
type tapKey struct {
	version string
	code    int
}

// tapSeries are the series one tapKey's requests count in.
type tapSeries struct {
	requests prometheus.Counter
	errs     prometheus.Counter
	duration prometheus.Observer
}

// tap is one service's tap. Its cache is a map replaced whole on a miss:
// a service answers a handful of (version, code) pairs, so after the
// first few requests every request is one atomic load and one lookup in
// a map no one writes, instead of WithLabelValues hashing four label
// values and taking the vector's lock.
type tap struct {
	d       *Drill
	service string

	mu    sync.Mutex // serializes misses
	cache atomic.Pointer[map[tapKey]*tapSeries]
}

func (t *tap) record(label string, o metrics.Outcome) {
	code := o.Status
	if o.Err {
		// What the client got was no complete answer, whatever status
		// came before the reset: as the recorder counts it.
		code = 0
	}
	s := (*t.cache.Load())[tapKey{label, code}]
	if s == nil {
		s = t.miss(tapKey{label, code})
	}
	s.requests.Inc()
	if o.Failed() {
		s.errs.Inc()
	}
	s.duration.Observe(o.Latency.Seconds())
}

// miss adds k's series to the cache. Creating the version's error series
// with its first request, failed or not, makes it start at 0, so the
// first errors show as an increase rather than as a series appearing.
func (t *tap) miss(k tapKey) *tapSeries {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := *t.cache.Load()
	if s := old[k]; s != nil {
		return s
	}
	s := &tapSeries{
		requests: t.d.requests.WithLabelValues(t.service, k.version, strconv.Itoa(k.code)),
		errs:     t.d.errs.WithLabelValues(t.service, k.version),
		duration: t.d.duration.WithLabelValues(t.service, k.version),
	}
	next := make(map[tapKey]*tapSeries, len(old)+1)
	for kk, v := range old {
		next[kk] = v
	}
	next[k] = s
	t.cache.Store(&next)
	return s
}

// Split records the share of service's traffic the router sends to
// version, clamped to 0..1 as the router clamps it (NaN is 0).
func (d *Drill) Split(service, version string, weight float64) {
	if d == nil {
		return
	}
	if math.IsNaN(weight) {
		weight = 0
	}
	d.split.WithLabelValues(service, version).Set(min(max(weight, 0), 1))
}

// Fault records whether the fault called name, of kind on target, is
// applied. With game_day.hidden_faults the harness does not call it until
// the drill ends, so the faults stay hidden from the dashboard too.
func (d *Drill) Fault(name, kind, target string, active bool) {
	if d == nil {
		return
	}
	v := 0.0
	if active {
		v = 1
	}
	d.fault.WithLabelValues(name, kind, target).Set(v)
}

// Phase records the drill's current phase (starting, provisioning,
// steady, rollout, rollback, verify or done): it is 1, every other 0.
func (d *Drill) Phase(phase string) {
	if d == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	oneHot(d.phase, phases, d.current, phase)
	d.current = phase
}

// Step records the rollout step the drill is in.
func (d *Drill) Step(n int) {
	if d == nil {
		return
	}
	d.step.Set(float64(n))
}

// Operator counts an operator command that applied (a refused one is not
// counted).
func (d *Drill) Operator(command string) {
	if d == nil {
		return
	}
	d.operator.WithLabelValues(command).Inc()
}

// Verdict records service's judge's latest verdict (continue, pause or
// rollback): it is 1, the others 0.
func (d *Drill) Verdict(service, verdict string) {
	if d == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	oneHot(d.verdict.MustCurryWith(prometheus.Labels{"service": service}), verdicts, d.verdicts[service], verdict)
	d.verdicts[service] = verdict
}

// oneHot sets g's series of on to 1 and those of known and of prev (which
// may be outside known) to 0. The 0s go first: a scrape in between sees
// no value at 1 for an instant, never two.
func oneHot(g *prometheus.GaugeVec, known []string, prev, on string) {
	for _, v := range known {
		if v != on {
			g.WithLabelValues(v).Set(0)
		}
	}
	if prev != "" && prev != on {
		g.WithLabelValues(prev).Set(0)
	}
	g.WithLabelValues(on).Set(1)
}
