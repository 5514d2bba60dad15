package judge

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/drillhq/drill/harness/metrics"
)

var judgeT0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// win records n requests with latency lat, the first failed of them
// answered 500 and the rest 200, and cuts them into a real window.
func win(n, failed int, lat time.Duration) metrics.Window {
	r := metrics.NewRecorder("router")
	r.Declare("v")
	for i := range n {
		status := 200
		if i < failed {
			status = 500
		}
		r.Record("v", metrics.Outcome{Status: status, Latency: lat})
	}
	return r.Cut(judgeT0)[0]
}

func pair(baseline, canary metrics.Window) Interval {
	return Interval{At: judgeT0, Baseline: baseline, Canary: canary, LiveBaseline: true}
}

func repeat(n int, iv Interval) []Interval {
	out := make([]Interval, n)
	for i := range out {
		out[i] = iv
	}
	return out
}

func verdicts(v Verdict, n int) []Verdict {
	out := make([]Verdict, n)
	for i := range out {
		out[i] = v
	}
	return out
}

func val(v float64, raw string) *metrics.Value { return &metrics.Value{V: v, Raw: raw} }

func TestThresholdVerdicts(t *testing.T) {
	var (
		ok100      = win(100, 0, 20*time.Millisecond) // 0% errors, p99 20ms
		bad100     = win(100, 10, 20*time.Millisecond)
		errRate    = func(failed int) metrics.Window { return win(100, failed, 20*time.Millisecond) }
		p99        = func(lat time.Duration) metrics.Window { return win(100, 0, lat) }
		empty      = win(0, 0, 0)
		errMax5    = []*Check{{Metric: metrics.ErrorRate, Max: val(0.05, "5%")}}
		errInc2    = []*Check{{Metric: metrics.ErrorRate, MaxIncrease: val(0.02, "2%")}}
		p99Ratio2  = []*Check{{Metric: metrics.LatencyP99, MaxRatio: val(2, "2")}}
		p99Max100  = []*Check{{Metric: metrics.LatencyP99, Max: val(0.100, "100ms")}}
		p50Ratio15 = []*Check{{Metric: metrics.LatencyP50, MaxRatio: val(1.5, "1.5")}}
	)
	tests := []struct {
		name       string
		a          Config
		ivs        []Interval
		want       []Verdict // after each interval
		wantReason string    // in the last decision's reason
	}{
		{
			name: "absolute max met",
			a:    Config{Failures: 1, Metrics: errMax5},
			ivs:  []Interval{pair(bad100, errRate(5))},
			want: []Verdict{Continue},
		},
		{
			name:       "absolute max exceeded",
			a:          Config{Failures: 1, Metrics: errMax5},
			ivs:        []Interval{pair(ok100, errRate(6))},
			want:       []Verdict{Rollback},
			wantReason: "error_rate 6.00% > max 5%",
		},
		{
			name: "absolute max ignores the baseline",
			a:    Config{Failures: 1, Metrics: errMax5},
			ivs:  []Interval{pair(empty, errRate(1))},
			want: []Verdict{Continue},
		},
		{
			name: "max_increase within the bound",
			a:    Config{Failures: 1, Metrics: errInc2},
			ivs:  []Interval{pair(errRate(3), errRate(4))},
			want: []Verdict{Continue},
		},
		{
			name:       "max_increase over the bound",
			a:          Config{Failures: 1, Metrics: errInc2},
			ivs:        []Interval{pair(errRate(3), errRate(6))},
			want:       []Verdict{Rollback},
			wantReason: "error_rate 6.00% is 3.00% above baseline 3.00% (max_increase 2%)",
		},
		{
			name: "max_increase against a bad baseline passes a bad canary",
			a:    Config{Failures: 1, Metrics: errInc2},
			ivs:  []Interval{pair(errRate(50), errRate(50))},
			want: []Verdict{Continue},
		},
		{
			name: "max_ratio within the bound",
			a:    Config{Failures: 1, Metrics: p99Ratio2},
			ivs:  []Interval{pair(p99(100*time.Millisecond), p99(190*time.Millisecond))},
			want: []Verdict{Continue},
		},
		{
			name:       "max_ratio over the bound",
			a:          Config{Failures: 1, Metrics: p99Ratio2},
			ivs:        []Interval{pair(p99(100*time.Millisecond), p99(300*time.Millisecond))},
			want:       []Verdict{Rollback},
			wantReason: "latency_p99 300.",
		},
		{
			name: "max_ratio over the bound under the noise floor passes",
			a:    Config{Failures: 1, Metrics: p99Ratio2},
			// ×4, but 6 ms apart: below latencyNoiseFloor.
			ivs:  []Interval{pair(p99(2*time.Millisecond), p99(8*time.Millisecond))},
			want: []Verdict{Continue},
		},
		{
			name: "max_ratio over the bound just above the noise floor fails",
			a:    Config{Failures: 1, Metrics: p99Ratio2},
			ivs:  []Interval{pair(p99(2*time.Millisecond), p99(13*time.Millisecond))},
			want: []Verdict{Rollback},
		},
		{
			name: "max_ratio on p50 needs no pooling",
			a:    Config{Failures: 1, MinSamples: 10, Metrics: p50Ratio15},
			ivs:  []Interval{pair(win(10, 0, 40*time.Millisecond), win(10, 0, 80*time.Millisecond))},
			want: []Verdict{Rollback},
		},
		{
			name: "several checks: one failing is enough",
			a: Config{Failures: 1, Metrics: []*Check{
				{Metric: metrics.ErrorRate, Max: val(0.05, "5%")},
				{Metric: metrics.LatencyP99, Max: val(0.100, "100ms")},
			}},
			ivs:        []Interval{pair(ok100, p99(150*time.Millisecond))},
			want:       []Verdict{Rollback},
			wantReason: "latency_p99 150.",
		},
		{
			name: "rollback exactly at the second failed interval (default failures)",
			a:    Config{Metrics: errMax5},
			ivs:  []Interval{pair(ok100, ok100), pair(ok100, bad100), pair(ok100, ok100), pair(ok100, bad100)},
			want: []Verdict{Continue, Continue, Continue, Rollback},
		},
		{
			name:       "failures are counted over the rollout, not in a row",
			a:          Config{Failures: 3, Metrics: p99Max100},
			ivs:        []Interval{pair(ok100, p99(time.Second)), pair(ok100, ok100), pair(ok100, p99(time.Second)), pair(ok100, ok100), pair(ok100, p99(time.Second))},
			want:       []Verdict{Continue, Continue, Continue, Continue, Rollback},
			wantReason: "3 of 3 allowed failed checks",
		},
		{
			name: "canary under min_samples pauses",
			a:    Config{Failures: 1, MinSamples: 20, Metrics: errMax5},
			ivs:  []Interval{pair(ok100, win(19, 19, time.Millisecond)), pair(ok100, win(20, 0, time.Millisecond))},
			want: []Verdict{Pause, Continue},
		},
		{
			name:       "baseline under min_samples is no data for a relative check",
			a:          Config{Failures: 1, MinSamples: 20, Metrics: errInc2},
			ivs:        []Interval{pair(win(19, 0, time.Millisecond), ok100)},
			want:       []Verdict{Pause},
			wantReason: "no baseline value for error_rate",
		},
		{
			name:       "on_no_data pause gives up after noDataLimit intervals",
			a:          Config{Failures: 1, OnNoData: NoDataPause, Metrics: errMax5},
			ivs:        repeat(noDataLimit, pair(empty, empty)),
			want:       append(verdicts(Pause, noDataLimit-1), Rollback),
			wantReason: "no data for 30 intervals in a row",
		},
		{
			name: "on_no_data pause: data resets the run",
			a:    Config{Failures: 1, OnNoData: NoDataPause, Metrics: errMax5},
			ivs: append(append(repeat(noDataLimit-1, pair(empty, empty)),
				pair(ok100, ok100)), repeat(noDataLimit-1, pair(empty, empty))...),
			want: append(append(verdicts(Pause, noDataLimit-1), Continue), verdicts(Pause, noDataLimit-1)...),
		},
		{
			name:       "on_no_data fail counts each interval as a failed check",
			a:          Config{Failures: 3, OnNoData: NoDataFail, Metrics: errMax5},
			ivs:        []Interval{pair(empty, empty), pair(ok100, ok100), pair(empty, empty), pair(ok100, bad100)},
			want:       []Verdict{Continue, Continue, Continue, Rollback},
			wantReason: "3 of 3 allowed failed checks",
		},
		{
			name:       "on_no_data fail rolls back at the limit",
			a:          Config{Failures: 2, OnNoData: NoDataFail, Metrics: errMax5},
			ivs:        repeat(2, pair(empty, empty)),
			want:       []Verdict{Continue, Rollback},
			wantReason: "on_no_data: fail",
		},
		{
			name:       "on_no_data pass never gives up",
			a:          Config{Failures: 1, OnNoData: NoDataPass, Metrics: errMax5},
			ivs:        repeat(2*noDataLimit, pair(empty, empty)),
			want:       verdicts(Continue, 2*noDataLimit),
			wantReason: "on_no_data: pass",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if len(tt.ivs) != len(tt.want) {
				t.Fatalf("test has %d intervals and %d verdicts", len(tt.ivs), len(tt.want))
			}
			j, err := New("threshold", tt.a)
			if err != nil {
				t.Fatal(err)
			}
			var dec Decision
			for i, iv := range tt.ivs {
				j.Observe(iv)
				dec = j.Decide()
				if dec.Verdict != tt.want[i] {
					t.Fatalf("interval %d: verdict %s (%s), want %s", i+1, dec.Verdict, dec.Reason, tt.want[i])
				}
			}
			if !strings.Contains(dec.Reason, tt.wantReason) {
				t.Errorf("reason %q does not contain %q", dec.Reason, tt.wantReason)
			}
			if _, err := json.Marshal(dec); err != nil {
				t.Errorf("decision does not marshal for the journal: %v", err)
			}
		})
	}
}

