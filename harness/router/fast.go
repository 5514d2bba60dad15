package router

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/drillhq/drill/harness/metrics"
)

// The fast path forwards plain HTTP/1.1 requests without net/http's server
// and Transport: one goroutine per client connection reads a request, writes
// it to an upstream connection pinned to that client connection for the
// chosen version, reads the response and writes it back, the headers as the
// bytes they arrived as, less the hop-by-hop ones, plus the router's. Its
// cost is the four system calls a TCP proxy pays and a head scan; what net/http
// adds (goroutine hand-offs between the server's connection loop, the
// Transport's read and write loops and the handler, header maps and their
// clones) was most of the router's time per request (issue 18).
//
// Whatever the fast path cannot forward with certainty it leaves to
// net/http: before a request's head is consumed, the connection is handed
// to an http.Server (the same handler as ever: faults, ReverseProxy) and
// stays there. That covers requests to a version that has faults
// installed, requests matching a contract on a caller listener, HTTP/1.0,
// Upgrade, CONNECT, Expect, chunked or large request bodies, heads net/http
// would refuse or normalise, and heads larger than the read buffer.

const (
	// maxFastBody bounds the request bodies the fast path forwards; it
	// writes the whole body before reading the response, which an instance
	// answering early could otherwise stall.
	maxFastBody = 64 << 10
	// clientReadBuffer bounds the request heads the fast path reads; a
	// larger one goes to net/http (up to http.DefaultMaxHeaderBytes).
	clientReadBuffer  = 4 << 10
	clientWriteBuffer = 4 << 10
	// readHeaderTimeout is the http.Server's ReadHeaderTimeout, applied by
	// the fast path from a head's first byte as net/http does.
	readHeaderTimeout = 30 * time.Second
	// watchAfter is how long a request waits for its instance before the
	// router watches its client for leaving (net/http's background read,
	// which costs a goroutine per request, only for slow answers).
	watchAfter = 10 * time.Millisecond
	// lingerTimeout bounds how long a connection closed after a response
	// (Connection: close) waits for the client's FIN, so that unread bytes
	// do not turn the close into a reset that could lose the response.
	lingerTimeout = 500 * time.Millisecond
	// max1xx bounds the informational responses forwarded for one request,
	// as http.Transport does.
	max1xx = 5
)

var aLongTimeAgo = time.Unix(1, 0)

// testHookAfterRelay, when set (by tests only), runs after a response was
// relayed and before the request is recorded.
var testHookAfterRelay func(fc *fastConn)

// errClosed reports a fast connection shut down by Router.Close.
var errClosed = errors.New("router closed")

// fastConn is one client connection served by the fast path.
type fastConn struct {
	rt     *Router
	s      *server
	caller string
	c      net.Conn
	cr     clientReader
	br     *bufio.Reader
	bw     *bufio.Writer
	// clientIP is the X-Forwarded-For value, "" when the remote address
	// has no host:port form (as SetXForwarded then sends none).
	clientIP string

	// mu guards ups, inUse and closed against Close and sweepUpstreams.
	mu     sync.Mutex
	closed bool
	ups    []*upConn // pinned upstream connections, at most one per version
	inUse  *upConn

	// waitSince is the arrival (Unix ns) of the request waiting for its
	// instance, 0 when none is, -1 once the scanner started watching the
	// client (watchClient). cur is the upstream connection it waits on,
	// set before waitSince.
	waitSince atomic.Int64
	cur       *upConn
	watchDone chan struct{}
	// gone is set by watchClient when the client left.
	gone atomic.Bool

	head reqHead
	res  resHead
	id   []byte // the request ID, copied out of the head
	tmp  []byte // scratch for numbers and dates
}

// clientReader reads the client connection, first the byte watchClient
// read ahead, if any.
type clientReader struct {
	c       net.Conn
	pending int // -1 or the byte read ahead
}

func (r *clientReader) Read(p []byte) (int, error) {
	if r.pending >= 0 && len(p) > 0 {
		p[0] = byte(r.pending)
		r.pending = -1
		return 1, nil
	}
	return r.c.Read(p)
}

// accept runs the fast path's accept loop of s until its listener closes.
func (rt *Router) accept(s *server, caller string) {
	defer close(s.accepted)
	var backoff time.Duration
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off and retry,
			// as http.Server does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		fc := &fastConn{rt: rt, s: s, caller: caller, c: c, watchDone: make(chan struct{}, 1)}
		if !rt.addFast(fc) {
			c.Close()
			continue
		}
		go fc.serve()
	}
}

// addFast registers fc, so that Close and sweepUpstreams find it; false
// once the router is closing.
func (rt *Router) addFast(fc *fastConn) bool {
	rt.fastMu.Lock()
	defer rt.fastMu.Unlock()
	if rt.fastClosed {
		return false
	}
	if rt.fastConns == nil {
		rt.fastConns = map[*fastConn]struct{}{}
	}
	rt.fastConns[fc] = struct{}{}
	rt.fastWG.Add(1)
	return true
}

func (rt *Router) removeFast(fc *fastConn) {
	rt.fastMu.Lock()
	delete(rt.fastConns, fc)
	rt.fastMu.Unlock()
	rt.fastWG.Done()
}

