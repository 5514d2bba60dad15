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
		"Kayenta's method on blocks: each side pools intervals into non-overlapping blocks with the requests every metric needs (a canary p99 from 100; the baseline's blocks twice the canary's); as a canary block closes, per metric a one-sided Mann-Whitney U test of its last 30 block values against the baseline's, the pooled shift against the tolerance; a weighted 0–100 score banded by pass_score / marginal_score; rolls back after `failures` failing evaluations",
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

// mwLookback is how many of the canary's most recent blocks a metric's
// test looks at. Kayenta judges a fixed window; a sliding one of 30 blocks
// (a minute at the bench's 2 s blocks) holds enough samples for the test
// to see a shift that shows in only part of the blocks (an error rate of
// 1% leaves one block of 200 requests in seven without a failure), and is
// still short enough that a regression is not diluted by a long healthy
// past.
const mwLookback = 30

// mwBaselineFactor is how many times the canary's block requests a live
// baseline block holds: more than the canary's, so that a healthy canary's
// block values read no higher than the baseline's (see the type's
// comment).
const mwBaselineFactor = 2

// mwMaxBaselineBlocks bounds the baseline blocks a test compares with: a
// 1% canary beside a baseline with 99% of the traffic would otherwise
// bring fifty baseline blocks for each of its own.
const mwMaxBaselineBlocks = 10 * mwLookback

// mwMinBlocks is the fewest blocks a side needs before a metric is tested
// at all: the verdict must not rest on one or two blocks of the canary's,
// and the normal approximation (used whenever values tie) is poor below
// it. More are needed when a complete separation would not be significant
// yet (mwTestable).
const mwMinBlocks = 3

// mwErrorBlock is the requests a block needs for error_rate when no
// max_increase says what resolution matters: 100 measure the rate in steps
// of 1%.
const mwErrorBlock = 100

// mwMaxBlock caps the requests a canary block waits for: a max_increase of
// 0.01% would ask for 10 000, minutes of a small canary's traffic in every
// sample.
const mwMaxBlock = 1000

// mwExactMax is the largest sample per side for which, without ties, the
// p-value comes from the exact null distribution of U. Up to it the dynamic
// programme is cheap (at most 21·21 arrays of 401 counts, all exact in a
// float64), and it is where the normal approximation is worst: at 5 against
// 5 it says p ≈ 0.006 for a complete separation whose exact one-sided p is
// 0.004. Beyond it the normal approximation is good, the table's cost grows
// as n⁴, and at 30 a side its counts (up to C(60, 30) ≈ 1.2e17) are no
// longer exact in a float64.
const mwExactMax = 20

// Metric classes, as Kayenta names them.
const (
	mwHigh   = "high"    // significantly worse than the baseline beyond the tolerance, or above max
	mwLow    = "low"     // significantly below the baseline; reported, and counts as passing
	mwPass   = "pass"    // no significant difference (or one within the tolerance)
	mwNoData = "no-data" // not testable yet: not scored (the warm-up or on_no_data decides)
)

// Where a metric's class comes from, in the evidence.
const (
	mwEvaluated = "evaluated"  // a canary block closed (or an absolute max was judged) this interval
	mwCarried   = "carried"    // from the last evaluation: the next canary block is filling
	mwMissing   = "no-data"    // no data this interval: on_no_data decides
	mwWarming   = "warming-up" // too few blocks yet to test: the judge's own lag
)

// Score bands.
const (
	mwBandPass     = "pass"
	mwBandMarginal = "marginal"
	mwBandFail     = "fail"
)

// mwSample is one block's value of one metric; ok is false when the block
// has none (too few requests, no value of an Extra metric in any of its
// intervals, not finite).
type mwSample struct {
	v  float64
	ok bool
}

// mwBlock is one side's block being filled: its intervals since its last
// block closed, merged, and the sums of the Extra metrics' values.
type mwBlock struct {
	w         metrics.Window
	sum       []float64 // per check of a.Metrics: an Extra metric's values, summed
	n         []int     // and how many there were
	intervals int
	from      int // the block's first interval (1-based)
}

// mwClosed is one closed block of one side: its merged window (pooled
// with the others to measure a shift), every check's value, and the
// intervals it spans.
type mwClosed struct {
	w        metrics.Window
	vals     []mwSample
	from, to int
}

