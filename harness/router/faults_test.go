package router

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drillhq/drill/harness/metrics"
	"github.com/drillhq/drill/injectors"
)

// wrapFault is a ResponseFault built from functions; a nil intercept lets
// every request through.
type wrapFault struct {
	intercept func(w http.ResponseWriter, r *http.Request) bool
	wrap      func(w http.ResponseWriter, r *http.Request) http.ResponseWriter
}

func (f wrapFault) Intercept(w http.ResponseWriter, r *http.Request) bool {
	if f.intercept == nil {
		return false
	}
	return f.intercept(w, r)
}

func (f wrapFault) Wrap(w http.ResponseWriter, r *http.Request) http.ResponseWriter {
	return f.wrap(w, r)
}

var _ injectors.ResponseFault = wrapFault{}

// taggingWriter prefixes the body with its tag, so the body tells which
// writers it went through: the innermost writer's tag comes first.
type taggingWriter struct {
	http.ResponseWriter
	tag    string
	tagged bool
}

// WriteHeader drops the instance's Content-Length, which the tag makes
// wrong.
func (w *taggingWriter) WriteHeader(code int) {
	w.Header().Del("Content-Length")
	w.ResponseWriter.WriteHeader(code)
}

func (w *taggingWriter) Write(b []byte) (int, error) {
	if !w.tagged {
		w.tagged = true
		if _, err := w.ResponseWriter.Write([]byte(w.tag)); err != nil {
			return 0, err
		}
	}
	return w.ResponseWriter.Write(b)
}

func tagging(tag string) wrapFault {
	return wrapFault{wrap: func(w http.ResponseWriter, _ *http.Request) http.ResponseWriter {
		return &taggingWriter{ResponseWriter: w, tag: tag}
	}}
}

// statusSwap turns the instance's status into another one on the way
// out, as a fault corrupting responses would.
type statusSwap struct {
	http.ResponseWriter
	to int
}

func (w *statusSwap) WriteHeader(int) { w.ResponseWriter.WriteHeader(w.to) }

func (w *statusSwap) Write(b []byte) (int, error) { return w.ResponseWriter.Write(b) }

func TestResponseFaultsWrapInInstallOrder(t *testing.T) {
	v1, v2 := newInstance(t, "v1"), newInstance(t, "v2")
	rec := metrics.NewRecorder("orders")
	rt, base := start(t, rec, WithSeed(2))
	must(t, rt.SetBackend("v1", v1.URL))
	must(t, rt.SetBackend("v2", v2.URL))
	rt.SetSplit("v1", "v2", 0.5)

	rt.Point("").Install(tagging("[a]"))
	rt.Point("v2").Install(tagging("[b]"))
	removeC := rt.Point("").Install(tagging("[c]"))
	c := newClient(t)
	seen := tally{}
	for range 40 {
		r := get(t, c, base, nil)
		seen.add(r.version, false)
		// The proxy writes through the last installed wrapper first;
		// the first installed one is next to the router's own writer.
		want := map[string]string{"v1": "[a][c]v1", "v2": "[a][b][c]v2"}[r.version]
		if r.body != want {
			t.Fatalf("%s body %q, want %q", r.version, r.body, want)
		}
	}
	removeC()
	if r := get(t, c, base, nil); !strings.HasPrefix(r.body, "[a]") || strings.Contains(r.body, "[c]") {
		t.Errorf("body %q after removing [c]", r.body)
	} else {
		seen.add(r.version, false)
	}
	checkTally(t, recorded(t, rt, rec), seen)
}

func TestResponseFaultNotWrappedWhenAnswered(t *testing.T) {
	v1 := newInstance(t, "v1")
	rt, base := start(t, nil)
	must(t, rt.SetBackend("v1", v1.URL))
	rt.SetSplit("v1", "", 0)
	wrapped := 0
	rt.Point("").Install(wrapFault{wrap: func(w http.ResponseWriter, _ *http.Request) http.ResponseWriter {
		wrapped++ // requests here are sequential
		return w
	}})
	rt.Point("").Install(answer500)
	if r := get(t, newClient(t), base, nil); r.status != 500 {
		t.Fatalf("status %d, want the 500 a later fault answered", r.status)
	}
	if wrapped != 0 {
		t.Errorf("a response fault wrapped a request another fault answered")
	}
}

