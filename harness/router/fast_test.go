package router

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/drillhq/drill/harness/metrics"
)

// withoutFastPath serves every connection with net/http, as before the
// fast path: the reference the fast path is compared with.
func withoutFastPath(rt *Router) { rt.noFast = true }

// connCounter is an instance's http.Server ConnState hook counting the
// connections opened to it and those still open.
type connCounter struct {
	mu     sync.Mutex
	opened int
	open   map[net.Conn]bool
}

func (cc *connCounter) hook(c net.Conn, s http.ConnState) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.open == nil {
		cc.open = map[net.Conn]bool{}
	}
	switch s {
	case http.StateNew:
		cc.opened++
		cc.open[c] = true
	case http.StateClosed, http.StateHijacked:
		delete(cc.open, c)
	}
}

func (cc *connCounter) counts() (opened, open int) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.opened, len(cc.open)
}

// countedInstance is newInstance with its connections counted.
func countedInstance(t *testing.T, name string, h http.HandlerFunc) (*httptest.Server, *connCounter) {
	t.Helper()
	cc := &connCounter{}
	if h == nil {
		h = func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Seen-Version", r.Header.Get(HeaderVersion))
			_, _ = io.WriteString(w, name)
		}
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = cc.hook
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, cc
}

// eventually polls cond until it holds or 10 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still not the case after 10s: %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// rawClient is one client connection written and read by hand.
type rawClient struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, base string) *rawClient {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	return &rawClient{t: t, c: c, br: bufio.NewReader(c)}
}

func (rc *rawClient) send(s string) {
	rc.t.Helper()
	if _, err := io.WriteString(rc.c, s); err != nil {
		rc.t.Fatal(err)
	}
}

// read reads one response to a request of method, its body whole.
func (rc *rawClient) read(method string) (*http.Response, string) {
	rc.t.Helper()
	res, err := http.ReadResponse(rc.br, &http.Request{Method: method})
	if err != nil {
		rc.t.Fatalf("read response: %v", err)
	}
	b, err := io.ReadAll(res.Body)
	if err != nil {
		rc.t.Fatalf("read body: %v", err)
	}
	return res, string(b)
}

// TestFastPathKeepAliveAcrossVersions sends every request of a test over
// one client connection, split between two versions: each answer comes
// from the version it is stamped with, each instance sees one connection
// (pinned to the client connection), and the recorder counts what the
// client saw per version.
func TestFastPathKeepAliveAcrossVersions(t *testing.T) {
	v1, cc1 := countedInstance(t, "v1", nil)
	v2, cc2 := countedInstance(t, "v2", nil)
	rec := metrics.NewRecorder("orders")
	rt, base := start(t, rec, WithSeed(3))
	must(t, rt.SetBackend("v1", v1.URL))
	must(t, rt.SetBackend("v2", v2.URL))
	rt.SetSplit("v1", "v2", 0.5)

	rc := dialRaw(t, base)
	seen := tally{}
	for i := range 200 {
		rc.send(fmt.Sprintf("GET /x/%d HTTP/1.1\r\nHost: orders\r\n\r\n", i))
		res, body := rc.read("GET")
		v := res.Header.Get(HeaderVersion)
		if res.StatusCode != 200 || body != v || res.Header.Get("X-Seen-Version") != v {
			t.Fatalf("request %d: %d %q from %q (instance saw %q)", i, res.StatusCode, body, v, res.Header.Get("X-Seen-Version"))
		}
		seen.add(v, false)
	}
	if o1, _ := cc1.counts(); o1 != 1 {
		t.Errorf("v1's instance saw %d connections, want 1 pinned to the client's", o1)
	}
	if o2, _ := cc2.counts(); o2 != 1 {
		t.Errorf("v2's instance saw %d connections, want 1 pinned to the client's", o2)
	}
	checkTally(t, recorded(t, rt, rec), seen)
}

// echoHead is an instance answering with what it received, as JSON.
func echoHead(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h := r.Header.Clone()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Connection", "X-Hop")
	w.Header().Set("X-Hop", "must not reach the client")
	w.Header().Set("Keep-Alive", "timeout=5")
	w.Header().Set(HeaderRequestID, "instance-id")
	w.Header().Set("X-Kept", "yes")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"method": r.Method, "uri": r.RequestURI, "proto": r.Proto, "host": r.Host,
		"header": h, "length": r.ContentLength, "body": string(body), "te": r.TransferEncoding,
	})
}

