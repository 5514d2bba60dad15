package router

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"

	"github.com/drillhq/drill/harness/metrics"
	"github.com/drillhq/drill/injectors"
)

// backendKey carries the instance URL chosen for a request from ServeHTTP
// to rewrite, through the request's context.
type backendKey struct{}

// rewrite is the proxy's Rewrite: it sends the request to the backend
// ServeHTTP chose for it.
func rewrite(pr *httputil.ProxyRequest) {
	pr.SetURL(pr.In.Context().Value(backendKey{}).(*url.URL))
	pr.SetXForwarded()
}

// writerKey carries a request's *statusWriter to upstreamError through
// the request's context when response faults wrapped it, since the proxy
// then hands its ErrorHandler the outermost wrapper.
type writerKey struct{}

// ServeHTTP routes one request: it picks a version by the split, stamps
// the version and request ID headers, runs the faults installed for every
// version and for the chosen one in install order, and proxies to the
// version's instance unless a fault answered. When no fault answered, the
// faults that are injectors.ResponseFault wrap the writer the response is
// written through, in install order (the first installed wraps the
// router's own writer, the next wraps that, and so on), so the router
// still sees the status and the end of the body the client gets. It
// records the outcome under the version's label, with the status the
// client received and the latency from arrival to the end of the
// response, injected delay included. Until SetSplit names a baseline,
// requests are routed to the version "", which has no backend, and
// answered 503.
//
// Requests served through ServeHTTP count as arriving through the main
// listener: faults installed on a CallerPoint do not apply to them.
func (rt *Router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rt.handle(w, r, "", "", false)
}

// handle is ServeHTTP for a request that arrived through caller's
// listener ("" for the main one). With drawn, the fast path already chose
// the request's version before handing its connection over.
func (rt *Router) handle(w http.ResponseWriter, r *http.Request, caller, version string, drawn bool) {
	start := time.Now()
	cfg := rt.cfg.Load()
	// One draw per live request, whatever the split, so that the i-th
	// request of a run always gets the i-th number of the seeded sequence.
	switch {
	case drawn:
	case caller == previewCaller:
		version = cfg.preview
	default:
		version = cfg.choose(rt.draw())
	}
	backend := cfg.backends[version]
	inflight := rt.counter(version)
	inflight.Add(1)
	defer inflight.Add(-1)

	id := r.Header.Get(HeaderRequestID)
	if id == "" {
		id = newRequestID()
	}
	sw := &statusWriter{ResponseWriter: w, version: version, requestID: id}
	sw.stamp()

	// Handlers must not modify the request they are given, so the headers
	// the instance should see go on a copy.
	ctx := r.Context()
	if backend != nil {
		ctx = context.WithValue(ctx, backendKey{}, backend)
	}
	req := r.WithContext(ctx)
	req.Header = r.Header.Clone()
	if req.Header == nil {
		req.Header = http.Header{}
	}
	req.Header.Set(HeaderVersion, version)
	req.Header.Set(HeaderRequestID, id)

	// A request between services is counted under its (caller version,
	// served version) pair; the load generator's never are, so its path
	// pays one comparison.
	var pr pairing
	if caller != "" && caller != previewCaller {
		pr = rt.pair(r, caller, version, sw)
	}

	finished := false
	defer func() {
		// A panic, notably http.ErrAbortHandler when the proxy cannot
		// finish copying a response, leaves finished false: the client
		// got a broken response, which counts as a transport error.
		rt.record(version, sw, start, !finished)
		if pr.count != nil {
			rt.done(pr, sw, !finished)
		}
	}()
	rt.serve(sw, req, version, caller, backend)
	finished = true
}

func (rt *Router) serve(w *statusWriter, r *http.Request, version, caller string, backend *url.URL) {
	// One snapshot for both passes, so that a fault installed or removed
	// meanwhile cannot wrap a response it did not intercept.
	faults := *rt.faults.Load()
	w.inFault = true
	wraps := 0
	for _, in := range faults {
		if !in.applies(version, caller) {
			continue
		}
		if in.fault.Intercept(w, r) {
			if r.Context().Err() != nil {
				w.err = true // the client left while the fault held the request
			}
			return
		}
		if _, ok := in.fault.(injectors.ResponseFault); ok {
			wraps++
		}
	}
	w.inFault = false
	if r.Context().Err() != nil {
		// The client left during an injected delay: nothing to forward.
		w.err = true
		return
	}
	var out http.ResponseWriter = w
	if wraps > 0 {
		r = r.WithContext(context.WithValue(r.Context(), writerKey{}, w))
		for _, in := range faults {
			if rf, ok := in.fault.(injectors.ResponseFault); ok && in.applies(version, caller) {
				if ww := rf.Wrap(out, r); ww != nil {
					out = ww
				}
			}
		}
	}
	if backend == nil {
		http.Error(out, fmt.Sprintf("drill: %s has no backend for version %q", rt.service, version), http.StatusServiceUnavailable)
		return
	}
	rt.proxy.ServeHTTP(out, r)
}

