package judge

import (
	"fmt"
	"strings"

	"github.com/drillhq/drill/harness/metrics"
)

func init() {
	Register("threshold",
		"per-interval bounds (absolute max, or max_increase / max_ratio against the live baseline); rolls back after `failures` failed checks",
		Kind{
			New:   func(a Config) (Judge, error) { return newThreshold(a), nil },
			Needs: thresholdNeeds,
		})
}

// thresholdNeeds is the traffic a check needs to mean anything to the
// threshold judge: the requests its quantile pools to. With fewer an
// interval the judge pools the latest intervals, and the pools of
// successive checks overlap: the same two slow requests (a pooled p99 of
// 100 is the second slowest) fail every check whose pool holds them,
// `failures` checks in a row from one moment's requests, where intervals
// of 100 would have failed one.
func thresholdNeeds(metric string) (int, string) {
	n := int(quantileSamples(metric))
	if n == 0 {
		return 0, ""
	}
	q := strings.TrimPrefix(metric, "latency_")
	return n, fmt.Sprintf("a %s of fewer than %d requests is one of their two slowest, and pooled over intervals until there are %d the same two slow requests fail every check whose pool holds them, each counting towards failures", q, n, n)
}

// latencyNoiseFloor is the smallest latency difference a relative check
// acts on. Below it, ratios of millisecond latencies measure scheduler and
// GC noise, not the release (a 2 ms → 4 ms p99 is "×2" and meaningless).
const latencyNoiseFloor = 0.010 // seconds

// noDataLimit is how many consecutive no-data intervals `on_no_data: pause`
// tolerates before the judge fails the canary: a pause is never allowed to
// become a silent, endless pass.
const noDataLimit = 30

// threshold is Flagger's style of analysis: every interval each metric is
// checked against its bounds; the canary is rolled back once `failures`
// intervals have failed (counted over the whole rollout, as Flagger does).
type threshold struct {
	a          Config
	history    []Interval // the last maxLookback intervals, for quantiles
	failures   int
	nd         noDataPolicy
	intervals  int
	last       Decision
	lastFailed []string
}

func newThreshold(a Config) *threshold {
	a = withDefaults(a)
	return &threshold{a: a, nd: noDataPolicy{policy: a.OnNoData}, last: Decision{Verdict: Continue, Reason: "no interval observed yet"}}
}

// maxLookback bounds how many intervals a latency quantile may pool.
const maxLookback = 10

// quantileSamples is how many requests a side needs before its quantile q
// means anything: a p99 over 40 requests is just their maximum, so one
// slow request would fail a healthy canary. The rule is n(1-q) >= 1, at
// least one request expected beyond the quantile: p99 needs 100, p95 20,
// p90 10 (p50 is not pooled: min_samples covers it).
func quantileSamples(metric string) int64 {
	switch metric {
	case metrics.LatencyP99:
		return 100
	case metrics.LatencyP95:
		return 20
	case metrics.LatencyP90:
		return 10
	}
	return 0
}

// pooled returns, for a latency quantile, the windows of the most recent
// intervals merged until both sides (the canary only, for an absolute
// bound) hold enough samples; ok is false when even maxLookback intervals
// are not enough.
//
// The baseline side is that of the latest interval's mode. With a live
// baseline it pools the live baseline windows only. Without one (a 100%
// step, a blue-green post_switch) it is the steady-state Reference alone,
// whatever Interval.Baseline holds: one fixed window, which pooling would
// only count twice, and which must not be mixed with the live windows of
// the intervals before the switch. The canary side pools its own windows
// across the switch: they are the same version.
func (t *threshold) pooled(metric string, needBaseline bool) (Interval, int, bool) {
	need := quantileSamples(metric)
	last := t.history[len(t.history)-1]
	if !last.LiveBaseline {
		last.Baseline = last.Reference
	}
	if need == 0 {
		return last, 1, true
	}
	var bs, cs []metrics.Window
	for i := len(t.history) - 1; i >= 0; i-- {
		h := t.history[i]
		cs = append(cs, h.Canary)
		if last.LiveBaseline && h.LiveBaseline {
			bs = append(bs, h.Baseline)
		}
		b, c := last.Baseline, metrics.Merge(cs...)
		if last.LiveBaseline {
			b = metrics.Merge(bs...)
		}
		if c.Requests >= need && (b.Requests >= need || !needBaseline) {
			return Interval{At: last.At, Baseline: b, Canary: c, Extra: last.Extra, LiveBaseline: last.LiveBaseline, Reference: last.Reference}, len(cs), true
		}
	}
	return last, len(cs), false
}