// TestFastPathForwardsAsReverseProxy sends the same requests through a
// router with the fast path and one without: the instance must see the
// same request, and the client the same response headers.
func TestFastPathForwardsAsReverseProxy(t *testing.T) {
	in := httptest.NewServer(http.HandlerFunc(echoHead))
	t.Cleanup(in.Close)
	requests := []string{
		"GET /items/1?x=1&y=%20 HTTP/1.1\r\nHost: orders.local:8080\r\nX-Request-ID: r-1\r\nUser-Agent: drill-test\r\n\r\n",
		// No User-Agent stays none; the router's own headers and the
		// X-Forwarded ones a client sends are replaced; hop-by-hop ones
		// and those Connection names are dropped; TE: trailers stays.
		"GET /a/b%2Fc HTTP/1.1\r\nhost: orders\r\nx-request-id: r-2\r\nConnection: keep-alive, X-Private\r\nX-Private: secret\r\n" +
			"Keep-Alive: 5\r\nProxy-Connection: x\r\nTE: trailers, deflate\r\nX-Forwarded-For: 10.9.9.9\r\nX-Forwarded-Host: spoof\r\n" +
			"Forwarded: for=10.9.9.9\r\nX-Drill-Version: spoofed\r\nAccept: */*\r\nAccept: text/plain\r\n\r\n",
		"POST /orders HTTP/1.1\r\nHost: orders\r\nX-Request-ID: r-3\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n{\"sku\":\"a-1\"}",
		"POST /empty HTTP/1.1\r\nHost: orders\r\nX-Request-ID: r-4\r\n\r\n",
		"DELETE /orders/7 HTTP/1.1\r\nHost: orders\r\nX-Request-ID: r-5\r\nContent-Length: 0\r\n\r\n",
	}
	type seen struct {
		instance map[string]any
		header   http.Header
		status   int
	}
	through := func(opts ...Option) []seen {
		rt, base := start(t, nil, opts...)
		must(t, rt.SetBackend("v1", in.URL))
		rt.SetSplit("v1", "", 0)
		rc := dialRaw(t, base)
		var out []seen
		for _, req := range requests {
			rc.send(req)
			res, body := rc.read(strings.Fields(req)[0])
			var got map[string]any
			if err := json.Unmarshal([]byte(body), &got); err != nil {
				t.Fatalf("%q: %v in %q", req, err, body)
			}
			h := res.Header.Clone()
			for _, k := range []string{"Date", "Content-Length", "Transfer-Encoding"} {
				h.Del(k)
			}
			out = append(out, seen{instance: got, header: h, status: res.StatusCode})
		}
		return out
	}
	fast, slow := through(), through(withoutFastPath)
	for i := range requests {
		f, s := fast[i], slow[i]
		fj, _ := json.MarshalIndent(f.instance, "", " ")
		sj, _ := json.MarshalIndent(s.instance, "", " ")
		if string(fj) != string(sj) {
			t.Errorf("request %d: the instance saw\n%s\nthrough the fast path, and through ReverseProxy\n%s", i, fj, sj)
		}
		if f.status != s.status || !maps.EqualFunc(f.header, s.header, slices.Equal) {
			t.Errorf("request %d: client got %d %v through the fast path, %d %v through ReverseProxy", i, f.status, f.header, s.status, s.header)
		}
	}
	// The checks above would pass if both paths forgot the same header.
	h := fast[1].instance["header"].(map[string]any)
	for _, k := range []string{"X-Private", "Keep-Alive", "Proxy-Connection", "Forwarded", "User-Agent"} {
		if h[k] != nil {
			t.Errorf("the instance got %s: %v", k, h[k])
		}
	}
	if fmt.Sprint(h["X-Forwarded-For"]) != "[127.0.0.1]" || fmt.Sprint(h["X-Forwarded-Host"]) != "[orders]" ||
		fmt.Sprint(h["Te"]) != "[trailers]" || fmt.Sprint(h[HeaderVersion]) != "[v1]" || fmt.Sprint(h["X-Request-Id"]) != "[r-2]" {
		t.Errorf("forwarded headers: %v", h)
	}
	if got := fast[1].header; got.Get("X-Hop") != "" || got.Get("Keep-Alive") != "" || got.Get(HeaderRequestID) != "r-2" || got.Get("X-Kept") != "yes" {
		t.Errorf("response headers: %v", got)
	}
}

