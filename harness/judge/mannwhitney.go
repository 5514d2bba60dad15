package judge

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/drillhq/drill/harness/metrics"
)

func init() {
	Register("mann-whitney",
		"Kayenta's method: per metric, a Mann-Whitney U test of the canary's last 20 intervals against the baseline's; a weighted 0–100 score banded by pass_score / marginal_score; rolls back after `failures` failing scores",
		Kind{New: func(a Config) (Judge, error) { return newMannWhitney(a), nil }, Validate: checkScoreBands})
}

// checkScoreBands validates pass_score and marginal_score: scores run
// from 0 to 100, and the marginal band lies below the passing score.
func checkScoreBands(a Config) []Problem {
	var out []Problem
	for _, f := range []struct {
		k string
		v float64
	}{{"pass_score", a.PassScore}, {"marginal_score", a.MarginalScore}} {
		if f.v < 0 || f.v > 100 {
			out = append(out, Problem{Fields: []string{f.k}, Hint: "canary scores run from 0 to 100", Msg: fmt.Sprintf("%s: %g is outside 0..100", f.k, f.v)})
		}
	}
	if a.MarginalScore > a.PassScore {
		out = append(out, Problem{Fields: []string{"marginal_score", "pass_score"}, Hint: "the marginal band lies below the passing score",
			Msg: fmt.Sprintf("marginal_score %g is above pass_score %g", a.MarginalScore, a.PassScore)})
	}
	return out
}

// mwLookback is how many of the most recent intervals a metric's test
// looks at. Kayenta judges a fixed window; a sliding one of 20 intervals
// (20 s at the default interval) is long enough for the test to have power
// and short enough that a regression is not diluted by a long healthy past.
const mwLookback = 20

// mwMinIntervals is how many samples each side needs before a metric is
// tested. Below 5 a side the U test cannot reach p < 1% at all (4 against 4
// gives at best 2/70 ≈ 0.029; 5 against 5 gives 2/252 ≈ 0.0079), so testing
// earlier would only ever say "pass" and look like evidence.
const mwMinIntervals = 5

// mwExactMax is the largest sample per side for which, without ties, the
// p-value comes from the exact null distribution of U. Up to it the dynamic
// programme is cheap (at most 21·21 arrays of 401 counts, all exact in a
// float64), and it is where the normal approximation is worst: at 5 against
// 5 it says p ≈ 0.012 for a complete separation whose exact p is 0.0079, so
// it would hide a regression at the default 1% false-positive rate. Beyond it
// (the lookback never gets there) the normal approximation is good and the
// table's cost grows as n⁴.
const mwExactMax = 20

// Metric classes, as Kayenta names them.
const (
	mwHigh   = "high"    // significantly worse than the baseline beyond the tolerance, or above max
	mwLow    = "low"     // significantly below the baseline; reported, and counts as passing
	mwPass   = "pass"    // no significant difference (or one within the tolerance)
	mwNoData = "no-data" // too few samples to test; left out of the score
)

// Score bands.
const (
	mwBandPass     = "pass"
	mwBandMarginal = "marginal"
	mwBandFail     = "fail"
)

// mwSample is one interval's value of one metric on one side; ok is false
// when the value is not a sample (no value, too few requests). Intervals
// that are not samples still take their slot in the window, so the window
// spans the last mwLookback intervals of time, not the last mwLookback
// samples however old.
type mwSample struct {
	v  float64
	ok bool
}

// mwPush appends s to a window and drops what falls out of the lookback.
func mwPush(w []mwSample, s mwSample) []mwSample {
	w = append(w, s)
	if len(w) > mwLookback {
		w = w[len(w)-mwLookback:]
	}
	return w
}

