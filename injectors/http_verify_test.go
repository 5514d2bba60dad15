package injectors

import (
	"strings"
	"testing"
	"time"
)

// Verify of the HTTP kinds against hand-built observations, at the edges
// of their tolerances.

// traffic builds a Traffic of n requests with the given answers per
// status (the rest 200) and mean latency in seconds.
func traffic(n int64, mean float64, byStatus map[int]int64) Traffic {
	t := Traffic{Requests: n, Mean: mean, ByStatus: map[int]int64{}}
	rest := n
	for s, k := range byStatus {
		t.ByStatus[s] = k
		rest -= k
		if s == 0 || s >= 500 {
			t.Failed += k
		}
	}
	t.ByStatus[200] += rest
	return t
}

type verifyCase struct {
	name      string
	obs       Observation
	effective bool
	measured  string // a part of Measured
}

func runVerify(t *testing.T, v Verifier, tests []verifyCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := v.Verify(tt.obs)
			if e.Effective != tt.effective || !strings.Contains(e.Measured, tt.measured) {
				t.Errorf("Verify = %v %q; want %v and a text with %q", e.Effective, e.Measured, tt.effective, tt.measured)
			}
		})
	}
}

func newVerifier(t *testing.T, kind string, probability float64, params any) Verifier {
	t.Helper()
	k, ok := Lookup(kind)
	if !ok {
		t.Fatalf("kind %q not registered", kind)
	}
	v, ok := k.New(Spec{Name: kind, Target: "svc", Probability: probability, Seed: 1, Params: params}).(Verifier)
	if !ok {
		t.Fatalf("%s does not implement Verifier", kind)
	}
	return v
}

const eps = 1e-6

func TestLatencyVerify(t *testing.T) {
	p := LatencyParams{Delay: Duration(200 * time.Millisecond), Distribution: "uniform"}
	before := traffic(1000, 0.010, nil)
	during := func(n int64, added float64) Observation {
		return Observation{Before: before, During: traffic(n, 0.010+added, nil)}
	}
	runVerify(t, newVerifier(t, "latency", 1, p), []verifyCase{
		{"exact", during(1000, 0.200), true, "added 200ms mean (configured 200ms ±25%)"},
		{"-25%", during(1000, 0.150+eps), true, "added 150ms"},
		{"below -25%", during(1000, 0.150-eps), false, "configured 200ms ±25%"},
		{"+25%", during(1000, 0.250-eps), true, "added 250ms"},
		{"above +25%", during(1000, 0.250+eps), false, ""},
		{"no effect", during(1000, 0), false, "added 0s mean"},
		{"no traffic during", Observation{Before: before}, false, "nothing to measure"},
		{"no steady state", Observation{During: traffic(10, 0.2, nil)}, false, "no steady-state traffic"},
	})

	// With probability 0.5 the expected rise is half the delay; with few
	// requests the coin flips alone spread it wider than ±25%.
	half := newVerifier(t, "latency", 0.5, p)
	runVerify(t, half, []verifyCase{
		{"half", during(10_000, 0.100), true, "configured 200ms × 50% = 100ms ±25%"},
		{"half, full delay", during(10_000, 0.200), false, ""},
		{"few requests", during(4, 0.200), true, "±"},
		{"few requests, nothing added", during(4, -0.001), false, ""},
	})

	// Jitter wider than the delay is clipped at zero, which raises the
	// mean: uniform on [−20ms, 40ms] clipped has mean 40²/(4·30) = 13.3ms.
	clipped := newVerifier(t, "latency", 1, LatencyParams{Delay: Duration(10 * time.Millisecond), Jitter: Duration(30 * time.Millisecond), Distribution: "uniform"})
	runVerify(t, clipped, []verifyCase{
		{"clipped mean", during(100_000, 0.01333), true, ""},
		{"unclipped mean is not it", during(100_000, 0.0095), false, ""},
	})
}

