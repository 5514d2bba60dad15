package judge

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/drillhq/drill/harness/metrics"
)

func seqAnalysis(metrics ...*Check) Config {
	return Config{Judge: "sequential", FalsePositiveRate: 0.01, Failures: 2, MinSamples: 10,
		OnNoData: NoDataPause, Metrics: metrics}
}

// errIv is an interval with only request and failure counts.
func errIv(nc, fc, nb, fb int64) Interval {
	return Interval{LiveBaseline: true,
		Canary:   metrics.Window{Requests: nc, Failed: fc},
		Baseline: metrics.Window{Requests: nb, Failed: fb}}
}

func eValue(t *testing.T, d Decision, metric string) float64 {
	t.Helper()
	tests, _ := d.Evidence["tests"].(map[string]any)
	ev, _ := tests[metric].(map[string]any)
	v, ok := ev["e_value"].(float64)
	if !ok {
		t.Fatalf("no e_value for %s in %v", metric, d.Evidence)
	}
	return v
}

// TestSequentialStatisticByHand: with the canary on 10% of the traffic,
// each canary failure multiplies the likelihood ratio of alternative ρ by
// θ/π, θ = ρπ/(ρπ+1−π), each baseline failure by (1−θ)/(1−π); the
// e-value is their mean over ρ ∈ {1.5, 2, 4, 10, 50}. Computed by hand:
//
//	3 canary failures, 0 baseline: mean of (θ/0.1)^3 = (1.4286^3 + 1.8182^3 +
//	  3.0769^3 + 5.2632^3 + 8.4746^3)/5 = (2.915 + 6.011 + 29.13 + 145.8 + 608.6)/5 = 158.50
//	4 canary failures: (4.165 + 10.93 + 89.63 + 767.4 + 5158)/5 = 1206.0
//
// α = 1% split over two tested metrics is 0.5%: the bound is 200, so three
// failures are not enough and four are.
func TestSequentialStatisticByHand(t *testing.T) {
	a := seqAnalysis(&Check{Metric: metrics.ErrorRate}, &Check{Metric: metrics.LatencyP99})
	j := newSequential(a)
	j.Observe(errIv(100, 3, 900, 0))
	d := j.Decide()
	if got := eValue(t, d, "error_rate"); math.Abs(got-158.4963) > 0.001 {
		t.Errorf("e-value after 3 failures = %.4f, want 158.4963", got)
	}
	if d.Verdict == Rollback {
		t.Errorf("rolled back at e-value 158 < 200: %s", d.Reason)
	}
	j = newSequential(a)
	j.Observe(errIv(100, 4, 900, 0))
	d = j.Decide()
	if got := eValue(t, d, "error_rate"); math.Abs(got-1205.990) > 0.01 {
		t.Errorf("e-value after 4 failures = %.3f, want 1205.990", got)
	}
	if d.Verdict != Rollback || !strings.Contains(d.Reason, "error_rate: e-value 1.21e+03 >= 1/alpha 200") {
		t.Errorf("decision %s: %s", d.Verdict, d.Reason)
	}
	ev := d.Evidence["tests"].(map[string]any)["error_rate"].(map[string]any)
	if ev["canary_events"] != int64(4) || ev["baseline_events"] != int64(0) || ev["bound"] != 200.0 || ev["canary_requests"] != int64(100) {
		t.Errorf("evidence %v", ev)
	}
}

// TestSequentialShareChangesBetweenIntervals: each interval uses its own
// share. 2 canary failures at 10%, then one failure each at 50%:
// mean over ρ of (θ1/0.1)^2 · (θ2/0.5) · ((1−θ2)/0.5) = 5.1273.
func TestSequentialShareChangesBetweenIntervals(t *testing.T) {
	j := newSequential(seqAnalysis(&Check{Metric: metrics.ErrorRate}))
	j.Observe(errIv(100, 2, 900, 0))
	j.Observe(errIv(500, 1, 500, 1))
	if got := eValue(t, j.Decide(), "error_rate"); math.Abs(got-5.1273) > 0.0001 {
		t.Errorf("e-value = %.4f, want 5.1273", got)
	}
}