// TestFastPathBodies relays bodies of every framing, small and large:
// a length, chunked (the instance flushes as it writes), ended by closing
// the connection, and none for HEAD, 204 and 304; each intact, and the
// client connection still usable after it.
func TestFastPathBodies(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 300_000) // 4.8 MB
	sum := sha256.Sum256(big)
	in := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/length":
			w.Header().Set("Content-Length", fmt.Sprint(len(big)))
			_, _ = w.Write(big)
		case "/chunked":
			for i := 0; i < len(big); i += 100_000 {
				_, _ = w.Write(big[i:min(i+100_000, len(big))])
				w.(http.Flusher).Flush()
			}
		case "/trailers":
			w.Header().Set("Trailer", "X-Sum")
			_, _ = w.Write(big[:10_000])
			w.(http.Flusher).Flush()
			w.Header().Set("X-Sum", "ok")
		case "/head":
			w.Header().Set("Content-Length", "12345")
		case "/204":
			w.WriteHeader(http.StatusNoContent)
		case "/304":
			w.WriteHeader(http.StatusNotModified)
		case "/echo":
			b, _ := io.ReadAll(r.Body)
			_, _ = w.Write(b)
		}
	}))
	t.Cleanup(in.Close)
	rec := metrics.NewRecorder("orders")
	rt, base := start(t, rec)
	must(t, rt.SetBackend("v1", in.URL))
	rt.SetSplit("v1", "", 0)
	rc := dialRaw(t, base)

	for _, path := range []string{"/length", "/chunked"} {
		rc.send("GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n")
		res, body := rc.read("GET")
		if res.StatusCode != 200 || sha256.Sum256([]byte(body)) != sum {
			t.Errorf("%s: %d, %d bytes, not the instance's body", path, res.StatusCode, len(body))
		}
		if path == "/chunked" && res.ContentLength != -1 {
			t.Errorf("%s: forwarded with length %d, want chunked", path, res.ContentLength)
		}
	}
	rc.send("GET /trailers HTTP/1.1\r\nHost: x\r\nTE: trailers\r\n\r\n")
	if res, body := rc.read("GET"); len(body) != 10_000 || res.Trailer.Get("X-Sum") != "ok" {
		t.Errorf("trailers: %d bytes, trailer %v", len(body), res.Trailer)
	}
	rc.send("HEAD /head HTTP/1.1\r\nHost: x\r\n\r\n")
	if res, body := rc.read("HEAD"); res.StatusCode != 200 || res.ContentLength != 12345 || body != "" {
		t.Errorf("HEAD: %d, length %d, body %q", res.StatusCode, res.ContentLength, body)
	}
	for _, code := range []int{204, 304} {
		rc.send(fmt.Sprintf("GET /%d HTTP/1.1\r\nHost: x\r\n\r\n", code))
		if res, body := rc.read("GET"); res.StatusCode != code || body != "" {
			t.Errorf("%d: got %d %q", code, res.StatusCode, body)
		}
	}
	// Request bodies: up to the fast path's limit, and over it (which
	// hands the connection to net/http, where it goes on).
	for _, n := range []int{maxFastBody, maxFastBody + 1, 3 << 20} {
		rc.send(fmt.Sprintf("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", n))
		rc.send(string(big[:n]))
		if res, body := rc.read("POST"); res.StatusCode != 200 || body != string(big[:n]) {
			t.Errorf("POST of %d bytes: %d, %d bytes back", n, res.StatusCode, len(body))
		}
	}
	rc.send("GET /length HTTP/1.1\r\nHost: x\r\n\r\n")
	if _, body := rc.read("GET"); len(body) != len(big) {
		t.Errorf("after the handover: %d bytes", len(body))
	}
	checkTally(t, recorded(t, rt, rec), tally{"v1": {10, 0}})
}

// rawInstance is an instance written by hand: serve handles each of its
// connections.
func rawInstance(t *testing.T, serve func(c net.Conn, br *bufio.Reader)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				serve(c, bufio.NewReader(c))
			})
		}
	})
	return "http://" + ln.Addr().String()
}

