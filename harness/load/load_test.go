package load

import (
	"bufio"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"sync"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/drillhq/drill/harness/ledger"
	"github.com/drillhq/drill/harness/metrics"
	"github.com/drillhq/drill/scenarios"
)

// ordersLoad is a scenario's load of the orders fixture: a tracked create
// and a read of the last acknowledged write.
func ordersLoad(getWeight int) *scenarios.Scenario {
	return &scenarios.Scenario{
		Seed: 7,
		Load: scenarios.LoadSpec{
			Rate: scenarios.Rate{Freq: 10, Per: time.Second},
			Requests: []*scenarios.Request{
				{Name: "create-order", Method: http.MethodPost, Path: "/orders", Weight: 1,
					Body:   `{"client_ref":"${uuid}","sku":"SKU-${seq}","qty":${rand:1:5}}`,
					Ledger: &scenarios.LedgerKey{Key: "client_ref"}},
				{Name: "get-order", Path: "/orders/${ledger.last}", Weight: getWeight},
			},
		},
		Verify: scenarios.Verify{Data: scenarios.Data{Ledger: &scenarios.Ledger{
			Database: "ordersdb", Table: "orders", Key: "client_ref", Columns: []string{"sku", "qty"},
		}}},
	}
}

// readLedger decodes a closed ledger file.
func readLedger(t *testing.T, path string) []ledger.Entry {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []ledger.Entry
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e ledger.Entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("ledger line %q: %v", sc.Text(), err)
		}
		out = append(out, e)
	}
	return out
}

func TestLedgerTransport(t *testing.T) {
	type sent struct {
		header string // X-Drill-Load-Request as the server saw it
		body   string
	}
	tests := []struct {
		name string
		// answer serves the request; nil means the server is gone.
		answer     http.HandlerFunc
		target     func(g *Generator, url string) *vegeta.Target
		wantStatus string // the ledger entry's status; "" for none
		wantErr    bool
		wantProb   bool
	}{
		{name: "201 is acknowledged", answer: status(201), wantStatus: ledger.Acked},
		{name: "200 is acknowledged", answer: status(200), wantStatus: ledger.Acked},
		{name: "204 is acknowledged", answer: status(204), wantStatus: ledger.Acked},
		{name: "500 writes nothing", answer: status(500)},
		{name: "503 writes nothing", answer: status(503)},
		{name: "409 writes nothing", answer: status(409)},
		{name: "redirect writes nothing", answer: func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/elsewhere", http.StatusSeeOther)
		}},
		{name: "connection dropped after the request is indeterminate", answer: func(w http.ResponseWriter, r *http.Request) {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				conn.Close()
			}
		}, wantStatus: ledger.Indeterminate, wantErr: true},
		{name: "server gone is indeterminate", answer: nil, wantStatus: ledger.Indeterminate, wantErr: true},
		{name: "untracked request writes nothing", answer: status(201), target: func(g *Generator, url string) *vegeta.Target {
			return &vegeta.Target{Method: http.MethodGet, URL: url + "/orders/x", Header: http.Header{requestHeader: {"1"}}}
		}},
		{name: "out of range index passes through", answer: status(201), target: func(g *Generator, url string) *vegeta.Target {
			return &vegeta.Target{Method: http.MethodPost, URL: url + "/orders", Body: []byte(`{"client_ref":"r"}`), Header: http.Header{requestHeader: {"9"}}}
		}},
		{name: "garbled index passes through", answer: status(201), target: func(g *Generator, url string) *vegeta.Target {
			return &vegeta.Target{Method: http.MethodPost, URL: url + "/orders", Body: []byte(`{"client_ref":"r"}`), Header: http.Header{requestHeader: {"zero"}}}
		}},
		{name: "tracked request without a JSON body is a problem, not an entry", answer: status(201), target: func(g *Generator, url string) *vegeta.Target {
			return &vegeta.Target{Method: http.MethodPost, URL: url + "/orders", Body: []byte(`client_ref=r`), Header: http.Header{requestHeader: {"0"}}}
		}, wantProb: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var (
				mu   sync.Mutex
				seen []sent
			)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				mu.Lock()
				seen = append(seen, sent{header: r.Header.Get(requestHeader), body: string(b)})
				mu.Unlock()
				tt.answer(w, r)
			}))
			defer srv.Close()
			if tt.answer == nil {
				srv.Close()
			}
			lw, err := ledger.Open(filepath.Join(t.TempDir(), "ledger.jsonl"))
			if err != nil {
				t.Fatal(err)
			}
			g := New(ordersLoad(0), srv.URL, metrics.NewRecorder("client"), lw)
			var tgt *vegeta.Target
			if tt.target != nil {
				tgt = tt.target(g, srv.URL)
			} else {
				tgt = &vegeta.Target{}
				if err := g.targeter(tgt); err != nil {
					t.Fatal(err)
				}
			}
			req, err := tgt.Request()
			if err != nil {
				t.Fatal(err)
			}
			client := &http.Client{Transport: g.ledgerTransport(&http.Transport{}),
				CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			resp, err := client.Do(req)
			if err == nil {
				resp.Body.Close()
			}
			if (err != nil) != tt.wantErr {
				t.Fatalf("Do err = %v, want error %v", err, tt.wantErr)
			}
			if err := lw.Close(); err != nil {
				t.Fatal(err)
			}
			entries := readLedger(t, lw.Path())

			mu.Lock()
			defer mu.Unlock()
			for _, s := range seen {
				if s.header != "" {
					t.Errorf("server saw %s: %q", requestHeader, s.header)
				}
			}
			if tt.answer != nil && len(seen) != 1 {
				t.Errorf("server saw %d requests, want 1", len(seen))
			}
			if tt.wantStatus == "" {
				if len(entries) != 0 {
					t.Errorf("ledger = %+v, want nothing", entries)
				}
			} else {
				if len(entries) != 1 {
					t.Fatalf("ledger = %+v, want one %s entry", entries, tt.wantStatus)
				}
				var body map[string]any
				if err := json.Unmarshal(tgt.Body, &body); err != nil {
					t.Fatal(err)
				}
				e := entries[0]
				want := map[string]string{"sku": body["sku"].(string), "qty": strconv.FormatFloat(body["qty"].(float64), 'f', -1, 64)}
				if e.Status != tt.wantStatus || e.Key != body["client_ref"] || !reflect.DeepEqual(e.Columns, want) {
					t.Errorf("entry = %+v, want %s of key %v with columns %v", e, tt.wantStatus, body["client_ref"], want)
				}
				if len(seen) == 1 && seen[0].body != string(tgt.Body) {
					t.Errorf("server got body %q, want %q", seen[0].body, tgt.Body)
				}
			}
			if last := lw.Last(); (tt.wantStatus == ledger.Acked) != (last != "") {
				t.Errorf("last() = %q after a %q entry", last, tt.wantStatus)
			}
			if got := len(lw.Problems()) > 0; got != tt.wantProb {
				t.Errorf("problems = %v, want some: %v", lw.Problems(), tt.wantProb)
			}
		})
	}
}