// TestSequentialLatencyCountsRequestsAboveTheReferenceQuantile: the
// threshold is the steady state's p99, fixed before the rollout.
func TestSequentialLatencyCountsRequestsAboveTheReferenceQuantile(t *testing.T) {
	ref := make([]time.Duration, 1000)
	for i := range ref {
		ref[i] = time.Duration(i+1) * 100 * time.Microsecond // 0.1 ms … 100 ms; p99 = 99 ms
	}
	slow := func(n, above int) *metrics.Hist {
		var ls []time.Duration
		for i := 0; i < n; i++ {
			l := 10 * time.Millisecond
			if i < above {
				l = 200 * time.Millisecond
			}
			ls = append(ls, l)
		}
		return metrics.NewHist(ls...)
	}
	j := newSequential(seqAnalysis(&Check{Metric: metrics.LatencyP99}))
	j.Observe(Interval{LiveBaseline: true, Reference: metrics.Window{Requests: 1000, Hist: metrics.NewHist(ref...)},
		Canary:   metrics.Window{Requests: 100, Hist: slow(100, 3)},
		Baseline: metrics.Window{Requests: 900, Hist: slow(900, 0)}})
	ev := j.Decide().Evidence["tests"].(map[string]any)["latency_p99"].(map[string]any)
	if ev["canary_events"] != int64(3) || ev["baseline_events"] != int64(0) {
		t.Errorf("events %v / %v, want 3 / 0", ev["canary_events"], ev["baseline_events"])
	}
	// One metric: α is the whole 1%, bound 100; 3 slow requests give 158.5.
	if d := j.Decide(); d.Verdict != Rollback {
		t.Errorf("decision %s: %s", d.Verdict, d.Reason)
	}
}

// TestSequentialLatencyWithinToleranceIsNotRolledBack: the canary is the
// baseline ×1.2 with max_ratio 1.5. Its requests above the tolerance
// (1.5 × the reference p99 of 99 ms) are as frequent as the baseline's
// above the reference p99 itself, so nothing accumulates. Counting both
// sides above the tolerance would compare 1 slow canary request an
// interval with none on the baseline and roll back in a few intervals.
func TestSequentialLatencyWithinToleranceIsNotRolledBack(t *testing.T) {
	ref := make([]time.Duration, 1000)
	for i := range ref {
		ref[i] = time.Duration(i+1) * 100 * time.Microsecond // p99 = 99 ms
	}
	hist := func(n, slow int, fast, slowAt time.Duration) *metrics.Hist {
		var ls []time.Duration
		for i := 0; i < n; i++ {
			l := fast
			if i < slow {
				l = slowAt
			}
			ls = append(ls, l)
		}
		return metrics.NewHist(ls...)
	}
	j := newSequential(seqAnalysis(&Check{Metric: metrics.LatencyP99, MaxRatio: &metrics.Value{V: 1.5, Raw: "1.5"}}))
	iv := Interval{LiveBaseline: true, Reference: metrics.Window{Requests: 1000, Hist: metrics.NewHist(ref...)},
		Baseline: metrics.Window{Requests: 900, Hist: hist(900, 9, 10*time.Millisecond, 130*time.Millisecond)},
		Canary:   metrics.Window{Requests: 100, Hist: hist(100, 1, 12*time.Millisecond, 156*time.Millisecond)}}
	for i := range 100 {
		j.Observe(iv)
		if d := j.Decide(); d.Verdict != Continue {
			t.Fatalf("interval %d: %s (%s), want continue: the canary is within max_ratio", i+1, d.Verdict, d.Reason)
		}
	}
	ev := j.Decide().Evidence["tests"].(map[string]any)["latency_p99"].(map[string]any)
	if ev["canary_events"] != int64(100) || ev["baseline_events"] != int64(900) {
		t.Errorf("events %v / %v, want 100 / 900", ev["canary_events"], ev["baseline_events"])
	}
}

// TestSequentialPauseGivesUp: on_no_data pause pauses, and after
// noDataLimit intervals in a row without data rolls back, so that a
// rollout cannot wait forever for a baseline that never comes.
func TestSequentialPauseGivesUp(t *testing.T) {
	j := newSequential(seqAnalysis(&Check{Metric: metrics.ErrorRate}))
	for i := 1; i <= noDataLimit; i++ {
		j.Observe(errIv(100, 50, 0, 0)) // no baseline requests
		want := Pause
		if i == noDataLimit {
			want = Rollback
		}
		if d := j.Decide(); d.Verdict != want {
			t.Fatalf("interval %d: %s (%s), want %s", i, d.Verdict, d.Reason, want)
		}
	}
}

// TestSequentialNoDataWithBounds: a bound (an invariant's max) beside the
// test does not make a test without data pass: on_no_data still decides.
func TestSequentialNoDataWithBounds(t *testing.T) {
	j := newSequential(seqAnalysis(&Check{Metric: metrics.ErrorRate},
		&Check{Metric: "invariant:totals", Max: &metrics.Value{V: 0, Raw: "0"}}))
	iv := errIv(100, 50, 0, 0)
	iv.Extra = map[string]SidePair{"invariant:totals": {Canary: 0, CanaryOK: true}}
	j.Observe(iv)
	if d := j.Decide(); d.Verdict != Pause {
		t.Errorf("no baseline requests, invariant fine: %s (%s), want pause", d.Verdict, d.Reason)
	}
}

