package gameday

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/drillhq/drill/harness/journal"
)

// testConsole is a console over a real journal in a temporary directory,
// as a game day with an advisory judge and hidden faults has it.
func testConsole(t *testing.T) (*Console, *journal.Journal) {
	t.Helper()
	j, err := journal.Open(filepath.Join(t.TempDir(), "journal.jsonl"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = j.Close() })
	c := New(Config{Journal: j, Scenario: "x", JudgeMode: "advisory", HiddenFaults: true, FaultNames: []string{"slow"}})
	return c, j
}

func testDashboard(t *testing.T, c *Console, who string, heartbeat time.Duration) *Dashboard {
	t.Helper()
	d, err := serveDashboard(c, who, heartbeat)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Error(err)
		}
	})
	return d
}

// originToken splits a dashboard's URL into its origin and its token.
func originToken(t *testing.T, d *Dashboard) (origin, token string) {
	t.Helper()
	u, err := url.Parse(d.URL())
	if err != nil {
		t.Fatal(err)
	}
	if u.Scheme != "http" || u.Hostname() != "127.0.0.1" || u.Path != "/" {
		t.Fatalf("URL %s: want http://127.0.0.1:PORT/?token=...", d.URL())
	}
	return u.Scheme + "://" + u.Host, u.Query().Get("token")
}

// post sends one command to /ctl with the token header (none when "").
func post(t *testing.T, origin, token, body string) (int, Reply) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, origin+"/ctl", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set(TokenHeader, token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var rep Reply
	if res.StatusCode != http.StatusForbidden && json.Unmarshal(b, &rep) != nil {
		t.Fatalf("POST /ctl %s: %d, not a reply: %s", body, res.StatusCode, b)
	}
	return res.StatusCode, rep
}

// lastEvent is the journal's last event called name, or nil.
func lastEvent(j *journal.Journal, name string) *journal.Event {
	evs := j.Events()
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Event == name {
			return &evs[i]
		}
	}
	return nil
}

// TestDashboardToken: without the token, or with another, no route
// answers, and the token in /ctl's query rather than its header is not
// enough (a cross-site form can put it in a URL, not in a header).
func TestDashboardToken(t *testing.T) {
	c, j := testConsole(t)
	d := testDashboard(t, c, "<b>root</b>", heartbeatEvery)
	origin, token := originToken(t, d)
	if len(token) != 32 || strings.Trim(token, "0123456789abcdef") != "" {
		t.Fatalf("token %q: want 128 bits in hex", token)
	}
	wrong := strings.Repeat("0", 32)
	note := `{"command":"note","arg":"hi","as":"mallory"}`
	for _, tc := range []struct {
		name, method, path, header string
	}{
		{"page without token", "GET", "/", ""},
		{"page with wrong token", "GET", "/?token=" + wrong, ""},
		{"page with empty token", "GET", "/?token=", ""},
		{"events without token", "GET", "/events", ""},
		{"events with wrong token", "GET", "/events?token=" + wrong, ""},
		{"ctl without token", "POST", "/ctl", ""},
		{"ctl with wrong token", "POST", "/ctl", wrong},
		{"ctl with token in query only", "POST", "/ctl?token=" + token, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader
			if tc.method == "POST" {
				body = strings.NewReader(note)
			}
			req, err := http.NewRequest(tc.method, origin+tc.path, body)
			if err != nil {
				t.Fatal(err)
			}
			if tc.header != "" {
				req.Header.Set(TokenHeader, tc.header)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusForbidden {
				t.Errorf("%s %s: %d, want 403", tc.method, tc.path, res.StatusCode)
			}
			if strings.Contains(string(b), token) {
				t.Errorf("%s %s: the refusal shows the token", tc.method, tc.path)
			}
		})
	}
	if len(c.Actions()) != 0 || lastEvent(j, EventCommand) != nil {
		t.Errorf("a command without the token reached the console: %+v", c.Actions())
	}

	// With the token: the page, private and closed to everything else.
	res, err := http.Get(d.URL())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", d.URL(), res.StatusCode)
	}
	for h, want := range map[string]string{
		"Content-Type":            "text/html; charset=utf-8",
		"Content-Security-Policy": csp,
		"Cache-Control":           "no-store",
		"Referrer-Policy":         "no-referrer",
	} {
		if got := res.Header.Get(h); got != want {
			t.Errorf("%s: %q, want %q", h, got, want)
		}
	}
	for _, want := range []string{"default-src 'none'", "connect-src 'self'", "script-src 'unsafe-inline'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("the CSP lacks %s", want)
		}
	}
	page := string(b)
	if !strings.Contains(page, `content="&lt;b&gt;root&lt;/b&gt;"`) || strings.Contains(page, "<b>root") || strings.Contains(page, whoMark) {
		t.Errorf("the operator's default name is not in the page, escaped, once")
	}
	for _, id := range []string{"phase", "step", "windows", "versions", "judge", "faults", "timeline", "as", "note-text", "fault-name", "msg",
		"btn-approve", "btn-reject", "btn-pause", "btn-resume", "btn-promote", "btn-rollback", "btn-abort", "btn-note", "btn-inject", "btn-revert"} {
		if !strings.Contains(page, `id="`+id+`"`) {
			t.Errorf("the page has no #%s", id)
		}
	}
	// Nothing from outside: no src, no link to an address, no CSS url.
	for _, bad := range []string{"src=", `href="http`, `href="//`, "url(", "@import"} {
		if strings.Contains(page, bad) {
			t.Errorf("the page names %q: it must load nothing", bad)
		}
	}
}

