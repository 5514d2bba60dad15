package judge

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/drillhq/drill/harness/metrics"
	"gonum.org/v1/gonum/stat/distuv"
)

var mwT0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func mwVal(v float64, raw string) *metrics.Value { return &metrics.Value{V: v, Raw: raw} }

func mwNear(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

// mwStream gives one metric's values at interval k (0-based); ok false
// leaves that side without a value.
type mwStream func(k int) (canary, baseline float64, cok, bok bool)

// mwShifted is a baseline of distinct values near 1 and a canary shifted by
// d. The baseline is 1 + 0.001·(7k mod 20): 7 is prime to 20, so any 20
// consecutive intervals hold 1.000 … 1.019 once each, without a trend
// (a trend would make a new canary value beat every older baseline value).
// With |d| > 0.02 the sides never interleave: the test sees a complete
// separation.
func mwShifted(d float64) mwStream {
	return func(k int) (float64, float64, bool, bool) {
		b := 1 + 0.001*float64(7*k%20)
		return b + d, b, true, true
	}
}

// mwInterleaved is two sides that do not differ: each canary value sits
// just above its own interval's baseline value; over a full window U is
// 210 of 400, about half its range.
func mwInterleaved() mwStream { return mwShifted(0.0005) }

// mwCanaryOnly is a metric with no baseline side (an invariant).
func mwCanaryOnly(v float64) mwStream {
	return func(int) (float64, float64, bool, bool) { return v, 0, true, false }
}

// mwExtraIv is interval k of named metric streams served through Extra (the
// judge reads every metric through Interval.sideValue, so any name works),
// with reqs requests a side.
func mwExtraIv(k int, reqs int64, streams map[string]mwStream) Interval {
	iv := Interval{At: mwT0.Add(time.Duration(k) * time.Second), LiveBaseline: true,
		Canary: metrics.Window{Requests: reqs}, Baseline: metrics.Window{Requests: reqs},
		Extra: map[string]SidePair{}}
	for name, s := range streams {
		c, b, cok, bok := s(k)
		iv.Extra[name] = SidePair{Canary: c, Baseline: b, CanaryOK: cok, BaselineOK: bok}
	}
	return iv
}

// runMW feeds n intervals and returns the verdicts and the last decision.
func runMW(t *testing.T, a Config, n int, iv func(k int) Interval) ([]Verdict, Decision) {
	t.Helper()
	j, err := New("mann-whitney", a)
	if err != nil {
		t.Fatal(err)
	}
	var vs []Verdict
	for k := range n {
		j.Observe(iv(k))
		vs = append(vs, j.Decide().Verdict)
	}
	return vs, j.Decide()
}

// mwEvidence returns a metric's evidence map from a decision.
func mwEvidence(t *testing.T, d Decision, key string) map[string]any {
	t.Helper()
	ms, _ := d.Evidence["metrics"].(map[string]any)
	e, ok := ms[key].(map[string]any)
	if !ok {
		t.Fatalf("no evidence for %s in %v", key, d.Evidence)
	}
	return e
}

func TestMannWhitneyClasses(t *testing.T) {
	tests := []struct {
		name      string
		check     Check
		s         mwStream
		n         int // intervals fed
		class     string
		verdict   Verdict
		reason    string // in the last reason
		wantTest  bool   // u and p in the evidence
		wantScore float64
	}{
		{
			// Exact one-sided p at 5 a side is 1/252 = 0.004 < alpha 1%:
			// the first block (an interval here) with enough samples
			// already detects the shift.
			name: "any increase without a relative bound", check: Check{Metric: "a", Max: mwVal(100, "100")},
			s: mwShifted(0.5), n: 5, class: mwHigh, verdict: Continue, wantTest: true,
			reason: "canary score 0 < marginal 75: a high (HL +0.5, p=0.004)",
		},
		{
			name: "beyond max_increase", check: Check{Metric: "a", MaxIncrease: mwVal(0.1, "0.1")},
			s: mwShifted(0.5), n: 8, class: mwHigh, verdict: Continue, wantTest: true, reason: "a high (HL +0.5, p=7.8e-05)",
		},
		{
			// Significant (p = 1/C(16,8) = 7.8e-05) but 0.5 is within 1.
			name: "within max_increase", check: Check{Metric: "a", MaxIncrease: mwVal(1, "1")},
			s: mwShifted(0.5), n: 8, class: mwPass, verdict: Continue, wantTest: true, wantScore: 100,
		},
		{
			// median_baseline is 1.0075 after 8 intervals; 1.0075 + 0.5 >
			// 1.2 × 1.0075.
			name: "beyond max_ratio", check: Check{Metric: "a", MaxRatio: mwVal(1.2, "1.2")},
			s: mwShifted(0.5), n: 8, class: mwHigh, verdict: Continue, wantTest: true,
		},
		{
			name: "within max_ratio", check: Check{Metric: "a", MaxRatio: mwVal(2, "2")},
			s: mwShifted(0.5), n: 8, class: mwPass, verdict: Continue, wantTest: true, wantScore: 100,
		},
		{
			name: "lower is reported and passes", check: Check{Metric: "a", MaxRatio: mwVal(1.2, "1.2")},
			s: mwShifted(-0.5), n: 8, class: mwLow, verdict: Continue, wantTest: true, wantScore: 100,
			reason: "canary score 100 >= pass 95: a low (HL -0.5, p=7.8e-05)",
		},
		{
			name: "no significant difference", check: Check{Metric: "a", Max: mwVal(100, "100")},
			s: mwInterleaved(), n: 20, class: mwPass, verdict: Continue, wantTest: true, wantScore: 100,
		},
		{
			// 4 against 4 can at best give p = 1/70 > 1%: no test yet.
			name: "too few blocks", check: Check{Metric: "a", MaxIncrease: mwVal(0.1, "0.1")},
			s: mwShifted(0.5), n: 4, class: mwNoData, verdict: Pause,
			reason: "warming up: a: 4 canary and 4 baseline blocks, too few for a test at α 0.01",
		},
		{
			// The sides do not differ, but the canary's latest value (1.0085)
			// is above the absolute max.
			name: "absolute max regardless of the test", check: Check{Metric: "a", Max: mwVal(0.5, "0.5")},
			s: mwInterleaved(), n: 5, class: mwHigh, verdict: Continue, wantTest: true, reason: "a high (1.0085 > max 0.5)",
		},
		{
			// A bound is judged at once, without waiting for a test.
			name: "absolute max at the first interval", check: Check{Metric: "a", Max: mwVal(0.5, "0.5")},
			s: mwInterleaved(), n: 1, class: mwHigh, verdict: Continue, reason: "a high (1.0005 > max 0.5)",
		},
		{
			name: "canary-only within max", check: Check{Metric: "invariant:totals", Max: mwVal(0, "0")},
			s: mwCanaryOnly(0), n: 5, class: mwPass, verdict: Continue, wantScore: 100,
		},
		{
			name: "canary-only above max", check: Check{Metric: "invariant:totals", Max: mwVal(0, "0")},
			s: mwCanaryOnly(3), n: 5, class: mwHigh, verdict: Continue, reason: "invariant:totals high (3 > max 0)",
		},
		{
			// A relative bound cannot be judged without a baseline: no
			// data, which on_no_data (pause) decides.
			name: "relative bound without baseline", check: Check{Metric: "a", MaxIncrease: mwVal(1, "1")},
			s: mwCanaryOnly(3), n: 6, class: mwNoData, verdict: Pause, reason: "paused, no data (on_no_data: pause): a: no baseline value",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.check
			// Failures: 100, so that the verdict is the band's, not a
			// rollback from earlier failing intervals.
			a := Config{Metrics: []*Check{&c}, Failures: 100}
			vs, d := runMW(t, a, tc.n, func(k int) Interval { return mwExtraIv(k, 100, map[string]mwStream{c.Metric: tc.s}) })
			e := mwEvidence(t, d, c.Metric)
			if e["class"] != tc.class || vs[len(vs)-1] != tc.verdict {
				t.Errorf("class %v, verdict %s, want %s, %s; %s", e["class"], vs[len(vs)-1], tc.class, tc.verdict, d.Reason)
			}
			if !strings.Contains(d.Reason, tc.reason) {
				t.Errorf("reason %q does not contain %q", d.Reason, tc.reason)
			}
			if _, tested := e["p_high"]; tested != tc.wantTest {
				t.Errorf("tested = %v, want %v: %v", tested, tc.wantTest, e)
			}
			if tc.class == mwHigh && d.Evidence["score"] != 0.0 {
				t.Errorf("score %v, want 0", d.Evidence["score"])
			}
			if tc.wantScore != 0 && d.Evidence["score"] != tc.wantScore {
				t.Errorf("score %v, want %v", d.Evidence["score"], tc.wantScore)
			}
		})
	}
}