func TestThresholdBeforeAnyInterval(t *testing.T) {
	j, err := New("threshold", Config{})
	if err != nil {
		t.Fatal(err)
	}
	if d := j.Decide(); d.Verdict != Continue {
		t.Errorf("Decide before Observe = %+v, want continue", d)
	}
	if _, err := New("no-such-judge", Config{}); err == nil || !strings.Contains(err.Error(), "threshold") {
		t.Errorf("New(unknown) err = %v, want an error listing the known judges", err)
	}
}

func TestThresholdDefaults(t *testing.T) {
	th := newThreshold(Config{})
	if th.a.Failures != 2 || th.a.MinSamples != 10 || th.a.OnNoData != NoDataPause {
		t.Errorf("defaults = failures %d, min_samples %d, on_no_data %q; want 2, 10, pause", th.a.Failures, th.a.MinSamples, th.a.OnNoData)
	}
}

// TestThresholdPoolsQuantiles feeds p99 checks intervals of 40 requests a
// side: a p99 needs 100 a side, so the judge pauses twice and then decides
// on three pooled intervals.
func TestThresholdPoolsQuantiles(t *testing.T) {
	tests := []struct {
		name            string
		metric          string
		baseN, canN     int
		wantPause       int // intervals paused before a decision
		wantPooled      int // intervals in the decision, 0 when not pooled
		wantNeverDecide bool
	}{
		{name: "p99 pools 3 intervals of 40", metric: metrics.LatencyP99, baseN: 40, canN: 40, wantPause: 2, wantPooled: 3},
		{name: "p99 waits for the smaller side", metric: metrics.LatencyP99, baseN: 25, canN: 100, wantPause: 3, wantPooled: 4},
		{name: "p99 with 100 a side needs no pooling", metric: metrics.LatencyP99, baseN: 100, canN: 100},
		{name: "p95 needs 20 a side", metric: metrics.LatencyP95, baseN: 10, canN: 10, wantPause: 1, wantPooled: 2},
		{name: "p90 needs 10 a side", metric: metrics.LatencyP90, baseN: 10, canN: 10},
		{name: "p99 beyond the lookback never decides", metric: metrics.LatencyP99, baseN: 9, canN: 40, wantNeverDecide: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			th := newThreshold(Config{Failures: 1, MinSamples: 5, Metrics: []*Check{
				{Metric: tt.metric, MaxRatio: val(2, "2")},
			}})
			// The canary is 30 ms slower than the baseline: ×4 and over
			// the noise floor, so a decided interval fails.
			iv := pair(win(tt.baseN, 0, 10*time.Millisecond), win(tt.canN, 0, 40*time.Millisecond))
			n := tt.wantPause + 1
			if tt.wantNeverDecide {
				n = 2 * maxLookback // past the lookback, short of noDataLimit
			}
			for i := 1; i <= n; i++ {
				th.Observe(iv)
				d := th.Decide()
				if i <= tt.wantPause || tt.wantNeverDecide {
					if d.Verdict != Pause || !strings.Contains(d.Reason, tt.metric+" needs") {
						t.Fatalf("interval %d: %s (%s), want a pause for pooling", i, d.Verdict, d.Reason)
					}
					continue
				}
				if d.Verdict != Rollback {
					t.Fatalf("interval %d: %s (%s), want rollback", i, d.Verdict, d.Reason)
				}
				check := d.Evidence["checks"].(map[string]any)[tt.metric].(map[string]any)
				got, pooled := check["pooled_intervals"]
				if tt.wantPooled == 0 && pooled {
					t.Errorf("pooled_intervals = %v, want none", got)
				}
				if tt.wantPooled > 0 && got != tt.wantPooled {
					t.Errorf("pooled_intervals = %v, want %d", got, tt.wantPooled)
				}
			}
		})
	}
}