// mannWhitney is Kayenta's style of analysis on blocks of intervals.
//
// Blocks. A p99 of the 25 requests a 10% canary takes in 250 ms is its
// largest latency, and an error rate of 25 requests is 0 or at least 4%:
// per-interval values are no samples of those metrics. So each side pools
// consecutive intervals into a block until it holds the requests every
// metric needs (mwBlockNeed: 100 for a p99, as the threshold judge asks;
// 1/max_increase for an error rate; at least min_samples), closes it, and
// starts the next. A block's value of a metric is one sample: the metric
// computed on the block's merged window (every request in it, not an
// average of intervals), or for an Extra metric (cpu, rss, invariants) the
// mean of its intervals' values. A side's blocks do not overlap, so their
// values are independent samples, as a rank test assumes; pooling a sliding
// run of intervals instead would count each interval in several samples.
//
// Each side closes its own blocks, the baseline's at mwBaselineFactor
// times the canary's requests. With a 10% canary the baseline takes nine
// times the traffic and closes several blocks for each of the canary's, and
// the test compares the canary's values with several times as many
// baseline values: most of its power comes from there (blocks shared by
// both sides, each closing once the canary's had enough, caught the
// bench's 1% error canary within 60 s in 1995 and 1997 of 2000 runs at
// 250 ms and 1 s intervals; per side, in 2000 of 2000 at both). Larger,
// because a rank test of block values is fair only if a healthy canary's
// values are not systematically higher than the baseline's, and the
// smaller a block the more its value scatters: at an error rate of 0.1% a
// canary block of 212 requests with one failure reads 0.47% where a
// baseline block of 225 with one reads 0.44%. With blocks of the same size
// a healthy canary failed the error-rate test without tolerance in 6% of
// simulated 75 s rollouts of the bench's traffic. With the baseline's
// blocks twice as large, a healthy canary's blocks read 0 more often than
// they read high (at 0.1%, 81% of blocks of 212 requests have no failure,
// 64% of 450), and its sample quantiles sit lower (a sample quantile of n
// requests sits on average at the level q·n/(n+1)): the test errs towards
// passing a healthy canary (0.7% of those rollouts).
//
// Tests. When a canary block closes, every metric's canary values over its
// last mwLookback blocks are compared with the live baseline blocks of the
// same span (at least the last mwLookback of them, at most
// mwMaxBaselineBlocks) by a one-sided Mann-Whitney U test: is the canary
// higher? A metric is high when the test is significant and its shift
// exceeds the check's tolerance (max_increase, max_ratio; any increase
// without either). The shift of a router metric is measured on the blocks
// pooled (the canary's error rate over all its blocks' requests against
// the baseline's; the p99 of all its blocks' latencies against the
// baseline's), as Kayenta measures the effect size on the means, not on
// the ranks: it is the metric the bound was written for, and the most
// precise estimate of it. An Extra metric's shift is the Hodges-Lehmann
// estimate of its block values. The metrics' classes make a weighted 0–100
// score, and a score below marginal_score is a failed evaluation; the judge
// rolls back once `failures` evaluations have failed (counted over the
// whole rollout).
//
// False positives. α (false_positive_rate) is split evenly over the
// metrics tested at an evaluation (Bonferroni), and each test is
// one-sided at its share, because only "higher" fails a canary. Block
// values are independent and a healthy canary's read no higher than the
// baseline's, so one evaluation fails a canary that is no worse than the
// baseline with probability at most about α (less: a metric must also
// exceed its tolerance). A metric is tested once per canary block, and an
// evaluation counted once, never again on the same data while the next
// block fills. Over a rollout, though, the judge tests again at every
// canary block, and consecutive tests share all but one of their canary
// blocks: their errors are correlated, not independent, and the judge does
// not bound the rollout-wide false-rollback rate by α. What keeps it low is
// `failures` failed evaluations and the tolerance on the pooled shift; make
// bench-judge's A/A rows measure it. Without the tolerances its error-rate
// and p99 tests rolled back 1% of 2000 A/A canaries in 60 s at 250 ms
// intervals, but 8.9% of A/A blue-green releases, where full load closes a
// canary block, and runs a test, every interval. Spending α over the tests
// instead (the t-th at α/(t(t+1)), say), which bounds the whole rollout by
// α, was tried on the bench's traffic and cost too much: it missed the 1%
// error canary within 60 s in 1 to 3 runs of 1000, and spending α evenly
// over the first 30 tests took 14 s instead of 9 to catch errors 5%. The
// sequential judge holds α under continuous monitoring.
//
// Between blocks. While the next canary block fills, each metric keeps the
// class of the last evaluation and the judge goes on: a block in progress
// is not missing data, and pausing until it closes would stall every hold
// for the length of a block. An interval that brings a metric no data
// (fewer than min_samples requests on a side it needs, no value of an
// Extra metric) is no data under on_no_data, whatever the block: pause,
// fail (a failed evaluation) or pass (said so). A failing evaluation is
// never masked by no data. Until a metric can first be tested (a router
// metric's first canary block; a relative bound's mwTestable blocks) the
// judge pauses whatever on_no_data says: that is its own lag, not missing
// data.
//
// Reference mode (no live baseline: a canary's 100% step, a blue-green's
// post_switch). Baseline blocks close only with a live baseline. Without
// one Interval.Baseline is the steady-state reference, one window: not a
// distribution of block values. So the canary is then compared with the
// baseline's last live blocks — the step before the 100% one, or blue's
// live traffic during a blue-green preview — frozen from the switch on.
// The canary's blocks start afresh at the switch (its open block is
// dropped), so that what is tested after it is the canary's new blocks
// only: its blocks from before were taken at another share of the traffic
// and judged already, against a live baseline; mixed in, they would dilute
// a regression that shows only at full load. The judge pauses while its
// first blocks fill, as at the start. Fewer than mwMinBlocks live baseline
// blocks (a rollout that went to 100% at once, a blue-green without a
// preview) leave relative bounds without data, which on_no_data decides;
// absolute bounds are still judged.
type mannWhitney struct {
	a         Config
	window    []bool      // per check: a router metric (from the windows), not an Extra one
	need      []int64     // per check: the requests a canary block needs for its value
	blockNeed int64       // the most any check needs: a canary block closes at it
	alphaWarm float64     // α's share if every check is tested: the warm-up's yardstick
	cblock    mwBlock     // the canary's block being filled
	bblock    mwBlock     // the live baseline's
	canary    mwBlocks    // the last mwLookback blocks of the current mode
	baseline  mwBlocks    // live blocks in the canary's span (see mwSpan), frozen without a live baseline
	results   []*mwResult // per check, the last evaluation
	// evaluatedAt is the interval of the last evaluation (0: none yet in
	// this mode).
	evaluatedAt int
	failures    int
	nd          noDataPolicy
	intervals   int
	live        bool // the mode of the intervals the canary's blocks hold
	since       int  // the interval the current mode began at (1-based)
	last        Decision
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
	m := &mannWhitney{
		a:         a,
		window:    make([]bool, len(a.Metrics)),
		need:      make([]int64, len(a.Metrics)),
		nd:        noDataPolicy{policy: a.OnNoData},
		last:      Decision{Verdict: Continue, Reason: "no interval observed yet"},
		alphaWarm: a.FalsePositiveRate / float64(max(len(a.Metrics), 1)),
	}
	// Every value, an Extra metric's too, counts only from a side that took
	// min_samples requests (a canary without traffic has no cpu of a
	// canary under load, nor invariants of its writes), so that is the
	// least a block holds.
	m.blockNeed = int64(a.MinSamples)
	for i, c := range a.Metrics {
		m.window[i] = slices.Contains(metrics.MetricNames(), c.Metric)
		if m.window[i] {
			m.need[i] = mwBlockNeed(c, a.MinSamples)
			m.blockNeed = max(m.blockNeed, m.need[i])
		}
	}
	m.resetResults()
	return m
}

