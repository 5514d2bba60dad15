package gameday

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// The dashboard's limits and timings.
const (
	// heartbeatEvery is the SSE comment sent on a quiet stream: proxies
	// and the browser keep an idle stream open, and a client gone is
	// noticed by a failed write even when the drill publishes nothing.
	heartbeatEvery = 15 * time.Second
	// sseWriteTimeout bounds one write to a stream: a browser tab that
	// stopped reading must not hold its handler, and so Close, forever.
	sseWriteTimeout = 30 * time.Second
	// shutdownGrace is how long Close lets requests in flight finish
	// before it cuts their connections.
	shutdownGrace = 5 * time.Second
	// TokenHeader carries the token on POST /ctl.
	TokenHeader = "X-Drill-Token"
)

// csp lets the page run its own inline script and style and talk to its
// own origin (the event stream, the commands), and nothing else: no
// script, style, image or font from anywhere, no framing, no form posts.
// img-src data: is for the page's empty icon, without which the browser
// asks for /favicon.ico (a request without the token).
const csp = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; " +
	"img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// dashboardHTML is the page, style and script inline. Its one variable
// part, the name field's default, is whoMark in a meta tag's attribute.
//
//go:embed dashboard.html
var dashboardHTML string

const whoMark = "{{WHO}}"

// Dashboard serves the live page for one console on 127.0.0.1.
//
// A random token guards every route. The port on 127.0.0.1 is open to
// every local user, while the control socket is its owner's only; the
// token, which only the drill's output shows, makes the page as private
// as the socket. Commands carry it in a header rather than the query, so
// that another site's form, which cannot set a header, cannot send one
// (no CSRF).
type Dashboard struct {
	c     *Console
	page  []byte // dashboardHTML with who in it
	token string
	url   string
	srv   *http.Server
	// heartbeat is heartbeatEvery, shorter in tests.
	heartbeat time.Duration

	// done ends the event streams: http.Server.Shutdown waits for
	// handlers but never interrupts one, and a stream never ends alone.
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error // Close's answer, the same to every call

	// mu guards closed; wg counts the handlers and the server's own
	// goroutine, so Close returns only once none runs.
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// ServeDashboard listens on 127.0.0.1:0 and serves c's page until Close.
// who is the operator name the page's name field starts with (the OS
// user); each browser remembers its own.
func ServeDashboard(c *Console, who string) (*Dashboard, error) {
	return serveDashboard(c, who, heartbeatEvery)
}

func serveDashboard(c *Console, who string, heartbeat time.Duration) (*Dashboard, error) {
	if c == nil {
		return nil, errors.New("dashboard: no console")
	}
	var raw [16]byte // 128 bits
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, fmt.Errorf("dashboard token: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	d := &Dashboard{c: c, token: hex.EncodeToString(raw[:]), heartbeat: heartbeat, done: make(chan struct{}),
		page: []byte(strings.Replace(dashboardHTML, whoMark, html.EscapeString(who), 1))}
	d.url = fmt.Sprintf("http://%s/?token=%s", ln.Addr(), d.token)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", d.servePage)
	mux.HandleFunc("GET /events", d.events)
	mux.HandleFunc("POST /ctl", d.ctl)
	d.srv = &http.Server{
		Handler:           d.track(mux),
		ReadHeaderTimeout: 10 * time.Second,
		// No WriteTimeout: the event stream lives as long as the page;
		// each of its writes has its own deadline instead.
		IdleTimeout: time.Minute,
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		_ = d.srv.Serve(ln) // ErrServerClosed once Close is called
	}()
	return d, nil
}

// URL is the page's address with its token, to print at the drill's
// start: http://127.0.0.1:PORT/?token=TOKEN.
func (d *Dashboard) URL() string { return d.url }

// Close ends the event streams, stops the server and waits until no
// handler runs. A command in flight is let finish: the console may be
// injecting a fault.
func (d *Dashboard) Close() error {
	d.closeOnce.Do(func() {
		d.mu.Lock()
		d.closed = true
		d.mu.Unlock()
		close(d.done)
		ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer cancel()
		if err := d.srv.Shutdown(ctx); err != nil {
			// A request still in flight after the grace (a client that
			// sends its body slowly, a slow command): cut its connection.
			_ = d.srv.Close()
			d.closeErr = fmt.Errorf("dashboard: connections still open after %s were cut", shutdownGrace)
		}
		d.wg.Wait()
	})
	return d.closeErr
}

// track counts each handler in d.wg, refusing requests once Close began,
// so that Close's wait cannot miss a handler that starts late.
func (d *Dashboard) track(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.mu.Lock()
		if d.closed {
			d.mu.Unlock()
			http.Error(w, "the dashboard is closing", http.StatusServiceUnavailable)
			return
		}
		d.wg.Add(1)
		d.mu.Unlock()
		defer d.wg.Done()
		// Every answer: not cached (it holds live state and the token's
		// page), never sniffed, no referrer that would carry the token.
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		h.ServeHTTP(w, r)
	})
}

