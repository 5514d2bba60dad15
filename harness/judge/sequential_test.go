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

// liveEvidence is a test's live-mode evidence.
func liveEvidence(t *testing.T, d Decision, metric string) map[string]any {
	t.Helper()
	tests, _ := d.Evidence["tests"].(map[string]any)
	ev, ok := tests[metric].(map[string]any)
	if !ok {
		t.Fatalf("no evidence for %s in %v", metric, d.Evidence)
	}
	return ev
}

// TestSequentialStatisticByHand: the canary serves 100 of an interval's
// 1000 requests. Given that the interval held e failures, the canary's
// share of them is hypergeometric; with every failure the canary's, its
// tail is (100·99·…)/(1000·999·…): for 3 failures
// 970 200 / 997 002 000 = 0.000973, for 4 failures 0.0000943. α = 1%
// split over two tested metrics is 0.5%, and after 100 canary requests
// the spending function allows 0.5% × 100/(100+500) = 0.000833: three
// failures are not enough and four are.
func TestSequentialStatisticByHand(t *testing.T) {
	a := seqAnalysis(&Check{Metric: metrics.ErrorRate}, &Check{Metric: metrics.LatencyP99})
	j := newSequential(a)
	j.Observe(errIv(100, 3, 900, 0))
	d := j.Decide()
	ev := liveEvidence(t, d, "error_rate")
	if got := ev["tail_probability"].(float64); math.Abs(got-970200.0/997002000) > 1e-12 {
		t.Errorf("tail after 3 failures = %.9f, want %.9f", got, 970200.0/997002000)
	}
	if got := ev["alpha_allowed"].(float64); math.Abs(got-0.005*100/600) > 1e-12 {
		t.Errorf("allowance %.9f, want %.9f", got, 0.005*100/600)
	}
	if d.Verdict == Rollback || ev["boundary"] != int64(4) {
		t.Errorf("3 failures: %s (%s), boundary %v; want no rollback, boundary 4", d.Verdict, d.Reason, ev["boundary"])
	}
	j = newSequential(a)
	j.Observe(errIv(100, 4, 900, 0))
	d = j.Decide()
	ev = liveEvidence(t, d, "error_rate")
	want := 100.0 * 99 * 98 * 97 / (1000.0 * 999 * 998 * 997)
	if got := ev["tail_probability"].(float64); math.Abs(got-want) > 1e-12 {
		t.Errorf("tail after 4 failures = %.9g, want %.9g", got, want)
	}
	if d.Verdict != Rollback || !strings.Contains(d.Reason, "error_rate: canary 4 of 4 events on 10.0% of the traffic, at or past the boundary 4") {
		t.Errorf("decision %s: %s", d.Verdict, d.Reason)
	}
	if ev["canary_events"] != int64(4) || ev["baseline_events"] != int64(0) || ev["alpha"] != 0.005 || ev["canary_requests"] != int64(100) {
		t.Errorf("evidence %v", ev)
	}
}

// TestSequentialShareChangesBetweenIntervals: each interval's events are
// split by that interval's share. 2 canary failures at 10%, then one on
// each side at 50%: the null distribution of the canary's count after
// the first interval is hypergeometric(1000, 2, 100) — 0.81 / 0.18 / 0.0099
// for 0 / 1 / 2 — and the second adds hypergeometric(1000, 2, 500), which
// is 0.2497 / 0.5005 / 0.2497; the tail at 3 is their convolution's mass
// at 3 and 4: 0.18·0.2497 + 0.0099·(0.5005+0.2497) = 0.0524 (exact
// values in the test).
func TestSequentialShareChangesBetweenIntervals(t *testing.T) {
	j := newSequential(seqAnalysis(&Check{Metric: metrics.ErrorRate}))
	j.Observe(errIv(100, 2, 900, 0))
	j.Observe(errIv(500, 1, 500, 1))
	h1 := []float64{900.0 * 899 / (1000 * 999), 2 * 100.0 * 900 / (1000 * 999), 100.0 * 99 / (1000 * 999)}
	h2 := []float64{500.0 * 499 / (1000 * 999), 2 * 500.0 * 500 / (1000 * 999), 500.0 * 499 / (1000 * 999)}
	want := h1[1]*h2[2] + h1[2]*(h2[1]+h2[2])
	if got := liveEvidence(t, j.Decide(), "error_rate")["tail_probability"].(float64); math.Abs(got-want) > 1e-12 {
		t.Errorf("tail = %.6f, want %.6f", got, want)
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
	// One metric: α is the whole 1%, of which 100 canary requests may
	// spend 1/6; 3 slow requests of 3 have a tail of 0.00097.
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
// puts 50 000 events in one interval; the decision must still encode, and
// come at once.
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
	if tail := liveEvidence(t, d, "error_rate")["tail_probability"].(float64); tail > 1e-300 {
		t.Errorf("tail probability %v, want about 0", tail)
	}
}

// TestSequentialLongRolloutStaysSmall: an hour of 1 s intervals with
// p50-like events (half of every request) keeps the null distribution as
// narrow as its spread allows — negligible mass at both ends is dropped,
// counted as spent — and the α spent stays within α.
func TestSequentialLongRolloutStaysSmall(t *testing.T) {
	j := newSequential(seqAnalysis(&Check{Metric: metrics.ErrorRate}))
	r := rand.New(rand.NewPCG(3, 4))
	variance := 0.0
	for range 3600 {
		fc, fb := binomial(r, 100, 0.5), binomial(r, 900, 0.5)
		j.Observe(errIv(100, fc, 900, fb))
		if d := j.Decide(); d.Verdict != Continue {
			t.Fatalf("%s (%s), want continue", d.Verdict, d.Reason)
		}
		e := float64(fc + fb)
		variance += 100 * (e / 1000) * (1 - e/1000) * 900 / 999 // the interval's hypergeometric
	}
	live := j.tests[0].live
	// Mass below 1e-15 lies beyond about 8 standard deviations each side.
	if width := float64(len(live.mass)); width > 16*math.Sqrt(variance) || live.spent > j.tests[0].alpha {
		t.Errorf("after an hour: %d counts kept (16 sd = %.0f), alpha spent %g of %g", len(live.mass), 16*math.Sqrt(variance), live.spent, j.tests[0].alpha)
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
// second), 1000 seeded runs of 240 intervals (60 s) each: the spending
// bounds false rollbacks by 1%; the seeds make the count exact, so the
// test cannot flake. The α spent, averaged over the runs, is the
// false-rollback rate's expectation: the two must agree (within the
// binomial noise of 1000 runs), or the null distribution is wrong.
func TestSequentialAAFalseRollbacks(t *testing.T) {
	const runs = 1000
	falseRollbacks, spent := 0, 0.0
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
		spent += j.tests[0].live.spent
	}
	mean := spent / runs
	if sd := math.Sqrt(mean * (1 - mean) / runs); math.Abs(float64(falseRollbacks)/runs-mean) > 4*sd {
		t.Errorf("%d false rollbacks in %d runs, but the alpha spent says %.2f%%", falseRollbacks, runs, 100*mean)
	}
	if falseRollbacks > runs/100 {
		t.Errorf("%d false rollbacks in %d A/A runs, want <= 1%%", falseRollbacks, runs)
	}
	t.Logf("%d false rollbacks in %d A/A runs; mean alpha spent %.3f%%", falseRollbacks, runs, 100*mean)
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