// TestFastPathUpstreamCloses covers instances that end connections: after
// a response ended by closing, after Connection: close, and while idle
// between two requests (a GET is retried on a new connection, a POST
// checks its connection first); every request succeeds and is recorded
// once.
func TestFastPathUpstreamCloses(t *testing.T) {
	var conns atomic.Int64
	idleClosed := make(chan struct{}, 2)
	inst := rawInstance(t, func(c net.Conn, br *bufio.Reader) {
		conns.Add(1)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			_, _ = io.Copy(io.Discard, req.Body)
			switch req.URL.Path {
			case "/eof": // HTTP/1.0 style: the body ends with the connection
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end")
				return
			case "/close":
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 5\r\n\r\nclose")
				return
			case "/idle-close": // answers, then closes while idle
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nidle")
				c.Close()
				idleClosed <- struct{}{}
				return
			default:
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			}
		}
	})
	rec := metrics.NewRecorder("orders")
	rt, base := start(t, rec)
	must(t, rt.SetBackend("v1", inst))
	rt.SetSplit("v1", "", 0)
	rc := dialRaw(t, base)
	for _, step := range []struct{ req, method, want string }{
		{"GET /eof HTTP/1.1\r\nHost: x\r\n\r\n", "GET", "until the end"},
		{"GET /a HTTP/1.1\r\nHost: x\r\n\r\n", "GET", "ok"},
		{"GET /close HTTP/1.1\r\nHost: x\r\n\r\n", "GET", "close"},
		{"GET /idle-close HTTP/1.1\r\nHost: x\r\n\r\n", "GET", "idle"},
		{"GET /b HTTP/1.1\r\nHost: x\r\n\r\n", "GET", "ok"}, // retried
		{"GET /idle-close HTTP/1.1\r\nHost: x\r\n\r\n", "GET", "idle"},
		{"POST /c HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc", "POST", "ok"}, // checked first
	} {
		rc.send(step.req)
		res, body := rc.read(step.method)
		if strings.Contains(step.req, "idle-close") {
			// Closed before the next request is sent, or the test would
			// be of a race that no proxy can win.
			<-idleClosed
		}
		if res.StatusCode != 200 || body != step.want {
			t.Fatalf("%q: %d %q, want 200 %q", step.req, res.StatusCode, body, step.want)
		}
		if res.Close {
			t.Fatalf("%q: the client's connection is closed because the instance's was", step.req)
		}
	}
	checkTally(t, recorded(t, rt, rec), tally{"v1": {7, 0}})
	if n := conns.Load(); n < 5 {
		t.Errorf("the instance saw %d connections: closed ones were reused", n)
	}
}

// TestFastPathClientConnectionClose answers Connection: close with
// Connection: close and then closes the client connection.
func TestFastPathClientConnectionClose(t *testing.T) {
	v1 := newInstance(t, "v1")
	rec := metrics.NewRecorder("orders")
	rt, base := start(t, rec)
	must(t, rt.SetBackend("v1", v1.URL))
	rt.SetSplit("v1", "", 0)
	rc := dialRaw(t, base)
	rc.send("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	res, body := rc.read("GET")
	if res.StatusCode != 200 || body != "v1" || !res.Close {
		t.Errorf("got %d %q, Connection: close %v", res.StatusCode, body, res.Close)
	}
	if n, err := rc.br.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Errorf("after the response: read %d bytes, %v; want EOF", n, err)
	}
	checkTally(t, recorded(t, rt, rec), tally{"v1": {1, 0}})
}

// TestFastPathPipelined answers requests sent back to back in one write,
// in order.
func TestFastPathPipelined(t *testing.T) {
	in := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.URL.Path)
	}))
	t.Cleanup(in.Close)
	rt, base := start(t, nil)
	must(t, rt.SetBackend("v1", in.URL))
	rt.SetSplit("v1", "", 0)
	rc := dialRaw(t, base)
	var b strings.Builder
	for i := range 20 {
		fmt.Fprintf(&b, "GET /%d HTTP/1.1\r\nHost: x\r\n\r\n", i)
	}
	rc.send(b.String())
	for i := range 20 {
		if _, body := rc.read("GET"); body != fmt.Sprintf("/%d", i) {
			t.Fatalf("response %d: %q", i, body)
		}
	}
}