func (t *threshold) Observe(iv Interval) {
	t.history = append(t.history, iv)
	if len(t.history) > maxLookback {
		t.history = t.history[1:]
	}
	t.intervals++
	evidence := map[string]any{
		"interval":          t.intervals,
		"canary_requests":   iv.Canary.Requests,
		"baseline_requests": iv.Baseline.Requests,
		"mode":              modeOf(iv),
	}
	if !iv.LiveBaseline {
		evidence["baseline_requests"] = iv.Reference.Requests
	}
	if iv.Canary.Requests < int64(t.a.MinSamples) {
		t.noData(evidence, fmt.Sprintf("canary had %d requests (< min_samples %d)", iv.Canary.Requests, t.a.MinSamples))
		return
	}
	// Every check is evaluated: a failed check counts even when another
	// check of the same interval has no data (no data must never mask a
	// failure).
	var failed, nodata []string
	checks := map[string]any{}
	for _, c := range t.a.Metrics {
		res, why := t.evaluate(c)
		if res != nil {
			checks[c.Metric] = res
			if res["ok"] == false {
				failed = append(failed, fmt.Sprintf("%s %s", c.Metric, res["detail"]))
			}
		}
		if why != "" {
			nodata = append(nodata, why)
		}
	}
	evidence["checks"] = checks
	if len(failed) == 0 && len(nodata) > 0 {
		t.noData(evidence, strings.Join(nodata, "; "))
		return
	}
	t.nd.reset()
	if len(failed) > 0 {
		t.failures++
	}
	evidence["failed_checks"] = t.failures
	evidence["failures_allowed"] = t.a.Failures
	switch {
	case t.failures >= t.a.Failures:
		t.last = Decision{Verdict: Rollback, Reason: fmt.Sprintf("%d of %d allowed failed checks; last: %s", t.failures, t.a.Failures, strings.Join(failed, "; ")), Evidence: evidence}
	case len(failed) > 0:
		t.last = Decision{Verdict: Continue, Reason: "check failed: " + strings.Join(failed, "; "), Evidence: evidence}
	default:
		t.last = Decision{Verdict: Continue, Reason: "all checks passed", Evidence: evidence}
	}
}

// evaluate runs one check on the intervals it needs. It returns the
// check's evidence (nil when nothing could be evaluated) and, when some
// bound could not be evaluated, why.
func (t *threshold) evaluate(c *Check) (map[string]any, string) {
	relative := c.MaxIncrease != nil || c.MaxRatio != nil
	piv, pooledN, enough := t.pooled(c.Metric, relative)
	if !enough {
		return nil, fmt.Sprintf("%s needs %d requests a side; %d intervals hold fewer", c.Metric, quantileSamples(c.Metric), pooledN)
	}
	res, why := t.check(c, piv)
	if res != nil && pooledN > 1 {
		res["pooled_intervals"] = pooledN
	}
	return res, why
}

// epsilon absorbs float rounding at a bound: 5% - 3% must not exceed a
// max_increase of 2%.
const epsilon = 1e-9

// check evaluates one metric's bounds. It returns the evidence (nil when no
// bound could be evaluated) and, when a relative bound lacked a baseline,
// why.
func (t *threshold) check(c *Check, iv Interval) (map[string]any, string) {
	cv, cok := iv.sideValue(c.Metric, true)
	if !cok {
		return nil, fmt.Sprintf("no canary value for %s", c.Metric)
	}
	res := map[string]any{"canary": cv, "ok": true}
	var fails []string
	if c.Max != nil {
		res["max"] = c.Max.V
		if cv > c.Max.V+epsilon {
			fails = append(fails, fmt.Sprintf("%s > max %s", FormatMetric(c.Metric, cv), c.Max.Raw))
		}
	}
	var why string
	if c.MaxIncrease != nil || c.MaxRatio != nil {
		bv, bok := iv.sideValue(c.Metric, false)
		side := "baseline"
		if !iv.LiveBaseline {
			side = "reference"
		}
		if bok && iv.Baseline.Requests >= int64(t.a.MinSamples) {
			res[side] = bv
			fails = append(fails, relativeFails(c, cv, bv, side, res)...)
		} else {
			why = fmt.Sprintf("no %s value for %s", side, c.Metric)
			if c.Max == nil {
				return nil, why
			}
		}
	}
	if len(fails) > 0 {
		res["ok"] = false
		res["detail"] = strings.Join(fails, ", ")
	}
	return res, why
}

// relativeFails checks max_increase and max_ratio against the baseline
// (side names it: "baseline", or "reference" without a live baseline).
func relativeFails(c *Check, cv, bv float64, side string, res map[string]any) []string {
	var fails []string
	if c.MaxIncrease != nil {
		res["max_increase"] = c.MaxIncrease.V
		if cv-bv > c.MaxIncrease.V+epsilon {
			fails = append(fails, fmt.Sprintf("%s is %s above %s %s (max_increase %s)",
				FormatMetric(c.Metric, cv), FormatMetric(c.Metric, cv-bv), side, FormatMetric(c.Metric, bv), c.MaxIncrease.Raw))
		}
	}
	if c.MaxRatio != nil {
		res["max_ratio"] = c.MaxRatio.V
		ratioFails := cv > c.MaxRatio.V*bv+epsilon
		if metrics.UnitOf(c.Metric) == metrics.UnitSeconds && cv-bv < latencyNoiseFloor {
			ratioFails = false
		}
		if bv > 0 {
			res["ratio"] = cv / bv
		}
		if ratioFails {
			fails = append(fails, fmt.Sprintf("%s vs %s %s (max_ratio %s)", FormatMetric(c.Metric, cv), side, FormatMetric(c.Metric, bv), c.MaxRatio.Raw))
		}
	}
	return fails
}

func (t *threshold) noData(evidence map[string]any, why string) {
	t.last = t.nd.decide(evidence, why, &t.failures, t.a.Failures)
}

func (t *threshold) Decide() Decision { return t.last }