// mwBlockNeed is the requests a canary block needs for a router metric's
// value to mean something: for a latency quantile those quantileSamples
// asks (one request above the quantile: a p99 of fewer is a maximum); for
// error_rate enough that one failure is at most max_increase (a block of 25
// requests measures the rate in steps of 4%, and its single failure would
// be eight times a 0.5% tolerance); at least min_samples, at most
// mwMaxBlock.
func mwBlockNeed(c *Check, minSamples int) int64 {
	need := quantileSamples(c.Metric)
	if c.Metric == metrics.ErrorRate {
		need = mwErrorBlock
		if c.MaxIncrease != nil && c.MaxIncrease.V > 0 {
			need = int64(math.Ceil(min(1/c.MaxIncrease.V, mwMaxBlock) - epsilon))
		}
	}
	return min(max(int64(minSamples), need), mwMaxBlock)
}

// mwTestable says whether n1 canary and n2 baseline values can be tested
// at level alpha: at least mwMinBlocks a side, and enough that a complete
// separation, the strongest evidence they can give (one-sided exact
// p = 1/C(n1+n2, n1)), would be significant. Testing earlier could only
// ever say "pass", which would look like evidence.
func mwTestable(n1, n2 int, alpha float64) bool {
	if n1 < mwMinBlocks || n2 < mwMinBlocks {
		return false
	}
	c := 1.0 // C(n2+k, k), k = 0..n1
	for k := 1; k <= n1; k++ {
		c = c * float64(n2+k) / float64(k)
	}
	return 1/c < alpha
}