// allowed compares a request's token in constant time.
func (d *Dashboard) allowed(token string) bool {
	return subtle.ConstantTimeCompare([]byte(token), []byte(d.token)) == 1
}

func forbidden(w http.ResponseWriter) {
	http.Error(w, "forbidden: open the dashboard's URL as drill printed it (with its token)", http.StatusForbidden)
}

// servePage serves the dashboard itself. The page reads its token from
// its own address.
func (d *Dashboard) servePage(w http.ResponseWriter, r *http.Request) {
	if !d.allowed(r.URL.Query().Get("token")) {
		forbidden(w)
		return
	}
	h := w.Header()
	h.Set("Content-Security-Policy", csp)
	h.Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(d.page)
}

// events streams the console's updates as server-sent events: an
// "event: status" or "event: event" message per Update, its data the
// JSON of the Status or the journal event.
func (d *Dashboard) events(w http.ResponseWriter, r *http.Request) {
	if !d.allowed(r.URL.Query().Get("token")) {
		forbidden(w)
		return
	}
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no") // a buffering proxy would hold the stream
	updates, stop := d.c.Subscribe()
	defer stop()

	send := func(b []byte) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(sseWriteTimeout))
		if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	// retry: the browser reconnects after 2s when the stream breaks.
	if !send([]byte("retry: 2000\n\n")) {
		return
	}
	tick := time.NewTicker(d.heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-d.done:
			return
		case <-r.Context().Done():
			return
		case <-tick.C:
			if !send([]byte(": heartbeat\n\n")) {
				return
			}
		case u := <-updates:
			msg, err := sseMessage(u)
			if err != nil {
				continue // never seen: Status and journal events marshal
			}
			if !send(msg) {
				return
			}
		}
	}
}

// sseMessage is one Update as an event-stream message. JSON has no raw
// newline, so the data is one data: line.
func sseMessage(u Update) ([]byte, error) {
	data, err := json.Marshal(u.Data)
	if err != nil {
		return nil, err
	}
	kind := "event"
	if u.Kind == "status" {
		kind = "status"
	}
	var b bytes.Buffer
	b.Grow(len(data) + 32)
	b.WriteString("event: ")
	b.WriteString(kind)
	b.WriteString("\ndata: ")
	b.Write(data)
	b.WriteString("\n\n")
	return b.Bytes(), nil
}

// ctlRequest is POST /ctl's body.
type ctlRequest struct {
	Command string `json:"command"`
	Arg     string `json:"arg"`
	As      string `json:"as"`
}

// ctl applies one command from the page: 200 with the reply when it
// applied, 409 with it when the console refused it.
func (d *Dashboard) ctl(w http.ResponseWriter, r *http.Request) {
	if !d.allowed(r.Header.Get(TokenHeader)) {
		forbidden(w)
		return
	}
	var req ctlRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRequest))
	dec.DisallowUnknownFields()
	err := dec.Decode(&req)
	if err == nil && dec.Decode(&struct{}{}) != io.EOF {
		err = errors.New("one JSON object expected")
	}
	if err != nil {
		code := http.StatusBadRequest
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			code = http.StatusRequestEntityTooLarge
		}
		writeReply(w, code, Reply{Message: "bad request: " + err.Error()})
		return
	}
	// Without the request's cancel: an operator's inject must not stop
	// half done because the tab closed (the console bounds it).
	rep := d.c.Do(context.WithoutCancel(r.Context()), Command{Name: req.Command, Arg: req.Arg, As: strings.TrimSpace(req.As), Via: "dashboard"})
	code := http.StatusOK
	if !rep.OK {
		code = http.StatusConflict
	}
	writeReply(w, code, rep)
}

func writeReply(w http.ResponseWriter, code int, rep Reply) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(rep)
}