// closeFast shuts every fast connection (and its upstream connections),
// which makes their goroutines record what they were doing as transport
// errors and return; later connections are refused.
func (rt *Router) closeFast() {
	rt.fastMu.Lock()
	rt.fastClosed = true
	for fc := range rt.fastConns {
		fc.shutdown()
	}
	rt.fastMu.Unlock()
}

func (fc *fastConn) shutdown() {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	fc.closed = true
	fc.c.Close()
	for _, up := range fc.ups {
		up.c.Close()
	}
}

// watchClients starts a client watch (watchClient) for every request that
// has waited for its instance longer than watchAfter, until stop closes.
// Polling keeps the common, fast request free of any per-request timer or
// goroutine.
func (rt *Router) watchClients(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(watchAfter)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			cut := now.Add(-watchAfter).UnixNano()
			rt.fastMu.Lock()
			for fc := range rt.fastConns {
				if ws := fc.waitSince.Load(); ws > 0 && ws < cut && fc.waitSince.CompareAndSwap(ws, -1) {
					go fc.watchClient(fc.cur)
				}
			}
			rt.fastMu.Unlock()
		}
	}
}

// watchClient reads the client connection while its request waits for
// up: EOF or an error means the client left, and the request is aborted
// by closing up, as net/http cancels a request's context. A byte read is
// the next request, pipelined, kept for the connection's reader. endWait
// stops the read with a past deadline.
func (fc *fastConn) watchClient(up *upConn) {
	var b [1]byte
	n, err := fc.c.Read(b[:])
	switch {
	case n == 1:
		fc.cr.pending = int(b[0])
	case err != nil && !errors.Is(err, os.ErrDeadlineExceeded):
		fc.gone.Store(true)
		up.c.Close()
	}
	fc.watchDone <- struct{}{}
}

// startWait marks the request arrived at start as waiting for up. The
// watch threshold counts from the arrival, which saves reading the clock
// again.
func (fc *fastConn) startWait(up *upConn, start time.Time) {
	fc.cur = up
	fc.waitSince.Store(start.UnixNano())
}

// errClientGone ends a request whose client left while it waited.
var errClientGone = errors.New("the client left before the answer")

// answerArrived ends the wait when the instance's answer starts, before
// any of it is written to the client, and reports whether the client had
// left. From here on a client that leaves is seen by the writes that
// fail, as net/http sees it: a watch still running past the response's
// last byte would take a client that read it all and closed its
// connection (Connection: close) for one that gave up, and record a
// failure the client never had.
func (fc *fastConn) answerArrived() bool {
	fc.endWait()
	return fc.gone.Load()
}

// endWait ends a wait, stopping the client watch if one started; a
// second call is a no-op.
func (fc *fastConn) endWait() {
	if fc.waitSince.Swap(0) == -1 {
		_ = fc.c.SetReadDeadline(aLongTimeAgo)
		<-fc.watchDone
		_ = fc.c.SetReadDeadline(time.Time{})
	}
	fc.cur = nil
}

// serve is a client connection's goroutine: requests one after the other
// until the client leaves, a request needs net/http, or Close.
func (fc *fastConn) serve() {
	rt := fc.rt
	defer rt.removeFast(fc)
	fc.cr = clientReader{c: fc.c, pending: -1}
	fc.br = bufio.NewReaderSize(&fc.cr, clientReadBuffer)
	fc.bw = bufio.NewWriterSize(fc.c, clientWriteBuffer)
	if host, _, err := net.SplitHostPort(fc.c.RemoteAddr().String()); err == nil {
		fc.clientIP = host
	}
	handed := false
	defer func() {
		fc.releaseUpstreams()
		if !handed {
			fc.c.Close()
		}
	}()
	for {
		st, err := fc.readHead()
		if err != nil {
			return
		}
		if st == headRefused {
			handed = true
			fc.handOff("", false)
			return
		}
		start := time.Now()
		h := &fc.head
		if fc.caller != "" && fc.caller != previewCaller && rt.contractMatches(fc.caller, h) {
			handed = true
			fc.handOff("", false)
			return
		}
		cfg := rt.cfg.Load()
		var version string
		if fc.caller == previewCaller {
			version = cfg.preview
		} else {
			version = cfg.choose(rt.draw())
		}
		backend := cfg.backends[version]
		if rt.faulted(version, fc.caller) || (backend != nil && !fastBackend(backend)) {
			// The draw is made: net/http's handler uses it for this
			// request instead of drawing again.
			handed = true
			fc.handOff(version, true)
			return
		}
		if !rt.handlers.enter() {
			return // closing: as a request net/http read just before Close
		}
		keep := fc.exchange(h, start, version, backend)
		rt.handlers.leave()
		if !keep {
			return
		}
		if h.closeConn {
			fc.linger()
			return
		}
	}
}

