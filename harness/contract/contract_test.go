package contract

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// ordersReadsPrice is DESIGN.md's example contract.
func ordersReadsPrice(t *testing.T) *Contract {
	t.Helper()
	var schema any
	if err := json.Unmarshal([]byte(`{"type":"object","required":["unit_price_cents","total_cents"],
		"properties":{"total_cents":{"type":"integer"}}}`), &schema); err != nil {
		t.Fatal(err)
	}
	c, err := Compile(Contract{Name: "orders-reads-price", Consumer: "orders", Provider: "pricing",
		Request: Request{Method: "GET", Path: "/price?sku=SKU-1&qty=2"},
		Expect:  Expect{Status: 200, Schema: schema}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestValidate(t *testing.T) {
	c := ordersReadsPrice(t)
	for _, tc := range []struct {
		status int
		body   string
		want   string // "" passes
	}{
		{200, `{"unit_price_cents":5,"total_cents":10}`, ""},
		{200, `{"unit_price_cents":5,"total":10}`, "body: missing property 'total_cents'"},
		{200, `{"total":10}`, "body: missing properties 'unit_price_cents', 'total_cents'"},
		{200, `{"unit_price_cents":5,"total_cents":"10"}`, "body: at /total_cents: got string, want integer"},
		{200, `[]`, "body: got array, want object"},
		{200, `<html>`, `body is not JSON: "<html>"`},
		{500, `{"error":"injected"}`, `status 500, want 200 (body "{\"error\":\"injected\"}")`},
	} {
		err := c.Validate(tc.status, []byte(tc.body))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%d %s: %v", tc.status, tc.body, err)
		case tc.want != "" && (err == nil || err.Error() != tc.want):
			t.Errorf("%d %s: error %v, want %q", tc.status, tc.body, err, tc.want)
		}
	}
}

func TestCompileRejects(t *testing.T) {
	good := Contract{Name: "c", Request: Request{Method: "GET", Path: "/x"}, Expect: Expect{Status: 200}}
	for name, tc := range map[string]struct {
		mod  func(*Contract)
		want string
	}{
		"no name":    {func(c *Contract) { c.Name = "" }, "empty name"},
		"path":       {func(c *Contract) { c.Request.Path = "x" }, "starting with '/'"},
		"status":     {func(c *Contract) { c.Expect.Status = 600 }, "not in 100..599"},
		"bad type":   {func(c *Contract) { c.Expect.Schema = map[string]any{"type": "objekt"} }, "invalid schema: at /type"},
		"bad req":    {func(c *Contract) { c.Expect.Schema = map[string]any{"required": "total_cents"} }, "at /required: got string, want array"},
		"remote ref": {func(c *Contract) { c.Expect.Schema = map[string]any{"$ref": "http://127.0.0.1:1/s.json"} }, "self-contained"},
		"not JSON":   {func(c *Contract) { c.Expect.Schema = map[string]any{"x": func() {}} }, "schema is not JSON"},
	} {
		c := good
		tc.mod(&c)
		_, err := Compile(c)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", name, err, tc.want)
		}
	}
	// Numbers as a YAML decoder gives them (int) compile like JSON's.
	if _, err := CompileSchema(map[string]any{"type": "integer", "minimum": 1}); err != nil {
		t.Errorf("int minimum: %v", err)
	}
}

func TestMatchPath(t *testing.T) {
	c := ordersReadsPrice(t)
	for path, want := range map[string]bool{"/price": true, "/price/": false, "/prices": false, "/": false} {
		if got := c.MatchPath(path); got != want {
			t.Errorf("MatchPath(%q) = %v, want %v", path, got, want)
		}
	}
}

// pricing is a stand-in provider: it answers the quote with the total
// under name (the rename defect) and records the callers it saw.
func pricing(t *testing.T, name string) (*httptest.Server, *[]string) {
	var mu sync.Mutex
	var callers []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		callers = append(callers, r.Method+" "+r.URL.RequestURI()+" "+r.Header.Get(HeaderCaller))
		mu.Unlock()
		w.Header().Set(versionHeader, "v2")
		_, _ = io.WriteString(w, `{"sku":"SKU-1","qty":2,"unit_price_cents":5,"`+name+`":10}`)
	}))
	t.Cleanup(srv.Close)
	return srv, &callers
}