func status(code int) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(code) }
}

// TestTargeterFollowsTheLedger: a read of the last write is only sent once
// a write has been acknowledged, and then names it.
func TestTargeterFollowsTheLedger(t *testing.T) {
	lw, err := ledger.Open(filepath.Join(t.TempDir(), "ledger.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer lw.Close()
	g := New(ordersLoad(1000), "http://127.0.0.1:1/", metrics.NewRecorder("client"), lw)
	for i := range 20 {
		var tgt vegeta.Target
		if err := g.targeter(&tgt); err != nil {
			t.Fatal(err)
		}
		if tgt.Method != http.MethodPost || tgt.URL != "http://127.0.0.1:1/orders" || tgt.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("target %d before any ack: %s %s %v, want the create", i, tgt.Method, tgt.URL, tgt.Header)
		}
		if tgt.Header.Get(requestHeader) != "0" {
			t.Fatalf("target %d marks request %q, want 0", i, tgt.Header.Get(requestHeader))
		}
	}
	lw.Write(ledger.Entry{Key: "ref-1", Status: ledger.Acked})
	lw.Write(ledger.Entry{Key: "ref-2", Status: ledger.Indeterminate}) // not the last acknowledged
	gets := 0
	for range 100 {
		var tgt vegeta.Target
		if err := g.targeter(&tgt); err != nil {
			t.Fatal(err)
		}
		if tgt.Method == http.MethodGet {
			gets++
			if tgt.URL != "http://127.0.0.1:1/orders/ref-1" || tgt.Header.Get(requestHeader) != "1" {
				t.Fatalf("read after ack: %s %v", tgt.URL, tgt.Header)
			}
		}
	}
	if gets < 90 {
		t.Errorf("%d of 100 targets read after an ack, want nearly all (weight 1000:1)", gets)
	}
}

func TestRampPacerHits(t *testing.T) {
	tests := []struct {
		name    string
		p       rampPacer
		elapsed time.Duration
		want    float64
	}{
		{"start", rampPacer{from: 10, to: 30, over: 10 * time.Second}, 0, 0},
		{"mid ramp", rampPacer{from: 10, to: 30, over: 10 * time.Second}, 5 * time.Second, 75},
		{"end of ramp", rampPacer{from: 10, to: 30, over: 10 * time.Second}, 10 * time.Second, 200},
		{"after the ramp holds to", rampPacer{from: 10, to: 30, over: 10 * time.Second}, 15 * time.Second, 350},
		{"ramp down", rampPacer{from: 30, to: 10, over: 10 * time.Second}, 10 * time.Second, 200},
		{"ramp down mid", rampPacer{from: 30, to: 10, over: 10 * time.Second}, 5 * time.Second, 125},
		{"flat", rampPacer{from: 20, to: 20, over: 4 * time.Second}, 6 * time.Second, 120},
		{"from zero", rampPacer{from: 0, to: 100, over: 10 * time.Second}, 2 * time.Second, 20},
		{"sub-second", rampPacer{from: 0, to: 1000, over: time.Second}, 100 * time.Millisecond, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.p.hits(tt.elapsed)
			if math.Abs(got-tt.want) > 1e-9 {
				t.Errorf("hits(%v) = %v, want %v", tt.elapsed, got, tt.want)
			}
			// hits is the integral of Rate: check it by the trapezoid rule.
			const steps = 10000
			var sum float64
			dt := tt.elapsed / steps
			for i := range steps {
				a, b := time.Duration(i)*dt, time.Duration(i+1)*dt
				sum += (tt.p.Rate(a) + tt.p.Rate(b)) / 2 * (b - a).Seconds()
			}
			if math.Abs(got-sum) > 1e-6*max(1, sum) {
				t.Errorf("hits(%v) = %v, but the integral of Rate is %v", tt.elapsed, got, sum)
			}
		})
	}
}

