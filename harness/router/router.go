// Package router is the HTTP router drill puts in front of every service.
// Every request to the service, from the load generator or from another
// service, goes through it, so that one place decides the canary split,
// applies HTTP faults, and records what each version's clients saw.
package router

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/drillhq/drill/harness/contract"
	"github.com/drillhq/drill/harness/metrics"
	"github.com/drillhq/drill/injectors"
)

// Headers the router reads and writes.
const (
	// HeaderVersion names the version a request was routed to; it is set
	// on the request to the instance and on the response to the client.
	HeaderVersion = "X-Drill-Version"
	// HeaderRequestID carries a request's ID from the client, through the
	// instance, and back. The router makes one up when the client sent
	// none.
	HeaderRequestID = "X-Request-ID"
	// HeaderVariant is set by an instance on its response to name the
	// feature-flag variants that served the request ("flag=variant", several
	// comma-separated). The router records the request under each
	// "flag=variant" label as well as under its version, so a flag rollout
	// is judged variant against variant.
	HeaderVariant = "X-Drill-Variant"
)

// previewCaller tags requests that arrived through the preview listener
// (PreviewURL). It cannot be a service name, so no caller fault applies.
const previewCaller = "(preview)"

const (
	// MaxIdleConnsPerHost bounds the kept-alive connections to one
	// instance. Load runs at hundreds of requests per second with high
	// concurrency under latency faults; Go's default of 2 would open and
	// close a connection for most requests and measure that instead.
	MaxIdleConnsPerHost = 256
	// closeTimeout bounds how long Close waits for the handlers of
	// requests in flight once it has aborted them.
	closeTimeout = 5 * time.Second
)

// Router splits a service's traffic between its versions, applies the
// faults installed on it, and records every request's outcome per version.
// Its methods are safe for concurrent use; configuration changes take
// effect for the next request.
type Router struct {
	service   string
	rec       *metrics.Recorder
	proxy     *httputil.ReverseProxy
	transport http.RoundTripper
	// own is the transport New built, whose idle connections Close
	// closes; nil when the caller supplied one with WithTransport.
	own *http.Transport
	// noFast turns the fast path (fast.go) off: every connection is
	// served by net/http. It is off with WithTransport, whose transport
	// the fast path would bypass.
	noFast bool

	// rngMu guards rng: one draw per request, in arrival order, so that a
	// run with the same seed and the same requests splits the same way.
	rngMu sync.Mutex
	rng   *rand.Rand

	// Configuration is copy-on-write: requests load it without locking,
	// writers (serialized by cfgMu) publish a new one.
	cfgMu  sync.Mutex
	cfg    atomic.Pointer[config]
	faults atomic.Pointer[[]*installed]

	// inflight counts requests being served per version (*atomic.Int64),
	// so an instance is stopped only once nothing is on its way to it.
	inflight sync.Map

	// pairs counts the requests between services per pairKey
	// (*pairCount); see Pairs.
	pairs sync.Map
	// contracts are the contracts SetContracts installed, copy-on-write;
	// observed counts their live checks per obsKey (*observation).
	contracts atomic.Pointer[[]*contract.Contract]
	observed  sync.Map

	lifeMu sync.Mutex
	// servers are the main listener's server (once started) and one per
	// caller, all serving the same routing, faults and recording.
	servers []*server
	started bool
	// callers maps a caller to the base URL of its own listener.
	callers map[string]string
	// handlers lets Close wait until every outcome has been recorded.
	handlers gate
	// base is the parent of every request's context, so that Close can
	// abort requests a fault is holding; cancel cancels it.
	base    context.Context
	cancel  context.CancelFunc
	baseURL string
	closed  bool

	// fastMu guards fastConns and fastClosed: the client connections the
	// fast path serves, for Close and sweepUpstreams; fastWG counts their
	// goroutines.
	fastMu     sync.Mutex
	fastConns  map[*fastConn]struct{}
	fastClosed bool
	fastWG     sync.WaitGroup
	// watchStop stops watchClients, which closes watchDone.
	watchStop, watchDone chan struct{}

	// poolMu guards pool, the fast path's idle upstream connections per
	// backend (by identity), and poolClosed.
	poolMu     sync.Mutex
	pool       map[*url.URL][]*upConn
	poolClosed bool
}