func TestCheck(t *testing.T) {
	c := ordersReadsPrice(t)
	ok, callers := pricing(t, "total_cents")
	r := c.Check(context.Background(), nil, ok.URL+"/", "orders/v1")
	want := Result{Contract: "orders-reads-price", ProviderVersion: "v2", ConsumerVersion: "v1", OK: true, Checked: 1}
	if r != want {
		t.Errorf("compatible provider: %+v, want %+v", r, want)
	}
	if got := strings.Join(*callers, ","); got != "GET /price?sku=SKU-1&qty=2 orders/v1" {
		t.Errorf("provider saw %q", got)
	}

	renamed, _ := pricing(t, "total")
	r = c.Check(context.Background(), nil, renamed.URL, "orders/v1")
	if r.OK || r.Failed != 1 || r.Detail != "GET /price?sku=SKU-1&qty=2: body: missing property 'total_cents'" {
		t.Errorf("renamed total: %+v", r)
	}
}

func TestCheckIsBounded(t *testing.T) {
	c := ordersReadsPrice(t)
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer hang.Close()
	defer close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	r := c.Check(ctx, nil, hang.URL, "orders/v1")
	if r.OK || !strings.Contains(r.Detail, "deadline exceeded") {
		t.Errorf("hanging provider: %+v", r)
	}

	big := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(make([]byte, MaxBody+1))
	}))
	defer big.Close()
	if r := c.Check(context.Background(), nil, big.URL, ""); r.OK || !strings.Contains(r.Detail, "larger than") {
		t.Errorf("huge answer: %+v", r)
	}

	// Nothing listens on a closed server's address any more.
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	if r := c.Check(context.Background(), nil, gone.URL, "orders/v1"); r.OK || r.Failed != 1 || r.Detail == "" {
		t.Errorf("unreachable provider: %+v", r)
	}
}

func TestParseCaller(t *testing.T) {
	for in, want := range map[string][3]string{
		"orders/v2": {"orders", "v2", "true"},
		"orders":    {"orders", "", "false"},
		"/v2":       {"", "v2", "false"},
		"orders/":   {"orders", "", "false"},
	} {
		s, v, ok := ParseCaller(in)
		if s != want[0] || v != want[1] || (ok != (want[2] == "true")) {
			t.Errorf("ParseCaller(%q) = %q, %q, %v", in, s, v, ok)
		}
	}
}

func TestReportResults(t *testing.T) {
	rs := []Result{{Contract: "c", ProviderVersion: "v2", ConsumerVersion: "v1", Phase: PhaseBefore, Checked: 1, Failed: 1, Detail: "d"}}
	got := ReportResults(rs)
	if len(got) != 1 || got[0].Contract != "c" || got[0].ProviderVersion != "v2" || got[0].ConsumerVersion != "v1" ||
		got[0].Phase != "before" || got[0].OK || got[0].Checked != 1 || got[0].Failed != 1 || got[0].Detail != "d" {
		t.Errorf("%+v", got)
	}
	if got := ReportResults(nil); got == nil || len(got) != 0 {
		t.Errorf("nil results: %#v, want an empty list", got)
	}
}

// flaky answers the statuses in order (then 200s), each with the given
// total field name, and counts the requests.
func flaky(t *testing.T, field string, statuses ...int) (*httptest.Server, *int) {
	var mu sync.Mutex
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		status := http.StatusOK
		if n < len(statuses) {
			status = statuses[n]
		}
		n++
		mu.Unlock()
		w.WriteHeader(status)
		_, _ = io.WriteString(w, `{"sku":"SKU-1","qty":2,"unit_price_cents":5,"`+field+`":10}`)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// TestCheckAsksAgainAfter5xx: a 5xx says the provider failed, not what it
// answers, so the check asks again, Attempts times at most; an answer
// that is not a 5xx decides, whatever came before.
func TestCheckAsksAgainAfter5xx(t *testing.T) {
	c := ordersReadsPrice(t)
	for _, tc := range []struct {
		name     string
		field    string
		statuses []int
		ok       bool
		requests int
	}{
		{"two 5xx then a good answer", "total_cents", []int{500, 503}, true, 3},
		{"5xx then an incompatible answer", "total", []int{500}, false, 2},
		{"only 5xx", "total_cents", []int{500, 500, 500, 500}, false, Attempts},
		{"a 4xx decides at once", "total_cents", []int{404}, false, 1},
	} {
		srv, n := flaky(t, tc.field, tc.statuses...)
		r := c.Check(context.Background(), nil, srv.URL, "orders/v1")
		if r.OK != tc.ok || *n != tc.requests || r.Checked != 1 {
			t.Errorf("%s: ok %v after %d requests (%+v), want ok %v after %d", tc.name, r.OK, *n, r, tc.ok, tc.requests)
		}
	}
}