// readHead waits for the next request head in the read buffer without
// consuming it. Idle connections wait without a deadline (the server sets
// no IdleTimeout); once a head has started and is not all there, the rest
// must come within readHeaderTimeout.
func (fc *fastConn) readHead() (headStatus, error) {
	if _, err := fc.br.Peek(1); err != nil {
		return 0, err
	}
	deadline := false
	defer func() {
		if deadline {
			_ = fc.c.SetReadDeadline(time.Time{})
		}
	}()
	for {
		buf, _ := fc.br.Peek(fc.br.Buffered())
		if st := parseRequestHead(buf, &fc.head, maxFastBody); st != headMore {
			return st, nil
		}
		if len(buf) == fc.br.Size() {
			return headRefused, nil
		}
		if !deadline {
			deadline = true
			if err := fc.c.SetReadDeadline(time.Now().Add(readHeaderTimeout)); err != nil {
				return 0, err
			}
		}
		if _, err := fc.br.Peek(len(buf) + 1); err != nil {
			return 0, err
		}
	}
}

// linger ends a connection whose client asked for Connection: close: the
// response is flushed, the write side closed, and the client's FIN
// awaited briefly (what net/http's closeWriteAndWait is for).
func (fc *fastConn) linger() {
	if cw, ok := fc.c.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
		_ = fc.c.SetReadDeadline(time.Now().Add(lingerTimeout))
		// Not io.Copy, whose 32 KiB buffer would be garbage for every
		// client that closes after each request.
		var b [256]byte
		for {
			if _, err := fc.c.Read(b[:]); err != nil {
				break
			}
		}
	}
}

// handOff gives the connection to the listener's http.Server, the head
// still unread; with drawn, the request's version is already chosen.
// From then on the connection is net/http's to serve and close.
func (fc *fastConn) handOff(version string, drawn bool) {
	fc.releaseUpstreams()
	hc := &handedConn{Conn: fc.c, fc: fc, version: version}
	hc.drawn.Store(drawn)
	fc.s.handoff.hand(hc)
}

// releaseUpstreams returns the pinned upstream connections to the pool.
func (fc *fastConn) releaseUpstreams() {
	fc.mu.Lock()
	ups, closed := fc.ups, fc.closed
	fc.ups = nil
	fc.mu.Unlock()
	for _, up := range ups {
		if closed {
			up.c.Close()
		} else {
			fc.rt.putIdle(up)
		}
	}
}

// faulted reports whether any fault applies to a request to version
// arriving through caller's listener.
func (rt *Router) faulted(version, caller string) bool {
	for _, in := range *rt.faults.Load() {
		if in.applies(version, caller) {
			return true
		}
	}
	return false
}

// contractMatches reports whether a contract checks this request of
// caller; those are teed and validated on net/http's path.
func (rt *Router) contractMatches(caller string, h *reqHead) bool {
	cs := *rt.contracts.Load()
	for _, c := range cs {
		if c.Consumer != caller || c.Request.Method != string(h.method) {
			continue
		}
		path := h.target
		for i, b := range path {
			if b == '?' {
				path = path[:i]
				break
			}
		}
		p, err := url.PathUnescape(string(path))
		if err != nil || c.MatchPath(p) {
			return true
		}
	}
	return false
}

// exchange serves one request the fast path took: it forwards it, and
// records the outcome as handle does. It reports whether the connection
// can carry another request.
func (fc *fastConn) exchange(h *reqHead, start time.Time, version string, backend *url.URL) (keep bool) {
	rt := fc.rt
	inflight := rt.counter(version)
	inflight.Add(1)
	defer inflight.Add(-1)

	if len(h.requestID) > 0 {
		fc.id = append(fc.id[:0], h.requestID...)
	} else {
		fc.id = appendRequestID(fc.id[:0])
	}
	var pc *pairCount
	if fc.caller != "" && fc.caller != previewCaller {
		_, cv, _ := cutByte(h.caller, '/')
		pc = rt.pairCounter(pairKey{caller: fc.caller, callerVersion: string(cv), version: version})
	}
	r := fc.forward(h, start, version, backend)
	o := metrics.Outcome{Status: r.status, Latency: time.Since(start), Err: r.failed || fc.gone.Load()}
	rt.recordOutcome(version, o, r.variant)
	if pc != nil {
		pc.requests.Add(1)
		if o.Failed() {
			pc.failed.Add(1)
		}
	}
	return r.keep && !o.Err
}

func cutByte(b []byte, sep byte) (before, after []byte, found bool) {
	for i, c := range b {
		if c == sep {
			return b[:i], b[i+1:], true
		}
	}
	return b, nil, false
}

// outcome is what forwarding one request came to.
type outcome struct {
	status  int    // the final status the client got (0: none)
	failed  bool   // the response did not reach the client whole
	variant string // the response's X-Drill-Variant
	keep    bool   // the client connection can carry another request
}

// idempotent reports whether a request with this method and no body may
// be sent again when its connection turns out closed before any answer
// (http.Transport's rule for replayable requests).
func idempotent(method []byte) bool {
	switch string(method) {
	case "GET", "HEAD", "OPTIONS", "TRACE":
		return true
	}
	return false
}