// TestDashboardCtl: a command from the page reaches the console as the
// name given, via the dashboard, and is journaled; a refused one is 409
// with the console's reason; a malformed or oversized body changes nothing.
func TestDashboardCtl(t *testing.T) {
	c, j := testConsole(t)
	d := testDashboard(t, c, "root", heartbeatEvery)
	origin, token := originToken(t, d)

	code, rep := post(t, origin, token, `{"command":"note","arg":"p99 rising on v2","as":"bob"}`)
	if code != http.StatusOK || !rep.OK || rep.Message != "noted" || rep.Status == nil {
		t.Fatalf("note: %d %+v, want 200 noted with the status", code, rep)
	}
	e := lastEvent(j, EventCommand)
	if e == nil {
		t.Fatalf("no %s in the journal: %+v", EventCommand, j.Events())
	}
	want := map[string]any{"as": "bob", "command": "note", "arg": "p99 rising on v2", "via": "dashboard", "effect": "noted"}
	if !reflect.DeepEqual(e.Fields, want) {
		t.Errorf("journaled %v, want %v", e.Fields, want)
	}

	code, rep = post(t, origin, token, `{"command":"rollback","as":"bob"}`)
	if code != http.StatusConflict || rep.OK || !strings.Contains(rep.Message, "rollback applies during the rollout") {
		t.Errorf("rollback before the rollout: %d %+v, want 409 with the reason", code, rep)
	}
	if e := lastEvent(j, EventRefused); e == nil || e.Fields["via"] != "dashboard" || e.Fields["as"] != "bob" {
		t.Errorf("the refusal is not journaled as bob's via the dashboard: %+v", e)
	}

	// No name: the console's default.
	if code, _ := post(t, origin, token, `{"command":"note","arg":"anon"}`); code != http.StatusOK {
		t.Errorf("note without a name: %d", code)
	}
	if e := lastEvent(j, EventCommand); e.Fields["as"] != "operator" {
		t.Errorf("a nameless command journaled as %v", e.Fields["as"])
	}

	before := len(c.Actions())
	for _, tc := range []struct {
		name, body string
		code       int
	}{
		{"not JSON", `note hi`, http.StatusBadRequest},
		{"unknown field", `{"command":"note","arg":"x","via":"ctl"}`, http.StatusBadRequest},
		{"two objects", `{"command":"note","arg":"x"}{"command":"abort"}`, http.StatusBadRequest},
		{"oversized", `{"command":"note","arg":"` + strings.Repeat("x", maxRequest) + `"}`, http.StatusRequestEntityTooLarge},
	} {
		if code, rep := post(t, origin, token, tc.body); code != tc.code || rep.OK {
			t.Errorf("%s: %d %+v, want %d", tc.name, code, rep, tc.code)
		}
	}
	if n := len(c.Actions()); n != before {
		t.Errorf("bad requests reached the console: %d actions, want %d", n, before)
	}

	res, err := http.Get(origin + "/ctl?token=" + token)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /ctl: %d, want 405", res.StatusCode)
	}
}

// sse is one server-sent message: an event with its data, or a comment.
type sse struct {
	event, data, comment string
}

// readSSE parses the stream of body into ch until it ends.
func readSSE(body io.Reader, ch chan<- sse) {
	defer close(ch)
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	var m sse
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if m != (sse{}) {
				ch <- m
			}
			m = sse{}
		case strings.HasPrefix(line, ":"):
			m.comment = strings.TrimSpace(line[1:])
		case strings.HasPrefix(line, "event: "):
			m.event = line[len("event: "):]
		case strings.HasPrefix(line, "data: "):
			m.data += line[len("data: "):]
		}
	}
}