// mwRelative says whether a check compares the canary with the baseline
// by a bound of its own (max_increase, max_ratio).
func mwRelative(c *Check) bool { return c.MaxIncrease != nil || c.MaxRatio != nil }

// Decide returns the decision made by the last Observe.
func (m *mannWhitney) Decide() Decision { return m.last }

// mwResult is one metric's evaluation over the blocks.
type mwResult struct {
	check    *Check
	key      string    // its name in the evidence
	window   bool      // a router metric: its shift is pooled
	canary   []float64 // the block values tested, sorted
	baseline []float64
	tested   bool // the sides had mwTestable values: test, hl, shift and base are set
	test     mwTest
	hl       float64 // Hodges-Lehmann shift of the block values
	// shift is what the tolerance is compared with, over base (the
	// baseline's level, for max_ratio): for a router metric the pooled
	// canary value minus the pooled baseline value, else hl over the
	// baseline's median.
	shift, base      float64
	pooledC, pooledB float64 // the pooled values of a router metric, when tested
	medCanary        float64 // the canary's median block value; set when len(canary) > 0
	alpha            float64 // the level of this evaluation's tests
	maxHigh          bool    // the canary's latest value is above the absolute max
	warming          string  // why the metric cannot be tested yet (its blocks are filling)
	class            string
	status           string // mwEvaluated, mwCarried, mwMissing or mwWarming, for this interval
	noData           string // why this interval has no data for it
	highDetail       string // what made it high, for the reason
}

// resetResults starts every metric over: before its first canary block a
// router metric, and before its first test a relative bound, is warming
// up; an Extra metric's absolute max is judged from the first interval.
func (m *mannWhitney) resetResults() {
	m.results = make([]*mwResult, len(m.a.Metrics))
	keys := map[string]bool{}
	for i, c := range m.a.Metrics {
		r := &mwResult{check: c, window: m.window[i], key: c.Metric}
		// Two checks of one metric (say, a max and a max_ratio written
		// apart) must not overwrite each other's evidence.
		if keys[r.key] {
			r.key = fmt.Sprintf("%s#%d", c.Metric, i+1)
		}
		keys[r.key] = true
		if m.window[i] || mwRelative(c) {
			r.warming = "no canary block closed yet"
		}
		m.results[i] = r
	}
	m.evaluatedAt = 0
}

