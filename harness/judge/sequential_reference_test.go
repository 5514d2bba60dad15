package judge

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"gonum.org/v1/gonum/mathext"
	"gonum.org/v1/gonum/stat/distuv"

	"github.com/drillhq/drill/harness/metrics"
)

// refIv is an interval without a live baseline: the canary's counts, and
// the steady-state reference as Baseline and Reference (as the harness
// passes them at a 100% step and after a blue-green switch).
func refIv(nc, fc, nref, fref int64) Interval {
	ref := metrics.Window{Requests: nref, Failed: fref}
	return Interval{LiveBaseline: false, Baseline: ref, Reference: ref,
		Canary: metrics.Window{Requests: nc, Failed: fc}}
}

// refEvidence is a test's reference-mode evidence.
func refEvidence(t *testing.T, d Decision, metric string) map[string]any {
	t.Helper()
	ev, _ := d.Evidence["tests"].(map[string]any)[metric].(map[string]any)
	r, ok := ev["reference"].(map[string]any)
	if !ok {
		t.Fatalf("no reference evidence for %s in %v", metric, d.Evidence)
	}
	return r
}

// TestSequentialReferenceStatisticByHand: 10 failures in a 10 000-request
// reference, α = 1% on one metric, δ = α/10. The rate tested against is
// the Clopper-Pearson bound p0, where the Beta(11, 9990) CDF reaches
// 1 − δ (checked through the regularized incomplete beta function, not
// the quantile the judge uses); a canary interval of 1000 requests with
// 3 failures multiplies component ρ by (θ/p0)^3 ((1−θ)/(1−p0))^997,
// θ = ρp0/(ρp0+1−p0).
func TestSequentialReferenceStatisticByHand(t *testing.T) {
	j := newSequential(seqAnalysis(&Check{Metric: metrics.ErrorRate}))
	j.Observe(refIv(1000, 3, 10000, 10))
	d := j.Decide()
	r := refEvidence(t, d, "error_rate")
	p0 := r["reference_rate_bound"].(float64)
	if got := mathext.RegIncBeta(11, 9990, p0); math.Abs(got-0.999) > 1e-9 {
		t.Errorf("Beta(11, 9990) CDF at the bound %.6g = %.9f, want 0.999", p0, got)
	}
	if p0 < 0.0024 || p0 > 0.0026 {
		t.Errorf("bound %.6g, want about 0.25%% (2.5x the measured 0.1%%)", p0)
	}
	var want float64
	for _, rho := range seqRatios {
		th := rho * p0 / (rho*p0 + 1 - p0)
		want += math.Pow(th/p0, 3) * math.Pow((1-th)/(1-p0), 997)
	}
	want /= float64(len(seqRatios))
	if got := r["e_value"].(float64); math.Abs(got-want) > 1e-9*want {
		t.Errorf("reference e-value %.9g, want %.9g", got, want)
	}
	if d.Verdict != Continue || d.Evidence["mode"] != "reference" || r["mode"] != "reference" {
		t.Errorf("decision %s (%s), mode %v / %v; want continue in reference mode", d.Verdict, d.Reason, d.Evidence["mode"], r["mode"])
	}
	if r["reference_events"] != int64(10) || r["reference_requests"] != int64(10000) || r["canary_events"] != int64(3) ||
		r["canary_requests"] != int64(1000) || math.Abs(r["bound"].(float64)-1/0.009) > 1e-9 || math.Abs(r["delta"].(float64)-0.001) > 1e-12 {
		t.Errorf("reference evidence %v", r)
	}
}