// mannWhitney is Kayenta's style of analysis: each interval, every metric's
// canary values over the last mwLookback intervals are compared with the
// baseline's by a Mann-Whitney U test; the metrics' classes make a weighted
// 0–100 score, and a score below marginal_score is a failed evaluation. Like
// the threshold judge it rolls back once `failures` evaluations have failed
// (counted over the whole rollout), so one unlucky window is not a rollback.
//
// Reference mode (no live baseline: a canary's 100% step, a blue-green's
// post_switch). The baseline's window moves only on intervals with a live
// baseline. Without one Interval.Baseline is the steady-state reference,
// the same window every interval: as twenty samples it would be one value
// twenty times, and the test would compare the canary with a point, not
// with a distribution (and one merged window cannot be split back into
// per-interval samples). So the canary is then compared with the
// baseline's last live intervals — the step before the 100% one, or blue's
// live traffic during a blue-green preview — frozen from the switch on.
// The canary's window starts afresh at the switch, so that what is tested
// after it is the canary's new samples only: its samples from before were
// taken at another share of the traffic (a 10% step, a preview's synthetic
// load) and were judged already, against a live baseline; mixed in, they
// would dilute a regression that shows only at full load for up to
// mwLookback intervals. While the new window fills (mwMinIntervals−1
// intervals) the judge pauses, as it does at the start: its own lag, not
// missing data. Fewer than mwMinIntervals live baseline samples (a rollout
// that went to 100% at once, a blue-green without a preview) leave relative
// bounds without data, which on_no_data decides; absolute bounds are still
// judged.
type mannWhitney struct {
	a         Config
	canary    [][]mwSample // per check of a.Metrics, the last mwLookback intervals of the current mode
	baseline  [][]mwSample // per check, the last mwLookback intervals with a live baseline
	failures  int
	nd        noDataPolicy
	intervals int
	live      bool // the mode of the intervals the canary's window holds
	since     int  // the interval the current mode began at (1-based)
	last      Decision
}

// newMannWhitney fills in the loader's defaults, so that an Analysis built
// in Go (tests, the API) behaves like one loaded from YAML.
func newMannWhitney(a Config) *mannWhitney {
	a = withDefaults(a)
	// Both scores zero is an Analysis that never set them: a scenario that
	// meant "always pass" would still have to say so with a marginal band.
	if a.PassScore == 0 && a.MarginalScore == 0 {
		a.PassScore, a.MarginalScore = DefaultPassScore, DefaultMarginalScore
	}
	return &mannWhitney{
		a:        a,
		canary:   make([][]mwSample, len(a.Metrics)),
		baseline: make([][]mwSample, len(a.Metrics)),
		nd:       noDataPolicy{policy: a.OnNoData},
		last:     Decision{Verdict: Continue, Reason: "no interval observed yet"},
	}
}

// Decide returns the decision made by the last Observe.
func (m *mannWhitney) Decide() Decision { return m.last }

// mwResult is one metric's evaluation over its window.
type mwResult struct {
	check      *Check
	key        string    // its name in the evidence
	canary     []float64 // the window's samples, sorted
	baseline   []float64
	fresh      bool // this interval added a canary sample
	tested     bool // both sides had mwMinIntervals samples: test, hl and medBase are set
	test       mwTest
	hl         float64
	medCanary  float64 // the canary's median; set when len(canary) > 0
	medBase    float64 // the baseline's median
	maxHigh    bool    // the canary's median is above the absolute max
	class      string
	noData     string // why the metric has no data
	highDetail string // what made it high, for the reason
}

// Observe adds the interval to every metric's window and decides.
func (m *mannWhitney) Observe(iv Interval) {
	m.intervals++
	if m.intervals == 1 || iv.LiveBaseline != m.live {
		m.switchMode(iv.LiveBaseline)
	}
	evidence := map[string]any{
		"interval":          m.intervals,
		"canary_requests":   iv.Canary.Requests,
		"baseline_requests": iv.Baseline.Requests,
		"lookback":          mwLookback,
		"live_baseline":     iv.LiveBaseline,
		"mode":              modeOf(iv),
		"baseline_samples":  "the live baseline's, interval by interval",
	}
	if !iv.LiveBaseline {
		// The Reference in Baseline is not what the test compares with.
		evidence["baseline_requests"] = int64(0)
		evidence["baseline_samples"] = "the last live-baseline intervals before the switch (no live baseline is left)"
		evidence["canary_samples_since"] = m.since
	}
	results, tested, fresh := m.push(iv)
	// Bonferroni: the false-positive rate is the scenario's across all the
	// metrics, so each test gets its share. Only metrics actually tested
	// spend any of it.
	alpha := m.a.FalsePositiveRate / float64(max(tested, 1))
	perMetric := map[string]any{}
	var nodata []string
	withData := 0
	for _, r := range results {
		mwClassify(r, alpha)
		perMetric[r.key] = r.evidence(alpha)
		if r.class == mwNoData {
			nodata = append(nodata, r.key+": "+r.noData)
		} else {
			withData++
		}
	}
	evidence["metrics"] = perMetric
	if len(m.a.Metrics) == 0 {
		m.last = Decision{Verdict: Continue, Reason: "no metrics to judge", Evidence: evidence}
		return
	}
	if n := m.intervals - m.since + 1; withData == 0 && n < mwMinIntervals && fresh {
		// Warming up: no window can hold mwMinIntervals samples yet, at
		// the start or since the switch to reference mode. That is the
		// judge's own lag, not missing data, so it pauses whatever
		// on_no_data says (with `fail` every canary would otherwise be
		// rolled back at its second interval).
		what := "warming up"
		if m.since > 1 {
			what = "warming up after the switch to reference mode"
		}
		m.last = Decision{Verdict: Pause, Reason: fmt.Sprintf("%s: %d of %d intervals collected", what, n, mwMinIntervals), Evidence: evidence}
		return
	}
	if withData == 0 {
		m.noData(evidence, strings.Join(nodata, "; "))
		return
	}
	sc := m.scoreOf(results, nodata)
	if !fresh {
		// The windows still hold older samples, but this interval added
		// none: passing them again would let a step's hold advance on
		// stale evidence (a canary that stopped taking traffic would keep
		// "passing"), so, as the threshold judge does for an interval with
		// fewer than min_samples canary requests, this is no data. A
		// failing window still counts: no data must never mask a failure.
		evidence["stale"] = true
		if sc.band != mwBandFail {
			m.noData(evidence, fmt.Sprintf("no metric got a canary sample this interval (canary had %d requests, min_samples %d)",
				iv.Canary.Requests, m.a.MinSamples))
			return
		}
	} else {
		m.nd.reset()
	}
	m.decide(evidence, sc)
}