// TestThresholdPoolsOnlyAsManyIntervalsAsNeeded: the pooled p99 takes the
// most recent intervals until it has 100 requests a side, so a slow spell
// stops counting once enough fast intervals follow it.
func TestThresholdPoolsOnlyAsManyIntervalsAsNeeded(t *testing.T) {
	th := newThreshold(Config{Failures: 100, MinSamples: 5, Metrics: []*Check{
		{Metric: metrics.LatencyP99, Max: val(0.100, "100ms")},
	}})
	slow := pair(win(20, 0, time.Millisecond), win(20, 0, time.Second))
	fast := pair(win(20, 0, time.Millisecond), win(20, 0, time.Millisecond))
	for range 5 {
		th.Observe(slow)
	}
	th.Observe(fast) // pools 5 intervals: the slow spell included
	if d := th.Decide(); d.Reason == "all checks passed" {
		t.Fatalf("p99 pooled with a slow spell passed: %+v", d)
	}
	for range 4 {
		th.Observe(fast)
	}
	if d := th.Decide(); d.Reason != "all checks passed" {
		t.Errorf("p99 of the last 5 fast intervals: %s, want all checks passed", d.Reason)
	}
}

func TestThresholdEvidence(t *testing.T) {
	th := newThreshold(Config{Failures: 2, MinSamples: 10, Metrics: []*Check{
		{Metric: metrics.ErrorRate, Max: val(0.05, "5%"), MaxIncrease: val(0.01, "1%")},
		{Metric: metrics.LatencyP99, MaxRatio: val(2, "2")},
	}})
	th.Observe(pair(win(200, 2, 50*time.Millisecond), win(100, 10, 200*time.Millisecond)))
	d := th.Decide()
	if d.Verdict != Continue || !strings.HasPrefix(d.Reason, "check failed: ") {
		t.Fatalf("decision %s (%s), want a failed check under the limit", d.Verdict, d.Reason)
	}
	ev := d.Evidence
	for k, want := range map[string]any{
		"interval": 1, "canary_requests": int64(100), "baseline_requests": int64(200),
		"failed_checks": 1, "failures_allowed": 2,
	} {
		if ev[k] != want {
			t.Errorf("evidence[%q] = %#v, want %#v", k, ev[k], want)
		}
	}
	checks, _ := ev["checks"].(map[string]any)
	er, _ := checks[metrics.ErrorRate].(map[string]any)
	for k, want := range map[string]any{"canary": 0.10, "baseline": 0.01, "max": 0.05, "max_increase": 0.01, "ok": false} {
		if got, ok := er[k].(float64); ok {
			if w := want.(float64); got < w-1e-9 || got > w+1e-9 {
				t.Errorf("error_rate evidence %q = %v, want %v", k, got, w)
			}
		} else if er[k] != want {
			t.Errorf("error_rate evidence %q = %#v, want %#v", k, er[k], want)
		}
	}
	if detail, _ := er["detail"].(string); !strings.Contains(detail, "> max 5%") || !strings.Contains(detail, "max_increase 1%") {
		t.Errorf("error_rate detail %q, want both failed bounds", detail)
	}
	lat, _ := checks[metrics.LatencyP99].(map[string]any)
	for _, k := range []string{"canary", "baseline", "max_ratio", "ratio"} {
		if _, ok := lat[k].(float64); !ok {
			t.Errorf("latency_p99 evidence lacks %q: %v", k, lat)
		}
	}
	if r, _ := lat["ratio"].(float64); r < 3.99 || r > 4.01 {
		t.Errorf("latency_p99 ratio = %v, want 4", r)
	}
	if lat["ok"] != false {
		t.Errorf("latency_p99 ok = %v, want false", lat["ok"])
	}

	th.Observe(pair(win(100, 0, time.Millisecond), win(100, 0, time.Millisecond)))
	if d := th.Decide(); d.Verdict != Continue || d.Evidence["failed_checks"] != 1 {
		t.Errorf("after a good interval: %s, failed_checks %v; want continue with the 1 earlier failure", d.Verdict, d.Evidence["failed_checks"])
	}

	th.Observe(pair(win(100, 0, time.Millisecond), win(0, 0, 0)))
	d = th.Decide()
	if d.Evidence["no_data"] == nil || d.Evidence["policy"] != NoDataPause {
		t.Errorf("no-data evidence %v, want no_data and policy", d.Evidence)
	}
}

