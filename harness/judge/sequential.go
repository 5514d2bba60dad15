package judge

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/drillhq/drill/harness/metrics"
)

func init() {
	Register("sequential",
		"exact sequential test of canary against the live baseline (or, with none left, against the steady-state reference rate's upper confidence bound): error counts, and requests slower than the baseline's steady-state quantile "+
			"beyond the tolerance (10 ms noise floor or max_ratio), conditioned on each interval's events and traffic share; rolls back as soon as the canary's count crosses a boundary "+
			"whose false-positive rate, spent over the rollout, is held under continuous monitoring (max bounds are checked as the threshold judge does)",
		Kind{
			New:   func(a Config) (Judge, error) { return newSequential(a), nil },
			Tests: func(metric string) bool { _, ok := seqQuantile(metric); return ok },
			Unread: func(metric string) ([]string, string) {
				if _, ok := seqQuantile(metric); !ok {
					return nil, "" // the embedded threshold judge reads its bounds
				}
				return []string{"max_increase"}, "the sequential judge tests any increase of " + metric +
					" over the baseline, given evidence; it has no additive tolerance (max_ratio is a latency quantile's)"
			},
		})
}

// seqRatios is the grid of alternatives the reference mode's mixture
// averages over (sequential_reference.go): the canary's event rate as a
// multiple of the reference's. A mixture, rather than one alternative,
// keeps the test powerful for a 1.5× and a 50× canary alike; each
// component costs ln(len) nats of evidence.
var seqRatios = []float64{1.5, 2, 4, 10, 50}

// sequential is a sequential test per tested metric. Every interval, the
// events of the metric — failed requests for error_rate; requests slower
// than the steady-state baseline's quantile q for latency_pQQ — are
// counted on the canary and on the live baseline, and an exact
// conditional test with α spent over the rollout (condSpend,
// sequential_spending.go) asks whether the canary holds more of them than
// its share of the requests explains. Its false-rollback rate is at most
// α under continuous monitoring, for every baseline rate, however the
// share changes. α is the false-positive rate split evenly over the
// tested metrics (Bonferroni), so the family-wise rate holds. With no
// live baseline (a canary's 100% step, a blue-green's post_switch) the
// α the live test has not spent goes to the reference mode
// (sequential_reference.go).
//
// Checks on other metrics (cpu, rss, throughput, invariants) and the
// absolute `max` bounds of every check go to an embedded threshold judge:
// a bound is a bound, not a hypothesis.
type sequential struct {
	a        Config
	tests    []*seqTest
	bounds   *threshold // nil when no check has a bound to evaluate
	nd       noDataPolicy
	failures int // no-data intervals counted as failures (on_no_data: fail)
	last     Decision
	n        int
}

// seqTest is the running test of one metric.
type seqTest struct {
	metric   string
	q        float64 // latency quantile; 0 for error_rate
	ratio    float64 // latency: max_ratio, the slowdown tolerated; 1 when unset
	alpha    float64
	live     *condSpend
	rejected bool  // the live test crossed its boundary
	evC, evB int64 // events counted on each side
	nC, nB   int64 // requests counted on each side
	// mode is the mode of the last interval observed: modeLive or
	// modeReference.
	mode string
	ref  seqRef // the reference mode's test
}

func newSequential(a Config) *sequential {
	a = withDefaults(a)
	s := &sequential{a: a, nd: noDataPolicy{policy: a.OnNoData}, last: Decision{Verdict: Continue, Reason: "no interval observed yet"}}
	var bounded []*Check
	for _, c := range a.Metrics {
		if q, ok := seqQuantile(c.Metric); ok {
			t := &seqTest{metric: c.Metric, q: q, ratio: 1}
			if c.MaxRatio != nil && q > 0 {
				t.ratio = c.MaxRatio.V
			}
			s.tests = append(s.tests, t)
			if c.Max != nil {
				bounded = append(bounded, &Check{Metric: c.Metric, Max: c.Max})
			}
			continue
		}
		bounded = append(bounded, c)
	}
	for _, t := range s.tests {
		t.alpha = a.FalsePositiveRate / float64(len(s.tests))
		t.live = newCondSpend(t.alpha)
	}
	if len(bounded) > 0 {
		ta := a
		ta.Metrics = bounded
		s.bounds = newThreshold(ta)
	}
	return s
}