// Observe adds the interval to each side's block, evaluates every metric
// when a canary block closes, and decides.
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
		"baseline_samples":  "the live baseline's blocks",
	}
	if !iv.LiveBaseline {
		// The Reference in Baseline is not what the test compares with.
		evidence["baseline_requests"] = int64(0)
		evidence["baseline_samples"] = "the last live-baseline blocks before the switch (no live baseline is left)"
		evidence["canary_samples_since"] = m.since
	}
	if len(m.a.Metrics) == 0 {
		m.last = Decision{Verdict: Continue, Reason: "no metrics to judge", Evidence: evidence}
		return
	}
	closed := m.add(iv)
	if closed {
		m.evaluate()
	}
	evidence["blocks"] = m.blockEvidence(closed)
	fresh := closed
	var nodata, warming []string
	perMetric := map[string]any{}
	for i, r := range m.results {
		if !m.window[i] && r.check.Max != nil {
			// An absolute max is a bound, not a hypothesis: an Extra
			// metric's is judged on each interval's value (one with data),
			// at once (an invariant's count of corrupt rows must not wait
			// for a block).
			if v, ok := iv.sideValue(r.check.Metric, true); ok && iv.Canary.Requests >= int64(m.a.MinSamples) && !math.IsNaN(v) && !math.IsInf(v, 0) {
				r.maxHigh = v > r.check.Max.V+epsilon
				if r.maxHigh {
					r.highDetail = fmt.Sprintf("%s > max %s", mwFmt(r.check.Metric, v), r.check.Max.Raw)
					fresh = true
				}
			}
		}
		mwClassify(r)
		r.noData = m.missing(iv, i)
		switch {
		case r.noData != "":
			r.status = mwMissing
			nodata = append(nodata, r.key+": "+r.noData)
		case r.class == mwNoData:
			r.status = mwWarming
			warming = append(warming, r.key+": "+r.warming)
		case closed || (!m.window[i] && r.maxHigh):
			r.status = mwEvaluated
		default:
			r.status = mwCarried
		}
		perMetric[r.key] = r.evidence()
	}
	evidence["metrics"] = perMetric
	if m.evaluatedAt > 0 {
		evidence["evaluated_at"] = m.evaluatedAt
	}
	sc, scored := m.scoreOf()
	switch {
	case scored && fresh && sc.band == mwBandFail:
		// A failing evaluation counts whatever else this interval lacks:
		// no data must never mask a failure.
		if len(nodata) == 0 {
			m.nd.reset()
		}
		m.decide(evidence, sc)
	case len(nodata) > 0:
		why := strings.Join(nodata, "; ")
		if scored {
			why += " (the other metrics: " + sc.why + ")"
		}
		m.noData(evidence, why)
	case len(warming) > 0:
		// No test yet: the judge's own lag, not missing data, so it pauses
		// whatever on_no_data says (with `fail` every canary would
		// otherwise be rolled back while its first blocks fill).
		m.nd.reset()
		what := "warming up"
		if m.since > 1 {
			what = "warming up after the switch to reference mode"
		}
		m.last = Decision{Verdict: Pause, Reason: fmt.Sprintf("%s: %s (canary block: %d of %d requests)", what, strings.Join(warming, "; "),
			m.cblock.w.Requests, m.blockNeed), Evidence: evidence}
	case fresh:
		m.nd.reset()
		m.decide(evidence, sc)
	default:
		// The next canary block is filling: the last evaluation stands.
		m.nd.reset()
		m.carry(evidence, sc)
	}
}

// switchMode starts the canary's blocks afresh for a new mode (see the
// type's comment); the baseline's closed blocks stay. Both open blocks
// are dropped: the canary's requests were taken at the other share, and a
// baseline block must not span a time without a live baseline.
func (m *mannWhitney) switchMode(live bool) {
	m.live, m.since = live, m.intervals
	m.canary = mwBlocks{}
	m.cblock, m.bblock = mwBlock{}, mwBlock{}
	m.resetResults()
}

// add adds the interval to each side's open block and closes a block
// once it holds its requests (a canary block blockNeed, a baseline block
// mwBaselineFactor times that). It returns whether a canary block closed.
func (m *mannWhitney) add(iv Interval) bool {
	if iv.LiveBaseline && m.addSide(&m.bblock, iv, false, mwBaselineFactor*m.blockNeed) {
		m.baseline.push(m.closeSide(&m.bblock))
	}
	if !m.addSide(&m.cblock, iv, true, m.blockNeed) {
		return false
	}
	m.canary.push(m.closeSide(&m.cblock))
	m.canary.drop(len(m.canary.blocks) - mwLookback)
	if iv.LiveBaseline {
		m.baseline.drop(mwSpan(m.baseline.blocks, m.canary.blocks[0].from))
	}
	return true
}

// mwSpan is how many of the oldest baseline blocks to drop so that those
// left compare with canary blocks from interval from on: the blocks ending
// at or after it, at least the last mwLookback, at most the last
// mwMaxBaselineBlocks. In reference mode the baseline's blocks are frozen:
// nothing is dropped.
func mwSpan(bs []mwClosed, from int) int {
	keep := len(bs)
	for keep > 0 && bs[len(bs)-keep].to < from {
		keep--
	}
	return len(bs) - min(max(keep, min(mwLookback, len(bs))), mwMaxBaselineBlocks)
}

// mwBlocks is one side's closed blocks, oldest first, with their pooled
// window kept as a sliding-window aggregate on two stacks: suffix[i]
// merges blocks[i:len(suffix)], back the blocks after those. Adding a
// block and dropping the oldest then cost a merge or two amortized, where
// pooling every block at every evaluation would merge 150 histograms at
// the bench's traffic each time.
type mwBlocks struct {
	blocks []mwClosed
	suffix []metrics.Window
	back   *metrics.Window
}

// push adds the newest block.
func (s *mwBlocks) push(b mwClosed) {
	s.blocks = append(s.blocks, b)
	w := b.w
	if s.back != nil {
		w = metrics.Merge(*s.back, b.w)
	}
	s.back = &w
}