// TestThresholdFailedCheckNotMaskedByNoData: a check that has data and
// fails must count even when another check of the same interval has no
// data yet. Here error_rate is 100% on 20 canary requests, while p99 can
// only be pooled from 100 requests a side, which 10 intervals of 5 never
// reach; with on_no_data: pass the canary is promoted.
func TestThresholdFailedCheckNotMaskedByNoData(t *testing.T) {
	for _, policy := range []string{NoDataPass, NoDataPause} {
		t.Run(policy, func(t *testing.T) {
			th := newThreshold(Config{Failures: 1, MinSamples: 5, OnNoData: policy, Metrics: []*Check{
				{Metric: metrics.ErrorRate, Max: val(0.01, "1%")},
				{Metric: metrics.LatencyP99, Max: val(0.5, "500ms")},
			}})
			th.Observe(pair(win(5, 0, time.Millisecond), win(20, 20, time.Millisecond)))
			if d := th.Decide(); d.Verdict != Rollback {
				t.Errorf("verdict %s (%s), want rollback: error_rate failed with data", d.Verdict, d.Reason)
			}
		})
	}
}

// TestThresholdMaxIncreaseAtTheBound: an increase exactly at max_increase
// passes (the check is "> bound"), but 5/100 - 3/100 is
// 0.020000000000000004 in float64, so 3% -> 5% fails max_increase 2%.
func TestThresholdMaxIncreaseAtTheBound(t *testing.T) {
	th := newThreshold(Config{Failures: 1, Metrics: []*Check{
		{Metric: metrics.ErrorRate, MaxIncrease: val(0.02, "2%")},
	}})
	th.Observe(pair(win(100, 3, time.Millisecond), win(100, 5, time.Millisecond)))
	if d := th.Decide(); d.Verdict != Continue {
		t.Errorf("verdict %s (%s), want continue: the increase equals the bound", d.Verdict, d.Reason)
	}
}

