package injectors_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/drillhq/drill/harness/metrics"
	"github.com/drillhq/drill/harness/router"
	"github.com/drillhq/drill/injectors"
)

// env is the fault point a running drill offers: here one real router.
type env struct{ rt *router.Router }

func (e env) Link(from, to string) (injectors.HTTPPoint, error) {
	return nil, errors.New("no links in this test")
}

func (e env) Processes(string) (injectors.ProcessPoint, error) {
	return nil, errors.New("no processes in this test")
}

func (e env) Conn(string) (injectors.ConnPoint, error) {
	return nil, errors.New("no databases in this test")
}

func (e env) HTTP(target string) (injectors.HTTPPoint, error) {
	svc, version, _ := strings.Cut(target, ".")
	if svc != "svc" {
		return nil, errors.New("no such service")
	}
	return e.rt.Point(version), nil
}

// newRouter starts a real backend behind a real router with v1 and v2
// split 50/50.
func newRouter(t *testing.T) (string, *router.Router) {
	t.Helper()
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(backend.Close)
	rt := router.New("svc", metrics.NewRecorder("router:svc"), router.WithSeed(1))
	for _, v := range []string{"v1", "v2"} {
		if err := rt.SetBackend(v, backend.URL); err != nil {
			t.Fatal(err)
		}
	}
	rt.SetSplit("v1", "v2", 0.5)
	base, err := rt.Start(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	return base, rt
}

type sample struct {
	version string
	status  int
	latency time.Duration
}

// send makes n sequential requests and returns what each got.
func send(t *testing.T, base string, n int) []sample {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	out := make([]sample, 0, n)
	for range n {
		start := time.Now()
		resp, err := client.Get(base + "/x")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		out = append(out, sample{resp.Header.Get("X-Drill-Version"), resp.StatusCode, time.Since(start)})
	}
	return out
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[len(ds)/2]
}

func parse(t *testing.T, kind string, params map[string]any) any {
	t.Helper()
	k, ok := injectors.Lookup(kind)
	if !ok {
		t.Fatalf("kind %q not registered", kind)
	}
	p, err := k.Parse(func(v any) error { return decodeMap(params, v) })
	if err != nil {
		t.Fatalf("parse %v: %v", params, err)
	}
	return p
}

// decodeMap fills the kinds' parameter structs the way the YAML loader
// would, for the few fields these tests use.
func decodeMap(params map[string]any, v any) error {
	switch p := v.(type) {
	case *injectors.LatencyParams:
		for k, val := range params {
			switch k {
			case "delay":
				if err := p.Delay.UnmarshalText([]byte(val.(string))); err != nil {
					return err
				}
			case "jitter":
				if err := p.Jitter.UnmarshalText([]byte(val.(string))); err != nil {
					return err
				}
			case "distribution":
				p.Distribution = val.(string)
			}
		}
	case *injectors.ErrorParams:
		for k, val := range params {
			switch k {
			case "status":
				p.Status = val.(int)
			case "rate":
				if err := p.Rate.UnmarshalText([]byte(val.(string))); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func TestLatencyTakesEffectOnItsVersionAndGoesAway(t *testing.T) {
	base, rt := newRouter(t)
	k, _ := injectors.Lookup("latency")
	inj := k.New(injectors.Spec{Name: "slow", Target: "svc.v2", Probability: 1, Seed: 1,
		Params: parse(t, "latency", map[string]any{"delay": "60ms"})})
	before := send(t, base, 40)
	if err := inj.Apply(context.Background(), env{rt}); err != nil {
		t.Fatal(err)
	}
	// Machine load only adds time: a round outside ±25% is measured again
	// (up to 3 rounds); a fault that is missing or doubled misses them all.
	var during []sample
	for round := 1; round <= 3; round++ {
		during = send(t, base, 40)
		if a := median(byVersionOf(during, "v2")) - median(byVersionOf(before, "v2")); a >= 45*time.Millisecond && a <= 75*time.Millisecond {
			break
		}
	}
	if err := inj.Revert(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := inj.Revert(context.Background()); err != nil {
		t.Fatalf("second revert: %v", err)
	}
	after := send(t, base, 40)

	byVersion := byVersionOf
	added := median(byVersion(during, "v2")) - median(byVersion(before, "v2"))
	// Proof of effect: the added latency is the configured one within ±25%.
	if added < 45*time.Millisecond || added > 75*time.Millisecond {
		t.Errorf("added median latency on v2 = %v, want 60ms ±25%%", added)
	}
	if m := median(byVersion(during, "v1")); m >= 30*time.Millisecond {
		t.Errorf("v1 median %v: the fault targets v2 only", m)
	}
	if m := median(byVersion(after, "v2")); m >= 30*time.Millisecond {
		t.Errorf("v2 median %v after revert: the fault is still in place", m)
	}
}

func TestErrorRateAndProbability(t *testing.T) {
	base, rt := newRouter(t)
	k, _ := injectors.Lookup("error")
	inj := k.New(injectors.Spec{Name: "fail", Target: "svc", Probability: 0.5, Seed: 7,
		Params: parse(t, "error", map[string]any{"status": 503, "rate": "40%"})})
	if err := inj.Apply(context.Background(), env{rt}); err != nil {
		t.Fatal(err)
	}
	if err := inj.Apply(context.Background(), env{rt}); err != nil {
		t.Fatalf("second apply: %v", err)
	}
	during := send(t, base, 2000)
	if err := inj.Revert(context.Background()); err != nil {
		t.Fatal(err)
	}
	after := send(t, base, 200)
	failed := 0
	for _, s := range during {
		switch s.status {
		case http.StatusServiceUnavailable:
			failed++
		case http.StatusOK:
		default:
			t.Fatalf("unexpected status %d", s.status)
		}
	}
	// rate 40% × probability 50% = 20%; 2000 draws: σ ≈ 0.9%, allow 4σ.
	share := float64(failed) / float64(len(during))
	if share < 0.164 || share > 0.236 {
		t.Errorf("error share %.3f, want 0.20 ± 0.036", share)
	}
	for _, s := range after {
		if s.status != http.StatusOK {
			t.Fatalf("status %d after revert: the fault is still in place", s.status)
		}
	}
}

func TestParseRejectsBadParams(t *testing.T) {
	tests := []struct {
		kind   string
		params map[string]any
		want   string
	}{
		{"latency", map[string]any{}, "delay > 0"},
		{"latency", map[string]any{"delay": "10ms", "distribution": "pareto"}, "unknown latency distribution"},
		{"error", map[string]any{"status": 200}, "not an HTTP error status"},
		{"error", map[string]any{"rate": "150%"}, "between 0% and 100%"},
	}
	for _, tt := range tests {
		t.Run(tt.kind+"/"+tt.want, func(t *testing.T) {
			k, _ := injectors.Lookup(tt.kind)
			_, err := k.Parse(func(v any) error { return decodeMap(tt.params, v) })
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestRevertWithoutApplyIsSafe(t *testing.T) {
	for _, name := range injectors.Kinds() {
		k, _ := injectors.Lookup(name)
		var params any
		switch name {
		case "latency":
			params = parse(t, name, map[string]any{"delay": "1ms"})
		case "error":
			params = parse(t, name, map[string]any{})
		default:
			continue
		}
		if err := k.New(injectors.Spec{Name: "x", Target: "svc", Probability: 1, Params: params}).Revert(context.Background()); err != nil {
			t.Errorf("%s: revert without apply: %v", name, err)
		}
	}
}

func byVersionOf(ss []sample, v string) []time.Duration {
	var out []time.Duration
	for _, s := range ss {
		if s.version == v {
			out = append(out, s.latency)
		}
	}
	return out
}

func (env) Migrations(string) (injectors.MigrationPoint, error) {
	return nil, errors.New("no migrations in this test")
}