// server is one listener of the router and the server on it.
type server struct {
	srv    *http.Server
	served chan struct{} // closed when Serve returns
	// With the fast path, ln is the listener its accept loop serves
	// (accepted is closed when that returns), and srv serves only the
	// connections handed to it through handoff.
	ln       net.Listener
	handoff  *chanListener
	accepted chan struct{}
}

// config is one immutable generation of the router's routing table.
type config struct {
	backends map[string]*url.URL // version → instance base URL
	baseline string
	canary   string  // "" when there is no canary
	weight   float64 // the canary's share, 0..1
	// preview is the version the preview listener sends every request to
	// (blue-green's green before the switch); "" when none.
	preview string
}

// choose returns the version of a request given its draw u in [0, 1).
func (c *config) choose(u float64) string {
	if c.canary != "" && u < c.weight {
		return c.canary
	}
	return c.baseline
}

// Option configures a Router.
type Option func(*Router)

// WithSeed seeds the PRNG that decides the weighted split. Without it the
// seed is 0: a router is reproducible by default, never seeded by the
// clock.
func WithSeed(seed int64) Option {
	return func(rt *Router) { rt.rng = newRand(seed) }
}

// WithTransport sends upstream requests through t instead of the router's
// own keep-alive transport. The caller keeps ownership of t: Close does
// not close its idle connections. Every request then goes through
// net/http's server and t: the fast path, which has its own upstream
// connections, is off.
func WithTransport(t http.RoundTripper) Option {
	return func(rt *Router) { rt.transport, rt.own, rt.noFast = t, nil, true }
}

func newRand(seed int64) *rand.Rand {
	// The constant second word keeps this stream apart from other PRNGs a
	// drill seeds with the same scenario seed.
	return rand.New(rand.NewPCG(uint64(seed), 0x6472696c6c2d7274)) // "drill-rt"
}