func TestMannWhitneyEvidence(t *testing.T) {
	c := &Check{Metric: "a", MaxIncrease: mwVal(0.1, "0.1"), Weight: 2, Critical: true}
	_, d := runMW(t, Config{Metrics: []*Check{c}}, 8,
		func(k int) Interval { return mwExtraIv(k, 100, map[string]mwStream{"a": mwShifted(0.5)}) })
	for _, k := range []string{"score", "band", "pass_score", "marginal_score", "failed_evaluations", "failures_allowed", "metrics", "blocks", "evaluated_at"} {
		if _, ok := d.Evidence[k]; !ok {
			t.Errorf("evidence has no %s: %v", k, d.Evidence)
		}
	}
	e := mwEvidence(t, d, "a")
	// Baseline 1 + 0.001·{0 7 14 1 8 15 2 9} (median (1.007+1.008)/2 =
	// 1.0075), canary +0.5; U = 64 of 64, exact one-sided p = 1/C(16,8) =
	// 1/12870 (and every ordering has U ≤ 64: p_low = 1). An Extra
	// metric's shift is its Hodges-Lehmann estimate.
	want := map[string]any{
		"class": mwHigh, "u": 64.0, "alpha": 0.01, "n_canary": 8, "n_baseline": 8,
		"weight": 2.0, "critical": true, "exact": true, "status": mwEvaluated,
	}
	for k, v := range want {
		if e[k] != v {
			t.Errorf("%s = %v, want %v", k, e[k], v)
		}
	}
	for k, v := range map[string]float64{"p_high": 1.0 / 12870, "p_low": 1, "hodges_lehmann": 0.5, "shift": 0.5, "median_canary": 1.5075, "median_baseline": 1.0075} {
		if f, _ := e[k].(float64); !mwNear(f, v, 1e-9) {
			t.Errorf("%s = %v, want %v", k, e[k], v)
		}
	}
	if b := d.Evidence["blocks"].(map[string]any); b["canary"] != 8 || b["baseline"] != 8 || b["canary_closed"] != true {
		t.Errorf("blocks %v", b)
	}
	if _, err := json.Marshal(d); err != nil {
		t.Errorf("decision does not marshal: %v", err)
	}
}

func TestMannWhitneyScoreAndWeights(t *testing.T) {
	type m struct {
		weight   float64
		critical bool
		high     bool
	}
	tests := []struct {
		name           string
		metrics        []m
		pass, marginal float64
		score          float64
		band           string
		reason         string
	}{
		{name: "all pass", metrics: []m{{1, false, false}, {1, false, false}}, score: 100, band: mwBandPass},
		{name: "one of five high is still marginal", metrics: []m{{1, false, true}, {1, false, false}, {1, false, false}, {1, false, false}, {1, false, false}},
			score: 80, band: mwBandMarginal},
		{name: "one of four high is marginal", metrics: []m{{1, false, true}, {1, false, false}, {1, false, false}, {1, false, false}},
			score: 75, band: mwBandMarginal, reason: "canary score 75 is marginal (>= 75, < pass 95): a high"},
		{name: "two of four high fails", metrics: []m{{1, false, true}, {1, false, true}, {1, false, false}, {1, false, false}},
			score: 50, band: mwBandFail, reason: "canary score 50 < marginal 75: a high"},
		{name: "light metric high: marginal", metrics: []m{{3, false, false}, {1, false, true}}, score: 75, band: mwBandMarginal},
		{name: "heavy metric high: fail", metrics: []m{{3, false, true}, {1, false, false}}, score: 25, band: mwBandFail},
		{name: "critical forces 0", metrics: []m{{1, false, false}, {1, false, false}, {1, false, false}, {1, true, true}},
			score: 0, band: mwBandFail, reason: "critical d high forces the score to 0"},
		{name: "critical passing counts as usual", metrics: []m{{1, true, false}, {1, false, false}, {1, false, false}, {1, false, true}},
			score: 75, band: mwBandMarginal},
		{name: "own bands", metrics: []m{{1, false, true}, {1, false, false}, {1, false, false}, {1, false, false}},
			pass: 70, marginal: 50, score: 75, band: mwBandPass},
		{name: "2/3 below own marginal", metrics: []m{{1, false, true}, {1, false, false}, {1, false, false}},
			pass: 90, marginal: 70, score: 100 * 2.0 / 3, band: mwBandFail, reason: "canary score 66.7 < marginal 70"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := Config{PassScore: tc.pass, MarginalScore: tc.marginal, Failures: 100}
			streams := map[string]mwStream{}
			for i, mm := range tc.metrics {
				name := string(rune('a' + i))
				a.Metrics = append(a.Metrics, &Check{Metric: name, MaxIncrease: mwVal(0.1, "0.1"), Weight: mm.weight, Critical: mm.critical})
				streams[name] = mwInterleaved()
				if mm.high {
					streams[name] = mwShifted(0.5)
				}
			}
			// 8 intervals: with four metrics alpha = 1%/4 = 0.0025, and
			// the exact one-sided p of a separation at 8 a side is
			// 0.000078.
			_, d := runMW(t, a, 8, func(k int) Interval { return mwExtraIv(k, 100, streams) })
			if got := d.Evidence["score"].(float64); !mwNear(got, tc.score, 1e-9) || d.Evidence["band"] != tc.band {
				t.Errorf("score %v band %v, want %v %v: %s", got, d.Evidence["band"], tc.score, tc.band, d.Reason)
			}
			if !strings.Contains(d.Reason, tc.reason) {
				t.Errorf("reason %q does not contain %q", d.Reason, tc.reason)
			}
			if tc.band == mwBandMarginal && !strings.Contains(d.Reason, "marginal") {
				t.Errorf("marginal reason %q does not say so", d.Reason)
			}
			// Only a failing band counts (intervals 6 to 8 here, once the
			// test has the power).
			if failed := d.Evidence["failed_evaluations"].(int); (failed > 0) != (tc.band == mwBandFail) {
				t.Errorf("failed evaluations %d with band %s", failed, tc.band)
			}
			if d.Verdict != Continue {
				t.Errorf("verdict %s, want continue (failures: 100)", d.Verdict)
			}
		})
	}
}

