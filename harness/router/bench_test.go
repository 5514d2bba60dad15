package router

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/drillhq/drill/harness/contract"
	"github.com/drillhq/drill/harness/metrics"
)

// BenchmarkRouterOverhead measures what the router adds to a request:
// sequential keep-alive requests to a trivial instance, directly and
// through a router with a split and recording on.
//
//   - direct, router: back-to-back requests; ns/op is one round trip, and
//     p50-µs/p99-µs are per-request latency quantiles.
//   - caller, caller+contract: the same through a caller's listener, where
//     every request is counted under its pair, and in the second one also
//     checked against a contract (body teed and validated by a schema).
//   - paced: one request per millisecond (about 1000 requests/s, the load
//     a drill generates), alternating direct and router, so both see the
//     same machine state; added-p50-µs/added-p99-µs are the router's
//     latency quantiles minus the direct ones. Its ns/op is mostly the
//     pacing; run it with e.g. -benchtime=5000x for a stable p99.
func BenchmarkRouterOverhead(b *testing.B) {
	in := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/json" { // what caller+contract's contract checks
			_, _ = io.WriteString(w, `{"ok":true}`)
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	defer in.Close()

	rt := New("bench", metrics.NewRecorder("bench"), WithSeed(1))
	base, err := rt.Start(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	defer rt.Close()
	if err := rt.SetBackend("v1", in.URL); err != nil {
		b.Fatal(err)
	}
	if err := rt.SetBackend("v2", in.URL); err != nil {
		b.Fatal(err)
	}
	rt.SetSplit("v1", "v2", 0.1)
	caller, checked := benchCallers(b, rt)

	tr := &http.Transport{MaxIdleConnsPerHost: 4, DisableCompression: true}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	do := func(b *testing.B, url string) time.Duration {
		t0 := time.Now()
		res, err := c.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			b.Fatalf("status %d", res.StatusCode)
		}
		return time.Since(t0)
	}

	for _, target := range []struct{ name, url string }{{"direct", in.URL}, {"router", base},
		{"caller", caller}, {"caller+contract", checked + "/json"}} {
		b.Run(target.name, func(b *testing.B) {
			do(b, target.url) // open the connections outside the timing
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for range b.N {
				lat = append(lat, do(b, target.url))
			}
			b.StopTimer()
			b.ReportMetric(micros(quantile(lat, 0.50)), "p50-µs")
			b.ReportMetric(micros(quantile(lat, 0.99)), "p99-µs")
		})
	}

	b.Run("paced", func(b *testing.B) {
		const period = time.Millisecond
		do(b, in.URL)
		do(b, base)
		direct := make([]time.Duration, 0, b.N)
		routed := make([]time.Duration, 0, b.N)
		next := time.Now()
		b.ResetTimer()
		for i := range b.N {
			// Each iteration is one direct and one routed request, each
			// in its own 1 ms slot; the order alternates.
			for j := range 2 {
				next = next.Add(period)
				if (i+j)%2 == 0 {
					direct = append(direct, do(b, in.URL))
				} else {
					routed = append(routed, do(b, base))
				}
				time.Sleep(time.Until(next))
			}
		}
		b.StopTimer()
		for _, q := range []struct {
			q    float64
			name string
		}{{0.50, "p50"}, {0.99, "p99"}} {
			d, r := quantile(direct, q.q), quantile(routed, q.q)
			b.ReportMetric(micros(d), "direct-"+q.name+"-µs")
			b.ReportMetric(micros(r), "router-"+q.name+"-µs")
			b.ReportMetric(micros(r-d), "added-"+q.name+"-µs")
		}
	})
}

// quantile sorts lat in place and returns its value of rank round(q·n).
func quantile(lat []time.Duration, q float64) time.Duration {
	if len(lat) == 0 {
		return 0
	}
	slices.Sort(lat)
	i := int(q*float64(len(lat))+0.5) - 1
	return lat[max(0, min(i, len(lat)-1))]
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// benchCallers opens two caller listeners on rt: through the first,
// requests are only counted under their pair; through the second, GET
// /json is also checked against a contract with a schema.
func benchCallers(b *testing.B, rt *Router) (caller, checked string) {
	caller, err := rt.CallerURL("bench-caller")
	if err != nil {
		b.Fatal(err)
	}
	checked, err = rt.CallerURL("bench-checked")
	if err != nil {
		b.Fatal(err)
	}
	ct, err := contract.Compile(contract.Contract{Name: "bench", Consumer: "bench-checked", Provider: "bench",
		Request: contract.Request{Method: "GET", Path: "/json"},
		Expect:  contract.Expect{Status: 200, Schema: map[string]any{"type": "object", "required": []any{"ok"}}}})
	if err != nil {
		b.Fatal(err)
	}
	rt.SetContracts([]*contract.Contract{ct})
	return caller, checked
}