// New returns a router for service that records into rec (nil records
// nothing). It routes nothing until SetBackend and SetSplit say where to,
// and serves nothing until Start.
func New(service string, rec *metrics.Recorder, opts ...Option) *Router {
	own := newTransport()
	rt := &Router{
		service:   service,
		rec:       rec,
		transport: own,
		own:       own,
		rng:       newRand(0),
	}
	for _, o := range opts {
		o(rt)
	}
	rt.cfg.Store(&config{backends: map[string]*url.URL{}})
	rt.faults.Store(&[]*installed{})
	rt.contracts.Store(&[]*contract.Contract{})
	rt.proxy = &httputil.ReverseProxy{
		Rewrite:      rewrite,
		Transport:    rt.transport,
		ErrorHandler: rt.upstreamError,
		BufferPool:   buffers,
		// Upstream failures are outcomes the drill provokes on purpose
		// and records as metrics; logging each one would bury the
		// operator's terminal.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	return rt
}

// buffers lends the proxy its body-copy buffers; without a pool it
// allocates 32 KiB per request, which at drill's request rates is most of
// the router's garbage.
var buffers = &bufferPool{}

type bufferPool struct{ p sync.Pool }

func (bp *bufferPool) Get() []byte {
	if b, ok := bp.p.Get().(*[]byte); ok {
		return *b
	}
	return make([]byte, 32<<10)
}

func (bp *bufferPool) Put(b []byte) { bp.p.Put(&b) }

func newTransport() *http.Transport {
	return &http.Transport{
		// Instances are on loopback or the drill's own network: an
		// HTTP_PROXY from the environment must not capture them.
		Proxy: nil,
		DialContext: (&net.Dialer{
			Timeout:   5 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		MaxIdleConns:        4 * MaxIdleConnsPerHost,
		MaxIdleConnsPerHost: MaxIdleConnsPerHost,
		IdleConnTimeout:     90 * time.Second,
		// A proxy passes bodies through as they are: transparent gzip
		// would change what the client receives.
		DisableCompression: true,
	}
}

// Service returns the name of the service the router is in front of.
func (rt *Router) Service() string { return rt.service }

// Start listens on a free loopback port and serves until Close. ctx
// bounds only the start itself: a router must outlive a cancelled run,
// since rollback and verification still send traffic through it.
func (rt *Router) Start(ctx context.Context) (baseURL string, err error) {
	rt.lifeMu.Lock()
	defer rt.lifeMu.Unlock()
	if rt.closed {
		return "", fmt.Errorf("start router %q: already closed", rt.service)
	}
	if rt.started {
		return "", fmt.Errorf("start router %q: already started at %s", rt.service, rt.baseURL)
	}
	u, err := rt.listen(ctx, "")
	if err != nil {
		return "", fmt.Errorf("start router %q: %w", rt.service, err)
	}
	rt.started, rt.baseURL = true, u
	return u, nil
}

// CallerURL returns the base URL of a listener of the router reserved for
// the calls caller makes to the service, starting it on a free loopback
// port on first use; later calls return the same URL. Its requests are
// routed, faulted and recorded exactly like those to the main listener,
// and in addition meet the faults installed on CallerPoint(caller). Hand
// the URL to caller as its address of the service, and a partition can cut
// that one caller off. It works before Start too; Close stops it.
func (rt *Router) CallerURL(caller string) (string, error) {
	if caller == "" {
		return "", fmt.Errorf("router %q: caller listener: empty caller name", rt.service)
	}
	rt.lifeMu.Lock()
	defer rt.lifeMu.Unlock()
	if rt.closed {
		return "", fmt.Errorf("router %q: caller listener for %q: already closed", rt.service, caller)
	}
	if u, ok := rt.callers[caller]; ok {
		return u, nil
	}
	u, err := rt.listen(context.Background(), caller)
	if err != nil {
		return "", fmt.Errorf("router %q: caller listener for %q: %w", rt.service, caller, err)
	}
	if rt.callers == nil {
		rt.callers = map[string]string{}
	}
	rt.callers[caller] = u
	return u, nil
}

// listen starts serving on a new loopback listener; requests arriving
// there are tagged with caller ("" for the main listener). rt.lifeMu must
// be held.
func (rt *Router) listen(ctx context.Context, caller string) (string, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	if rt.base == nil {
		// Every request's context derives from base, so that Close can
		// abort requests a fault is holding instead of waiting them out.
		rt.base, rt.cancel = context.WithCancel(context.Background())
	}
	base := rt.base
	s := &server{
		srv: &http.Server{
			Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if !rt.handlers.enter() {
					// Read just before Close closed the connection, which
					// makes this answer moot; it is not recorded, as the
					// windows were final once Close began.
					http.Error(w, "drill: router closed", http.StatusServiceUnavailable)
					return
				}
				defer rt.handlers.leave()
				version, drawn := "", false
				if hc, ok := r.Context().Value(handedKey{}).(*handedConn); ok {
					version, drawn = hc.takeDraw()
				}
				rt.handle(w, r, caller, version, drawn)
			}),
			BaseContext:       func(net.Listener) context.Context { return base },
			ConnContext:       handedContext,
			ReadHeaderTimeout: readHeaderTimeout,
		},
		served: make(chan struct{}),
	}
	rt.servers = append(rt.servers, s)
	if rt.noFast {
		go func() {
			defer close(s.served)
			_ = s.srv.Serve(ln) // always ErrServerClosed after Close
		}()
		return "http://" + ln.Addr().String(), nil
	}
	s.ln, s.handoff, s.accepted = ln, newChanListener(ln.Addr()), make(chan struct{})
	go func() {
		defer close(s.served)
		_ = s.srv.Serve(s.handoff)
	}()
	go rt.accept(s, caller)
	if rt.watchStop == nil {
		rt.watchStop, rt.watchDone = make(chan struct{}), make(chan struct{})
		go rt.watchClients(rt.watchStop, rt.watchDone)
	}
	return "http://" + ln.Addr().String(), nil
}

// Close stops serving on every listener (the main one and the callers'),
// aborts requests in flight (they are recorded as transport errors), waits
// for their handlers to finish so that every outcome has been recorded,
// and closes idle upstream connections. It is safe to call more than
// once, and before Start.
func (rt *Router) Close() error {
	rt.lifeMu.Lock()
	defer rt.lifeMu.Unlock()
	if rt.closed {
		return nil
	}
	rt.closed = true
	var err error
	if len(rt.servers) > 0 {
		// Not srv.Shutdown: it waits up to 5 s for any connection a client
		// opened without sending a request yet, and in-flight requests are
		// to be aborted anyway. Cancelling first lets faults that hold a
		// request return at once.
		rt.cancel()
		for _, s := range rt.servers {
			if s.ln != nil {
				err = errors.Join(err, s.ln.Close())
				<-s.accepted
			}
		}
		// Shutting the fast connections and their upstream connections
		// makes their requests end as transport errors, like those
		// net/http's Close aborts.
		rt.closeFast()
		for _, s := range rt.servers {
			err = errors.Join(err, s.srv.Close())
		}
		for _, s := range rt.servers {
			<-s.served
		}
		timeout := time.NewTimer(closeTimeout)
		defer timeout.Stop()
		select {
		case <-rt.handlers.close():
		case <-timeout.C:
			// A fault that ignores its request's context still holds a
			// handler; teardown must not hang on it.
			err = errors.Join(err, fmt.Errorf("%d requests still in flight after %v", rt.handlers.count(), closeTimeout))
		}
		fastDone := make(chan struct{})
		go func() {
			rt.fastWG.Wait()
			close(fastDone)
		}()
		select {
		case <-fastDone:
		case <-timeout.C:
			err = errors.Join(err, fmt.Errorf("fast-path connections still open after %v", closeTimeout))
		}
		if rt.watchStop != nil {
			close(rt.watchStop)
			<-rt.watchDone
		}
		if err != nil {
			err = fmt.Errorf("close router %q: %w", rt.service, err)
		}
	}
	rt.closePool()
	if rt.own != nil {
		rt.own.CloseIdleConnections()
	}
	return err
}

// SetBackend points version at the instance serving rawURL (for example
// "http://127.0.0.1:41234"), replacing any earlier backend of version.
func (rt *Router) SetBackend(version, rawURL string) error {
	if version == "" {
		return fmt.Errorf("router %q: set backend: empty version", rt.service)
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("router %q: set backend %s: %w", rt.service, version, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("router %q: set backend %s: %q is not an http(s)://host[:port] URL", rt.service, version, rawURL)
	}
	rt.update(func(c *config) { c.backends[version] = u })
	rt.sweepUpstreams()
	if rt.rec != nil {
		rt.rec.Declare(version)
	}
	return nil
}

// RemoveBackend forgets the instance of version; requests routed to it are
// answered 503 from then on. Removing an unknown version does nothing.
func (rt *Router) RemoveBackend(version string) {
	rt.update(func(c *config) { delete(c.backends, version) })
	rt.sweepUpstreams()
}

// SetSplit sends the share canaryWeight (0..1, clamped) of requests to
// canary and the rest to baseline. An empty canary sends everything to
// baseline, which is how a rollback routes 100% back.
func (rt *Router) SetSplit(baseline, canary string, canaryWeight float64) {
	switch {
	case math.IsNaN(canaryWeight) || canaryWeight < 0:
		canaryWeight = 0
	case canaryWeight > 1:
		canaryWeight = 1
	}
	if canary == "" {
		canaryWeight = 0
	}
	rt.update(func(c *config) { c.baseline, c.canary, c.weight = baseline, canary, canaryWeight })
	if rt.rec != nil {
		// Declared so that a version without traffic shows as zero
		// windows, not as a missing series.
		for _, v := range []string{baseline, canary} {
			if v != "" {
				rt.rec.Declare(v)
			}
		}
	}
}

// Split returns the current split as SetSplit last set it (after
// clamping).
func (rt *Router) Split() (baseline, canary string, weight float64) {
	c := rt.cfg.Load()
	return c.baseline, c.canary, c.weight
}

// SetPreview makes version the target of every request to the preview
// listener (see PreviewURL), whatever the split: Argo Rollouts' preview
// service, which reaches green before any user does. "" stops it: preview
// requests are then answered 503.
func (rt *Router) SetPreview(version string) {
	rt.update(func(c *config) { c.preview = version })
	if rt.rec != nil && version != "" {
		rt.rec.Declare(version)
	}
}

// PreviewURL returns the base URL of the router's preview listener,
// starting it on a free loopback port on first use. Its requests go to the
// version SetPreview named, are faulted like every request to that version,
// and are recorded under its label, so the judge compares them with the
// live traffic's. They draw nothing from the split's PRNG: a preview does
// not shift the live split's sequence.
func (rt *Router) PreviewURL() (string, error) {
	return rt.CallerURL(previewCaller)
}

// update publishes a modified copy of the configuration.
func (rt *Router) update(modify func(*config)) {
	rt.cfgMu.Lock()
	defer rt.cfgMu.Unlock()
	old := rt.cfg.Load()
	c := &config{
		backends: make(map[string]*url.URL, len(old.backends)+1),
		baseline: old.baseline,
		canary:   old.canary,
		weight:   old.weight,
		preview:  old.preview,
	}
	for v, u := range old.backends {
		c.backends[v] = u
	}
	modify(c)
	rt.cfg.Store(c)
}

// draw returns the next number in [0, 1) of the split PRNG.
func (rt *Router) draw() float64 {
	rt.rngMu.Lock()
	defer rt.rngMu.Unlock()
	return rt.rng.Float64()
}

// installed is one fault on the router, for every version ("") or one,
// and for every caller ("") or the requests of one caller's listener.
type installed struct {
	version string
	caller  string
	fault   injectors.HTTPFault
}

// applies reports whether the fault acts on a request routed to version
// that arrived through caller's listener ("" for the main one).
func (in *installed) applies(version, caller string) bool {
	return (in.version == "" || in.version == version) && (in.caller == "" || in.caller == caller)
}

// Point returns the fault point for the requests routed to version, or
// for every request of the service when version is "", whichever listener
// they arrived through. Faults may be installed before the version has a
// backend.
func (rt *Router) Point(version string) injectors.HTTPPoint {
	return point{rt: rt, version: version}
}

// CallerPoint returns the fault point for the requests that arrive through
// caller's listener (see CallerURL), whichever version they are routed
// to; the requests of other callers and of the main listener never meet
// its faults. This is the point of a partition between caller and the
// service. Faults may be installed before the listener is started. An
// empty caller is the same as Point("").
func (rt *Router) CallerPoint(caller string) injectors.HTTPPoint {
	return point{rt: rt, caller: caller}
}

type point struct {
	rt      *Router
	version string
	caller  string
}

var _ injectors.HTTPPoint = point{}

// Install adds f after the faults already installed on the router; faults
// run in install order, and those that are injectors.ResponseFault wrap
// the response writer in that order too (see ServeHTTP). The returned function removes f and may be called
// any number of times.
func (p point) Install(f injectors.HTTPFault) (remove func()) {
	if f == nil {
		return func() {}
	}
	in := &installed{version: p.version, caller: p.caller, fault: f}
	p.rt.editFaults(func(fs []*installed) []*installed { return append(fs, in) })
	var once sync.Once
	return func() {
		once.Do(func() {
			p.rt.editFaults(func(fs []*installed) []*installed {
				for i, x := range fs {
					if x == in { // by identity: the same fault may be installed twice
						return slices.Delete(fs, i, i+1)
					}
				}
				return fs
			})
		})
	}
}

// editFaults publishes a new fault list; the slice handed to edit is a
// private copy, so requests iterating the old one are unaffected.
func (rt *Router) editFaults(edit func([]*installed) []*installed) {
	rt.cfgMu.Lock()
	defer rt.cfgMu.Unlock()
	old := *rt.faults.Load()
	fs := edit(append([]*installed(nil), old...))
	rt.faults.Store(&fs)
}

func (rt *Router) counter(version string) *atomic.Int64 {
	if c, ok := rt.inflight.Load(version); ok {
		return c.(*atomic.Int64)
	}
	c, _ := rt.inflight.LoadOrStore(version, new(atomic.Int64))
	return c.(*atomic.Int64)
}

// InFlight returns how many requests routed to version are being served.
func (rt *Router) InFlight(version string) int64 { return rt.counter(version).Load() }

// WaitIdle waits until no request routed to version is in flight, or ctx
// ends. Call it after moving traffic away and before stopping the
// instance, so that no acknowledged request is cut off mid-way.
func (rt *Router) WaitIdle(ctx context.Context, version string) error {
	c := rt.counter(version)
	for c.Load() > 0 {
		t := time.NewTimer(5 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}