func TestResponseFaultStatusIsRecorded(t *testing.T) {
	v1 := newInstance(t, "v1")
	rec := metrics.NewRecorder("orders")
	rt, base := start(t, rec)
	must(t, rt.SetBackend("v1", v1.URL))
	rt.SetSplit("v1", "", 0)
	rt.Point("v1").Install(wrapFault{wrap: func(w http.ResponseWriter, _ *http.Request) http.ResponseWriter {
		return &statusSwap{ResponseWriter: w, to: http.StatusBadGateway}
	}})
	r := get(t, newClient(t), base, nil)
	if r.status != http.StatusBadGateway || r.body != "v1" {
		t.Fatalf("got %d %q, want 502 with the instance's body", r.status, r.body)
	}
	// The router records what the client got, not what the instance said.
	checkTally(t, recorded(t, rt, rec), tally{"v1": {1, 1}})
}

// TestResponseFaultRecordedAtEndOfBody holds the body in a wrapper and
// checks that the request is recorded only once the body is written.
func TestResponseFaultRecordedAtEndOfBody(t *testing.T) {
	v1 := newInstance(t, "v1")
	rec := metrics.NewRecorder("orders")
	rt, base := start(t, rec)
	must(t, rt.SetBackend("v1", v1.URL))
	rt.SetSplit("v1", "", 0)
	writing, release := make(chan struct{}), make(chan struct{})
	rt.Point("").Install(wrapFault{wrap: func(w http.ResponseWriter, _ *http.Request) http.ResponseWriter {
		return &holdingWriter{ResponseWriter: w, writing: writing, release: release}
	}})
	done := make(chan reply, 1)
	go func() { done <- get(t, newClient(t), base, nil) }()
	<-writing
	var during int64
	for _, w := range rec.Cut(time.Now()) {
		during += w.Requests
	}
	close(release)
	if r := <-done; r.status != 200 || r.body != "v1" {
		t.Errorf("got %d %q, want 200 v1", r.status, r.body)
	}
	if during != 0 {
		t.Errorf("%d requests recorded while the body was still being written", during)
	}
	checkTally(t, recorded(t, rt, rec), tally{"v1": {1, 0}})
}

type holdingWriter struct {
	http.ResponseWriter
	writing, release chan struct{}
	once             sync.Once
}

func (w *holdingWriter) Write(b []byte) (int, error) {
	w.once.Do(func() { close(w.writing); <-w.release })
	return w.ResponseWriter.Write(b)
}

func TestResponseFaultClientGoneIsError(t *testing.T) {
	v1 := newInstance(t, "v1")
	rec := metrics.NewRecorder("orders")
	rt, base := start(t, rec)
	must(t, rt.SetBackend("v1", v1.URL))
	rt.SetSplit("v1", "", 0)
	headers := make(chan struct{})
	rt.Point("").Install(wrapFault{wrap: func(w http.ResponseWriter, r *http.Request) http.ResponseWriter {
		return &stallingWriter{ResponseWriter: w, ctx: r.Context(), headers: headers}
	}})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base, nil)
	res, err := newClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	<-headers
	cancel() // the client leaves while the body is stalled
	if _, err := io.ReadAll(res.Body); err == nil {
		t.Errorf("read a whole body from a stalled response")
	}
	res.Body.Close()
	checkTally(t, recorded(t, rt, rec), tally{"v1": {1, 1}})
}

// stallingWriter sends the headers, then holds the body until the
// client leaves, as a throttle facing a client that gives up does.
type stallingWriter struct {
	http.ResponseWriter
	ctx     context.Context
	headers chan struct{}
}