// TestFastPathHandsOver checks requests the fast path leaves to net/http,
// each on a connection of its own that then stays with net/http: they are
// answered, forwarded and recorded as before.
func TestFastPathHandsOver(t *testing.T) {
	in := httptest.NewServer(http.HandlerFunc(echoHead))
	t.Cleanup(in.Close)
	rec := metrics.NewRecorder("orders")
	rt, base := start(t, rec)
	must(t, rt.SetBackend("v1", in.URL))
	rt.SetSplit("v1", "", 0)
	for _, req := range []string{
		"GET / HTTP/1.0\r\nHost: x\r\n\r\n",
		"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"GET /%zz HTTP/1.1\r\nHost: x\r\n\r\n", // refused by net/http: 400, not recorded
		"GET / HTTP/1.1\r\n\r\n",               // no Host: 400
		"GET http://x/abs HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("b", 6000) + "\r\n\r\n",
		"GET / HTTP/1.1\nHost: x\n\n",
		"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
	} {
		rc := dialRaw(t, base)
		rc.send(req)
		res, body := rc.read(strings.Fields(req)[0])
		switch {
		case strings.Contains(req, "%zz") || !strings.Contains(req, "Host"):
			if res.StatusCode != http.StatusBadRequest {
				t.Errorf("%q: %d, want 400 from net/http", req, res.StatusCode)
			}
		case strings.HasPrefix(req, "OPTIONS *"): // net/http answers it itself
			if res.StatusCode != 200 || res.Header.Get(HeaderVersion) != "" {
				t.Errorf("%q: %d, version %q", req, res.StatusCode, res.Header.Get(HeaderVersion))
			}
		case res.StatusCode != 200 || res.Header.Get(HeaderVersion) != "v1":
			t.Errorf("%q: %d %q", req, res.StatusCode, body)
		case strings.Contains(req, "chunked") && !strings.Contains(body, `"body":"abc"`):
			t.Errorf("%q: the instance got %s", req, body)
		}
	}
	// Expect: 100-continue, as Go's client sends it.
	tr := &http.Transport{ExpectContinueTimeout: 5 * time.Second}
	t.Cleanup(tr.CloseIdleConnections)
	req, _ := http.NewRequest(http.MethodPut, base+"/put", strings.NewReader("payload"))
	req.Header.Set("Expect", "100-continue")
	res, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(b), `"body":"payload"`) {
		t.Errorf("Expect: 100-continue: %d %s", res.StatusCode, b)
	}
	checkTally(t, recorded(t, rt, rec), tally{"v1": {6, 0}})
}

// TestFastPathFaultsSwitchVersionOff installs a fault on v2 while one
// client connection sends requests: from then on v2's requests meet the
// fault (net/http's path) and v1's are still answered; the split goes on
// exactly as without the fault, and every request is recorded under its
// version.
func TestFastPathFaultsSwitchVersionOff(t *testing.T) {
	v1, v2 := newInstance(t, "v1"), newInstance(t, "v2")
	sequence := func(fault bool) (string, tally) {
		rec := metrics.NewRecorder("orders")
		rt, base := start(t, rec, WithSeed(9))
		must(t, rt.SetBackend("v1", v1.URL))
		must(t, rt.SetBackend("v2", v2.URL))
		rt.SetSplit("v1", "v2", 0.3)
		rc := dialRaw(t, base)
		var b strings.Builder
		seen := tally{}
		for i := range 300 {
			if fault && i == 100 {
				rt.Point("v2").Install(answer500)
			}
			rc.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			res, body := rc.read("GET")
			v := res.Header.Get(HeaderVersion)
			want := 200
			if fault && i >= 100 && v == "v2" {
				want = 500
			}
			if res.StatusCode != want || (want == 200 && body != v) {
				t.Fatalf("request %d to %s: %d %q, want %d", i, v, res.StatusCode, body, want)
			}
			seen.add(v, want >= 500)
			b.WriteString(v[1:])
		}
		checkTally(t, recorded(t, rt, rec), seen)
		return b.String(), seen
	}
	plain, _ := sequence(false)
	faulted, seen := sequence(true)
	if plain != faulted {
		t.Errorf("the fault changed the split:\n%s\n%s", plain, faulted)
	}
	if seen["v2"] == nil || seen["v2"][1] == 0 {
		t.Errorf("no v2 request met the fault: %v", seen)
	}
}

// TestFastPathSlowInstanceClientLeaves leaves while the instance takes
// its time: the request is recorded as a transport error, and the
// instance sees its request cancelled.
func TestFastPathSlowInstanceClientLeaves(t *testing.T) {
	arrived, cancelled := make(chan struct{}), make(chan struct{})
	in := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-r.Context().Done()
		close(cancelled)
	}))
	t.Cleanup(in.Close)
	rec := metrics.NewRecorder("orders")
	rt, base := start(t, rec)
	must(t, rt.SetBackend("v1", in.URL))
	rt.SetSplit("v1", "", 0)
	rc := dialRaw(t, base)
	rc.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	<-arrived
	rc.c.Close()
	select {
	case <-cancelled:
	case <-time.After(10 * time.Second):
		t.Fatal("the instance's request was not cancelled when the client left")
	}
	checkTally(t, recorded(t, rt, rec), tally{"v1": {1, 1}})
}