// forward sends the request to its instance and relays the answer. A
// request without body whose method is idempotent is retried once on a
// new connection when its reused connection broke before any answer; any
// other failure before the answer starts is a 502, as ReverseProxy's.
func (fc *fastConn) forward(h *reqHead, start time.Time, version string, backend *url.URL) outcome {
	rt := fc.rt
	if backend == nil {
		ok := fc.discardHeadAndBody(h) &&
			fc.writeError(h, version, http.StatusServiceUnavailable, fmt.Sprintf("drill: %s has no backend for version %q", rt.service, version))
		return outcome{status: http.StatusServiceUnavailable, failed: !ok, keep: ok}
	}
	replayable := h.contentLength == 0 && idempotent(h.method)
	headLeft := true // the head is still in the read buffer
	defer func() {
		if headLeft {
			_, _ = fc.br.Discard(h.n)
		}
	}()
	for attempt := 0; ; attempt++ {
		up, err := fc.upstream(version, backend, attempt > 0, !replayable)
		if err != nil {
			headLeft = false
			ok := fc.discardHeadAndBody(h) && err != errClosed &&
				fc.writeError(h, version, http.StatusBadGateway, fmt.Sprintf("drill: %s version %q: %v", rt.service, version, err))
			return outcome{status: http.StatusBadGateway, failed: true, keep: ok}
		}
		fc.writeHead(up, h, version)
		if h.contentLength > 0 {
			headLeft = false
			_, _ = fc.br.Discard(h.n)
			if err := fc.copyBody(up.bw, h.contentLength); err != nil {
				// The client broke off its own request.
				fc.doneUpstream(up, false)
				return outcome{failed: true}
			}
		}
		if err := up.bw.Flush(); err != nil {
			fc.doneUpstream(up, false)
			if up.reused && replayable && attempt == 0 {
				continue
			}
			if headLeft {
				headLeft = false
				_, _ = fc.br.Discard(h.n)
			}
			ok := fc.writeError(h, version, http.StatusBadGateway, fmt.Sprintf("drill: %s version %q: %v", rt.service, version, err))
			return outcome{status: http.StatusBadGateway, failed: true, keep: ok}
		}
		fc.startWait(up, start)
		r, keepUp, answered, err := fc.relay(h, up, version)
		if testHookAfterRelay != nil {
			testHookAfterRelay(fc)
		}
		fc.endWait()
		fc.doneUpstream(up, keepUp)
		if err == nil {
			return r
		}
		var none noAnswer
		if errors.As(err, &none) && up.reused && replayable && attempt == 0 && !fc.gone.Load() {
			continue // closed while idle, most likely: once more, on a new connection
		}
		if !answered && !fc.gone.Load() {
			if headLeft {
				headLeft = false
				_, _ = fc.br.Discard(h.n)
			}
			ok := fc.writeError(h, version, http.StatusBadGateway, fmt.Sprintf("drill: %s version %q: %v", rt.service, version, err))
			return outcome{status: http.StatusBadGateway, failed: true, keep: ok}
		}
		// The answer broke off after it started: the client sees a
		// truncated response, and the connection must close.
		r.failed, r.keep = true, false
		return r
	}
}

// discardHeadAndBody consumes a request that is not forwarded; false when
// the client broke off its body.
func (fc *fastConn) discardHeadAndBody(h *reqHead) bool {
	if _, err := fc.br.Discard(h.n); err != nil {
		return false
	}
	_, err := fc.br.Discard(int(h.contentLength))
	return err == nil
}

// upstream returns the connection to send a request for version to: the
// one pinned to this client connection when it is still for the current
// backend, else an idle one from the pool, else a new one (always a new
// one with fresh). With check, a reused connection must pass
// idleConnAlive first.
func (fc *fastConn) upstream(version string, backend *url.URL, fresh, check bool) (*upConn, error) {
	var stale *upConn
	fc.mu.Lock()
	if fc.closed {
		fc.mu.Unlock()
		return nil, errClosed
	}
	for i, up := range fc.ups {
		if up.version != version {
			continue
		}
		if up.backend == backend && !fresh && (!check || (up.br.Buffered() == 0 && idleConnAlive(up.c))) {
			fc.inUse = up
			fc.mu.Unlock()
			return up, nil
		}
		stale = up
		fc.ups = append(fc.ups[:i], fc.ups[i+1:]...)
		break
	}
	fc.mu.Unlock()
	if stale != nil {
		stale.c.Close()
	}
	var up *upConn
	if !fresh {
		for up = fc.rt.takeIdle(backend); up != nil && check && !idleConnAlive(up.c); up = fc.rt.takeIdle(backend) {
			up.c.Close()
		}
	}
	if up == nil {
		var err error
		if up, err = dial(fc.rt.base, backend, version); err != nil {
			return nil, err
		}
	}
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if fc.closed {
		up.c.Close()
		return nil, errClosed
	}
	fc.ups = append(fc.ups, up)
	fc.inUse = up
	return up, nil
}

// doneUpstream ends the use of up; unless keep, it is closed, and so it
// is when its version's backend changed meanwhile (sweepUpstreams skips
// connections in use; the configuration is read under fc.mu so that one
// of the two sees the other).
func (fc *fastConn) doneUpstream(up *upConn, keep bool) {
	fc.mu.Lock()
	fc.inUse = nil
	if keep && fc.rt.cfg.Load().backends[up.version] != up.backend {
		keep = false
	}
	if !keep {
		for i, x := range fc.ups {
			if x == up {
				fc.ups = append(fc.ups[:i], fc.ups[i+1:]...)
				break
			}
		}
	}
	fc.mu.Unlock()
	if keep {
		up.reused = true
	} else {
		up.c.Close()
	}
}