// drop drops the k oldest blocks (none for k <= 0, all for k >= len).
func (s *mwBlocks) drop(k int) {
	for range min(max(k, 0), len(s.blocks)) {
		if len(s.suffix) == 0 {
			// Move every block to the front stack: the suffix merges.
			n := len(s.blocks)
			s.suffix = make([]metrics.Window, n)
			s.suffix[n-1] = s.blocks[n-1].w
			for i := n - 2; i >= 0; i-- {
				s.suffix[i] = metrics.Merge(s.blocks[i].w, s.suffix[i+1])
			}
			s.back = nil
		}
		s.blocks, s.suffix = s.blocks[1:], s.suffix[1:]
	}
}

// pooled is every block merged into one window.
func (s *mwBlocks) pooled() metrics.Window {
	switch {
	case len(s.suffix) == 0 && s.back == nil:
		return metrics.Window{}
	case len(s.suffix) == 0:
		return *s.back
	case s.back == nil:
		return s.suffix[0]
	}
	return metrics.Merge(s.suffix[0], *s.back)
}

// addSide adds one side of the interval to its block and says whether the
// block now holds need requests.
func (m *mannWhitney) addSide(b *mwBlock, iv Interval, canary bool, need int64) bool {
	w := iv.Baseline
	if canary {
		w = iv.Canary
	}
	if b.intervals == 0 {
		*b = mwBlock{w: w, sum: make([]float64, len(m.a.Metrics)), n: make([]int, len(m.a.Metrics)), from: m.intervals}
	} else {
		b.w = metrics.Merge(b.w, w)
	}
	b.intervals++
	for i, c := range m.a.Metrics {
		if v, ok := iv.sideValue(c.Metric, canary); !m.window[i] && ok && w.Requests >= int64(m.a.MinSamples) && !math.IsNaN(v) && !math.IsInf(v, 0) {
			b.sum[i] += v
			b.n[i]++
		}
	}
	return b.w.Requests >= need
}

// closeSide turns a side's full block into its values and starts the next.
func (m *mannWhitney) closeSide(b *mwBlock) mwClosed {
	c := mwClosed{w: b.w, vals: make([]mwSample, len(m.a.Metrics)), from: b.from, to: m.intervals}
	for i, ch := range m.a.Metrics {
		switch {
		case m.window[i]:
			// A value only from the requests the metric needs (a
			// baseline block holds twice the most any metric needs).
			v, ok := b.w.Value(ch.Metric)
			c.vals[i] = mwSample{v: v, ok: ok && b.w.Requests >= m.need[i] && !math.IsNaN(v) && !math.IsInf(v, 0)}
		case b.n[i] > 0:
			c.vals[i] = mwSample{v: b.sum[i] / float64(b.n[i]), ok: true}
		}
	}
	*b = mwBlock{}
	return c
}

// evaluate tests every metric, as a canary block has just closed.
func (m *mannWhitney) evaluate() {
	m.evaluatedAt = m.intervals
	var pooledC, pooledB *metrics.Window // merged lazily, once for every router metric
	pool := func(s *mwBlocks, into **metrics.Window) metrics.Window {
		if *into == nil {
			w := s.pooled()
			*into = &w
		}
		return **into
	}
	tested := 0
	for i, c := range m.a.Metrics {
		r := &mwResult{check: c, key: m.results[i].key, window: m.window[i]}
		for _, b := range m.canary.blocks {
			if s := b.vals[i]; s.ok {
				r.canary = append(r.canary, s.v)
			}
		}
		for _, b := range m.baseline.blocks {
			if s := b.vals[i]; s.ok {
				r.baseline = append(r.baseline, s.v)
			}
		}
		slices.Sort(r.canary)
		slices.Sort(r.baseline)
		if len(r.canary) > 0 {
			r.medCanary = mwMedian(r.canary)
		}
		// A router metric's absolute max is judged on the block just
		// closed, its latest value that means something.
		if last := m.canary.blocks[len(m.canary.blocks)-1].vals[i]; m.window[i] && c.Max != nil && last.ok && last.v > c.Max.V+epsilon {
			r.maxHigh = true
			r.highDetail = fmt.Sprintf("%s > max %s", mwFmt(c.Metric, last.v), c.Max.Raw)
		}
		m.results[i] = r
		if !mwTestable(len(r.canary), len(r.baseline), m.alphaWarm) {
			if mwRelative(c) {
				r.warming = fmt.Sprintf("%d canary and %d baseline blocks, too few for a test at α %s",
					len(r.canary), len(r.baseline), mwFmtP(m.alphaWarm))
			}
			continue
		}
		r.tested = true
		tested++
		r.test = mwUTest(r.canary, r.baseline)
		r.hl = mwHodgesLehmann(r.canary, r.baseline)
		r.shift, r.base = r.hl, mwMedian(r.baseline)
		if m.window[i] {
			r.pooledC, _ = pool(&m.canary, &pooledC).Value(c.Metric)
			r.pooledB, _ = pool(&m.baseline, &pooledB).Value(c.Metric)
			r.shift, r.base = r.pooledC-r.pooledB, r.pooledB
		}
	}
	// Bonferroni: the false-positive rate is the scenario's across all the
	// metrics tested at this evaluation, so each test gets its share. Only
	// metrics actually tested spend any of it.
	alpha := m.a.FalsePositiveRate / float64(max(tested, 1))
	for _, r := range m.results {
		r.alpha = alpha
	}
}