// seqQuantile says whether the sequential test covers metric, and for a
// latency quantile which one.
func seqQuantile(metric string) (float64, bool) {
	switch metric {
	case metrics.ErrorRate:
		return 0, true
	case metrics.LatencyP50:
		return 0.50, true
	case metrics.LatencyP90:
		return 0.90, true
	case metrics.LatencyP95:
		return 0.95, true
	case metrics.LatencyP99:
		return 0.99, true
	}
	return 0, false
}

// events counts a window's events for the test: failures, or requests
// slower than the threshold.
func (t *seqTest) events(w metrics.Window, threshold time.Duration) int64 {
	if t.q == 0 {
		return w.Failed
	}
	return w.Hist.CountAbove(threshold)
}

// thresholds returns, for a latency test, the latency above which a
// canary request is an event and the one above which a baseline (or
// reference) request is; why is set when the steady state is too small to
// give them. Both are zero for error_rate.
func (t *seqTest) thresholds(iv Interval) (canaryAt, baselineAt time.Duration, why string) {
	if t.q == 0 {
		return 0, 0, ""
	}
	if iv.Reference.Requests < quantileSamples(t.metric) {
		return 0, 0, fmt.Sprintf("the steady state has %d baseline requests, too few for its %s", iv.Reference.Requests, t.metric)
	}
	// A baseline request is slow above the steady state's quantile ref; a
	// canary request above the slowdown tolerated: ref plus the latency
	// noise floor, or max_ratio times ref. A canary exactly at the
	// tolerance (ref shifted by the floor, or scaled by max_ratio) is slow
	// as often as the baseline, so the null the test holds α under is "the
	// canary is within its tolerance", not "the canary is no slower at
	// all": a 1 ms shift of a 5 ms p99 is a real difference, and not one
	// worth a rollback.
	ref := iv.Reference.Quantile(t.q)
	return max(ref+time.Duration(latencyNoiseFloor*float64(time.Second)), time.Duration(float64(ref)*t.ratio)), ref, ""
}

// observe adds one interval and reports whether the test had anything to
// count. An interval without a live baseline goes to the reference mode
// (sequential_reference.go).
func (t *seqTest) observe(iv Interval) (counted bool, why string) {
	t.mode = modeOf(iv)
	canaryAt, baselineAt, why := t.thresholds(iv)
	if why != "" {
		return false, why
	}
	if !iv.LiveBaseline {
		return t.ref.observe(t, iv, canaryAt, baselineAt)
	}
	nc, nb := iv.Canary.Requests, iv.Baseline.Requests
	if nc == 0 || nb == 0 {
		return false, "a side has no requests"
	}
	ec, eb := t.events(iv.Canary, canaryAt), t.events(iv.Baseline, baselineAt)
	t.nC, t.nB, t.evC, t.evB = t.nC+nc, t.nB+nb, t.evC+ec, t.evB+eb
	// Once the reference mode has taken the α left over, the live test
	// may spend no more than it had (seqRef.start).
	budget := t.alpha
	if t.ref.started {
		budget = t.ref.liveSpent
	}
	if t.live.observe(nc+nb, ec+eb, nc, t.evC, t.nC, budget) {
		t.rejected = true
	}
	return true, ""
}

// mixture is the log of the mean of exp(logM) over seqRatios, computed
// stably, and the ratio whose term is largest.
func mixture(logM []float64) (float64, float64) {
	best, bestK := math.Inf(-1), 0
	for k, l := range logM {
		if l > best {
			best, bestK = l, k
		}
	}
	sum := 0.0
	for _, l := range logM {
		sum += math.Exp(l - best)
	}
	return best + math.Log(sum/float64(len(logM))), seqRatios[bestK]
}