// switchMode starts the canary's windows afresh for a new mode (see the
// type's comment); the baseline's windows keep their live samples.
func (m *mannWhitney) switchMode(live bool) {
	m.live, m.since = live, m.intervals
	for i := range m.canary {
		m.canary[i] = nil
	}
}

// push adds the interval to every metric's windows and summarizes them:
// one result per check of a.Metrics, how many of them were tested, and
// whether any got a canary sample this interval.
func (m *mannWhitney) push(iv Interval) ([]*mwResult, int, bool) {
	results := make([]*mwResult, len(m.a.Metrics))
	keys := map[string]bool{}
	tested, fresh := 0, false
	for i, c := range m.a.Metrics {
		m.canary[i] = mwPush(m.canary[i], m.sample(iv, c.Metric, true))
		if iv.LiveBaseline {
			m.baseline[i] = mwPush(m.baseline[i], m.sample(iv, c.Metric, false))
		}
		r := m.summarize(c, m.canary[i], m.baseline[i])
		// Two checks of one metric (say, a max and a max_ratio written
		// apart) must not overwrite each other's evidence.
		r.key = c.Metric
		if keys[r.key] {
			r.key = fmt.Sprintf("%s#%d", c.Metric, i+1)
		}
		keys[r.key] = true
		results[i] = r
		if r.tested {
			tested++
		}
		fresh = fresh || r.fresh
	}
	return results, tested, fresh
}

// sample reads one metric of one side of an interval. The value is a
// sample only when that side took at least min_samples requests (and, for
// a latency quantile, the requests the quantile needs: a p99 of 40
// requests is their maximum) and it is finite (a NaN would also break the
// journal's JSON).
func (m *mannWhitney) sample(iv Interval, metric string, canary bool) mwSample {
	need := max(int64(m.a.MinSamples), quantileSamples(metric))
	reqs := iv.Baseline.Requests
	if canary {
		reqs = iv.Canary.Requests
	}
	v, ok := iv.sideValue(metric, canary)
	return mwSample{v: v, ok: ok && reqs >= need && !math.IsNaN(v) && !math.IsInf(v, 0)}
}

// summarize gathers a metric's windows and runs what can be run on them:
// the absolute max on the canary's median, and the U test when both sides
// have enough samples. mwClassify then decides the class.
func (m *mannWhitney) summarize(c *Check, cw, bw []mwSample) *mwResult {
	r := &mwResult{check: c}
	for _, s := range cw {
		if s.ok {
			r.canary = append(r.canary, s.v)
		}
	}
	for _, s := range bw {
		if s.ok {
			r.baseline = append(r.baseline, s.v)
		}
	}
	r.fresh = len(cw) > 0 && cw[len(cw)-1].ok
	slices.Sort(r.canary)
	slices.Sort(r.baseline)
	if len(r.canary) > 0 {
		r.medCanary = mwMedian(r.canary)
	}
	// An absolute max is a bound, not a hypothesis: it is judged on the
	// latest canary value, at once (an invariant's count of corrupt rows
	// must not wait for it to cover half the window).
	if last := cw[len(cw)-1]; c.Max != nil && r.fresh && last.v > c.Max.V+epsilon {
		r.maxHigh = true
		r.highDetail = fmt.Sprintf("%s > max %s", mwFmt(c.Metric, last.v), c.Max.Raw)
	}
	if len(r.canary) < mwMinIntervals && !r.maxHigh {
		r.noData = fmt.Sprintf("%d of %d canary samples in the last %d intervals", len(r.canary), mwMinIntervals, len(cw))
		return r
	}
	if len(r.canary) < mwMinIntervals {
		return r
	}
	if len(r.baseline) < mwMinIntervals {
		// Without a baseline (an invariant has none; a baseline without
		// traffic, or a rollout that went to 100% before the baseline had
		// five live intervals, has too few) only the absolute max can be
		// judged. A
		// relative bound that cannot be judged is no data, unless the max
		// already failed: no data must never mask a failure.
		if (c.MaxIncrease != nil || c.MaxRatio != nil) && !r.maxHigh {
			r.noData = fmt.Sprintf("%d of %d baseline samples in the last %d live-baseline intervals", len(r.baseline), mwMinIntervals, len(bw))
		}
		return r
	}
	r.tested = true
	r.test = mwUTest(r.canary, r.baseline)
	r.hl = mwHodgesLehmann(r.canary, r.baseline)
	r.medBase = mwMedian(r.baseline)
	return r
}