// TestFastPathSlowInstanceAnswers waits past watchAfter for an answer
// with the client still there: the watch must stop without disturbing
// the connection, which carries the next request.
func TestFastPathSlowInstanceAnswers(t *testing.T) {
	release := make(chan struct{})
	in := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-release
		}
		_, _ = io.WriteString(w, r.URL.Path)
	}))
	t.Cleanup(in.Close)
	rec := metrics.NewRecorder("orders")
	rt, base := start(t, rec)
	must(t, rt.SetBackend("v1", in.URL))
	rt.SetSplit("v1", "", 0)
	rc := dialRaw(t, base)
	// The next request is pipelined behind the slow one: the watch reads
	// its first byte, which must not be lost.
	rc.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
	watchStarted(t, rt)
	rc.send("GET /next HTTP/1.1\r\nHost: x\r\n\r\n")
	close(release)
	for _, want := range []string{"/slow", "/next"} {
		if res, body := rc.read("GET"); res.StatusCode != 200 || body != want {
			t.Fatalf("got %d %q, want %q", res.StatusCode, body, want)
		}
	}
	checkTally(t, recorded(t, rt, rec), tally{"v1": {2, 0}})
}

// TestFastPathSlowAnswerThenClientCloses: a client that read a slow
// answer whole and closed its connection (Connection: close, as a
// client without keep-alive does) had no failure, though its close
// comes while the request is still being finished. The hook holds the
// router between the relay and the record until the client has closed
// and a watch still running would have seen it (CI's failure, seen
// once: the router recorded one failure more than its clients had).
func TestFastPathSlowAnswerThenClientCloses(t *testing.T) {
	release := make(chan struct{})
	in := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
		_, _ = io.WriteString(w, "done")
	}))
	t.Cleanup(in.Close)
	rec := metrics.NewRecorder("orders")
	rt, base := start(t, rec)
	must(t, rt.SetBackend("v1", in.URL))
	rt.SetSplit("v1", "", 0)
	closed := make(chan struct{})
	testHookAfterRelay = func(fc *fastConn) {
		select {
		case <-closed:
		case <-time.After(5 * time.Second):
			return
		}
		// Give a running watch every chance to see the close.
		deadline := time.Now().Add(2 * time.Second)
		for fc.waitSince.Load() == -1 && !fc.gone.Load() && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
	}
	t.Cleanup(func() { testHookAfterRelay = nil })
	rc := dialRaw(t, base)
	rc.send("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	watchStarted(t, rt)
	close(release)
	if res, body := rc.read("GET"); res.StatusCode != 200 || body != "done" {
		t.Fatalf("got %d %q", res.StatusCode, body)
	}
	rc.c.Close()
	close(closed)
	checkTally(t, recorded(t, rt, rec), tally{"v1": {1, 0}})
}

// watchStarted waits until a fast connection watches its client
// (its request has waited past watchAfter).
func watchStarted(t *testing.T, rt *Router) {
	t.Helper()
	eventually(t, "the client watch started", func() bool {
		for fc := range rt.snapshotFast() {
			if fc.waitSince.Load() == -1 {
				return true
			}
		}
		return false
	})
}

// snapshotFast returns the fast connections now open.
func (rt *Router) snapshotFast() map[*fastConn]struct{} {
	rt.fastMu.Lock()
	defer rt.fastMu.Unlock()
	return maps.Clone(rt.fastConns)
}