// openStream subscribes to a dashboard's events; cancel ends the request.
func openStream(t *testing.T, ctx context.Context, d *Dashboard) (<-chan sse, *http.Response) {
	t.Helper()
	origin, token := originToken(t, d)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, origin+"/events?token="+token, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET /events: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	ch := make(chan sse, 64)
	go readSSE(res.Body, ch)
	return ch, res
}

// next waits for the first message that match accepts.
func next(t *testing.T, ch <-chan sse, what string, match func(sse) bool) sse {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case m, ok := <-ch:
			if !ok {
				t.Fatalf("the stream ended before %s", what)
			}
			if match(m) {
				return m
			}
		case <-timeout:
			t.Fatalf("no %s within 10s", what)
		}
	}
}

func statusOf(t *testing.T, m sse) Status {
	t.Helper()
	var st Status
	if err := json.Unmarshal([]byte(m.data), &st); err != nil {
		t.Fatalf("status data %q: %v", m.data, err)
	}
	return st
}

func subscribers(c *Console) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.subs)
}

// waitUntil polls cond until it holds or the bound passes.
func waitUntil(t *testing.T, what string, bound time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(bound)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, bound)
		}
		<-tick.C
	}
}

// TestDashboardEvents: the stream starts with the status, sends a new one
// at every change and the journal events the console passes, and ends
// when the dashboard closes.
func TestDashboardEvents(t *testing.T) {
	c, j := testConsole(t)
	d, err := ServeDashboard(c, "root")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ch, _ := openStream(t, ctx, d)

	first := next(t, ch, "the first message", func(sse) bool { return true })
	if first.comment != "" || first.event != "status" {
		t.Fatalf("first message %+v, want the status", first)
	}
	if st := statusOf(t, first); st.Scenario != "x" || st.Phase != "starting" || st.Windows != 0 || !st.FaultsHidden || st.JudgeMode != "advisory" {
		t.Errorf("first status %+v", st)
	}

	vs := []VersionView{{Service: "orders", Version: "v1", Requests: 90, ErrorRate: 0.01, P99Ms: 120, Share: 0.9}}
	c.SetWindows(time.Now(), vs)
	m := next(t, ch, "a status with the window", func(m sse) bool { return m.event == "status" && statusOf(t, m).Windows == 1 })
	if st := statusOf(t, m); !reflect.DeepEqual(st.Versions, vs) {
		t.Errorf("versions %+v, want %+v", st.Versions, vs)
	}

	c.Event(j.Record(journal.StepStart, "step", 1))
	m = next(t, ch, "the step.start event", func(m sse) bool { return m.event == "event" })
	var e journal.Event
	if err := json.Unmarshal([]byte(m.data), &e); err != nil || e.Event != journal.StepStart {
		t.Errorf("event %q (%v), want %s", m.data, err, journal.StepStart)
	}

	// Close ends the stream, and the console forgets the subscriber.
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	for range ch { // until the stream ends
	}
	if n := subscribers(c); n != 0 {
		t.Errorf("%d subscribers after Close", n)
	}
	if err := d.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	// (Another process may have the port by now: only our page is wrong.)
	if res, err := http.Get(d.URL()); err == nil {
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if strings.Contains(string(b), `id="phase"`) {
			t.Error("the dashboard still serves its page after Close")
		}
	}
}

// TestDashboardHeartbeat: a quiet stream gets a comment now and then.
func TestDashboardHeartbeat(t *testing.T) {
	c, _ := testConsole(t)
	d := testDashboard(t, c, "root", 20*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ch, _ := openStream(t, ctx, d)
	next(t, ch, "a heartbeat", func(m sse) bool { return m.comment == "heartbeat" })
}

// TestDashboardClientGone: a page closed ends its stream's subscription.
func TestDashboardClientGone(t *testing.T) {
	c, _ := testConsole(t)
	d := testDashboard(t, c, "root", heartbeatEvery)
	ctx, cancel := context.WithCancel(context.Background())
	ch, _ := openStream(t, ctx, d)
	next(t, ch, "the first status", func(m sse) bool { return m.event == "status" })
	if n := subscribers(c); n != 1 {
		t.Fatalf("%d subscribers with one page open", n)
	}
	cancel()
	waitUntil(t, "the subscription ends with its page", 10*time.Second, func() bool { return subscribers(c) == 0 })
}