// TestSequentialReferenceRejectsABadCanary: at 100% a canary failing 5%
// of 1000 requests an interval, against a reference failing 0.1%, is
// rolled back in reference mode within two intervals, and the reason says so.
func TestSequentialReferenceRejectsABadCanary(t *testing.T) {
	j := newSequential(seqAnalysis(&Check{Metric: metrics.ErrorRate}, &Check{Metric: metrics.LatencyP99}))
	var d Decision
	for i := range 2 {
		j.Observe(refIv(1000, 50, 10000, 10))
		if d = j.Decide(); d.Verdict == Rollback {
			break
		}
		t.Logf("interval %d: %s", i+1, d.Reason)
	}
	if d.Verdict != Rollback || !strings.HasPrefix(d.Reason, "sequential test rejected: error_rate") || !strings.Contains(d.Reason, "in reference mode") {
		t.Fatalf("decision %s: %s", d.Verdict, d.Reason)
	}
	if d.Evidence["mode"] != "reference" {
		t.Errorf("mode %v, want reference", d.Evidence["mode"])
	}
}

// TestSequentialReferenceKeepsAGoodCanary: a canary at the reference's
// rate, 100 intervals of 1000 requests, is never rolled back: its rate is
// below the bound, and the evidence shrinks.
func TestSequentialReferenceKeepsAGoodCanary(t *testing.T) {
	j := newSequential(seqAnalysis(&Check{Metric: metrics.ErrorRate}))
	for i := range 100 {
		j.Observe(refIv(1000, 1, 10000, 10))
		if d := j.Decide(); d.Verdict != Continue {
			t.Fatalf("interval %d: %s (%s)", i+1, d.Verdict, d.Reason)
		}
	}
	if e := refEvidence(t, j.Decide(), "error_rate")["e_value"].(float64); e > 1e-3 {
		t.Errorf("e-value %g after 100 000 requests at the reference rate, want it near 0", e)
	}
}

// TestSequentialReferenceTakesTheAlphaLeft: the live phase spent part of
// α; at 100% the reference mode tests at the rest (less its δ), and the
// live test may spend no more from then on.
func TestSequentialReferenceTakesTheAlphaLeft(t *testing.T) {
	j := newSequential(seqAnalysis(&Check{Metric: metrics.ErrorRate}))
	j.Observe(errIv(100, 2, 900, 0))
	j.Observe(errIv(100, 1, 900, 1))
	spent := liveEvidence(t, j.Decide(), "error_rate")["alpha_spent"].(float64)
	if spent <= 0 {
		t.Fatalf("the live test spent nothing on two intervals with failures")
	}
	j.Observe(refIv(1000, 3, 10000, 10))
	d := j.Decide()
	r := refEvidence(t, d, "error_rate")
	if r["live_alpha_spent"] != spent {
		t.Errorf("live alpha spent %v, want %v", r["live_alpha_spent"], spent)
	}
	rest := 0.01 - spent
	if got, want := r["alpha"].(float64), rest-refDeltaShare*rest; math.Abs(got-want) > 1e-15 {
		t.Errorf("reference alpha %v, want (α − spent)(1 − δ share) = %v", got, want)
	}
	// Back to a live interval: the live test's budget is frozen at what
	// it had spent, so a burst that would cross a fresh boundary does not.
	j.Observe(errIv(100, 4, 900, 0))
	if d := j.Decide(); d.Verdict == Rollback && !strings.Contains(d.Reason, "reference mode") {
		t.Errorf("the live test spent past its frozen budget: %s", d.Reason)
	}
	if got := liveEvidence(t, j.Decide(), "error_rate")["alpha_spent"].(float64); got > spent+1e-15 {
		t.Errorf("live alpha spent %v after the switch, want at most the frozen %v", got, spent)
	}
}