// mwOneInversion is a canary 0.5 above the baseline (mwShifted) except at
// interval 4, where it sits between the baseline's values: over the first
// five intervals U = 24 of 25, and exactly two of the C(10,5) = 252
// orderings reach U ≥ 24: one-sided p = 2/252 ≈ 0.0079.
func mwOneInversion() mwStream {
	return func(k int) (float64, float64, bool, bool) {
		c, b, _, _ := mwShifted(0.5)(k)
		if k == 4 {
			c = 1.0135 // above 1.000 1.001 1.007 1.008, below 1.014
		}
		return c, b, true, true
	}
}

func TestMannWhitneyBonferroni(t *testing.T) {
	// One metric tested: alpha = 1%, and p = 0.0079 is significant. Two
	// tested: alpha = 0.5%, the same p is not.
	one := []*Check{{Metric: "a", MaxIncrease: mwVal(0.1, "0.1")}}
	two := append(one[:1:1], &Check{Metric: "b", MaxIncrease: mwVal(0.1, "0.1")})
	streams := map[string]mwStream{"a": mwOneInversion(), "b": mwInterleaved()}
	iv := func(k int) Interval { return mwExtraIv(k, 100, streams) }
	_, d := runMW(t, Config{Metrics: one}, 5, iv)
	if e := mwEvidence(t, d, "a"); e["class"] != mwHigh || e["alpha"] != 0.01 || !mwNear(e["p_high"].(float64), 2.0/252, 1e-12) {
		t.Errorf("one metric: %v", e)
	}
	_, d = runMW(t, Config{Metrics: two}, 5, iv)
	if e := mwEvidence(t, d, "a"); e["class"] != mwPass || e["alpha"] != 0.005 {
		t.Errorf("two metrics: %v", e)
	}
	// A metric that cannot be tested spends none of the rate (b has no
	// baseline, so it is no data), and its no data does not mask a's
	// failing evaluation.
	streams["b"] = mwCanaryOnly(0)
	_, d = runMW(t, Config{Metrics: two}, 5, iv)
	if e := mwEvidence(t, d, "a"); e["class"] != mwHigh || e["alpha"] != 0.01 || d.Evidence["failed_evaluations"] != 1 || d.Verdict != Continue {
		t.Errorf("two metrics, one without data: %v; %+v", e, d)
	}
}

func TestMannWhitneyFailuresBeforeRollback(t *testing.T) {
	a := Config{Failures: 3, Metrics: []*Check{{Metric: "a", MaxIncrease: mwVal(0.1, "0.1")}}}
	vs, d := runMW(t, a, 7, func(k int) Interval { return mwExtraIv(k, 100, map[string]mwStream{"a": mwShifted(0.5)}) })
	// Four intervals to fill the window (paused), then three failing
	// evaluations: the third rolls back.
	want := []Verdict{Pause, Pause, Pause, Pause, Continue, Continue, Rollback}
	if !slices.Equal(vs, want) {
		t.Errorf("verdicts %v, want %v", vs, want)
	}
	if !strings.HasPrefix(d.Reason, "3 of 3 allowed failed evaluations; last: canary score 0 < marginal 75: a high (HL +0.5") {
		t.Errorf("reason %q", d.Reason)
	}

	// Failed evaluations are counted over the whole rollout, not in a row:
	// a bad first stretch (failing until the healthy blocks after it
	// outnumber its five), a healthy one long enough to flush it out of
	// the window (passing evaluations in between), then a bad one again.
	s := func(k int) (float64, float64, bool, bool) {
		if k >= 5 && k < 5+mwLookback+10 {
			return mwInterleaved()(k)
		}
		return mwShifted(0.5)(k)
	}
	a.Failures = 12
	j, err := New("mann-whitney", a)
	if err != nil {
		t.Fatal(err)
	}
	var bands []string
	for k := range 2*mwLookback + 30 {
		j.Observe(mwExtraIv(k, 100, map[string]mwStream{"a": s}))
		d := j.Decide()
		band, _ := d.Evidence["band"].(string)
		bands = append(bands, band)
		fails := 0
		for _, b := range bands {
			if b == mwBandFail {
				fails++
			}
		}
		if (d.Verdict == Rollback) != (fails == a.Failures) {
			t.Fatalf("interval %d: %s after %d failing evaluations (bands %v)", k+1, d.Verdict, fails, bands)
		}
		if d.Verdict == Rollback {
			if i := slices.Index(bands, mwBandFail); !slices.Contains(bands[i:], mwBandPass) {
				t.Errorf("the failing evaluations were consecutive: %v", bands)
			}
			return
		}
	}
	t.Errorf("no rollback: bands %v", bands)
}

// TestMannWhitneyNoDataAfterAFailureIsNotCountedAgain: a bad canary that
// then stops taking traffic. Its failing evaluation was counted when its
// block closed; the intervals without canary requests bring no block and
// no new evidence, so they are no data (on_no_data: pause), not the same
// failure counted again.
func TestMannWhitneyNoDataAfterAFailureIsNotCountedAgain(t *testing.T) {
	a := Config{Failures: 3, Metrics: []*Check{{Metric: "a", MaxIncrease: mwVal(0.1, "0.1")}}}
	vs, d := runMW(t, a, 7, func(k int) Interval {
		if k < 5 {
			return mwExtraIv(k, 100, map[string]mwStream{"a": mwShifted(0.5)})
		}
		return mwExtraIv(k, 0, map[string]mwStream{"a": mwShifted(0.5)})
	})
	if want := []Verdict{Pause, Pause, Pause, Pause, Continue, Pause, Pause}; !slices.Equal(vs, want) {
		t.Errorf("verdicts %v, want %v", vs, want)
	}
	if d.Evidence["failed_evaluations"] != 1 || d.Evidence["policy"] != NoDataPause || !strings.Contains(d.Reason, "a: canary had 0 requests") ||
		!strings.Contains(d.Reason, "the other metrics: canary score 0 < marginal 75") || mwEvidence(t, d, "a")["class"] != mwHigh {
		t.Errorf("decision %+v", d)
	}
}