// upstreamError is the proxy's ErrorHandler: the instance could not be
// reached, reset the connection, or the client gave up first.
func (rt *Router) upstreamError(w http.ResponseWriter, r *http.Request, err error) {
	sw, ok := w.(*statusWriter)
	if !ok {
		sw, ok = r.Context().Value(writerKey{}).(*statusWriter)
	}
	if ok {
		sw.err = true
	}
	http.Error(w, fmt.Sprintf("drill: %s version %q: %v", rt.service, r.Header.Get(HeaderVersion), err), http.StatusBadGateway)
}

func (rt *Router) record(version string, w *statusWriter, start time.Time, aborted bool) {
	if rt.rec == nil {
		return
	}
	o := metrics.Outcome{Status: w.status, Latency: time.Since(start), Err: w.err || aborted}
	if o.Status == 0 && !o.Err {
		o.Status = http.StatusOK // what net/http sends for a handler that wrote nothing
	}
	rt.recordOutcome(version, o, w.Header().Get(HeaderVariant))
}

// recordOutcome records o under version, and under each declared variant
// of vs, the response's X-Drill-Variant.
func (rt *Router) recordOutcome(version string, o metrics.Outcome, vs string) {
	if rt.rec == nil {
		return
	}
	rt.rec.Record(version, o)
	// The variants the instance says served the request: recorded under
	// their own labels too, when the drill declared them (the flags of its
	// scenario). A response a fault wrote has none.
	if vs != "" {
		for _, v := range strings.Split(vs, ",") {
			if v = strings.TrimSpace(v); strings.Contains(v, "=") {
				rt.rec.RecordDeclared(v, o)
			}
		}
	}
}

// newRequestID returns 16 random hex digits. It draws from the runtime's
// unseeded generator, not the split PRNG, so that IDs are unique across
// runs and do not shift the split sequence.
func newRequestID() string {
	const digits = "0123456789abcdef"
	var b [16]byte
	v := rand.Uint64()
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = digits[v&15]
		v >>= 4
	}
	return string(b[:])
}

// statusWriter captures the status the client receives and stamps the
// router's headers on every final response, whoever writes it: a fault,
// the proxy, or an error handler.
type statusWriter struct {
	http.ResponseWriter
	version, requestID string
	status             int  // the final status written, 0 before
	err                bool // the response failed in transport
	inFault            bool // a fault is acting on the request
	// tee, when a contract checks the request, keeps a copy of the body
	// the client receives (after every response fault); nil otherwise.
	tee *tee
}

// stamp sets the router's response headers, replacing any the instance
// sent, so that the client sees exactly one value of each.
func (w *statusWriter) stamp() {
	h := w.ResponseWriter.Header()
	h.Set(HeaderVersion, w.version)
	h.Set(HeaderRequestID, w.requestID)
}

// WriteHeader records the first final status. Informational (1xx)
// statuses pass through unrecorded; the proxy clears the header map after
// forwarding one, so stamping waits for the final status.
func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		w.status = code
		w.stamp()
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write writes body bytes, implying status 200 as net/http does.
func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	n, err := w.ResponseWriter.Write(b)
	if w.tee != nil {
		w.tee.write(b[:n])
	}
	return n, err
}

// FlushError sends buffered data to the client, so that streamed
// responses and faults that trickle bytes behave as without the router.
func (w *statusWriter) FlushError() error {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// Flush implements http.Flusher.
func (w *statusWriter) Flush() { _ = w.FlushError() }

// Hijack hands the connection to a fault that breaks it (a reset, a
// half-written response). The router cannot see what the client gets
// from then on, and faults hijack to break things, so a request hijacked
// by a fault before any status was written counts as a transport error.
// The proxy hijacks too, for protocol upgrades; those are not marked.
func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil && w.inFault && w.status == 0 {
		w.err = true
	}
	return conn, brw, err
}

// Unwrap lets http.ResponseController reach the connection's writer for
// deadlines and hijacking.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

var (
	_ http.Flusher  = (*statusWriter)(nil)
	_ http.Hijacker = (*statusWriter)(nil)
)