// TestSequentialReferenceLatency: in reference mode a reference request
// is slow above the reference's own p99 and a canary request above the
// tolerance, as in the live test; the reference's count is the 1% above
// its p99, and a canary with 20% of its requests past the tolerance is
// rolled back.
func TestSequentialReferenceLatency(t *testing.T) {
	lat := make([]time.Duration, 1000)
	for i := range lat {
		lat[i] = time.Duration(i+1) * 100 * time.Microsecond // 0.1 ms … 100 ms; p99 = 99 ms
	}
	ref := metrics.Window{Requests: 1000, Hist: metrics.NewHist(lat...)}
	can := make([]time.Duration, 200)
	for i := range can {
		can[i] = 10 * time.Millisecond
		if i < 40 {
			can[i] = 150 * time.Millisecond // above 1.2 × 99 ms
		}
	}
	j := newSequential(seqAnalysis(&Check{Metric: metrics.LatencyP99, MaxRatio: &metrics.Value{V: 1.2, Raw: "1.2"}}))
	j.Observe(Interval{Reference: ref, Baseline: ref, Canary: metrics.Window{Requests: 200, Hist: metrics.NewHist(can...)}})
	d := j.Decide()
	r := refEvidence(t, d, "latency_p99")
	if r["reference_events"] != int64(10) || r["canary_events"] != int64(40) {
		t.Errorf("events: reference %v, canary %v; want 10 and 40", r["reference_events"], r["canary_events"])
	}
	if d.Verdict != Rollback {
		t.Errorf("%s (%s), want rollback", d.Verdict, d.Reason)
	}
}

// TestSequentialReferenceWithoutReferenceIsNoData: no live baseline and
// no reference is missing data, which on_no_data decides (here: pause).
func TestSequentialReferenceWithoutReferenceIsNoData(t *testing.T) {
	j := newSequential(seqAnalysis(&Check{Metric: metrics.ErrorRate}))
	j.Observe(refIv(1000, 50, 0, 0))
	if d := j.Decide(); d.Verdict != Pause || !strings.Contains(d.Reason, "no steady-state reference") {
		t.Errorf("%s (%s), want pause for no data", d.Verdict, d.Reason)
	}
}

// TestSequentialReferenceAAFalseRollbacks: 2000 seeded A/A runs, each
// with its own 10 000-request reference at 0.1% errors and then 80
// intervals (20 s) of a canary at 100% with 250 requests an interval at
// the same rate. The false-rollback rate must stay under α = 1%. The
// same streams tested against the reference's measured rate as if it
// were exact (a plug-in) roll back several times as often: that is what
// the bound accounts for, and why this test could fail.
func TestSequentialReferenceAAFalseRollbacks(t *testing.T) {
	const runs, p = 2000, 0.001
	falseRollbacks, plugIn := 0, 0
	for run := range runs {
		src := rand.NewPCG(uint64(run), 7)
		bin := func(n int64) int64 { return int64(distuv.Binomial{N: float64(n), P: p, Src: src}.Rand()) }
		fref := bin(10000)
		j := newSequential(seqAnalysis(&Check{Metric: metrics.ErrorRate}))
		p0 := float64(fref) / 10000
		naive := make([]float64, len(seqRatios))
		rolled, naiveRolled := false, false
		for range 80 {
			fc := bin(250)
			if !rolled {
				j.Observe(refIv(250, fc, 10000, fref))
				rolled = j.Decide().Verdict == Rollback
			}
			if p0 > 0 && !naiveRolled {
				for k, rho := range seqRatios {
					th := rho * p0 / (rho*p0 + 1 - p0)
					naive[k] += float64(fc)*math.Log(th/p0) + float64(250-fc)*math.Log((1-th)/(1-p0))
				}
				le, _ := mixture(naive)
				naiveRolled = le >= math.Log(100)
			}
		}
		if rolled {
			falseRollbacks++
		}
		if naiveRolled || fref == 0 {
			plugIn++ // a plug-in rate of 0 rolls back at the first failure
		}
	}
	t.Logf("%d false rollbacks in %d A/A runs; a plug-in test: %d", falseRollbacks, runs, plugIn)
	if falseRollbacks > runs/100 {
		t.Errorf("%d false rollbacks in %d A/A runs, want <= 1%%", falseRollbacks, runs)
	}
	if plugIn <= runs/100 {
		t.Errorf("a plug-in test rolled back %d of %d A/A runs; the simulation does not show why the bound is needed", plugIn, runs)
	}
}