// TestSequentialHugeEvidenceIsJSON: a crashing canary at high traffic
// passes exp's range in one interval; the decision must still encode.
func TestSequentialHugeEvidenceIsJSON(t *testing.T) {
	j := newSequential(seqAnalysis(&Check{Metric: metrics.ErrorRate}))
	j.Observe(errIv(100000, 50000, 900000, 0))
	d := j.Decide()
	if d.Verdict != Rollback {
		t.Fatalf("%s (%s), want rollback", d.Verdict, d.Reason)
	}
	if _, err := json.Marshal(d); err != nil {
		t.Fatalf("the decision does not encode: %v", err)
	}
	if le := d.Evidence["tests"].(map[string]any)["error_rate"].(map[string]any)["log_e_value"].(float64); le < 1000 {
		t.Errorf("log e-value %v, want the exact log (> 709, past exp's range)", le)
	}
}

func TestSequentialNoDataPolicies(t *testing.T) {
	for _, tt := range []struct {
		policy string
		want   []Verdict
	}{
		{NoDataPause, []Verdict{Pause, Pause}},
		{NoDataFail, []Verdict{Continue, Rollback}},
		{NoDataPass, []Verdict{Continue, Continue}},
	} {
		a := seqAnalysis(&Check{Metric: metrics.ErrorRate})
		a.OnNoData = tt.policy
		j := newSequential(a)
		for i, want := range tt.want {
			j.Observe(errIv(3, 0, 900, 0)) // 3 < min_samples 10
			if d := j.Decide(); d.Verdict != want || d.Evidence["policy"] != tt.policy {
				t.Errorf("%s, interval %d: %s (%s), want %s", tt.policy, i+1, d.Verdict, d.Reason, want)
			}
		}
	}
	// A canary with requests but no baseline traffic at all is no data too.
	j := newSequential(seqAnalysis(&Check{Metric: metrics.ErrorRate}))
	j.Observe(errIv(100, 0, 0, 0))
	if d := j.Decide(); d.Verdict != Pause {
		t.Errorf("no baseline requests: %s (%s), want pause", d.Verdict, d.Reason)
	}
}

// TestSequentialBoundsGoToTheThresholdJudge: an invariant's max and an
// absolute latency ceiling are bounds, counted like the threshold judge.
func TestSequentialBoundsGoToTheThresholdJudge(t *testing.T) {
	a := seqAnalysis(&Check{Metric: metrics.ErrorRate},
		&Check{Metric: "invariant:totals", Max: &metrics.Value{V: 0, Raw: "0"}})
	j := newSequential(a)
	iv := errIv(100, 0, 900, 0)
	iv.Extra = map[string]SidePair{"invariant:totals": {Canary: 2, CanaryOK: true}}
	j.Observe(iv)
	if d := j.Decide(); d.Verdict != Continue {
		t.Errorf("first violation: %s (%s), want continue (failures: 2)", d.Verdict, d.Reason)
	}
	j.Observe(iv)
	if d := j.Decide(); d.Verdict != Rollback || !strings.Contains(d.Reason, "invariant:totals 2 > max 0") {
		t.Errorf("second violation: %s (%s), want rollback naming the invariant", d.Verdict, d.Reason)
	}
}

// TestSequentialAAFalseRollbacks: identical canary and baseline (0.1%
// errors; 25 and 225 requests per 250 ms interval, i.e. 100 and 900 a
// second), 1000 seeded runs of 240 intervals (60 s) each: Ville's
// inequality bounds false rollbacks by 1%; the seeds make the count
// exact, so the test cannot flake.
func TestSequentialAAFalseRollbacks(t *testing.T) {
	const runs = 1000
	falseRollbacks := 0
	for run := range runs {
		r := rand.New(rand.NewPCG(uint64(run), 42))
		j := newSequential(seqAnalysis(&Check{Metric: metrics.ErrorRate}))
		for range 240 {
			j.Observe(errIv(25, binomial(r, 25, 0.001), 225, binomial(r, 225, 0.001)))
			if j.Decide().Verdict == Rollback {
				falseRollbacks++
				break
			}
		}
	}
	if falseRollbacks > runs/100 {
		t.Errorf("%d false rollbacks in %d A/A runs, want <= 1%%", falseRollbacks, runs)
	}
	t.Logf("%d false rollbacks in %d A/A runs", falseRollbacks, runs)
}

func binomial(r *rand.Rand, n int64, p float64) int64 {
	var k int64
	for range n {
		if r.Float64() < p {
			k++
		}
	}
	return k
}
