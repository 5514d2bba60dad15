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
			// Exact p at 5 a side is 2/252 = 0.0079 < alpha 1%: the first
			// interval with enough samples already detects the shift.
			name: "any increase without a relative bound", check: Check{Metric: "a", Max: mwVal(100, "100")},
			s: mwShifted(0.5), n: 5, class: mwHigh, verdict: Continue, wantTest: true,
			reason: "canary score 0 < marginal 75: a high (HL +0.5, p=0.0079)",
		},
		{
			name: "beyond max_increase", check: Check{Metric: "a", MaxIncrease: mwVal(0.1, "0.1")},
			s: mwShifted(0.5), n: 8, class: mwHigh, verdict: Continue, wantTest: true, reason: "a high (HL +0.5, p=0.00016)",
		},
		{
			// Significant (p = 2/C(16,8) = 0.00016) but 0.5 is within 1.
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
			reason: "canary score 100 >= pass 95: a low (HL -0.5, p=0.00016)",
		},
		{
			name: "no significant difference", check: Check{Metric: "a", Max: mwVal(100, "100")},
			s: mwInterleaved(), n: 20, class: mwPass, verdict: Continue, wantTest: true, wantScore: 100,
		},
		{
			name: "too few intervals", check: Check{Metric: "a", Max: mwVal(100, "100")},
			s: mwShifted(0.5), n: 4, class: mwNoData, verdict: Pause, reason: "warming up: 4 of 5 intervals collected",
		},
		{
			// The sides do not differ, but the canary's latest value (1.0085)
			// is above the absolute max.
			name: "absolute max regardless of the test", check: Check{Metric: "a", Max: mwVal(0.5, "0.5")},
			s: mwInterleaved(), n: 5, class: mwHigh, verdict: Continue, wantTest: true, reason: "a high (1.0085 > max 0.5)",
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
			// A relative bound cannot be judged without a baseline.
			name: "relative bound without baseline", check: Check{Metric: "a", MaxIncrease: mwVal(1, "1")},
			s: mwCanaryOnly(3), n: 6, class: mwNoData, verdict: Pause, reason: "a: 0 of 5 baseline samples",
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
			if _, tested := e["p"]; tested != tc.wantTest {
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
	for _, k := range []string{"score", "band", "pass_score", "marginal_score", "failed_evaluations", "failures_allowed", "metrics"} {
		if _, ok := d.Evidence[k]; !ok {
			t.Errorf("evidence has no %s: %v", k, d.Evidence)
		}
	}
	e := mwEvidence(t, d, "a")
	// Baseline 1 + 0.001·{0 7 14 1 8 15 2 9} (median (1.007+1.008)/2 =
	// 1.0075), canary +0.5; U = 64 of 64, exact p = 2/C(16,8) = 2/12870.
	want := map[string]any{
		"class": mwHigh, "u": 64.0, "alpha": 0.01, "n_canary": 8, "n_baseline": 8,
		"weight": 2.0, "critical": true, "exact": true,
	}
	for k, v := range want {
		if e[k] != v {
			t.Errorf("%s = %v, want %v", k, e[k], v)
		}
	}
	for k, v := range map[string]float64{"p": 2.0 / 12870, "hodges_lehmann": 0.5, "median_canary": 1.5075, "median_baseline": 1.0075} {
		if f, _ := e[k].(float64); !mwNear(f, v, 1e-9) {
			t.Errorf("%s = %v, want %v", k, e[k], v)
		}
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
			// the exact p of a separation at 8 a side is 0.00016.
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
			// Only a failing band counts (intervals 7 and 8 here, once the
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

func TestMannWhitneyBonferroni(t *testing.T) {
	// One metric tested: alpha = 1%, and the exact p = 2/252 = 0.0079 at
	// 5 a side is significant. Two tested: alpha = 0.5%, the same p is not.
	one := []*Check{{Metric: "a", MaxIncrease: mwVal(0.1, "0.1")}}
	two := append(one[:1:1], &Check{Metric: "b", MaxIncrease: mwVal(0.1, "0.1")})
	streams := map[string]mwStream{"a": mwShifted(0.5), "b": mwInterleaved()}
	iv := func(k int) Interval { return mwExtraIv(k, 100, streams) }
	_, d := runMW(t, Config{Metrics: one}, 5, iv)
	if e := mwEvidence(t, d, "a"); e["class"] != mwHigh || e["alpha"] != 0.01 {
		t.Errorf("one metric: %v", e)
	}
	_, d = runMW(t, Config{Metrics: two}, 5, iv)
	if e := mwEvidence(t, d, "a"); e["class"] != mwPass || e["alpha"] != 0.005 {
		t.Errorf("two metrics: %v", e)
	}
	// A metric without data spends none of the rate.
	streams["b"] = mwCanaryOnly(0)
	two[1] = &Check{Metric: "b", MaxIncrease: mwVal(0.1, "0.1")}
	_, d = runMW(t, Config{Metrics: two}, 5, iv)
	if e := mwEvidence(t, d, "a"); e["class"] != mwHigh || e["alpha"] != 0.01 {
		t.Errorf("two metrics, one without data: %v", e)
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
	// a bad first stretch, a healthy one long enough to flush it out of
	// the window (passing evaluations in between), then a bad one again.
	s := func(k int) (float64, float64, bool, bool) {
		if k >= 5 && k < 30 {
			return mwInterleaved()(k)
		}
		return mwShifted(0.5)(k)
	}
	a.Failures = 6
	j, err := New("mann-whitney", a)
	if err != nil {
		t.Fatal(err)
	}
	var bands []string
	for k := range 60 {
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

func TestMannWhitneyStaleFailingWindowStillFails(t *testing.T) {
	// A bad canary that then stops taking traffic: the intervals without
	// canary samples re-judge a failing window, and a failure is never
	// turned into no data.
	a := Config{Failures: 3, Metrics: []*Check{{Metric: "a", MaxIncrease: mwVal(0.1, "0.1")}}}
	vs, d := runMW(t, a, 7, func(k int) Interval {
		if k < 5 {
			return mwExtraIv(k, 100, map[string]mwStream{"a": mwShifted(0.5)})
		}
		return mwExtraIv(k, 0, map[string]mwStream{"a": mwShifted(0.5)})
	})
	if want := []Verdict{Pause, Pause, Pause, Pause, Continue, Continue, Rollback}; !slices.Equal(vs, want) {
		t.Errorf("verdicts %v, want %v", vs, want)
	}
	if d.Evidence["stale"] != true || d.Evidence["failed_evaluations"] != 3 {
		t.Errorf("decision %+v", d)
	}
}

func TestMannWhitneyFullStepKeepsTheLiveBaseline(t *testing.T) {
	// 10 intervals at a partial step, then 30 at 100%, where Baseline is
	// the steady-state reference (here a wildly different 5.0 every
	// interval, so that using it would show). The baseline's window keeps
	// the 10 live samples; the canary's starts afresh at the switch (the
	// judge pauses 4 intervals while it fills) and then slides.
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
			if slices.Contains(vs[4:10], Pause) || slices.Contains(vs[14:], Pause) || slices.ContainsFunc(vs[10:14], func(v Verdict) bool { return v != Pause }) {
				t.Errorf("verdicts %v, want pauses at intervals 1-4 and 11-14 only", vs)
			}
			e := mwEvidence(t, d, "a")
			if e["class"] != tc.class || e["n_baseline"] != 10 || e["n_canary"] != 20 || d.Evidence["live_baseline"] != false ||
				d.Evidence["mode"] != "reference" || d.Evidence["canary_samples_since"] != 11 || d.Evidence["baseline_requests"] != int64(0) {
				t.Errorf("evidence %v; %s", e, d.Reason)
			}
		})
	}
	// A rollout at 100% from the start has no live baseline at all: a
	// relative bound has no data, an absolute one is still judged.
	a := Config{Metrics: []*Check{{Metric: "a", MaxIncrease: mwVal(0.1, "0.1")}, {Metric: "b", Max: mwVal(2, "2")}}}
	_, d := runMW(t, a, 6, func(k int) Interval {
		iv := mwExtraIv(k, 100, map[string]mwStream{"a": mwInterleaved(), "b": mwInterleaved()})
		iv.LiveBaseline = false
		return iv
	})
	if ea, eb := mwEvidence(t, d, "a"), mwEvidence(t, d, "b"); ea["class"] != mwNoData || eb["class"] != mwPass || d.Verdict != Continue {
		t.Errorf("a %v, b %v, %+v", ea, eb, d)
	}
}

// TestMannWhitneyReferenceModeTestsTheNewSamples: a canary as good as
// the baseline for 20 live intervals that regresses at 100% is high 5
// intervals after the switch, on its 5 new samples alone: with its 15
// older samples in the window the regression would not be significant yet.
func TestMannWhitneyReferenceModeTestsTheNewSamples(t *testing.T) {
	a := Config{Failures: 100, Metrics: []*Check{{Metric: "a", MaxIncrease: mwVal(0.1, "0.1")}}}
	vs, d := runMW(t, a, 25, func(k int) Interval {
		if k < 20 {
			return mwExtraIv(k, 100, map[string]mwStream{"a": mwInterleaved()})
		}
		iv := mwExtraIv(k, 100, map[string]mwStream{"a": mwShifted(0.5)})
		iv.LiveBaseline = false
		return iv
	})
	e := mwEvidence(t, d, "a")
	if e["class"] != mwHigh || e["n_canary"] != 5 || e["n_baseline"] != 20 || !slices.Equal(vs[20:24], []Verdict{Pause, Pause, Pause, Pause}) {
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
	t.Run("pause: data resets the count, stale data is no data", func(t *testing.T) {
		// 10 healthy intervals, 15 without canary traffic, one healthy,
		// 29 without again. For the first of the 15 the window still holds
		// 5 or more healthy samples, but an interval that adds none is no
		// data. At interval 26 the window (intervals 7..26) holds the
		// samples of 7, 8, 9, 10 and 26: five, so it is judged, and that
		// resets the run: the 44 pauses in all never give up.
		healthy := func(k int) Interval {
			return Interval{At: mwT0, LiveBaseline: true, Canary: metrics.Window{Requests: 100, Failed: int64(k % 2)}, Baseline: metrics.Window{Requests: 100, Failed: int64(k % 3)}}
		}
		iv := func(k int) Interval {
			if k < 10 || k == 25 {
				return healthy(k)
			}
			return noCanary(k)
		}
		vs, _ := runMW(t, Config{Metrics: checks}, 55, iv)
		want := slices.Concat(mwVerdicts(Pause, 4), mwVerdicts(Continue, 6), mwVerdicts(Pause, 15), []Verdict{Continue}, mwVerdicts(Pause, 29))
		if !slices.Equal(vs, want) {
			t.Errorf("verdicts %v, want %v", vs, want)
		}
		// Interval 11 is paused for staleness, not for too few samples.
		_, d := runMW(t, Config{Metrics: checks}, 11, iv)
		if !strings.Contains(d.Reason, "no metric got a canary sample this interval") || mwEvidence(t, d, metrics.ErrorRate)["n_canary"] != 10 {
			t.Errorf("decision %+v", d)
		}
	})
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
	// Every interval's p50 is 2 ms on the baseline and 4 ms on the canary:
	// two tie groups of 8 after 8 intervals, U = 64, mean 32,
	// σ² = 64/12·(17 − 2·504/240) = 68.27, z = 31.5/8.26 = 3.81,
	// p ≈ 0.00014: significant, and a ratio of 2 > 1.5, but a shift of
	// 2 ms is below the 10 ms noise floor.
	_, d := runMW(t, Config{Metrics: p50}, 8, func(int) Interval {
		return Interval{At: mwT0, LiveBaseline: true, Baseline: mwLatWin(mwRepeatLat(20, 2*time.Millisecond)...), Canary: mwLatWin(mwRepeatLat(20, 4*time.Millisecond)...)}
	})
	if e := mwEvidence(t, d, metrics.LatencyP50); e["class"] != mwPass || e["p"].(float64) > 0.001 || e["exact"] != false {
		t.Errorf("below the noise floor: %v", e)
	}
	// 20 ms against 40 ms: the same test, above the floor.
	_, d = runMW(t, Config{Metrics: p50, Failures: 5}, 8, func(int) Interval {
		return Interval{At: mwT0, LiveBaseline: true, Baseline: mwLatWin(mwRepeatLat(20, 20*time.Millisecond)...), Canary: mwLatWin(mwRepeatLat(20, 40*time.Millisecond)...)}
	})
	if e := mwEvidence(t, d, metrics.LatencyP50); e["class"] != mwHigh || !strings.Contains(d.Reason, "latency_p50 high (HL +20.0ms, p=0.00014)") {
		t.Errorf("above the noise floor: %v, %s", e, d.Reason)
	}
	// A p99 needs 100 requests a side; 50 are no sample at all.
	p99 := []*Check{{Metric: metrics.LatencyP99, MaxRatio: mwVal(1.5, "1.5")}}
	vs, d := runMW(t, Config{Metrics: p99}, 10, func(int) Interval {
		return Interval{At: mwT0, LiveBaseline: true, Baseline: mwLatWin(mwRepeatLat(50, 20*time.Millisecond)...), Canary: mwLatWin(mwRepeatLat(50, 400*time.Millisecond)...)}
	})
	if !slices.Equal(vs, mwVerdicts(Pause, 10)) || mwEvidence(t, d, metrics.LatencyP99)["n_canary"] != 0 {
		t.Errorf("p99 of 50 requests: %v %+v", vs, d)
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
		{Metric: metrics.LatencyP99, MaxRatio: mwVal(2, "2")}, // 50 canary requests: never a sample
		{Metric: metrics.LatencyP90, Max: mwVal(1, "1s")},
		{Metric: metrics.CPU, Max: mwVal(2, "200%")},
	}
}

// TestMannWhitneyAAFalseRollbacks feeds 200 seeded A/A runs of 30
// intervals (canary and baseline the same release) to two analyses: the
// typical one, and one of its metrics without tolerances, where any
// significant increase is high and only the test's own false-positive
// rate, over 26 overlapping looks, stands between the canary and a
// rollback. Each seed's mwStream is drawn once and fed to both judges.
func TestMannWhitneyAAFalseRollbacks(t *testing.T) {
	const runs, intervals = 200, 30
	analyses := []struct {
		name  string
		a     Config
		limit int // most false rollbacks accepted of runs
	}{
		// 5% of 200 would be 10; "well under" is at most 2.5%.
		{"typical analysis", Config{Metrics: mwAAChecks()}, runs / 40},
		// Without tolerances 26 correlated looks at a per-look 1% add up;
		// still under 5%.
		{"no tolerances", Config{Metrics: mwAAChecks()[4:]}, runs/20 - 1},
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
			failed := false
			for k, iv := range ivs {
				j.Observe(iv)
				d := j.Decide()
				if k >= mwMinIntervals-1 && d.Verdict == Pause {
					t.Errorf("%s, seed %d: paused at interval %d after the window filled: %s", an.name, seed, k+1, d.Reason)
				}
				failed = failed || d.Evidence["band"] == mwBandFail
				if d.Verdict == Rollback {
					rollbacks[i]++
					t.Logf("%s, seed %d: false rollback at interval %d: %s", an.name, seed, k+1, d.Reason)
					break
				}
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
		// Five intervals fill the window; Bonferroni over six metrics needs
		// a sample or two more; failures: 2 one more.
		{"latency +100ms", 100 * time.Millisecond, 0.01, metrics.LatencyP50, 9},
		{"errors 1% -> 20%", 0, 0.20, metrics.ErrorRate, 9},
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