// TestFastPathUnusualResponses relays responses the in-place scan leaves
// to http.ReadResponse (a head over the read buffer, a folded header),
// informational responses before the final one, and answers 502 to
// garbage.
func TestFastPathUnusualResponses(t *testing.T) {
	inst := rawInstance(t, func(c net.Conn, br *bufio.Reader) {
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			switch req.URL.Path {
			case "/big-head":
				fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nX-Big: %s\r\nContent-Length: 3\r\n\r\nbig", strings.Repeat("h", 6000))
			case "/folded":
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nX-Folded: a\r\n b\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nfolded\r\n0\r\n\r\n")
			case "/early-hints":
				_, _ = io.WriteString(c, "HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhints")
			case "/no-reason":
				_, _ = io.WriteString(c, "HTTP/1.1 201\r\nContent-Length: 2\r\n\r\nok")
			case "/garbage":
				_, _ = io.WriteString(c, "SMTP ready\r\n\r\n")
				return
			}
		}
	})
	rec := metrics.NewRecorder("orders")
	rt, base := start(t, rec)
	must(t, rt.SetBackend("v1", inst))
	rt.SetSplit("v1", "", 0)
	c := newClient(t)
	for _, tt := range []struct {
		path, body string
		status     int
	}{{"/big-head", "big", 200}, {"/folded", "folded", 200}, {"/early-hints", "hints", 200}, {"/garbage", "", 502}} {
		r := get(t, c, base+tt.path, nil)
		if r.status != tt.status || (tt.status == 200 && r.body != tt.body) || r.version != "v1" {
			t.Errorf("%s: %d %q from %q", tt.path, r.status, r.body, r.version)
		}
		if tt.path == "/big-head" && len(r.header.Get("X-Big")) != 6000 {
			t.Errorf("%s: the long header was cut", tt.path)
		}
	}
	rc := dialRaw(t, base)
	rc.send("GET /no-reason HTTP/1.1\r\nHost: x\r\n\r\n")
	if line, err := rc.br.ReadString('\n'); err != nil || line != "HTTP/1.1 201 Created\r\n" {
		t.Errorf("status line %q, %v; want the reason phrase added", line, err)
	}
	checkTally(t, recorded(t, rt, rec), tally{"v1": {5, 1}})
}

// TestFastPathBackendReplaced moves a version to a new instance: requests
// go there at once, and the old instance's connections are closed.
func TestFastPathBackendReplaced(t *testing.T) {
	old, oldConns := countedInstance(t, "old", nil)
	repl, _ := countedInstance(t, "new", nil)
	rt, base := start(t, nil)
	must(t, rt.SetBackend("v1", old.URL))
	rt.SetSplit("v1", "", 0)
	rc := dialRaw(t, base)
	rc.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if _, body := rc.read("GET"); body != "old" {
		t.Fatalf("got %q", body)
	}
	must(t, rt.SetBackend("v1", repl.URL))
	eventually(t, "the old instance's connections closed", func() bool {
		_, open := oldConns.counts()
		return open == 0
	})
	rc.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if _, body := rc.read("GET"); body != "new" {
		t.Fatalf("after SetBackend: got %q", body)
	}
}

// TestFastPathCloseLeavesNothing closes a router that has idle, pooled
// and busy connections: no goroutine of the router and no connection to
// an instance is left.
func TestFastPathCloseLeavesNothing(t *testing.T) {
	release, held := make(chan struct{}), make(chan struct{})
	in, conns := countedInstance(t, "v1", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			close(held)
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
		_, _ = io.WriteString(w, "ok")
	})
	defer close(release)
	before := runtime.NumGoroutine()
	rec := metrics.NewRecorder("orders")
	rt := New("orders", rec)
	base, err := rt.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	must(t, rt.SetBackend("v1", in.URL))
	rt.SetSplit("v1", "", 0)
	idle := dialRaw(t, base)
	idle.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	idle.read("GET")
	gone := dialRaw(t, base) // its upstream connection goes to the pool
	gone.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	gone.read("GET")
	gone.c.Close()
	busy := dialRaw(t, base)
	busy.send("GET /hold HTTP/1.1\r\nHost: x\r\n\r\n")
	<-held

	if err := rt.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := http.ReadResponse(busy.br, nil); err == nil {
		t.Errorf("the request in flight was answered after Close")
	}
	eventually(t, "no connection to the instance left open", func() bool {
		_, open := conns.counts()
		return open == 0
	})
	idle.c.Close()
	busy.c.Close()
	eventually(t, "the router's goroutines gone", func() bool {
		return runtime.NumGoroutine() <= before
	})
	var n int64
	for _, w := range rec.Cut(time.Now()) {
		n += w.Requests
		if w.Label == "v1" && (w.Requests != 3 || w.Failed != 1) {
			t.Errorf("v1: %d requests, %d failed; want 3 and the aborted one failed", w.Requests, w.Failed)
		}
	}
	if rt.InFlight("v1") != 0 {
		t.Errorf("in flight after Close: %d", rt.InFlight("v1"))
	}
}

// countingTransport counts the requests sent through it.
type countingTransport struct {
	http.RoundTripper
	n atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.RoundTripper.RoundTrip(r)
}

