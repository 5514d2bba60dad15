package harness

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/drillhq/drill/harness/metrics"
	"github.com/drillhq/drill/scenarios"
)

func TestLedgerEntryFromBody(t *testing.T) {
	cols := []string{"sku", "qty", "gift", "note", "meta", "price"}
	tests := []struct {
		name     string
		body     string
		cols     []string
		wantKey  string
		wantCols map[string]string
		wantErr  string
	}{
		{name: "string key, every kind of column", body: `{"client_ref":"r-1","sku":"A","qty":3,"gift":true,"note":null,"meta":{"a":[1,2]},"price":2.5}`, cols: cols,
			wantKey: "r-1", wantCols: map[string]string{"sku": "A", "qty": "3", "gift": "1", "note": "", "meta": `{"a":[1,2]}`, "price": "2.5"}},
		{name: "false renders like a 0 column", body: `{"client_ref":"r","gift":false}`, cols: []string{"gift"},
			wantKey: "r", wantCols: map[string]string{"gift": "0"}},
		{name: "unsent column is left out, not empty", body: `{"client_ref":"r-2","sku":"B"}`, cols: []string{"sku", "qty"},
			wantKey: "r-2", wantCols: map[string]string{"sku": "B"}},
		{name: "number key", body: `{"client_ref":42}`, wantKey: "42"},
		{name: "float key without exponent", body: `{"client_ref":1e6}`, wantKey: "1000000"},
		{name: "whole float renders as an integer", body: `{"client_ref":"r","qty":3.0}`, cols: []string{"qty"},
			wantKey: "r", wantCols: map[string]string{"qty": "3"}},
		{name: "negative", body: `{"client_ref":"r","qty":-7}`, cols: []string{"qty"},
			wantKey: "r", wantCols: map[string]string{"qty": "-7"}},
		{name: "no columns asked", body: `{"client_ref":"r","sku":"A"}`, wantKey: "r"},
		{name: "key missing", body: `{"sku":"A"}`, wantErr: `no field "client_ref"`},
		{name: "key case differs", body: `{"Client_Ref":"r"}`, wantErr: `no field "client_ref"`},
		{name: "not JSON", body: `client_ref=r`, wantErr: "not a JSON object"},
		{name: "JSON array", body: `[{"client_ref":"r"}]`, wantErr: "not a JSON object"},
		{name: "JSON null", body: `null`, wantErr: `no field "client_ref"`},
		{name: "empty body", body: ``, wantErr: "not a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := ledgerEntryFromBody([]byte(tt.body), "client_ref", tt.cols)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if e.Key != tt.wantKey {
				t.Errorf("Key = %q, want %q", e.Key, tt.wantKey)
			}
			if len(e.Columns) != 0 || len(tt.wantCols) != 0 {
				if !reflect.DeepEqual(e.Columns, tt.wantCols) {
					t.Errorf("Columns = %v, want %v", e.Columns, tt.wantCols)
				}
			}
			if e.At == 0 || e.Status != "" {
				t.Errorf("At %d, Status %q: want a time and no status yet", e.At, e.Status)
			}
		})
	}
}

// TestLedgerEntryFromBodyBigInteger: a JSON integer above 2^53 (a
// snowflake id, say) is decoded as float64 and rendered rounded, so the
// ledger records a key the database never held: a false "lost".
func TestLedgerEntryFromBodyBigInteger(t *testing.T) {
	e, err := ledgerEntryFromBody([]byte(`{"client_ref":9007199254740993,"qty":9007199254740993}`), "client_ref", []string{"qty"})
	if err != nil {
		t.Fatal(err)
	}
	if e.Key != "9007199254740993" || e.Columns["qty"] != "9007199254740993" {
		t.Errorf("entry = %+v, want key and qty 9007199254740993", e)
	}
}