func TestMannWhitneyFullStepKeepsTheLiveBaseline(t *testing.T) {
	// 10 intervals at a partial step, then 30 at 100%, where Baseline is
	// the steady-state reference (here a wildly different 5.0 every
	// interval, so that using it would show). The baseline keeps its 10
	// live blocks (an interval each here); the canary's blocks start afresh
	// at the switch (the judge pauses while the first fill) and then slide.
	for _, tc := range []struct {
		name  string
		shift float64 // the canary at 100%
		class string
	}{
		{"healthy canary passes against the last live baseline", 0.0005, mwPass},
		{"bad canary is high against the last live baseline", 0.5, mwHigh},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := Config{Failures: 100, Metrics: []*Check{{Metric: "a", MaxIncrease: mwVal(0.1, "0.1")}}}
			vs, d := runMW(t, a, 40, func(k int) Interval {
				if k < 10 {
					return mwExtraIv(k, 100, map[string]mwStream{"a": mwInterleaved()})
				}
				iv := mwExtraIv(k, 100, map[string]mwStream{"a": func(k int) (float64, float64, bool, bool) {
					c, _, _, _ := mwShifted(tc.shift)(k)
					return c, 5, true, true
				}})
				iv.LiveBaseline = false
				return iv
			})
			// 3 new canary blocks against the 10 frozen ones can reach
			// p = 1/C(13,3) = 1/286 < 1%: two intervals of warm-up.
			if slices.Contains(vs[4:10], Pause) || slices.Contains(vs[12:], Pause) || slices.ContainsFunc(vs[10:12], func(v Verdict) bool { return v != Pause }) {
				t.Errorf("verdicts %v, want pauses at intervals 1-4 and 11-12 only", vs)
			}
			e := mwEvidence(t, d, "a")
			if e["class"] != tc.class || e["n_baseline"] != 10 || e["n_canary"] != 30 || d.Evidence["live_baseline"] != false ||
				d.Evidence["mode"] != "reference" || d.Evidence["canary_samples_since"] != 11 || d.Evidence["baseline_requests"] != int64(0) {
				t.Errorf("evidence %v; %s", e, d.Reason)
			}
		})
	}
	// A rollout at 100% from the start has no live baseline at all: a
	// relative bound has no data, which on_no_data decides (here: pause),
	// and an absolute one is still judged.
	a := Config{Metrics: []*Check{{Metric: "a", MaxIncrease: mwVal(0.1, "0.1")}, {Metric: "b", Max: mwVal(2, "2")}}}
	_, d := runMW(t, a, 6, func(k int) Interval {
		iv := mwExtraIv(k, 100, map[string]mwStream{"a": mwInterleaved(), "b": mwInterleaved()})
		iv.LiveBaseline = false
		return iv
	})
	if ea, eb := mwEvidence(t, d, "a"), mwEvidence(t, d, "b"); ea["class"] != mwNoData || eb["class"] != mwPass || d.Verdict != Pause ||
		!strings.Contains(d.Reason, "a: 0 of 3 baseline blocks from the live phase") {
		t.Errorf("a %v, b %v, %+v", ea, eb, d)
	}
}

// TestMannWhitneyReferenceModeTestsTheNewSamples: a canary as good as
// the baseline for 20 live intervals that regresses at 100% is high 3
// intervals after the switch, on its 3 new blocks alone (p = 1/C(23,3)
// against the 20 frozen baseline blocks): with its 20 older samples in
// the window the regression would not be significant yet.
func TestMannWhitneyReferenceModeTestsTheNewSamples(t *testing.T) {
	a := Config{Failures: 100, Metrics: []*Check{{Metric: "a", MaxIncrease: mwVal(0.1, "0.1")}}}
	vs, d := runMW(t, a, 23, func(k int) Interval {
		if k < 20 {
			return mwExtraIv(k, 100, map[string]mwStream{"a": mwInterleaved()})
		}
		iv := mwExtraIv(k, 100, map[string]mwStream{"a": mwShifted(0.5)})
		iv.LiveBaseline = false
		return iv
	})
	e := mwEvidence(t, d, "a")
	if e["class"] != mwHigh || e["n_canary"] != 3 || e["n_baseline"] != 20 || !slices.Equal(vs[20:], []Verdict{Pause, Pause, Continue}) ||
		!mwNear(e["p_high"].(float64), 1.0/1771, 1e-12) {
		t.Errorf("verdicts %v; evidence %v; %s", vs, e, d.Reason)
	}
}

// TestMannWhitneyReferenceModeWarmUpIgnoresFail: the pause while the
// canary's window refills after the switch is the judge's own lag: with
// on_no_data fail it does not count failed evaluations.
func TestMannWhitneyReferenceModeWarmUpIgnoresFail(t *testing.T) {
	a := Config{Failures: 1, OnNoData: NoDataFail, Metrics: []*Check{{Metric: "a", MaxIncrease: mwVal(0.1, "0.1")}}}
	vs, d := runMW(t, a, 20, func(k int) Interval {
		iv := mwExtraIv(k, 100, map[string]mwStream{"a": mwInterleaved()})
		iv.LiveBaseline = k < 10
		return iv
	})
	if slices.Contains(vs, Rollback) || d.Evidence["failed_evaluations"] != 0 {
		t.Errorf("verdicts %v, %v", vs, d.Evidence)
	}
}

func TestMannWhitneyNoDataPolicies(t *testing.T) {
	noCanary := func(int) Interval {
		return Interval{At: mwT0, LiveBaseline: true, Canary: metrics.Window{}, Baseline: metrics.Window{Requests: 100, Failed: 1}}
	}
	checks := []*Check{{Metric: metrics.ErrorRate, MaxIncrease: mwVal(0.005, "0.5%")}}

	t.Run("pause gives up after 30", func(t *testing.T) {
		vs, d := runMW(t, Config{Metrics: checks, OnNoData: NoDataPause}, noDataLimit, noCanary)
		if want := append(mwVerdicts(Pause, noDataLimit-1), Rollback); !slices.Equal(vs, want) {
			t.Errorf("verdicts %v, want %v", vs, want)
		}
		if !strings.Contains(d.Reason, "on_no_data: pause gives up") || d.Evidence["policy"] != NoDataPause {
			t.Errorf("decision %+v", d)
		}
	})
	t.Run("fail counts failed evaluations", func(t *testing.T) {
		vs, d := runMW(t, Config{Metrics: checks, OnNoData: NoDataFail, Failures: 2}, 2, noCanary)
		if !slices.Equal(vs, []Verdict{Continue, Rollback}) || !strings.Contains(d.Reason, "on_no_data: fail") || d.Evidence["failed_evaluations"] != 2 {
			t.Errorf("verdicts %v, decision %+v", vs, d)
		}
	})
	t.Run("pass says so", func(t *testing.T) {
		vs, d := runMW(t, Config{Metrics: checks, OnNoData: NoDataPass}, 40, noCanary)
		if !slices.Equal(vs, mwVerdicts(Continue, 40)) || !strings.Contains(d.Reason, "no data passed by policy (on_no_data: pass)") {
			t.Errorf("verdicts %v, decision %+v", vs, d)
		}
	})
	t.Run("pause: data resets the count; a block in progress is not no data", func(t *testing.T) {
		// Error rate, max_increase 0.5%: canary blocks of 200 requests (two
		// intervals of 100 here), baseline blocks of 400 (four). 7 canary
		// blocks against 3 baseline ones can reach p = 1/C(10,3) = 1/120
		// < 1% (6 against 3: 1/84 cannot): the first test is at interval
		// 14. Then 6 more healthy intervals: between blocks the judge goes
		// on (carried), it does not pause. 15 intervals without canary traffic are no data; the
		// healthy one after them (its block still filling) has data, and
		// that resets the run: the 44 pauses in all never give up.
		healthy := func(k int) Interval {
			return Interval{At: mwT0, LiveBaseline: true, Canary: metrics.Window{Requests: 100, Failed: int64(k % 2)}, Baseline: metrics.Window{Requests: 100, Failed: int64(k % 3)}}
		}
		iv := func(k int) Interval {
			if k < 20 || k == 35 {
				return healthy(k)
			}
			return noCanary(k)
		}
		j, err := New("mann-whitney", Config{Metrics: checks})
		if err != nil {
			t.Fatal(err)
		}
		var vs []Verdict
		var status []any
		for k := range 65 {
			j.Observe(iv(k))
			d := j.Decide()
			vs = append(vs, d.Verdict)
			status = append(status, mwEvidence(t, d, metrics.ErrorRate)["status"])
			if k == 20 && !strings.Contains(d.Reason, "error_rate: canary had 0 requests (< min_samples 10)") {
				t.Errorf("interval 21: %s", d.Reason)
			}
		}
		want := slices.Concat(mwVerdicts(Pause, 13), mwVerdicts(Continue, 7), mwVerdicts(Pause, 15), []Verdict{Continue}, mwVerdicts(Pause, 29))
		if !slices.Equal(vs, want) {
			t.Errorf("verdicts %v, want %v", vs, want)
		}
		// Evaluated when a canary block closes (every other interval),
		// carried in between.
		if want := []any{mwEvaluated, mwCarried, mwEvaluated, mwCarried, mwEvaluated, mwCarried, mwEvaluated}; !slices.Equal(status[13:20], want) || status[35] != mwCarried {
			t.Errorf("status %v", status)
		}
	})
}