// missing says why the interval brings no data for check i, or "". Every
// metric needs min_samples canary requests, and for a relative bound
// min_samples live baseline requests (the threshold judge's meaning of no
// data, whatever the blocks); an Extra metric needs its values too. In
// reference mode a relative bound needs mwMinBlocks frozen live baseline
// blocks.
func (m *mannWhitney) missing(iv Interval, i int) string {
	c := m.a.Metrics[i]
	rel := mwRelative(c)
	if iv.Canary.Requests < int64(m.a.MinSamples) {
		return fmt.Sprintf("canary had %d requests (< min_samples %d)", iv.Canary.Requests, m.a.MinSamples)
	}
	if rel && iv.LiveBaseline && iv.Baseline.Requests < int64(m.a.MinSamples) {
		return fmt.Sprintf("baseline had %d requests (< min_samples %d)", iv.Baseline.Requests, m.a.MinSamples)
	}
	if !m.window[i] {
		if v, ok := iv.sideValue(c.Metric, true); !ok || math.IsNaN(v) || math.IsInf(v, 0) {
			return "no canary value"
		}
		if v, ok := iv.sideValue(c.Metric, false); rel && iv.LiveBaseline && (!ok || math.IsNaN(v) || math.IsInf(v, 0)) {
			return "no baseline value"
		}
	}
	if rel && !iv.LiveBaseline {
		n := 0
		for _, b := range m.baseline.blocks {
			if b.vals[i].ok {
				n++
			}
		}
		if n < mwMinBlocks {
			// Without a baseline only the absolute max can be judged; a
			// relative bound that cannot be is no data.
			return fmt.Sprintf("%d of %d baseline blocks from the live phase", n, mwMinBlocks)
		}
	}
	return ""
}

// mwClassify sets an evaluated metric's class.
func mwClassify(r *mwResult) {
	switch {
	case r.maxHigh:
		r.class = mwHigh
	case r.warming != "":
		r.class = mwNoData
	case !r.tested: // absolute-only, and within its max
		r.class = mwPass
	case r.test.PHigh < r.alpha && mwExceeds(r.check, r.shift, r.base):
		r.class = mwHigh
		r.highDetail = r.shiftDetail(r.test.PHigh)
	case r.test.PLow < r.alpha && r.shift < 0:
		r.class = mwLow
	default:
		r.class = mwPass
	}
}

// shiftDetail says how far the canary is from the baseline, for a reason.
func (r *mwResult) shiftDetail(p float64) string {
	if r.window {
		return fmt.Sprintf("%s vs %s over %d blocks, p=%s", mwFmt(r.check.Metric, r.pooledC), mwFmt(r.check.Metric, r.pooledB), len(r.canary), mwFmtP(p))
	}
	return fmt.Sprintf("HL %s, p=%s", mwSigned(r.check.Metric, r.hl), mwFmtP(p))
}

// mwExceeds reports whether the shift of the canary over the baseline
// (whose level is base) is more than the check tolerates. The test says
// whether the sides differ; the tolerance says whether the difference
// matters. Without a relative bound any increase matters.
func mwExceeds(c *Check, shift, base float64) bool {
	if c.MaxIncrease == nil && c.MaxRatio == nil {
		return shift > epsilon
	}
	if c.MaxIncrease != nil && shift > c.MaxIncrease.V+epsilon {
		return true
	}
	if c.MaxRatio != nil && base+shift > c.MaxRatio.V*base+epsilon {
		// As in the threshold judge, a latency ratio below the noise floor
		// measures the scheduler, not the release.
		if metrics.UnitOf(c.Metric) != metrics.UnitSeconds || shift >= latencyNoiseFloor-epsilon {
			return true
		}
	}
	return false
}

