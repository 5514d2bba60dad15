package router

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/drillhq/drill/harness/contract"
	"github.com/drillhq/drill/harness/metrics"
)

// quoteServer is a stand-in pricing version: GET /price answers a quote
// with the total under totalField; GET /big answers more than the tee
// keeps; GET /fail answers 500.
func quoteServer(t *testing.T, totalField string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/price":
			_, _ = io.WriteString(w, `{"sku":"`+r.URL.Query().Get("sku")+`","unit_price_cents":5,"`+totalField+`":10}`)
		case "/big":
			_, _ = w.Write([]byte(`{"pad":"` + strings.Repeat("x", contract.MaxBody) + `"}`))
		case "/fail":
			http.Error(w, "boom", http.StatusInternalServerError)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// pricingRouter is a router for pricing with v1 (compatible) and v2
// (total_cents renamed) at 50% each, and the listener orders calls it
// through.
func pricingRouter(t *testing.T) (rt *Router, main, orders string) {
	t.Helper()
	rt = New("pricing", metrics.NewRecorder("pricing"), WithSeed(7))
	main, err := rt.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Close() })
	must(t, rt.SetBackend("v1", quoteServer(t, "total_cents").URL))
	must(t, rt.SetBackend("v2", quoteServer(t, "total").URL))
	rt.SetSplit("v1", "v2", 0.5)
	orders, err = rt.CallerURL("orders")
	if err != nil {
		t.Fatal(err)
	}
	return rt, main, orders
}

func TestPairsCountWhatClientsSaw(t *testing.T) {
	rt, main, orders := pricingRouter(t)
	c := newClient(t)
	want := map[[2]string]*[2]int64{} // (caller version, served version) → requests, failed
	for i := range 200 {
		cv := []string{"v1", "v2", ""}[i%3]
		h := http.Header{}
		if cv != "" {
			h.Set(HeaderCaller, "orders/"+cv)
		}
		path := "/price?sku=A"
		if i%10 == 0 {
			path = "/fail"
		}
		r := get(t, c, orders+path, h)
		k := [2]string{cv, r.version}
		if want[k] == nil {
			want[k] = new([2]int64)
		}
		want[k][0]++
		if r.status >= 500 {
			want[k][1]++
		}
	}
	// The load generator's requests are no pair.
	for range 20 {
		get(t, c, main+"/price?sku=A", http.Header{HeaderCaller: {"orders/v1"}})
	}
	got := rt.Pairs()
	var total int64
	for i, p := range got {
		if p.Caller != "orders" {
			t.Errorf("pair %+v: caller is not orders", p)
		}
		w := want[[2]string{p.CallerVersion, p.Version}]
		if w == nil || p.Requests != w[0] || p.Failed != w[1] {
			t.Errorf("pair %+v, clients saw %v", p, w)
		}
		total += p.Requests
		if i > 0 && !(got[i-1].CallerVersion < p.CallerVersion || got[i-1].CallerVersion == p.CallerVersion && got[i-1].Version < p.Version) {
			t.Errorf("pairs not sorted: %+v before %+v", got[i-1], p)
		}
	}
	if total != 200 || len(got) != len(want) {
		t.Errorf("%d pairs with %d requests, want %d pairs with 200", len(got), total, len(want))
	}
}

// ordersReadsPrice is DESIGN.md's example contract.
func ordersReadsPrice(t *testing.T, path string) *contract.Contract {
	t.Helper()
	var schema any
	must(t, json.Unmarshal([]byte(`{"type":"object","required":["unit_price_cents","total_cents"]}`), &schema))
	c, err := contract.Compile(contract.Contract{Name: "orders-reads-price", Consumer: "orders", Provider: "pricing",
		Request: contract.Request{Method: "GET", Path: path}, Expect: contract.Expect{Status: 200, Schema: schema}})
	must(t, err)
	return c
}