// TestMannWhitneyNoDataPerMetric: one metric without data while the other
// has it is no data under on_no_data, not a metric left out of the score.
func TestMannWhitneyNoDataPerMetric(t *testing.T) {
	checks := []*Check{{Metric: "a", MaxIncrease: mwVal(0.1, "0.1")}, {Metric: "b", MaxIncrease: mwVal(0.1, "0.1")}}
	// b has no canary value at interval 8 only; 5 intervals warm up (two
	// metrics: 1/252 < 0.5%).
	run := func(policy string, a mwStream) ([]Verdict, Decision) {
		return runMW(t, Config{Metrics: checks, OnNoData: policy, Failures: 3}, 8, func(k int) Interval {
			iv := mwExtraIv(k, 100, map[string]mwStream{"a": a, "b": mwInterleaved()})
			if k == 7 {
				p := iv.Extra["b"]
				p.CanaryOK = false
				iv.Extra["b"] = p
			}
			return iv
		})
	}
	warm := mwVerdicts(Pause, 4)
	for _, tc := range []struct {
		policy  string
		verdict Verdict
		reason  string
		failed  int
	}{
		{NoDataPause, Pause, "paused, no data (on_no_data: pause): b: no canary value (the other metrics: canary score 100 >= pass 95)", 0},
		{NoDataFail, Continue, "no data counts as a failed check (on_no_data: fail): b: no canary value (the other metrics: canary score 100 >= pass 95)", 1},
		{NoDataPass, Continue, "no data passed by policy (on_no_data: pass): b: no canary value (the other metrics: canary score 100 >= pass 95)", 0},
	} {
		vs, d := run(tc.policy, mwInterleaved())
		if want := append(slices.Concat(warm, mwVerdicts(Continue, 3)), tc.verdict); !slices.Equal(vs, want) || d.Reason != tc.reason ||
			d.Evidence["failed_evaluations"] != tc.failed || mwEvidence(t, d, "b")["status"] != mwMissing {
			t.Errorf("%s: verdicts %v, want %v; %+v", tc.policy, vs, want, d)
		}
	}
	// a fails its evaluation at interval 8 (a block closes): b's missing
	// value does not mask it, whatever the policy says.
	for _, policy := range []string{NoDataPause, NoDataPass} {
		_, d := run(policy, mwShifted(0.5))
		if d.Verdict != Rollback || !strings.Contains(d.Reason, "a high") {
			t.Errorf("%s: a failing evaluation masked by no data: %+v", policy, d)
		}
	}
	// Warming up is the judge's own lag: with on_no_data fail the first
	// intervals pause and count nothing.
	vs, d := runMW(t, Config{Metrics: checks, OnNoData: NoDataFail, Failures: 1}, 4, func(k int) Interval {
		return mwExtraIv(k, 100, map[string]mwStream{"a": mwInterleaved(), "b": mwInterleaved()})
	})
	if !slices.Equal(vs, warm) || d.Evidence["failed_evaluations"] != nil || !strings.HasPrefix(d.Reason, "warming up: a: 4 canary and 4 baseline blocks") {
		t.Errorf("warm-up with on_no_data fail: %v, %+v", vs, d)
	}
}

func mwVerdicts(v Verdict, n int) []Verdict {
	out := make([]Verdict, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// mwLatWin is a window of the given latencies, one request each.
func mwLatWin(lats ...time.Duration) metrics.Window {
	return metrics.Window{Requests: int64(len(lats)), Hist: metrics.NewHist(lats...)}
}

func mwRepeatLat(n int, d time.Duration) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = d
	}
	return out
}