// TestScalarsAgree stores what a client sent in a real SQLite column and
// checks dbScalar renders the scanned value as jsonScalar renders the sent
// one: that string equality is what the ledger check relies on.
func TestScalarsAgree(t *testing.T) {
	tests := []struct {
		name    string
		sqlType string
		stored  string // SQL literal the service stored
		sent    string // JSON value the client sent
		want    string
	}{
		{name: "integer", sqlType: "INTEGER", stored: "3", sent: "3", want: "3"},
		{name: "bigint", sqlType: "BIGINT", stored: "123456789012", sent: "123456789012", want: "123456789012"},
		{name: "negative", sqlType: "INTEGER", stored: "-7", sent: "-7", want: "-7"},
		{name: "whole number sent as float", sqlType: "INTEGER", stored: "3", sent: "3.0", want: "3"},
		{name: "real", sqlType: "REAL", stored: "2.5", sent: "2.5", want: "2.5"},
		{name: "whole real", sqlType: "REAL", stored: "3", sent: "3", want: "3"},
		{name: "numeric", sqlType: "NUMERIC", stored: "19.99", sent: "19.99", want: "19.99"},
		{name: "text", sqlType: "TEXT", stored: "'SKU-1'", sent: `"SKU-1"`, want: "SKU-1"},
		{name: "digits as text", sqlType: "TEXT", stored: "'0042'", sent: `"0042"`, want: "0042"},
		{name: "number string into integer column", sqlType: "INTEGER", stored: "'42'", sent: `"42"`, want: "42"},
		{name: "empty text", sqlType: "TEXT", stored: "''", sent: `""`, want: ""},
		{name: "unicode text", sqlType: "TEXT", stored: "'crème brûlée'", sent: `"crème brûlée"`, want: "crème brûlée"},
		{name: "boolean true", sqlType: "BOOLEAN", stored: "1", sent: "true", want: "1"},
		{name: "boolean false", sqlType: "BOOLEAN", stored: "0", sent: "false", want: "0"},
		{name: "null", sqlType: "TEXT", stored: "NULL", sent: "null", want: ""},
		{name: "blob", sqlType: "BLOB", stored: "CAST('ab' AS BLOB)", sent: `"ab"`, want: "ab"},
		{name: "integer above 2^53", sqlType: "BIGINT", stored: "9007199254740993", sent: "9007199254740993", want: "9007199254740993"},
		{name: "timestamp", sqlType: "TIMESTAMP", stored: "'2025-01-02T03:04:05Z'", sent: `"2025-01-02T03:04:05Z"`, want: "2025-01-02T03:04:05Z"},
	}
	db := openSQL(t, newSQLite(t))
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			table := fmt.Sprintf("scalar_%d", i)
			mustExec(t, db, fmt.Sprintf(`CREATE TABLE %s (v %s)`, table, tt.sqlType))
			mustExec(t, db, fmt.Sprintf(`INSERT INTO %s (v) VALUES (%s)`, table, tt.stored))
			var v any
			if err := db.QueryRow(`SELECT v FROM ` + table).Scan(&v); err != nil {
				t.Fatal(err)
			}
			// Decoded as ledgerEntryFromBody decodes request bodies.
			var sent any
			dec := json.NewDecoder(strings.NewReader(tt.sent))
			dec.UseNumber()
			if err := dec.Decode(&sent); err != nil {
				t.Fatal(err)
			}
			fromDB, fromJSON := dbScalar(v), jsonScalar(sent)
			if fromDB != tt.want || fromJSON != tt.want {
				t.Errorf("dbScalar(%#v) = %q, jsonScalar(%s) = %q; want both %q", v, fromDB, tt.sent, fromJSON, tt.want)
			}
		})
	}
}

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
func readLedger(t *testing.T, path string) []ledgerEntry {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []ledgerEntry
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e ledgerEntry
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
		target     func(g *loadGen, url string) *vegeta.Target
		wantStatus string // the ledger entry's status; "" for none
		wantErr    bool
		wantProb   bool
	}{
		{name: "201 is acknowledged", answer: status(201), wantStatus: ledgerAcked},
		{name: "200 is acknowledged", answer: status(200), wantStatus: ledgerAcked},
		{name: "204 is acknowledged", answer: status(204), wantStatus: ledgerAcked},
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
		}, wantStatus: ledgerIndeterminate, wantErr: true},
		{name: "server gone is indeterminate", answer: nil, wantStatus: ledgerIndeterminate, wantErr: true},
		{name: "untracked request writes nothing", answer: status(201), target: func(g *loadGen, url string) *vegeta.Target {
			return &vegeta.Target{Method: http.MethodGet, URL: url + "/orders/x", Header: http.Header{requestHeader: {"1"}}}
		}},
		{name: "out of range index passes through", answer: status(201), target: func(g *loadGen, url string) *vegeta.Target {
			return &vegeta.Target{Method: http.MethodPost, URL: url + "/orders", Body: []byte(`{"client_ref":"r"}`), Header: http.Header{requestHeader: {"9"}}}
		}},
		{name: "garbled index passes through", answer: status(201), target: func(g *loadGen, url string) *vegeta.Target {
			return &vegeta.Target{Method: http.MethodPost, URL: url + "/orders", Body: []byte(`{"client_ref":"r"}`), Header: http.Header{requestHeader: {"zero"}}}
		}},
		{name: "tracked request without a JSON body is a problem, not an entry", answer: status(201), target: func(g *loadGen, url string) *vegeta.Target {
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
			lw, err := openLedger(filepath.Join(t.TempDir(), "ledger.jsonl"))
			if err != nil {
				t.Fatal(err)
			}
			g := newLoadGen(ordersLoad(0), srv.URL, metrics.NewRecorder(ClientSource), lw)
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
			client := &http.Client{Transport: &ledgerTransport{gen: g, next: &http.Transport{}},
				CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			resp, err := client.Do(req)
			if err == nil {
				resp.Body.Close()
			}
			if (err != nil) != tt.wantErr {
				t.Fatalf("Do err = %v, want error %v", err, tt.wantErr)
			}
			if err := lw.close(); err != nil {
				t.Fatal(err)
			}
			entries := readLedger(t, lw.path)

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
				want := map[string]string{"sku": body["sku"].(string), "qty": jsonScalar(body["qty"])}
				if e.Status != tt.wantStatus || e.Key != body["client_ref"] || !reflect.DeepEqual(e.Columns, want) {
					t.Errorf("entry = %+v, want %s of key %v with columns %v", e, tt.wantStatus, body["client_ref"], want)
				}
				if len(seen) == 1 && seen[0].body != string(tgt.Body) {
					t.Errorf("server got body %q, want %q", seen[0].body, tgt.Body)
				}
			}
			if last := lw.last(); (tt.wantStatus == ledgerAcked) != (last != "") {
				t.Errorf("last() = %q after a %q entry", last, tt.wantStatus)
			}
			if got := len(lw.problems) > 0; got != tt.wantProb {
				t.Errorf("problems = %v, want some: %v", lw.problems, tt.wantProb)
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
	lw, err := openLedger(filepath.Join(t.TempDir(), "ledger.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer lw.close()
	g := newLoadGen(ordersLoad(1000), "http://127.0.0.1:1/", metrics.NewRecorder(ClientSource), lw)
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
	lw.write(ledgerEntry{Key: "ref-1", Status: ledgerAcked})
	lw.write(ledgerEntry{Key: "ref-2", Status: ledgerIndeterminate}) // not the last acknowledged
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

func TestLedgerWriterAfterClose(t *testing.T) {
	lw, err := openLedger(filepath.Join(t.TempDir(), "ledger.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	lw.write(ledgerEntry{Key: "a", Status: ledgerAcked})
	lw.flush()
	if got := readLedger(t, lw.path); len(got) != 1 {
		t.Errorf("after flush the file holds %d entries, want 1", len(got))
	}
	if err := lw.close(); err != nil {
		t.Fatal(err)
	}
	lw.write(ledgerEntry{Key: "b", Status: ledgerAcked}) // a late answer must not panic
	lw.flush()
	if err := lw.close(); err != nil {
		t.Errorf("second close = %v", err)
	}
	if got := readLedger(t, lw.path); len(got) != 1 || lw.acked != 1 || lw.last() != "a" {
		t.Errorf("after close: %d entries, acked %d, last %q; want 1, 1, a", len(got), lw.acked, lw.last())
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

// TestKeepAcknowledged: a column the answer leaves out was not
// acknowledged; the body is handed on whole either way.
func TestKeepAcknowledged(t *testing.T) {
	tests := []struct {
		name, answer string
		want         map[string]string
	}{
		{"answer names every column", `{"client_ref":"r","sku":"A","channel":"web"}`, map[string]string{"sku": "A", "channel": "mobile"}},
		{"answer leaves channel out", `{"client_ref":"r","sku":"A"}`, map[string]string{"sku": "A"}},
		{"answer is not JSON", `created`, map[string]string{"sku": "A", "channel": "mobile"}},
		{"answer is a JSON array", `[1]`, map[string]string{"sku": "A", "channel": "mobile"}},
		{"answer is larger than the cap", `{"client_ref":"r","pad":"` + strings.Repeat("x", maxAckBody) + `"}`, map[string]string{"sku": "A", "channel": "mobile"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := ledgerEntry{Key: "r", Columns: map[string]string{"sku": "A", "channel": "mobile"}}
			body := keepAcknowledged(&e, io.NopCloser(strings.NewReader(tt.answer)))
			got, err := io.ReadAll(body)
			if err != nil || string(got) != tt.answer {
				t.Errorf("body handed on = %d bytes, %v; want the answer unchanged (%d bytes)", len(got), err, len(tt.answer))
			}
			if !reflect.DeepEqual(e.Columns, tt.want) {
				t.Errorf("columns = %v, want %v", e.Columns, tt.want)
			}
		})
	}
}