func TestRampPacerPace(t *testing.T) {
	p := rampPacer{from: 10, to: 30, over: 10 * time.Second}
	tests := []struct {
		name    string
		p       rampPacer
		elapsed time.Duration
		hits    uint64
		want    time.Duration
	}{
		{"behind fires at once", p, 5 * time.Second, 10, 0},
		{"one behind fires at once", p, 5 * time.Second, 74, 0},
		// The wait ends exactly where the rate's integral reaches hits+1:
		// 10t + t²  = 76 at t = 5.0499s, and = 81 at t = 5.2956s.
		{"on schedule waits one interval", p, 5 * time.Second, 75, 49875621 * time.Nanosecond},
		{"ahead waits longer", p, 5 * time.Second, 80, 295630140 * time.Nanosecond},
		{"after the ramp at to", p, 15 * time.Second, 350, time.Second / 30},
		{"no rate waits a second", rampPacer{from: 0, to: 0, over: time.Second}, 5 * time.Second, 0, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, stop := tt.p.Pace(tt.elapsed, tt.hits)
			if stop {
				t.Errorf("Pace stopped the attack")
			}
			if d := got - tt.want; d < -time.Microsecond || d > time.Microsecond {
				t.Errorf("Pace(%v, %d) = %v, want %v", tt.elapsed, tt.hits, got, tt.want)
			}
		})
	}
}

// TestRampPacerFromZero: a ramp from 0/s to 1000/s over 1s should send
// its first request after ~45ms (when the integral reaches 1). Pace sees
// rate 0 at elapsed 0 and waits a whole second instead, after which 500
// requests are due at once: a burst at the start of every ramp from 0.
func TestRampPacerFromZero(t *testing.T) {
	p := rampPacer{from: 0, to: 1000, over: time.Second}
	wait, _ := p.Pace(0, 0)
	if first := time.Duration(math.Sqrt(2/1000.0) * float64(time.Second)); wait > first+time.Millisecond {
		t.Errorf("Pace(0, 0) = %v, want about %v (hits(%v) = %.0f)", wait, first, wait, p.hits(wait))
	}
}