func TestMannWhitneyLatency(t *testing.T) {
	p50 := []*Check{{Metric: metrics.LatencyP50, MaxRatio: mwVal(1.5, "1.5")}}
	// A p50 needs no more than min_samples: blocks of one interval a side
	// here. Every block's p50 is 2 ms on the baseline and 4 ms on the
	// canary: two tie groups of 8 after 8 intervals, U = 64, mean 32,
	// σ² = 64/12·(17 − 2·504/240) = 68.27, one-sided p = 1 − Φ(31.5/8.26)
	// ≈ 0.00007: significant, and a pooled ratio of 2 > 1.5, but a shift
	// of 2 ms is below the 10 ms noise floor.
	_, d := runMW(t, Config{Metrics: p50}, 8, func(int) Interval {
		return Interval{At: mwT0, LiveBaseline: true, Baseline: mwLatWin(mwRepeatLat(20, 2*time.Millisecond)...), Canary: mwLatWin(mwRepeatLat(20, 4*time.Millisecond)...)}
	})
	if e := mwEvidence(t, d, metrics.LatencyP50); e["class"] != mwPass || e["p_high"].(float64) > 0.0001 || e["exact"] != false {
		t.Errorf("below the noise floor: %v", e)
	}
	// 20 ms against 40 ms: the same test, above the floor. The shift is
	// the pooled blocks' p50s, the reason says so.
	_, d = runMW(t, Config{Metrics: p50, Failures: 5}, 8, func(int) Interval {
		return Interval{At: mwT0, LiveBaseline: true, Baseline: mwLatWin(mwRepeatLat(20, 20*time.Millisecond)...), Canary: mwLatWin(mwRepeatLat(20, 40*time.Millisecond)...)}
	})
	if e := mwEvidence(t, d, metrics.LatencyP50); e["class"] != mwHigh || !strings.Contains(d.Reason, "latency_p50 high (40.0ms vs 20.0ms over 8 blocks, p=6.9e-05)") {
		t.Errorf("above the noise floor: %v, %s", e, d.Reason)
	}
	// A p99 needs 100 requests a side: at 50 an interval no interval has
	// one, but a canary block of two intervals has, and a baseline block
	// (twice the canary's need) of four. 7 canary blocks against 3
	// baseline ones can reach p = 1/C(10,3) = 1/120 < 1%: tested at
	// interval 14, failed; carried at 15; the next canary block (interval
	// 16) fails again and rolls back.
	p99 := []*Check{{Metric: metrics.LatencyP99, MaxRatio: mwVal(1.5, "1.5")}}
	vs, d := runMW(t, Config{Metrics: p99}, 16, func(int) Interval {
		return Interval{At: mwT0, LiveBaseline: true, Baseline: mwLatWin(mwRepeatLat(50, 20*time.Millisecond)...), Canary: mwLatWin(mwRepeatLat(50, 400*time.Millisecond)...)}
	})
	if want := slices.Concat(mwVerdicts(Pause, 13), []Verdict{Continue, Continue, Rollback}); !slices.Equal(vs, want) ||
		!strings.Contains(d.Reason, "latency_p99 high (400.1ms vs 20.0ms over 8 blocks") {
		t.Errorf("p99 of 50 requests an interval: %v, %+v", vs, d)
	}
	if e := mwEvidence(t, d, metrics.LatencyP99); e["n_canary"] != 8 || e["n_baseline"] != 4 {
		t.Errorf("p99 blocks: %v", e)
	}
}

// mwAAInterval draws one interval of a system whose canary and baseline are
// the same release: lognormal latencies (median 20 ms), 1% errors, cpu
// around 30%, both sides from the same distributions. The canary takes
// 20% of 250 requests.
func mwAAInterval(r *rand.Rand, k int, canaryShift time.Duration, canaryErr float64) Interval {
	side := func(n int, shift time.Duration, errRate float64) metrics.Window {
		lats := make([]time.Duration, n)
		var failed int64
		for i := range lats {
			lats[i] = time.Duration(0.020*math.Exp(0.5*r.NormFloat64())*float64(time.Second)) + shift
			if r.Float64() < errRate {
				failed++
			}
		}
		return metrics.Window{Start: mwT0.Add(time.Duration(k) * time.Second), End: mwT0.Add(time.Duration(k+1) * time.Second),
			Requests: int64(n), Failed: failed, Hist: metrics.NewHist(lats...)}
	}
	return Interval{
		At: mwT0.Add(time.Duration(k+1) * time.Second), LiveBaseline: true, Baseline: side(200, 0, 0.01), Canary: side(50, canaryShift, canaryErr),
		Extra: map[string]SidePair{metrics.CPU: {
			Baseline: 0.3 + 0.05*r.NormFloat64(), Canary: 0.3 + 0.05*r.NormFloat64(), BaselineOK: true, CanaryOK: true,
		}},
	}
}

// mwAAChecks is a typical analysis, with tolerances, plus metrics without a
// relative bound, whose "high" is any significant increase: they measure
// the test's own false-positive rate, not the tolerances'.
func mwAAChecks() []*Check {
	return []*Check{
		// Critical: with six metrics one high metric alone scores 80,
		// marginal; an error rate that bad must fail by itself.
		{Metric: metrics.ErrorRate, MaxIncrease: mwVal(0.005, "0.5%"), Critical: true},
		{Metric: metrics.LatencyP50, MaxRatio: mwVal(1.5, "1.5")},
		{Metric: metrics.LatencyP95, MaxIncrease: mwVal(0.020, "20ms")},
		{Metric: metrics.LatencyP99, MaxRatio: mwVal(2, "2")}, // 50 canary requests an interval: tested on blocks
		{Metric: metrics.LatencyP90, Max: mwVal(1, "1s")},
		{Metric: metrics.CPU, Max: mwVal(2, "200%")},
	}
}

// mwAARouterChecks tests the router metrics the blocks are for without
// tolerances: any significant increase of the error rate or the p99 is
// high.
func mwAARouterChecks() []*Check {
	return []*Check{
		{Metric: metrics.ErrorRate, Max: mwVal(1, "100%")},
		{Metric: metrics.LatencyP99, Max: mwVal(60, "60s")},
	}
}

// TestMannWhitneyAAFalseRollbacks feeds 100 seeded A/A runs (50 with
// -short) of 100 intervals (canary and baseline the same release) to
// three analyses: the typical one (canary blocks of 4 intervals, 25 of
// them); one of its metrics without tolerances (p90 and cpu: blocks of an
// interval), where any significant increase is high and only the test's
// own false-positive rate, over some 95 overlapping looks, stands between
// the canary and a rollback; and the error rate and p99 without
// tolerances, on blocks. Each seed's intervals are drawn once and fed to
// every judge.
func TestMannWhitneyAAFalseRollbacks(t *testing.T) {
	if raceEnabled {
		t.Skip("a seeded simulation: make test runs it without -race (see race_on_test.go)")
	}
	runs, intervals := 100, 100
	if testing.Short() {
		runs = 50 // a minute under -race, not two; the limits scale
	}
	analyses := []struct {
		name  string
		a     Config
		limit int // most false rollbacks accepted of runs
	}{
		// 5% of 100 would be 5; "well under" is at most 2%.
		{"typical analysis", Config{Metrics: mwAAChecks()}, runs / 50},
		// Without tolerances, looks at 1% each add up over a rollout: they
		// are correlated (consecutive ones share all but one block), not
		// independent, and nothing bounds their sum by α (see the judge's
		// comment). 95 of them rolled back 8% of 200 such runs (the
		// per-interval judge before blocks, whose two-sided test spent half
		// of α on "low", 5%); 10% bounds it, so that a bias (a healthy
		// canary reading high) would show.
		{"no tolerances", Config{Metrics: mwAAChecks()[4:]}, runs / 10},
		// A canary block of 200 requests against baseline blocks of 400:
		// the canary's values scatter more, which must not make a healthy
		// one read high (see mwBaselineFactor). 20 looks.
		{"router metrics on blocks, no tolerances", Config{Metrics: mwAARouterChecks()}, runs / 20},
	}
	rollbacks, failing := make([]int, len(analyses)), make([]int, len(analyses))
	for seed := range uint64(runs) {
		r := rand.New(rand.NewPCG(seed, 0x5eed))
		ivs := make([]Interval, intervals)
		for k := range ivs {
			ivs[k] = mwAAInterval(r, k, 0, 0.01)
		}
		for i, an := range analyses {
			j, err := New("mann-whitney", an.a)
			if err != nil {
				t.Fatal(err)
			}
			failed, warm := false, true
			for k, iv := range ivs {
				j.Observe(iv)
				d := j.Decide()
				// Once warm, the judge goes on between blocks: it never
				// pauses again (every interval has data).
				if d.Verdict == Pause && !warm {
					t.Errorf("%s, seed %d: paused at interval %d after the warm-up: %s", an.name, seed, k+1, d.Reason)
				}
				warm = warm && d.Verdict == Pause
				failed = failed || d.Evidence["band"] == mwBandFail
				if d.Verdict == Rollback {
					rollbacks[i]++
					t.Logf("%s, seed %d: false rollback at interval %d: %s", an.name, seed, k+1, d.Reason)
					break
				}
			}
			if warm {
				t.Errorf("%s, seed %d: never tested", an.name, seed)
			}
			if failed {
				failing[i]++
			}
		}
	}
	for i, an := range analyses {
		t.Logf("%s: %d of %d A/A runs rolled back, %d had a failing evaluation", an.name, rollbacks[i], runs, failing[i])
		if rollbacks[i] > an.limit {
			t.Errorf("%s: %d of %d A/A runs rolled back (more than %d)", an.name, rollbacks[i], runs, an.limit)
		}
	}
}