// The threshold judge reads cpu and rss from Interval.Extra.
func TestThresholdOnInstanceMetrics(t *testing.T) {
	ok := win(100, 0, 20*time.Millisecond)
	withExtra := func(bcpu, ccpu, crss float64) Interval {
		iv := pair(ok, ok)
		iv.Extra = map[string]SidePair{
			metrics.CPU: {Baseline: bcpu, Canary: ccpu, BaselineOK: true, CanaryOK: true},
			metrics.RSS: {Baseline: 50 << 20, Canary: crss, BaselineOK: true, CanaryOK: true},
		}
		return iv
	}
	a := Config{Failures: 2, Metrics: []*Check{
		{Metric: metrics.CPU, MaxRatio: val(2, "2")},
		{Metric: metrics.RSS, Max: val(200<<20, "200MiB")},
	}}
	tests := []struct {
		name string
		ivs  []Interval
		want Verdict
	}{
		{"within bounds", repeat(3, withExtra(0.2, 0.35, 100<<20)), Continue},
		{"cpu ratio above 2", repeat(2, withExtra(0.2, 0.5, 100<<20)), Rollback},
		{"cpu ratio once", []Interval{withExtra(0.2, 0.5, 100<<20), withExtra(0.2, 0.3, 100<<20)}, Continue},
		{"rss above max", repeat(2, withExtra(0.2, 0.2, 300<<20)), Rollback},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := newThreshold(a)
			for _, iv := range tt.ivs {
				j.Observe(iv)
			}
			if d := j.Decide(); d.Verdict != tt.want {
				t.Errorf("verdict %s (%s), want %s", d.Verdict, d.Reason, tt.want)
			}
		})
	}
	// No canary cpu (the canary instance is gone): no data, paused.
	iv := withExtra(0.2, 0, 100<<20)
	p := iv.Extra[metrics.CPU]
	p.CanaryOK = false
	iv.Extra[metrics.CPU] = p
	j := newThreshold(a)
	j.Observe(iv)
	if d := j.Decide(); d.Verdict != Pause {
		t.Errorf("no canary cpu: verdict %s (%s), want pause", d.Verdict, d.Reason)
	}
}