// writeHead writes the request head to up: the request line, Host as the
// backend's (ReverseProxy's SetURL), the client's headers as they came
// less the hop-by-hop ones, and X-Forwarded-For/-Host/-Proto, the version
// and the request ID, as the router's Rewrite sets them.
func (fc *fastConn) writeHead(up *upConn, h *reqHead, version string) {
	w := up.bw
	w.Write(h.method)
	w.WriteByte(' ')
	w.Write(h.target)
	w.WriteString(" HTTP/1.1\r\nHost: ")
	w.WriteString(up.backend.Host)
	w.WriteString("\r\n")
	buf, _ := fc.br.Peek(h.n)
	copyHeaders(w, buf, h.dropRequestHeader)
	if h.teTrailers {
		w.WriteString("Te: trailers\r\n")
	}
	// http.Transport's rule: a length when there is a body, and 0 for the
	// methods servers expect one with.
	if m := string(h.method); h.contentLength > 0 || m == "POST" || m == "PUT" || m == "PATCH" {
		w.WriteString("Content-Length: ")
		fc.tmp = strconv.AppendInt(fc.tmp[:0], h.contentLength, 10)
		w.Write(fc.tmp)
		w.WriteString("\r\n")
	}
	if fc.clientIP != "" {
		w.WriteString("X-Forwarded-For: ")
		w.WriteString(fc.clientIP)
		w.WriteString("\r\n")
	}
	w.WriteString("X-Forwarded-Host: ")
	w.Write(h.host)
	w.WriteString("\r\nX-Forwarded-Proto: http\r\nX-Drill-Version: ")
	w.WriteString(version)
	w.WriteString("\r\nX-Request-Id: ")
	w.Write(fc.id)
	w.WriteString("\r\n\r\n")
}

// copyBody copies n body bytes from the client to w. It returns the
// client's read error only: a write error stays in w (bufio keeps it) and
// shows at its Flush, after the body was drained from the client so that
// the connection stays in step.
func (fc *fastConn) copyBody(w *bufio.Writer, n int64) error {
	for n > 0 {
		if fc.br.Buffered() == 0 {
			if _, err := fc.br.Peek(1); err != nil {
				return err
			}
		}
		m := int(min(int64(fc.br.Buffered()), n))
		b, _ := fc.br.Peek(m)
		_, _ = w.Write(b)
		_, _ = fc.br.Discard(m)
		n -= int64(m)
	}
	return nil
}

// relay reads the instance's answer on up and writes it to the client.
// answered reports whether anything of it reached the client's write
// buffer; keepUp whether up can carry another request. err is the
// failure that ended it early, whichever side.
func (fc *fastConn) relay(h *reqHead, up *upConn, version string) (r outcome, keepUp, answered bool, err error) {
	for n1xx := 0; ; {
		st, err := fc.peekResponseHead(up)
		if err != nil {
			if !answered && up.br.Buffered() == 0 {
				err = noAnswer{err}
			}
			return outcome{}, false, answered, err
		}
		if fc.answerArrived() {
			return outcome{}, false, answered, errClientGone
		}
		if st == headRefused {
			return fc.relayParsed(h, up, version, answered)
		}
		rh := &fc.res
		if rh.code == http.StatusSwitchingProtocols {
			return outcome{}, false, answered, errors.New("101 Switching Protocols to a request without Upgrade")
		}
		if rh.code < 200 {
			if n1xx++; n1xx > max1xx {
				return outcome{}, false, answered, errors.New("too many 1xx informational responses")
			}
			answered = true
			fc.writeResponseHead(up, rh, nil, version, false)
			_, _ = up.br.Discard(rh.n)
			if err := fc.bw.Flush(); err != nil {
				return outcome{}, false, true, err
			}
			continue
		}
		answered = true
		noBody := string(h.method) == "HEAD" || rh.code == http.StatusNoContent || rh.code == http.StatusNotModified
		closeDelimited := !noBody && !rh.chunked && rh.contentLength < 0
		fc.writeResponseHead(up, rh, h, version, closeDelimited)
		r = outcome{status: rh.code, keep: true}
		if rh.variant != nil {
			r.variant = string(rh.variant)
		}
		keepUp = !rh.closeConn
		chunked, length := rh.chunked, rh.contentLength
		_, _ = up.br.Discard(rh.n)
		switch {
		case noBody:
		case chunked:
			err = fc.relayChunked(up)
		case length >= 0:
			err = fc.relayN(up, length)
		default:
			keepUp = false
			err = fc.relayUntilEOF(up)
		}
		if err == nil {
			err = fc.bw.Flush()
		}
		if err != nil {
			return r, false, true, err
		}
		return r, keepUp, true, nil
	}
}

// noAnswer is a failure before the instance sent a single byte of an
// answer: only then may a request be sent again (as http.Transport's
// nothingWrittenError and errServerClosedIdle say).
type noAnswer struct{ error }

func (e noAnswer) Unwrap() error { return e.error }