func TestErrorVerify(t *testing.T) {
	// rate 40% × probability 50% = 20% of requests answered 503.
	v := newVerifier(t, "error", 0.5, ErrorParams{Status: 503, Rate: 0.4})
	before := traffic(1000, 0.01, nil)
	with := func(n, k int64) Observation {
		return Observation{Before: before, During: traffic(n, 0.01, map[int]int64{503: k})}
	}
	runVerify(t, v, []verifyCase{
		{"exact", with(10_000, 2000), true, "503 on 20% of 10000 requests (configured 20% ±5%)"},
		{"-25%", with(10_000, 1501), true, ""},
		{"below -25%", with(10_000, 1499), false, ""},
		{"+25%", with(10_000, 2499), true, ""},
		{"above +25%", with(10_000, 2501), false, ""},
		{"other statuses do not count", Observation{Before: before, During: traffic(10_000, 0.01, map[int]int64{500: 2000})}, false, "503 on 0%"},
		// 20 requests: 3σ = 27% is wider than ±25% of 20%.
		{"few requests", with(20, 1), true, "±26.8%"},
		{"few requests, none failed", with(20, 0), false, ""},
		{"no traffic", Observation{Before: before}, false, "nothing to measure"},
	})

	// The steady state's own 503s are not the fault's: 10% before, and a
	// fault at 10% gives 10% + 90%·10% = 19% during.
	v = newVerifier(t, "error", 1, ErrorParams{Status: 503, Rate: 0.1})
	noisy := traffic(10_000, 0.01, map[int]int64{503: 1000})
	runVerify(t, v, []verifyCase{
		{"on top of the steady state", Observation{Before: noisy, During: traffic(10_000, 0.01, map[int]int64{503: 1900})}, true, "10% in the steady state: 10% from the fault"},
		{"only the steady state", Observation{Before: noisy, During: traffic(10_000, 0.01, map[int]int64{503: 1000})}, false, "0% from the fault"},
	})
}

func TestAbortVerify(t *testing.T) {
	v := newVerifier(t, "abort", 0.3, nil)
	before := traffic(1000, 0.01, nil)
	with := func(n, k int64) Observation {
		return Observation{Before: before, During: traffic(n, 0.01, map[int]int64{0: k})}
	}
	runVerify(t, v, []verifyCase{
		{"exact", with(1000, 300), true, "transport errors on 30% of 1000 requests (configured 30% ±7.5%)"},
		{"-25%", with(10_000, 2251), true, ""},
		{"below -25%", with(10_000, 2249), false, ""},
		{"+25%", with(10_000, 3749), true, ""},
		{"above +25%", with(10_000, 3751), false, ""},
		{"5xx are not resets", Observation{Before: before, During: traffic(1000, 0.01, map[int]int64{502: 300})}, false, "on 0%"},
		{"no traffic", Observation{Before: before}, false, "nothing to measure"},
	})
	runVerify(t, newVerifier(t, "abort", 0, nil), []verifyCase{
		{"probability 0, nothing reset", with(1000, 0), true, "configured 0%"},
		{"probability 0, resets anyway", with(1000, 10), false, ""},
	})
}

func TestTimeoutVerify(t *testing.T) {
	v := newVerifier(t, "timeout", 1, TimeoutParams{Max: Duration(time.Second)})
	before := traffic(1000, 0.01, nil)
	runVerify(t, v, []verifyCase{
		{"clients gave up", Observation{Before: before, During: traffic(400, 2, map[int]int64{0: 400})}, true, "held (client gave up or 504) on 100% of 400"},
		{"held to max", Observation{Before: before, During: traffic(400, 1, map[int]int64{504: 400})}, true, ""},
		{"both", Observation{Before: before, During: traffic(400, 1.5, map[int]int64{0: 150, 504: 150})}, true, "on 75%"},
		{"below -25%", Observation{Before: before, During: traffic(10_000, 1.5, map[int]int64{0: 3000, 504: 4499})}, false, ""},
		{"a 503 is not held", Observation{Before: before, During: traffic(400, 0.01, map[int]int64{503: 400})}, false, "on 0%"},
	})
}