func (w *stallingWriter) Write([]byte) (int, error) {
	_ = http.NewResponseController(w.ResponseWriter).Flush()
	close(w.headers)
	<-w.ctx.Done()
	return 0, w.ctx.Err()
}

func TestCallerListeners(t *testing.T) {
	v1 := newInstance(t, "v1")
	rec := metrics.NewRecorder("pricing")
	rt := New("pricing", rec)
	must(t, rt.SetBackend("v1", v1.URL))
	rt.SetSplit("v1", "", 0)

	if _, err := rt.CallerURL(""); err == nil {
		t.Errorf("CallerURL with an empty caller succeeded")
	}
	// A caller's listener may start before the main one.
	orders, err := rt.CallerURL("orders")
	must(t, err)
	base, err := rt.Start(context.Background())
	must(t, err)
	t.Cleanup(func() { _ = rt.Close() })
	again, err := rt.CallerURL("orders")
	must(t, err)
	billing, err := rt.CallerURL("billing")
	must(t, err)
	if again != orders {
		t.Errorf("second CallerURL(orders) = %s, first %s: want the same listener", again, orders)
	}
	if orders == base || billing == base || orders == billing {
		t.Errorf("listeners share an address: main %s, orders %s, billing %s", base, orders, billing)
	}

	c := newClient(t)
	seen := tally{}
	check := func(url string, want int) {
		t.Helper()
		r := get(t, c, url, nil)
		seen.add(r.version, r.status >= 500)
		if r.status != want {
			t.Errorf("GET %s: %d, want %d", url, r.status, want)
		}
		if want == 200 && (r.version != "v1" || r.body != "v1") {
			t.Errorf("GET %s: routed to %q, answered by %q; want v1 like the main listener", url, r.version, r.body)
		}
	}
	for _, u := range []string{base, orders, billing} {
		check(u, 200)
	}
	remove := rt.CallerPoint("orders").Install(answer500)
	for range 5 {
		check(orders, 500)
		check(base, 200)
		check(billing, 200)
	}
	// Faults for every caller apply on the callers' listeners too.
	removeAll := rt.Point("").Install(faultFunc(func(w http.ResponseWriter, r *http.Request) bool {
		w.WriteHeader(http.StatusTeapot)
		return true
	}))
	check(billing, http.StatusTeapot)
	check(base, http.StatusTeapot)
	check(orders, 500) // the orders fault was installed first
	removeAll()
	remove()
	remove()
	for _, u := range []string{base, orders, billing} {
		check(u, 200)
	}
	checkTally(t, recorded(t, rt, rec), seen)

	// Close stopped every listener.
	for _, u := range []string{base, orders, billing} {
		if res, err := http.Get(u); err == nil {
			res.Body.Close()
			t.Errorf("%s still serves after Close", u)
		}
	}
	if _, err := rt.CallerURL("shipping"); err == nil {
		t.Errorf("CallerURL after Close succeeded")
	}
	if _, err := rt.CallerURL("orders"); err == nil {
		t.Errorf("CallerURL of a closed listener succeeded")
	}
}

func TestCloseAbortsRequestsHeldOnCallerListeners(t *testing.T) {
	v1 := newInstance(t, "v1")
	rec := metrics.NewRecorder("pricing")
	rt, _ := start(t, rec)
	must(t, rt.SetBackend("v1", v1.URL))
	rt.SetSplit("v1", "", 0)
	orders, err := rt.CallerURL("orders")
	must(t, err)
	entered := make(chan struct{})
	rt.CallerPoint("orders").Install(faultFunc(func(w http.ResponseWriter, r *http.Request) bool {
		close(entered)
		<-r.Context().Done() // held until the client or Close ends it
		return true
	}))
	errc := make(chan error, 1)
	go func() {
		res, err := newClient(t).Get(orders)
		if err == nil {
			res.Body.Close()
		}
		errc <- err
	}()
	<-entered
	// Close must not wait for the fault, and counts the request as failed.
	checkTally(t, recorded(t, rt, rec), tally{"v1": {1, 1}})
	<-errc
}