// peekResponseHead waits until the read buffer holds a whole response
// head (or refuses it: more than the buffer, or a form for
// http.ReadResponse), without consuming it.
func (fc *fastConn) peekResponseHead(up *upConn) (headStatus, error) {
	for {
		buf, _ := up.br.Peek(up.br.Buffered())
		if len(buf) > 0 {
			if st := parseResponseHead(buf, &fc.res); st != headMore {
				return st, nil
			}
			if len(buf) == up.br.Size() {
				return headRefused, nil
			}
		}
		if _, err := up.br.Peek(len(buf) + 1); err != nil {
			return 0, err
		}
	}
}

// writeResponseHead writes rh to the client as HTTP/1.1, its header lines
// as they came less the hop-by-hop ones. A final response (h not nil)
// gets the router's headers, a Date when the instance sent none (as
// net/http's server adds), its framing, and Connection: close when the
// client asked for it.
func (fc *fastConn) writeResponseHead(up *upConn, rh *resHead, h *reqHead, version string, rechunk bool) {
	w := fc.bw
	w.WriteString("HTTP/1.1 ")
	w.Write(rh.status)
	if len(rh.status) == 3 {
		// No reason phrase: the space before it is not optional (RFC
		// 9112 §4), and some clients need a phrase; net/http's own.
		w.WriteByte(' ')
		w.WriteString(http.StatusText(rh.code))
	}
	w.WriteString("\r\n")
	buf, _ := up.br.Peek(rh.n)
	copyHeaders(w, buf, rh.dropResponseHeader)
	if h == nil {
		w.WriteString("\r\n")
		return
	}
	fc.writeStamps(h, version, !rh.hasDate)
	if rh.chunked || rechunk {
		w.WriteString("Transfer-Encoding: chunked\r\n")
	}
	w.WriteString("\r\n")
}

// writeStamps writes the router's response headers, which replace any
// the instance sent: the version and the request ID; with date a Date;
// and Connection: close when the client asked for it.
func (fc *fastConn) writeStamps(h *reqHead, version string, date bool) {
	w := fc.bw
	w.WriteString("X-Drill-Version: ")
	w.WriteString(version)
	w.WriteString("\r\nX-Request-Id: ")
	w.Write(fc.id)
	w.WriteString("\r\n")
	if date {
		w.WriteString("Date: ")
		fc.tmp = time.Now().UTC().AppendFormat(fc.tmp[:0], http.TimeFormat)
		w.Write(fc.tmp)
		w.WriteString("\r\n")
	}
	if h.closeConn {
		w.WriteString("Connection: close\r\n")
	}
}

// relayN copies n body bytes from up to the client, flushing what the
// client has been sent before each wait for the instance, so that a
// response streamed by the instance streams to the client too.
func (fc *fastConn) relayN(up *upConn, n int64) error {
	for n > 0 {
		if up.br.Buffered() == 0 {
			if err := fc.bw.Flush(); err != nil {
				return err
			}
			if n >= int64(up.br.Size()) {
				// A large body: read straight into a bigger buffer and
				// write it straight through, not 4 KiB at a time.
				buf := buffers.Get()
				m, err := up.br.Read(buf[:min(int64(len(buf)), n)])
				var werr error
				if m > 0 {
					_, werr = fc.bw.Write(buf[:m])
					n -= int64(m)
				}
				buffers.Put(buf)
				if werr != nil {
					return werr
				}
				if err != nil && n > 0 {
					return noEOF(err)
				}
				continue
			}
			if _, err := up.br.Peek(1); err != nil {
				return noEOF(err)
			}
		}
		m := int(min(int64(up.br.Buffered()), n))
		b, _ := up.br.Peek(m)
		if _, err := fc.bw.Write(b); err != nil {
			return err
		}
		_, _ = up.br.Discard(m)
		n -= int64(m)
	}
	return nil
}