func TestFirstNVerify(t *testing.T) {
	v := newVerifier(t, "first-n", 1, FirstNParams{N: 5, Status: 503})
	before := traffic(1000, 0.01, nil)
	with := func(n, k int64) Observation {
		return Observation{Before: before, During: traffic(n, 0.01, map[int]int64{503: k})}
	}
	runVerify(t, v, []verifyCase{
		{"exact", with(1000, 5), true, "5 of 1000 requests answered 503 (configured n=5 ±1)"},
		{"one more (in flight at the edge)", with(1000, 6), true, ""},
		{"one fewer", with(1000, 4), true, ""},
		{"two more", with(1000, 7), false, ""},
		{"two fewer", with(1000, 3), false, ""},
		{"another status", Observation{Before: before, During: traffic(1000, 0.01, map[int]int64{500: 5})}, false, "0 of 1000"},
		{"fewer requests than n", with(3, 3), false, "fewer than n"},
		{"no traffic", Observation{Before: before}, false, "nothing to measure"},
	})

	// A steady state with 1% 503s: 10 of 1000 expected anyway, ±9.4 (3σ)
	// on top of the one request of allowance.
	noisy := traffic(1000, 0.01, map[int]int64{503: 10})
	runVerify(t, v, []verifyCase{
		{"on top of the steady state", Observation{Before: noisy, During: traffic(1000, 0.01, map[int]int64{503: 15})}, true, "10 expected from the steady state (1%): 5 from the fault (configured n=5 ±10)"},
		{"far above", Observation{Before: noisy, During: traffic(1000, 0.01, map[int]int64{503: 40})}, false, ""},
	})
}

func TestPartitionVerify(t *testing.T) {
	k, _ := Lookup("partition")
	inj := k.New(Spec{Name: "p", Target: "pricing", Probability: 0.5, Seed: 1, Params: PartitionParams{From: "orders"}}).(*partitionInjector)
	before := traffic(1000, 0.01, nil)
	// The fault saw 400 requests from orders of the 1000 at pricing's
	// router: 50% of 40% = 20% should be transport errors.
	during := func(k int64) Observation {
		return Observation{Before: before, During: traffic(1000, 0.01, map[int]int64{0: k})}
	}
	runVerify(t, inj, []verifyCase{
		{"nothing from orders", during(0), false, "no request from orders reached pricing"},
	})
	inj.fault.seen.Add(400)
	runVerify(t, inj, []verifyCase{
		{"exact", during(200), true, "transport errors on 20% of 1000 requests (configured 20% ±5%); orders sent 40% of the requests, the configured share is 50% × that"},
		{"as if orders were the only caller", during(500), false, ""},
		{"no traffic", Observation{Before: before}, false, "nothing to measure"},
	})
}

func TestBandwidthVerify(t *testing.T) {
	k, _ := Lookup("bandwidth")
	inj := k.New(Spec{Name: "b", Target: "svc", Probability: 1, Seed: 1, Params: BandwidthParams{Rate: 40_000}}).(*bandwidthInjector)
	before := traffic(100, 0.010, nil)
	during := func(mean float64) Observation {
		return Observation{Before: before, During: traffic(20, mean, nil)}
	}
	runVerify(t, inj, []verifyCase{
		{"no body paced", during(0.2), false, "no response body passed through the fault (20 requests): not measurable from request stats"},
	})
	// 10 bodies of 8000 bytes at 40KB/s: 2 s in all, 100ms on the mean
	// of 20 requests.
	inj.f.responses.Add(10)
	inj.f.bytes.Add(80_000)
	inj.f.busy.Add(int64(2050 * time.Millisecond))
	runVerify(t, inj, []verifyCase{
		{"exact", during(0.110), true, "added 100ms mean (expected 100ms: 10 paced bodies, 80000 bytes, at the configured 40KB/s ±25%); they went out at 39KB/s"},
		{"-25%", during(0.085 + eps), true, ""},
		{"below -25%", during(0.085 - eps), false, ""},
		{"above +25%", during(0.135 + eps), false, ""},
		{"no rise at the router", during(0.010), false, ""},
		{"no steady state", Observation{During: traffic(20, 0.110, nil)}, false, "no steady-state traffic"},
	})
	tiny := k.New(Spec{Name: "b", Target: "svc", Probability: 1, Seed: 1, Params: BandwidthParams{Rate: 1 << 20}}).(*bandwidthInjector)
	tiny.f.responses.Add(20)
	tiny.f.bytes.Add(40)
	runVerify(t, tiny, []verifyCase{
		{"too small to see", during(0.010), false, "not measurable from request stats (below 1ms)"},
	})
}