// TestThresholdReferenceMode: without a live baseline (a 100% step, a
// blue-green post_switch) relative bounds compare the canary with the
// steady-state Reference, whatever Baseline holds, and the evidence and
// reason say so.
func TestThresholdReferenceMode(t *testing.T) {
	th := newThreshold(Config{Failures: 1, Metrics: []*Check{
		{Metric: metrics.ErrorRate, MaxIncrease: val(0.005, "0.5%")},
	}})
	ref := win(1000, 1, time.Millisecond)                                               // 0.1%
	iv := Interval{At: judgeT0, Reference: ref, Canary: win(200, 10, time.Millisecond)} // 5%; Baseline left empty
	th.Observe(iv)
	d := th.Decide()
	if d.Verdict != Rollback || !strings.Contains(d.Reason, "above reference 0.10%") {
		t.Errorf("%s (%s), want rollback against the reference's 0.10%%", d.Verdict, d.Reason)
	}
	c := d.Evidence["checks"].(map[string]any)["error_rate"].(map[string]any)
	if d.Evidence["mode"] != "reference" || c["reference"] != 0.001 || d.Evidence["baseline_requests"] != int64(1000) {
		t.Errorf("evidence %v", d.Evidence)
	}
}

// TestThresholdReferenceModeDoesNotPoolLiveBaselines: a latency quantile
// pooled across the switch takes the canary's windows from both sides of
// it, but the baseline side is the Reference alone, never merged with the
// live baseline windows of the intervals before.
func TestThresholdReferenceModeDoesNotPoolLiveBaselines(t *testing.T) {
	th := newThreshold(Config{Failures: 1, MinSamples: 10, Metrics: []*Check{
		{Metric: metrics.LatencyP99, MaxRatio: val(1.5, "1.5")},
	}})
	// Live: a slow baseline (400 ms) and a canary at 100 ms, 60 requests each.
	for range 2 {
		th.Observe(pair(win(60, 0, 400*time.Millisecond), win(60, 0, 100*time.Millisecond)))
	}
	// After the switch: 60 canary requests at 100 ms; the reference says 20 ms.
	th.Observe(Interval{At: judgeT0, Reference: win(1000, 0, 20*time.Millisecond), Baseline: win(1000, 0, 20*time.Millisecond),
		Canary: win(60, 0, 100*time.Millisecond)})
	d := th.Decide()
	c := d.Evidence["checks"].(map[string]any)["latency_p99"].(map[string]any)
	if d.Verdict != Rollback || c["pooled_intervals"] != 2 {
		t.Errorf("%s (%s), evidence %v; want rollback against the reference's 20 ms, pooling 2 canary windows", d.Verdict, d.Reason, c)
	}
	if b, _ := c["reference"].(float64); b > 0.021 {
		t.Errorf("reference p99 %v s, want 20 ms: the live baseline's 400 ms was pooled in", b)
	}
}