// mwClassify sets a summarized metric's class at the Bonferroni level alpha.
func mwClassify(r *mwResult, alpha float64) {
	switch {
	case r.noData != "":
		r.class = mwNoData
	case r.maxHigh:
		r.class = mwHigh
	case !r.tested: // absolute-only, and within its max
		r.class = mwPass
	case r.test.P < alpha && mwExceeds(r.check, r.hl, r.medBase):
		r.class = mwHigh
		r.highDetail = fmt.Sprintf("HL %s, p=%s", mwSigned(r.check.Metric, r.hl), mwFmtP(r.test.P))
	case r.test.P < alpha && r.hl < 0:
		r.class = mwLow
	default:
		r.class = mwPass
	}
}

// mwExceeds reports whether the estimated shift hl of the canary
// over the baseline (median medBase) is more than the check tolerates. The
// test says whether the sides differ; the tolerance says whether the
// difference matters. Without a relative bound any increase matters.
func mwExceeds(c *Check, hl, medBase float64) bool {
	if c.MaxIncrease == nil && c.MaxRatio == nil {
		return hl > epsilon
	}
	if c.MaxIncrease != nil && hl > c.MaxIncrease.V+epsilon {
		return true
	}
	if c.MaxRatio != nil && medBase+hl > c.MaxRatio.V*medBase+epsilon {
		// As in the threshold judge, a latency ratio below the noise floor
		// measures the scheduler, not the release.
		if metrics.UnitOf(c.Metric) != metrics.UnitSeconds || hl >= latencyNoiseFloor-epsilon {
			return true
		}
	}
	return false
}

// evidence is a metric's part of the decision's evidence. Test results
// are present only when the test ran, so that a zero never reads as a
// measurement.
func (r *mwResult) evidence(alpha float64) map[string]any {
	c := r.check
	e := map[string]any{
		"class":      r.class,
		"n_canary":   len(r.canary),
		"n_baseline": len(r.baseline),
		"weight":     mwWeight(c),
		"critical":   c.Critical,
	}
	if len(r.canary) > 0 {
		e["median_canary"] = r.medCanary
	}
	if r.tested {
		e["u"] = r.test.U
		e["z"] = r.test.Z
		e["p"] = r.test.P
		e["exact"] = r.test.Exact
		e["alpha"] = alpha
		e["hodges_lehmann"] = r.hl
		e["median_baseline"] = r.medBase
	}
	if c.Max != nil {
		e["max"] = c.Max.V
	}
	if c.MaxIncrease != nil {
		e["max_increase"] = c.MaxIncrease.V
	}
	if c.MaxRatio != nil {
		e["max_ratio"] = c.MaxRatio.V
	}
	if r.noData != "" {
		e["no_data"] = r.noData
	}
	return e
}

// mwWeight is a check's weight; a Check built in Go without one weighs 1,
// as the loader's default.
func mwWeight(c *Check) float64 {
	if c.Weight > 0 {
		return c.Weight
	}
	return DefaultWeight
}

// mwScore is an evaluation's outcome: Kayenta's canary score, its band,
// and the reason's text.
type mwScore struct {
	score float64
	band  string
	why   string
}