func TestMannWhitneyDetectsRegressions(t *testing.T) {
	for _, tc := range []struct {
		name      string
		shift     time.Duration
		errRate   float64
		metric    string
		maxRounds int
	}{
		// Canary blocks of 4 intervals (200 requests for the 0.5%
		// error_rate); with six metrics (α/6) 5 canary blocks against 10
		// baseline ones are the first that can be significant; failures: 2
		// one block more.
		{"latency +100ms", 100 * time.Millisecond, 0.01, metrics.LatencyP50, 24},
		{"errors 1% -> 20%", 0, 0.20, metrics.ErrorRate, 24},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for seed := range uint64(20) {
				r := rand.New(rand.NewPCG(seed, 0xbad))
				vs, d := runMW(t, Config{Metrics: mwAAChecks()}, tc.maxRounds, func(k int) Interval {
					return mwAAInterval(r, k, tc.shift, tc.errRate)
				})
				if vs[len(vs)-1] != Rollback {
					t.Fatalf("seed %d: no rollback within %d intervals: %v; %s", seed, tc.maxRounds, vs, d.Reason)
				}
				if e := mwEvidence(t, d, tc.metric); e["class"] != mwHigh {
					t.Errorf("seed %d: %s is %v", seed, tc.metric, e["class"])
				}
			}
		})
	}
}

func TestMannWhitneyRegistered(t *testing.T) {
	if !slices.Contains(Names(), "mann-whitney") || Description("mann-whitney") == "" {
		t.Fatalf("mann-whitney not registered: %v", Names())
	}
	j, err := New("mann-whitney", Config{})
	if err != nil {
		t.Fatal(err)
	}
	if d := j.Decide(); d.Verdict != Continue {
		t.Errorf("before any interval: %+v", d)
	}
	j.Observe(Interval{At: mwT0})
	if d := j.Decide(); d.Verdict != Continue || d.Reason != "no metrics to judge" {
		t.Errorf("no metrics: %+v", d)
	}
}

func TestMannWhitneyBlockNeed(t *testing.T) {
	for _, tc := range []struct {
		check      Check
		minSamples int
		want       int64
	}{
		// One failure is at most max_increase.
		{Check{Metric: metrics.ErrorRate, MaxIncrease: mwVal(0.005, "0.5%")}, 10, 200},
		{Check{Metric: metrics.ErrorRate, MaxIncrease: mwVal(0.02, "2%")}, 10, 50},
		{Check{Metric: metrics.ErrorRate, MaxIncrease: mwVal(0.03, "3%")}, 10, 34},
		{Check{Metric: metrics.ErrorRate, MaxRatio: mwVal(2, "2")}, 10, mwErrorBlock},
		{Check{Metric: metrics.ErrorRate, MaxIncrease: mwVal(0.0001, "0.01%")}, 10, mwMaxBlock},
		// A quantile needs one request above it, as the threshold judge asks.
		{Check{Metric: metrics.LatencyP99, MaxRatio: mwVal(1.2, "1.2")}, 10, 100},
		{Check{Metric: metrics.LatencyP95, MaxRatio: mwVal(1.2, "1.2")}, 10, 20},
		{Check{Metric: metrics.LatencyP90, MaxRatio: mwVal(1.2, "1.2")}, 10, 10},
		{Check{Metric: metrics.LatencyP50, MaxRatio: mwVal(1.2, "1.2")}, 10, 10},
		{Check{Metric: metrics.Throughput, Max: mwVal(1e6, "1e6")}, 10, 10},
		// min_samples is the least, mwMaxBlock the most.
		{Check{Metric: metrics.LatencyP95, MaxRatio: mwVal(1.2, "1.2")}, 150, 150},
		{Check{Metric: metrics.LatencyP95, MaxRatio: mwVal(1.2, "1.2")}, 5000, mwMaxBlock},
	} {
		if got := mwBlockNeed(&tc.check, tc.minSamples); got != tc.want {
			t.Errorf("%s %+v (min_samples %d): %d requests, want %d", tc.check.Metric, tc.check, tc.minSamples, got, tc.want)
		}
	}
}

func TestMannWhitneyTestable(t *testing.T) {
	for _, tc := range []struct {
		n1, n2 int
		alpha  float64
		want   bool
	}{
		{5, 5, 0.01, true},  // 1/252
		{4, 4, 0.01, false}, // 1/70
		{5, 5, 0.005, true}, // 0.0040
		{5, 5, 0.0025, false},
		{6, 6, 0.0025, true}, // 1/924
		{3, 12, 0.005, true}, // 1/455
		{3, 3, 0.01, false},  // 1/20
		{2, 40, 0.01, false}, // 1/861, but below mwMinBlocks
		{40, 2, 0.01, false},
	} {
		if got := mwTestable(tc.n1, tc.n2, tc.alpha); got != tc.want {
			t.Errorf("mwTestable(%d, %d, %g) = %v", tc.n1, tc.n2, tc.alpha, got)
		}
	}
}

// TestMannWhitneyPooledSlidingWindow: the two-stack pool of a side's
// blocks is every block in it merged, whatever the pushes and drops.
func TestMannWhitneyPooledSlidingWindow(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var s mwBlocks
	var all []metrics.Window
	for step := range 300 {
		if r.IntN(3) > 0 || len(all) == 0 {
			lats := make([]time.Duration, 1+r.IntN(20))
			for i := range lats {
				lats[i] = time.Duration(1+r.IntN(1000)) * time.Millisecond
			}
			w := mwLatWin(lats...)
			w.Failed = int64(r.IntN(2))
			s.push(mwClosed{w: w})
			all = append(all, w)
		} else {
			k := 1 + r.IntN(len(all))
			s.drop(k)
			all = all[k:]
		}
		got, want := s.pooled(), metrics.Merge(all...)
		if len(all) == 0 {
			want = metrics.Window{}
		}
		if len(s.blocks) != len(all) || got.Requests != want.Requests || got.Failed != want.Failed ||
			got.Quantile(0.99) != want.Quantile(0.99) || got.Quantile(0.5) != want.Quantile(0.5) {
			t.Fatalf("step %d: pooled %d blocks: %d requests, %d failed, p99 %v; want %d blocks: %d, %d, %v", step,
				len(s.blocks), got.Requests, got.Failed, got.Quantile(0.99), len(all), want.Requests, want.Failed, want.Quantile(0.99))
		}
	}
}