// TestWithTransportHasNoFastPath checks that a caller's transport carries
// every request: the fast path, which would bypass it, is off.
func TestWithTransportHasNoFastPath(t *testing.T) {
	v1 := newInstance(t, "v1")
	tr := &countingTransport{RoundTripper: newTransport()}
	t.Cleanup(tr.RoundTripper.(*http.Transport).CloseIdleConnections)
	rt, base := start(t, nil, WithTransport(tr))
	must(t, rt.SetBackend("v1", v1.URL))
	rt.SetSplit("v1", "", 0)
	c := newClient(t)
	for range 5 {
		if r := get(t, c, base, nil); r.status != 200 || r.body != "v1" {
			t.Fatalf("got %d %q", r.status, r.body)
		}
	}
	if n := tr.n.Load(); n != 5 {
		t.Errorf("the transport carried %d of 5 requests", n)
	}
}

// TestFastPathRecordsLatency checks that a request's recorded latency
// runs to the end of its response: at least the time the instance took.
func TestFastPathRecordsLatency(t *testing.T) {
	const d = 20 * time.Millisecond
	in := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "first")
		w.(http.Flusher).Flush()
		timer := time.NewTimer(d) // the body ends d after its start
		defer timer.Stop()
		<-timer.C
		_, _ = io.WriteString(w, "last")
	}))
	t.Cleanup(in.Close)
	rec := metrics.NewRecorder("orders")
	rt, base := start(t, rec)
	must(t, rt.SetBackend("v1", in.URL))
	rt.SetSplit("v1", "", 0)
	c := newClient(t)
	for range 3 {
		if r := get(t, c, base, nil); r.body != "firstlast" {
			t.Fatalf("got %q", r.body)
		}
	}
	if err := rt.Close(); err != nil {
		t.Fatal(err)
	}
	for _, w := range rec.Cut(time.Now()) {
		if w.Label == "v1" && (w.Requests != 3 || w.Quantile(0) < d-d/1000) {
			t.Errorf("v1: %d requests, fastest %v; want 3, each at least %v", w.Requests, w.Quantile(0), d)
		}
	}
}

// TestFastPathNoRetryAfterPartialAnswer: a reused connection that breaks
// after part of an answer arrived is a 502, not a retry: the instance
// did get the request.
func TestFastPathNoRetryAfterPartialAnswer(t *testing.T) {
	var requests atomic.Int64
	inst := rawInstance(t, func(c net.Conn, br *bufio.Reader) {
		for {
			if _, err := http.ReadRequest(br); err != nil {
				return
			}
			if requests.Add(1) == 2 {
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Le")
				return
			}
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	rec := metrics.NewRecorder("orders")
	rt, base := start(t, rec)
	must(t, rt.SetBackend("v1", inst))
	rt.SetSplit("v1", "", 0)
	rc := dialRaw(t, base)
	for i, want := range []int{200, 502} {
		rc.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		if res, _ := rc.read("GET"); res.StatusCode != want {
			t.Fatalf("request %d: %d, want %d", i, res.StatusCode, want)
		}
	}
	if n := requests.Load(); n != 2 {
		t.Errorf("the instance got %d requests, want 2 (no retry)", n)
	}
	checkTally(t, recorded(t, rt, rec), tally{"v1": {2, 1}})
}

// TestFastPathChurn sends concurrent traffic, some of it closing its
// connection after each request, while v1 moves between two instances and
// a fault comes and goes on v2: no request fails but those the fault
// answers, and every one is recorded once under its version.
func TestFastPathChurn(t *testing.T) {
	a, b, v2 := newInstance(t, "v1"), newInstance(t, "v1"), newInstance(t, "v2")
	rec := metrics.NewRecorder("orders")
	rt, base := start(t, rec, WithSeed(21))
	must(t, rt.SetBackend("v1", a.URL))
	must(t, rt.SetBackend("v2", v2.URL))
	rt.SetSplit("v1", "v2", 0.4)

	var mu sync.Mutex
	seen := tally{}
	stop, churned := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(churned)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			must(t, rt.SetBackend("v1", []string{a.URL, b.URL}[i%2]))
			remove := rt.Point("v2").Install(answer500)
			runtime.Gosched()
			remove()
		}
	}()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			c := newClient(t)
			for i := range 150 {
				var h http.Header
				if w%2 == 0 && i%10 == 0 {
					h = http.Header{"Connection": {"close"}}
				}
				r := get(t, c, base, h)
				if !(r.status == 200 && r.body == r.version) && !(r.status == 500 && r.version == "v2") {
					t.Errorf("%s answered %d %q", r.version, r.status, r.body)
				}
				mu.Lock()
				seen.add(r.version, r.status >= 500)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(stop)
	<-churned
	checkTally(t, recorded(t, rt, rec), seen)
}