// scoreOf turns the metrics' classes into the canary score: 100 × the
// weight of passing (pass or low) metrics over the weight of metrics with
// data, or 0 when a critical metric is high.
func (m *mannWhitney) scoreOf(results []*mwResult, nodata []string) mwScore {
	var total, passing float64
	var high, low, critical []string
	for _, r := range results {
		if r.class == mwNoData {
			continue
		}
		w := mwWeight(r.check)
		total += w
		switch r.class {
		case mwPass:
			passing += w
		case mwLow:
			passing += w
			low = append(low, fmt.Sprintf("%s low (HL %s, p=%s)", r.key, mwSigned(r.check.Metric, r.hl), mwFmtP(r.test.P)))
		case mwHigh:
			high = append(high, fmt.Sprintf("%s high (%s)", r.key, r.highDetail))
			if r.check.Critical {
				critical = append(critical, r.key)
			}
		}
	}
	s := mwScore{score: 100 * passing / total, band: mwBandFail}
	if len(critical) > 0 {
		// A critical metric is one no amount of healthy others can
		// outvote.
		s.score = 0
	}
	switch {
	case s.score >= m.a.PassScore-epsilon:
		s.band = mwBandPass
		s.why = fmt.Sprintf("canary score %s >= pass %s", mwFmtScore(s.score), mwFmtScore(m.a.PassScore))
	case s.score >= m.a.MarginalScore-epsilon:
		s.band = mwBandMarginal
		s.why = fmt.Sprintf("canary score %s is marginal (>= %s, < pass %s)", mwFmtScore(s.score), mwFmtScore(m.a.MarginalScore), mwFmtScore(m.a.PassScore))
	default:
		s.why = fmt.Sprintf("canary score %s < marginal %s", mwFmtScore(s.score), mwFmtScore(m.a.MarginalScore))
	}
	var details []string
	if len(critical) > 0 {
		details = append(details, fmt.Sprintf("critical %s high forces the score to 0", strings.Join(critical, ", ")))
	}
	details = append(details, high...)
	details = append(details, low...)
	if len(details) > 0 {
		s.why += ": " + strings.Join(details, "; ")
	}
	if len(nodata) > 0 {
		s.why += " (no data: " + strings.Join(nodata, "; ") + ")"
	}
	return s
}

// decide records an evaluation: a failing band is one more failed
// evaluation, and the one that reaches `failures` rolls back; a marginal
// band goes on and says so.
func (m *mannWhitney) decide(evidence map[string]any, s mwScore) {
	if s.band == mwBandFail {
		m.failures++
	}
	evidence["score"] = s.score
	evidence["band"] = s.band
	evidence["pass_score"] = m.a.PassScore
	evidence["marginal_score"] = m.a.MarginalScore
	evidence["failed_evaluations"] = m.failures
	evidence["failures_allowed"] = m.a.Failures
	switch {
	case s.band == mwBandFail && m.failures >= m.a.Failures:
		m.last = Decision{Verdict: Rollback, Reason: fmt.Sprintf("%d of %d allowed failed evaluations; last: %s", m.failures, m.a.Failures, s.why), Evidence: evidence}
	case s.band == mwBandFail:
		m.last = Decision{Verdict: Continue, Reason: fmt.Sprintf("evaluation failed (%d of %d allowed): %s", m.failures, m.a.Failures, s.why), Evidence: evidence}
	default:
		m.last = Decision{Verdict: Continue, Reason: s.why, Evidence: evidence}
	}
}

// noData applies on_no_data through the policy every judge shares, so
// that switching judges never changes what "no data" means: pause (giving
// up after noDataLimit intervals in a row), fail (a failed evaluation), or
// pass (said so in the reason).
func (m *mannWhitney) noData(evidence map[string]any, why string) {
	m.last = m.nd.decide(evidence, why, &m.failures, m.a.Failures)
	evidence["failed_evaluations"] = m.failures
}

// mwSigned formats a shift with its sign, so that "+" reads as "the canary
// is higher".
func mwSigned(metric string, v float64) string {
	if v >= 0 {
		return "+" + mwFmt(metric, v)
	}
	return mwFmt(metric, v)
}

// mwFmt is FormatMetric, except that plain numbers get six significant
// figures: medians and shifts are computed, and %g would print the float
// noise of an average (1.0074999999999998).
func mwFmt(metric string, v float64) string {
	if metrics.UnitOf(metric) == metrics.UnitNumber {
		return strconv.FormatFloat(v, 'g', 6, 64)
	}
	return FormatMetric(metric, v)
}

// mwFmtP formats a p-value to two significant figures: more would be false
// precision for an approximation.
func mwFmtP(p float64) string { return strconv.FormatFloat(p, 'g', 2, 64) }

// mwFmtScore formats a score without trailing zeros (75, 66.7).
func mwFmtScore(s float64) string { return strconv.FormatFloat(math.Round(s*10)/10, 'f', -1, 64) }