// TestMannWhitneyBlocksCloseAtTheirSize: error_rate (max_increase 0.5%)
// and latency_p99 need canary blocks of 200 requests and baseline blocks
// of 400. With 30 canary and 270 baseline requests an interval a canary
// block closes every 7 intervals (210), a baseline one every 2 (540);
// the metrics are evaluated only when a canary block closes.
func TestMannWhitneyBlocksCloseAtTheirSize(t *testing.T) {
	a := Config{Metrics: []*Check{
		{Metric: metrics.ErrorRate, MaxIncrease: mwVal(0.005, "0.5%")},
		{Metric: metrics.LatencyP99, MaxRatio: mwVal(1.2, "1.2")},
	}}
	j, err := New("mann-whitney", a)
	if err != nil {
		t.Fatal(err)
	}
	for k := range 21 {
		j.Observe(Interval{At: mwT0, LiveBaseline: true,
			Canary:   mwLatWin(mwRepeatLat(30, 20*time.Millisecond)...),
			Baseline: mwLatWin(mwRepeatLat(270, 20*time.Millisecond)...)})
		d := j.Decide()
		b := d.Evidence["blocks"].(map[string]any)
		// Every baseline block is kept here: at least mwLookback are.
		closes, wantB := (k+1)%7 == 0, (k+1)/2
		if b["canary_closed"] != closes || b["canary"] != (k+1)/7 || b["baseline"] != wantB ||
			b["canary_requests"] != int64(30*((k+1)%7)) || b["canary_need"] != int64(200) || b["baseline_need"] != int64(400) {
			t.Fatalf("interval %d: blocks %v", k+1, b)
		}
		if e := mwEvidence(t, d, metrics.LatencyP99); e["n_canary"] != (k+1)/7 {
			t.Errorf("interval %d: %v canary p99 values after %d blocks", k+1, e["n_canary"], (k+1)/7)
		}
	}
}

// TestMannWhitneyFailingBlockCountsOnce: a bad canary's failing
// evaluation is counted when its block closes, not again at every
// interval while the next block fills (the judge goes on meanwhile).
func TestMannWhitneyFailingBlockCountsOnce(t *testing.T) {
	a := Config{Failures: 3, Metrics: []*Check{{Metric: metrics.ErrorRate, MaxIncrease: mwVal(0.005, "0.5%")}}}
	// 200-request canary blocks of 4 intervals; baseline blocks of 400,
	// 2 intervals. 20% errors on the canary, 0.5% on the baseline.
	iv := func(int) Interval {
		return Interval{At: mwT0, LiveBaseline: true, Canary: metrics.Window{Requests: 50, Failed: 10}, Baseline: metrics.Window{Requests: 200, Failed: 1}}
	}
	vs, d := runMW(t, a, 20, iv)
	// 3 canary blocks against 6 baseline ones: 1/C(9,3) = 1/84 > 1%; 4
	// against 8: 1/495. First test at interval 16 (failed), then carried
	// while the next block fills: the second failure at 20.
	want := slices.Concat(mwVerdicts(Pause, 15), mwVerdicts(Continue, 5))
	if !slices.Equal(vs, want) || d.Evidence["failed_evaluations"] != 2 {
		t.Errorf("verdicts %v, want %v; %+v", vs, want, d)
	}
	_, d = runMW(t, a, 18, iv)
	if d.Evidence["failed_evaluations"] != 1 || d.Evidence["carried"] != true || d.Evidence["evaluated_at"] != 16 ||
		!strings.Contains(d.Reason, "(evaluated at interval 16; next canary block: 100 of 200 requests)") {
		t.Errorf("carried: %+v", d)
	}
}

// mwTraffic draws an interval of the bench's traffic (harness/judgesim)
// at 250 ms: Poisson(225) baseline and Poisson(25) canary requests,
// lognormal latency (median 20 ms, sigma 0.5), the canary's multiplied by
// factor, errors at the given rates.
func mwTraffic(r *rand.Rand, factor, baseErr, canaryErr float64) Interval {
	side := func(lambda, f, p float64) metrics.Window {
		n := int(distuv.Poisson{Lambda: lambda, Src: r}.Rand())
		lats := make([]time.Duration, n)
		var failed int64
		for i := range lats {
			lats[i] = time.Duration(0.020 * f * math.Exp(0.5*r.NormFloat64()) * float64(time.Second))
			if r.Float64() < p {
				failed++
			}
		}
		return metrics.Window{Requests: int64(n), Failed: failed, Hist: metrics.NewHist(lats...)}
	}
	return Interval{At: mwT0, LiveBaseline: true, Baseline: side(225, 1, baseErr), Canary: side(25, factor, canaryErr)}
}

// TestMannWhitneyP99OnBlocks: at the bench's 250 ms a 10% canary takes 25
// requests an interval, never enough for a p99; on blocks of 100 its p99
// is tested. A canary 1.5 times slower (p99 96 ms against 64 ms, a
// max_ratio of 1.2) is rolled back in every seeded run, within 15 s; the
// same traffic without the slowdown is never rolled back in 60 s, though
// its p99 is tested every canary block. 20 seeds each (8 with -short).
func TestMannWhitneyP99OnBlocks(t *testing.T) {
	if raceEnabled {
		t.Skip("a seeded simulation: make test runs it without -race (see race_on_test.go)")
	}
	a := Config{Metrics: []*Check{{Metric: metrics.LatencyP99, MaxRatio: mwVal(1.2, "1.2")}}}
	seeds := uint64(20)
	if testing.Short() {
		seeds = 8
	}
	for seed := range seeds {
		r := rand.New(rand.NewPCG(seed, 0x99))
		vs, d := runMW(t, a, 60, func(int) Interval { return mwTraffic(r, 1.5, 0.001, 0.001) })
		if i := slices.Index(vs, Rollback); i < 0 || !strings.Contains(d.Reason, "latency_p99 high (") {
			t.Errorf("seed %d: slow canary not rolled back within 15 s: %v; %s", seed, vs, d.Reason)
		}
	}
	for seed := range seeds {
		r := rand.New(rand.NewPCG(seed, 0xaa))
		j, err := New("mann-whitney", a)
		if err != nil {
			t.Fatal(err)
		}
		tested := 0
		for k := range 240 {
			j.Observe(mwTraffic(r, 1, 0.001, 0.001))
			d := j.Decide()
			if d.Verdict == Rollback {
				t.Errorf("seed %d: A/A rolled back at interval %d: %s", seed, k+1, d.Reason)
				break
			}
			if e := mwEvidence(t, d, metrics.LatencyP99); e["status"] == mwEvaluated && e["p_high"] != nil {
				tested++
			}
		}
		if tested < 40 {
			t.Errorf("seed %d: p99 tested %d times in 60 s", seed, tested)
		}
	}
}