// TestThresholdNeedsWhatItPools: what the threshold judge tells the loader
// a check needs (the loader warns below it) is what the judge waits for:
// an interval of that many requests a side is judged at once, one fewer
// is pooled (a pause). The sequential judge needs nothing of the kind.
func TestThresholdNeedsWhatItPools(t *testing.T) {
	for _, m := range []string{metrics.LatencyP99, metrics.LatencyP95, metrics.LatencyP90, metrics.LatencyP50, metrics.ErrorRate} {
		need, why := Needs("threshold", m)
		if n, _ := Needs("sequential", m); n != 0 {
			t.Errorf("sequential needs %d requests for %s, want 0", n, m)
		}
		if m == metrics.LatencyP50 || m == metrics.ErrorRate {
			if need != 0 {
				t.Errorf("%s: threshold needs %d, want 0 (min_samples covers it)", m, need)
			}
			continue
		}
		if need == 0 || !strings.Contains(why, fmt.Sprintf("fewer than %d requests", need)) {
			t.Errorf("%s: needs %d, %q", m, need, why)
		}
		for _, tc := range []struct {
			n     int
			pause bool
		}{{need, false}, {need - 1, true}} {
			th := newThreshold(Config{MinSamples: 1, Metrics: []*Check{{Metric: m, Max: val(1, "1s")}}})
			th.Observe(pair(win(tc.n, 0, time.Millisecond), win(tc.n, 0, time.Millisecond)))
			if d := th.Decide(); (d.Verdict == Pause) != tc.pause {
				t.Errorf("%s with %d requests a side: %s (%s), want pause %v", m, tc.n, d.Verdict, d.Reason, tc.pause)
			}
		}
	}
	if n, _ := Needs("no-such-judge", metrics.LatencyP99); n != 0 {
		t.Errorf("an unknown judge needs %d", n)
	}
}

// TestThresholdPooledSlowRequestsCountTwice is the warning's reason: two
// slow canary requests in one moment fail one p99 check when each
// interval holds 100 requests, but every check whose pool holds them when
// intervals of 25 are pooled to 100, and two failures roll back.
func TestThresholdPooledSlowRequestsCountTwice(t *testing.T) {
	// slowWin has n requests at 10 ms, two of them at 1 s.
	slowWin := func(n int) metrics.Window {
		r := metrics.NewRecorder("router")
		r.Declare("v")
		for i := range n {
			lat := 10 * time.Millisecond
			if i < 2 {
				lat = time.Second
			}
			r.Record("v", metrics.Outcome{Status: 200, Latency: lat})
		}
		return r.Cut(judgeT0)[0]
	}
	for _, tc := range []struct {
		perInterval  int
		wantRollback bool
	}{{25, true}, {100, false}} {
		th := newThreshold(Config{Failures: 2, MinSamples: 10, Metrics: []*Check{{Metric: metrics.LatencyP99, MaxRatio: val(2, "2")}}})
		base := win(100, 0, 10*time.Millisecond)
		fast := pair(base, win(tc.perInterval, 0, 10*time.Millisecond))
		for range 4 {
			th.Observe(fast)
		}
		th.Observe(pair(base, slowWin(tc.perInterval)))
		for range 3 {
			th.Observe(fast)
		}
		if got := th.Decide().Verdict == Rollback; got != tc.wantRollback {
			t.Errorf("%d canary requests an interval: rollback %v, want %v (%s)", tc.perInterval, got, tc.wantRollback, th.Decide().Reason)
		}
	}
}