// evidence is a metric's part of the decision's evidence. Test results
// are present only when the test ran, so that a zero never reads as a
// measurement.
func (r *mwResult) evidence() map[string]any {
	c := r.check
	e := map[string]any{
		"class":      r.class,
		"status":     r.status,
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
		e["p_high"] = r.test.PHigh
		e["p_low"] = r.test.PLow
		e["exact"] = r.test.Exact
		e["alpha"] = r.alpha
		e["hodges_lehmann"] = r.hl
		e["median_baseline"] = mwMedian(r.baseline)
		e["shift"] = r.shift
		if r.window {
			e["pooled_canary"] = r.pooledC
			e["pooled_baseline"] = r.pooledB
		}
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
	if r.warming != "" {
		e["warming_up"] = r.warming
	}
	if r.noData != "" {
		e["no_data"] = r.noData
	}
	return e
}

// blockEvidence describes the blocks: how many each side has closed (in
// the test's span), and the open ones.
func (m *mannWhitney) blockEvidence(closed bool) map[string]any {
	return map[string]any{
		"canary_need":       m.blockNeed,
		"baseline_need":     mwBaselineFactor * m.blockNeed,
		"canary_closed":     closed,
		"canary":            len(m.canary.blocks),
		"baseline":          len(m.baseline.blocks),
		"canary_requests":   m.cblock.w.Requests,
		"baseline_requests": m.bblock.w.Requests,
	}
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
// weight of passing (pass or low) metrics over the weight of the metrics
// with a class, or 0 when a critical metric is high. A metric without a
// class (warming up) is not scored: on_no_data or the warm-up decides the
// interval. ok is false when no metric has a class.
func (m *mannWhitney) scoreOf() (mwScore, bool) {
	var total, passing float64
	var high, low, critical []string
	for _, r := range m.results {
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
			low = append(low, fmt.Sprintf("%s low (%s)", r.key, r.shiftDetail(r.test.PLow)))
		case mwHigh:
			high = append(high, fmt.Sprintf("%s high (%s)", r.key, r.highDetail))
			if r.check.Critical {
				critical = append(critical, r.key)
			}
		}
	}
	if total == 0 {
		return mwScore{}, false
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
	return s, true
}

// scoreEvidence adds an evaluation's score to the evidence.
func (m *mannWhitney) scoreEvidence(evidence map[string]any, s mwScore) {
	evidence["score"] = s.score
	evidence["band"] = s.band
	evidence["pass_score"] = m.a.PassScore
	evidence["marginal_score"] = m.a.MarginalScore
	evidence["failed_evaluations"] = m.failures
	evidence["failures_allowed"] = m.a.Failures
}

// decide records an evaluation: a failing band is one more failed
// evaluation, and the one that reaches `failures` rolls back; a marginal
// band goes on and says so.
func (m *mannWhitney) decide(evidence map[string]any, s mwScore) {
	if s.band == mwBandFail {
		m.failures++
	}
	m.scoreEvidence(evidence, s)
	switch {
	case s.band == mwBandFail && m.failures >= m.a.Failures:
		m.last = Decision{Verdict: Rollback, Reason: fmt.Sprintf("%d of %d allowed failed evaluations; last: %s", m.failures, m.a.Failures, s.why), Evidence: evidence}
	case s.band == mwBandFail:
		m.last = Decision{Verdict: Continue, Reason: fmt.Sprintf("evaluation failed (%d of %d allowed): %s", m.failures, m.a.Failures, s.why), Evidence: evidence}
	default:
		m.last = Decision{Verdict: Continue, Reason: s.why, Evidence: evidence}
	}
}

// carry goes on with the last evaluation while the next block fills. A
// failing one was counted when it was made; it is not counted again.
func (m *mannWhitney) carry(evidence map[string]any, s mwScore) {
	m.scoreEvidence(evidence, s)
	evidence["carried"] = true
	m.last = Decision{Verdict: Continue, Reason: fmt.Sprintf("%s (evaluated at interval %d; next canary block: %d of %d requests)",
		s.why, m.evaluatedAt, m.cblock.w.Requests, m.blockNeed), Evidence: evidence}
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