func TestContractsCheckLiveAnswers(t *testing.T) {
	rt, main, orders := pricingRouter(t)
	rt.SetContracts([]*contract.Contract{ordersReadsPrice(t, "/price?sku=SKU-1&qty=2"), ordersReadsPrice(t, "/big")})
	c := newClient(t)
	served := map[string]int{}
	for i := range 40 {
		h := http.Header{HeaderCaller: {"orders/v3"}}
		r := get(t, c, orders+"/price?sku=B"+strings.Repeat("b", i), h)
		served[r.version]++
		// The client gets the instance's answer untouched.
		if !strings.HasPrefix(r.body, `{"sku":"B`) || r.status != 200 {
			t.Errorf("client got %d %q", r.status, r.body)
		}
		// Neither another method, another path, nor the main listener
		// is checked.
		get(t, c, orders+"/prices?sku=B", h)
		get(t, c, main+"/price?sku=B", h)
		req, _ := http.NewRequest(http.MethodHead, orders+"/price?sku=B", nil)
		if res, err := c.Do(req); err == nil {
			res.Body.Close()
		}
	}
	big := get(t, c, orders+"/big", http.Header{HeaderCaller: {"orders/v3"}})
	if len(big.body) <= contract.MaxBody {
		t.Errorf("client got %d bytes of the big answer, want all of them", len(big.body))
	}

	got := rt.Observed()
	want := []contract.Result{
		{Contract: "orders-reads-price", ConsumerVersion: "v3", ProviderVersion: "v1", Phase: "during",
			OK: true, Checked: served["v1"]},
		{Contract: "orders-reads-price", ConsumerVersion: "v3", ProviderVersion: "v2", Phase: "during",
			Checked: served["v2"], Failed: served["v2"], Detail: "GET /price?sku=B: body: missing property 'total_cents'"},
	}
	// /big is one more check, on whichever version served it.
	bigRes := contract.Result{Contract: "orders-reads-price", ConsumerVersion: "v3", ProviderVersion: big.version, Phase: "during",
		Checked: 1, Failed: 1, Detail: "GET /big: answer larger than 65536 bytes"}
	for i := range want {
		if want[i].ProviderVersion == big.version {
			want[i].Checked++
			want[i].Failed++
			want[i].OK = false
			if want[i].Detail == "" {
				want[i].Detail = bigRes.Detail
			}
		}
	}
	if served["v1"] == 0 || served["v2"] == 0 {
		t.Fatalf("split served %v: want both versions", served)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("observed\n%+v\nwant\n%+v", got, want)
	}

	// Removing the contracts stops the checks; the counts stay.
	rt.SetContracts(nil)
	get(t, c, orders+"/price?sku=C", http.Header{HeaderCaller: {"orders/v3"}})
	if again := rt.Observed(); !reflect.DeepEqual(again, got) {
		t.Errorf("after SetContracts(nil): %+v", again)
	}
}

// A contract judges answers: one the client did not get whole is a failed
// pair but no contract check.
func TestContractSkipsBrokenAnswers(t *testing.T) {
	rt, _, orders := pricingRouter(t)
	rt.SetContracts([]*contract.Contract{ordersReadsPrice(t, "/price")})
	must(t, rt.SetBackend("v1", "http://127.0.0.1:1")) // nothing listens
	rt.SetSplit("v1", "", 0)
	c := newClient(t)
	if r := get(t, c, orders+"/price?sku=A", http.Header{HeaderCaller: {"orders/v1"}}); r.status != http.StatusBadGateway {
		t.Fatalf("status %d, want 502", r.status)
	}
	if p := rt.Pairs(); len(p) != 1 || p[0].Failed != 1 {
		t.Errorf("pairs %+v, want one failed request", p)
	}
	if o := rt.Observed(); len(o) != 0 {
		t.Errorf("observed %+v, want nothing checked", o)
	}
}

// TestContractSkips5xx: a 5xx answer is the provider failing, which the
// judge weighs; it is no contract verdict (as in contract.Check).
func TestContractSkips5xx(t *testing.T) {
	rt, _, orders := pricingRouter(t)
	rt.SetContracts([]*contract.Contract{ordersReadsPrice(t, "/fail")})
	c := newClient(t)
	if r := get(t, c, orders+"/fail", http.Header{HeaderCaller: {"orders/v1"}}); r.status < 500 {
		t.Fatalf("status %d, want the upstream's 5xx", r.status)
	}
	if o := rt.Observed(); len(o) != 0 {
		t.Errorf("observed %+v, want the 5xx left unchecked", o)
	}
	if p := rt.Pairs(); len(p) != 1 || p[0].Failed != 1 {
		t.Errorf("pairs %+v, want the failed request counted under its pair", p)
	}
}