// noEOF turns the end of a body shorter than announced into an error.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// upLine reads one line from up, without its line end, flushing the
// client first when the line is not all buffered yet.
func (fc *fastConn) upLine(up *upConn) ([]byte, error) {
	buf, _ := up.br.Peek(up.br.Buffered())
	if indexByte(buf, '\n') < 0 {
		if err := fc.bw.Flush(); err != nil {
			return nil, err
		}
	}
	line, err := up.br.ReadSlice('\n')
	if err != nil {
		return nil, noEOF(err)
	}
	line = line[:len(line)-1]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	return line, nil
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

var errChunk = errors.New("malformed chunked encoding")

// relayChunked forwards a chunked body: each chunk as it comes (without
// chunk extensions, which net/http drops too), then the trailers.
func (fc *fastConn) relayChunked(up *upConn) error {
	for {
		line, err := fc.upLine(up)
		if err != nil {
			return err
		}
		size, ok := parseChunkSize(line)
		if !ok {
			return errChunk
		}
		fc.tmp = strconv.AppendInt(fc.tmp[:0], size, 16)
		fc.tmp = append(fc.tmp, '\r', '\n')
		if _, err := fc.bw.Write(fc.tmp); err != nil {
			return err
		}
		if size == 0 {
			break
		}
		if err := fc.relayN(up, size); err != nil {
			return err
		}
		if line, err := fc.upLine(up); err != nil {
			return err
		} else if len(line) != 0 {
			return errChunk
		}
		if _, err := fc.bw.WriteString("\r\n"); err != nil {
			return err
		}
	}
	for {
		line, err := fc.upLine(up)
		if err != nil {
			return err
		}
		if len(line) == 0 {
			_, err := fc.bw.WriteString("\r\n")
			return err
		}
		if _, _, ok := splitHeader(line); !ok {
			return errChunk
		}
		fc.bw.Write(line)
		if _, err := fc.bw.WriteString("\r\n"); err != nil {
			return err
		}
	}
}

// parseChunkSize parses a chunk-size line: hex digits, then optionally
// whitespace and extensions, which are ignored.
func parseChunkSize(line []byte) (int64, bool) {
	var n int64
	i := 0
	for ; i < len(line) && isHex(line[i]); i++ {
		if i == 15 {
			return 0, false
		}
		c := line[i]
		switch {
		case isDigit(c):
			c -= '0'
		case c >= 'a':
			c -= 'a' - 10
		default:
			c -= 'A' - 10
		}
		n = n<<4 | int64(c)
	}
	if i == 0 {
		return 0, false
	}
	rest := trimOWS(line[i:])
	if len(rest) > 0 && rest[0] != ';' {
		return 0, false
	}
	return n, true
}

// relayUntilEOF forwards a body the instance ends by closing the
// connection, chunked, so that the client connection stays usable.
func (fc *fastConn) relayUntilEOF(up *upConn) error {
	buf := buffers.Get()
	defer buffers.Put(buf)
	for {
		if up.br.Buffered() == 0 {
			if err := fc.bw.Flush(); err != nil {
				return err
			}
		}
		m, err := up.br.Read(buf)
		if m > 0 {
			fc.tmp = strconv.AppendInt(fc.tmp[:0], int64(m), 16)
			fc.tmp = append(fc.tmp, '\r', '\n')
			fc.bw.Write(fc.tmp)
			fc.bw.Write(buf[:m])
			if _, werr := fc.bw.WriteString("\r\n"); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			_, err = fc.bw.WriteString("0\r\n\r\n")
			return err
		}
		if err != nil {
			return err
		}
	}
}

// writeError answers the request itself, as http.Error does, with the
// router's headers; false when the client cannot be written to.
func (fc *fastConn) writeError(h *reqHead, version string, code int, msg string) bool {
	w := fc.bw
	w.WriteString("HTTP/1.1 ")
	fc.tmp = strconv.AppendInt(fc.tmp[:0], int64(code), 10)
	w.Write(fc.tmp)
	w.WriteByte(' ')
	w.WriteString(http.StatusText(code))
	w.WriteString("\r\nContent-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\nContent-Length: ")
	fc.tmp = strconv.AppendInt(fc.tmp[:0], int64(len(msg)+1), 10)
	w.Write(fc.tmp)
	w.WriteString("\r\n")
	fc.writeStamps(h, version, true)
	w.WriteString("\r\n")
	if string(h.method) != "HEAD" {
		w.WriteString(msg)
		w.WriteByte('\n')
	}
	return w.Flush() == nil
}

// appendRequestID appends a new request ID (see newRequestID).
func appendRequestID(b []byte) []byte {
	const digits = "0123456789abcdef"
	v := rand.Uint64()
	for i := 60; i >= 0; i -= 4 {
		b = append(b, digits[(v>>uint(i))&15])
	}
	return b
}

// copyHeaders writes the header lines of a head already validated (buf
// holds it whole, from its start line to the blank line) to w, each as it
// came, except those drop names: one loop for requests and responses.
func copyHeaders(w *bufio.Writer, buf []byte, drop func(name []byte) bool) {
	_, p, _, _ := headLine(buf, 0)
	for {
		line, next, _, _ := headLine(buf, p)
		p = next
		if len(line) == 0 {
			return
		}
		name, _, _ := cutByte(line, ':')
		if !drop(name) {
			w.Write(line)
			w.WriteString("\r\n")
		}
	}
}

// handedConn is a client connection handed from the fast path to
// net/http: it reads what the fast path had read ahead first.
type handedConn struct {
	net.Conn
	fc *fastConn
	// version is the version drawn for the connection's first request,
	// when drawn; net/http's handler takes it (takeDraw).
	version string
	drawn   atomic.Bool
}

func (c *handedConn) Read(p []byte) (int, error) {
	if c.fc.br.Buffered() > 0 {
		return c.fc.br.Read(p)
	}
	return c.fc.cr.Read(p)
}

// SetLinger passes through to the client's TCP connection: a fault that
// resets the client (injectors' abort and partition hijack the connection
// and close it with SO_LINGER 0) must still send a RST after a hand-off,
// not a clean end of stream.
func (c *handedConn) SetLinger(sec int) error {
	if l, ok := c.Conn.(interface{ SetLinger(sec int) error }); ok {
		return l.SetLinger(sec)
	}
	return nil
}

// takeDraw returns the version drawn for the first request, once.
func (c *handedConn) takeDraw() (string, bool) {
	if c.drawn.CompareAndSwap(true, false) {
		return c.version, true
	}
	return "", false
}

// handedKey carries a *handedConn in the contexts of its requests.
type handedKey struct{}

func handedContext(ctx context.Context, c net.Conn) context.Context {
	if hc, ok := c.(*handedConn); ok && hc.drawn.Load() {
		return context.WithValue(ctx, handedKey{}, hc)
	}
	return ctx
}

// chanListener is the listener of the connections handed to an
// http.Server.
type chanListener struct {
	addr net.Addr
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func newChanListener(addr net.Addr) *chanListener {
	return &chanListener{addr: addr, ch: make(chan net.Conn), done: make(chan struct{})}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.addr }

// hand passes c to the server, or closes c once the listener is closed.
func (l *chanListener) hand(c net.Conn) {
	select {
	case l.ch <- c:
	case <-l.done:
		c.Close()
	}
}

// relayParsed relays a response the in-place scan refused, through
// net/http's own parser: a head larger than the read buffer, folded
// header lines, several Content-Length lines. The body is re-framed:
// its length when known, chunked otherwise, trailers included.
func (fc *fastConn) relayParsed(h *reqHead, up *upConn, version string, answered bool) (outcome, bool, bool, error) {
	req := &http.Request{Method: string(h.method)}
	for n1xx := 0; ; {
		res, err := http.ReadResponse(up.br, req)
		if err != nil {
			return outcome{}, false, answered, err
		}
		if res.StatusCode == http.StatusSwitchingProtocols {
			return outcome{}, false, answered, errors.New("101 Switching Protocols to a request without Upgrade")
		}
		if res.StatusCode < 200 {
			if n1xx++; n1xx > max1xx {
				return outcome{}, false, answered, errors.New("too many 1xx informational responses")
			}
			answered = true
			fc.writeParsedHead(res, nil, version, false)
			if err := fc.bw.Flush(); err != nil {
				return outcome{}, false, true, err
			}
			continue
		}
		noBody := string(h.method) == "HEAD" || res.StatusCode == http.StatusNoContent || res.StatusCode == http.StatusNotModified
		chunk := !noBody && res.ContentLength < 0
		fc.writeParsedHead(res, h, version, chunk)
		r := outcome{status: res.StatusCode, keep: true, variant: res.Header.Get(HeaderVariant)}
		if !noBody {
			err = fc.copyParsedBody(res, chunk)
		}
		if err == nil {
			err = fc.bw.Flush()
		}
		if err != nil {
			return r, false, true, err
		}
		return r, !res.Close, true, nil
	}
}

// writeParsedHead is writeResponseHead for a parsed response.
func (fc *fastConn) writeParsedHead(res *http.Response, h *reqHead, version string, chunk bool) {
	w := fc.bw
	w.WriteString("HTTP/1.1 ")
	w.WriteString(res.Status)
	w.WriteString("\r\n")
	var tokens []string
	for _, v := range res.Header["Connection"] {
		for t := range strings.SplitSeq(v, ",") {
			tokens = append(tokens, strings.TrimSpace(t))
		}
	}
	for k, vs := range res.Header {
		if hopByHop(k) || slices.ContainsFunc(tokens, func(t string) bool { return strings.EqualFold(t, k) }) ||
			k == HeaderVersion || k == "X-Request-Id" || (chunk && k == "Content-Length") {
			continue
		}
		for _, v := range vs {
			w.WriteString(k)
			w.WriteString(": ")
			w.WriteString(v)
			w.WriteString("\r\n")
		}
	}
	if h == nil {
		w.WriteString("\r\n")
		return
	}
	_, hasDate := res.Header["Date"]
	fc.writeStamps(h, version, !hasDate)
	if chunk {
		w.WriteString("Transfer-Encoding: chunked\r\n")
		if len(res.Trailer) > 0 {
			keys := slices.Sorted(maps.Keys(res.Trailer))
			w.WriteString("Trailer: ")
			w.WriteString(strings.Join(keys, ", "))
			w.WriteString("\r\n")
		}
	}
	w.WriteString("\r\n")
}

// hopByHop reports whether the canonical header key k is hop-by-hop
// (ReverseProxy's list) or framing the router writes itself.
func hopByHop(k string) bool {
	switch k {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
		"Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}

// copyParsedBody copies a parsed response's body to the client, flushing
// after each read so that a streamed body streams; chunked, it ends with
// the trailers.
func (fc *fastConn) copyParsedBody(res *http.Response, chunk bool) error {
	buf := buffers.Get()
	defer buffers.Put(buf)
	w := fc.bw
	for {
		n, err := res.Body.Read(buf)
		if n > 0 {
			if chunk {
				fc.tmp = strconv.AppendInt(fc.tmp[:0], int64(n), 16)
				fc.tmp = append(fc.tmp, '\r', '\n')
				w.Write(fc.tmp)
			}
			w.Write(buf[:n])
			if chunk {
				w.WriteString("\r\n")
			}
			if werr := w.Flush(); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	if !chunk {
		return nil
	}
	w.WriteString("0\r\n")
	for k, vs := range res.Trailer {
		for _, v := range vs {
			w.WriteString(k)
			w.WriteString(": ")
			w.WriteString(v)
			w.WriteString("\r\n")
		}
	}
	_, err := w.WriteString("\r\n")
	return err
}