// rejects says whether the test rejects its null after the intervals
// observed so far, and if so why, in words for the decision's reason.
func (t *seqTest) rejects() (string, bool) {
	if t.ref.intervals > 0 {
		if msg, ok := t.ref.rejects(t); ok {
			return msg, true
		}
	}
	if !t.rejected {
		return "", false
	}
	return fmt.Sprintf("%s: canary %d of %d events on %.1f%% of the traffic, at or past the boundary %d (conditional tail probability %.2g; alpha spent %.2g of %.2g)",
		t.metric, t.evC, t.evC+t.evB, 100*float64(t.nC)/float64(max(t.nC+t.nB, 1)), t.live.boundary, t.live.tail, t.live.spent, t.alpha), true
}

func (t *seqTest) evidence() map[string]any {
	ev := map[string]any{
		"statistic":         "canary events given each interval's events (exact conditional test, alpha spent over canary requests)",
		"boundary":          t.live.boundary,
		"tail_probability":  t.live.tail,
		"alpha":             t.alpha,
		"alpha_spent":       t.live.spent,
		"alpha_allowed":     min(t.live.allowance(t.nC), t.alpha),
		"canary_events":     t.evC,
		"baseline_events":   t.evB,
		"canary_requests":   t.nC,
		"baseline_requests": t.nB,
		"mode":              t.mode,
	}
	if t.ref.intervals > 0 || t.mode == modeReference {
		ev["reference"] = t.ref.evidence(t)
	}
	return ev
}

func (s *sequential) Observe(iv Interval) {
	s.n++
	evidence := map[string]any{"interval": s.n, "canary_requests": iv.Canary.Requests, "baseline_requests": iv.Baseline.Requests}
	var boundDec *Decision
	if s.bounds != nil {
		s.bounds.Observe(iv)
		d := s.bounds.Decide()
		boundDec = &d
		evidence["bounds"] = d.Evidence
	}
	if iv.Canary.Requests < int64(s.a.MinSamples) {
		if boundDec != nil && boundDec.Verdict == Rollback {
			s.last = *boundDec
			return
		}
		s.last = s.nd.decide(evidence, fmt.Sprintf("canary had %d requests (< min_samples %d)", iv.Canary.Requests, s.a.MinSamples), &s.failures, s.a.Failures)
		return
	}
	tests := map[string]any{}
	var rejected, nodata []string
	for _, t := range s.tests {
		counted, why := t.observe(iv)
		ev := t.evidence()
		if !counted {
			// In either mode a test that could not count is no data: at a
			// 100% step the reference mode counts, and an interval it
			// cannot count (no steady-state reference) is missing data.
			ev["not_counted"] = why
			nodata = append(nodata, t.metric+": "+why)
		}
		tests[t.metric] = ev
		if msg, ok := t.rejects(); ok {
			rejected = append(rejected, msg)
		}
	}
	evidence["mode"] = modeOf(iv)
	evidence["tests"] = tests
	sort.Strings(rejected)
	if boundDec != nil && boundDec.Verdict == Pause {
		nodata = append(nodata, "bounds: "+boundDec.Reason)
	}
	switch {
	case len(rejected) > 0:
		s.last = Decision{Verdict: Rollback, Reason: "sequential test rejected: " + strings.Join(rejected, "; "), Evidence: evidence}
	case boundDec != nil && boundDec.Verdict == Rollback:
		s.last = Decision{Verdict: Rollback, Reason: boundDec.Reason, Evidence: evidence}
	case len(nodata) > 0:
		// A test, or a bound, had nothing to count: on_no_data decides,
		// as in every judge, rather than the hold advancing in silence.
		s.last = s.nd.decide(evidence, strings.Join(nodata, "; "), &s.failures, s.a.Failures)
	default:
		s.nd.reset()
		reason := "no test has enough evidence against the canary"
		if boundDec != nil && boundDec.Reason != "all checks passed" {
			reason += "; bounds: " + boundDec.Reason
		}
		s.last = Decision{Verdict: Continue, Reason: reason, Evidence: evidence}
	}
}

func (s *sequential) Decide() Decision { return s.last }
