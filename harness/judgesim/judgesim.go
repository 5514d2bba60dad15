// Package judgesim is a seeded simulation of canary analysis: it feeds
// every registered judge (judge.Names) synthetic streams of request
// outcomes, with no service and no network, and measures how fast each one
// rolls back a bad canary, how often it rolls back a good one, and how
// long a good one takes to be promoted.
//
// # Traffic model
//
// With the defaults (DefaultTraffic):
//
//   - 1000 requests/s in total; the canary's weight is 10%, so the canary
//     receives 100 requests/s and the baseline 900 requests/s.
//   - Arrivals are a Poisson process: in each analysis interval (250 ms by
//     default; a parameter) the baseline receives Poisson(225) requests
//     and the canary Poisson(25), drawn independently.
//   - Each request fails (HTTP 500) independently with probability p
//     (baseline p = 0.1%) and otherwise answers 200.
//   - Each request's latency is lognormal, median 20 ms and sigma 0.5 (of
//     the latency's natural log), failed requests included, so the
//     baseline p99 is 20 ms·e^(0.5·2.326) ≈ 64.0 ms.
//   - Before the canary starts, a steady state of 10 s sends all 1000
//     requests/s to the baseline; that window (about 10 000 requests) is
//     every interval's Reference, as the drill's steady state is
//     (harness/run.go). During a canary's rollout the baseline is live:
//     LiveBaseline is true throughout (the canary never reaches 100%).
//     A blue-green case (BlueGreen) has a preview, green alone at a
//     synthetic rate beside blue's whole traffic (LiveBaseline true),
//     then post_switch, green at 100% (LiveBaseline false, Baseline the
//     Reference): the judges' reference mode.
//   - A bad canary differs in p (1% or 5% instead of 0.1%) or multiplies
//     every latency by a factor (×1.5, so every quantile, p99 included, is
//     1.5× the baseline's: ≈ 96.0 ms). A good canary, and the A/A case, is
//     identical to the baseline. The shared-fault A/A case has both
//     versions fail 1% from the canary's start (a dependency both call),
//     against the Reference's 0.1%.
//
// Outcomes go through a real metrics.Recorder driven by a simulated clock:
// one Cut per analysis interval yields the baseline's and the canary's
// windows, which are handed to the judge as one judge.Interval, exactly
// as the drill's rollout loop does (harness/run.go).
//
// # Rollout model
//
// The canary holds 10% from its first interval on, for one step of Hold
// (60 s). After each interval the judge decides: Rollback ends the run,
// Continue advances the hold by one interval, Pause does not (as in the
// rollout loop). A run ends at the first Rollback, when the hold is
// complete (promoted), or at Limit of simulated time (a bad canary not
// rolled back within 60 s is missed; a good one neither rolled back nor
// promoted within Limit is stalled).
//
// # Reproducibility
//
// Every run draws from its own PCG stream (math/rand/v2) seeded from the
// seed, the case's name and the run's number (RunSeed), so a run does not
// depend on the order or the parallelism runs execute in, and every judge
// sees the very same request streams (common random numbers: differences
// between judges are the judges', not the dice's). RunCase goes further:
// it simulates each run's stream once and hands every interval to all the
// judges (SimulateAll), which gives each judge the result it would get
// alone, for a third of the simulation's cost with three judges.
package judgesim

import (
	"fmt"
	"hash/fnv"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/drillhq/drill/harness/judge"
	"github.com/drillhq/drill/harness/metrics"
	"gonum.org/v1/gonum/stat/distuv"
)

// z99 is the standard normal quantile of 0.99.
const z99 = 2.3263478740408408

// Labels the recorder's windows carry.
const (
	LabelBaseline = "baseline"
	LabelCanary   = "canary"
)

// t0 is when every simulated run starts; the date does not matter, a fixed
// one keeps windows (and so judges' evidence) reproducible.
var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// Analysis returns the analysis every judge runs with; each judge reads
// the fields it knows:
//
//   - threshold: metrics error_rate (max_increase 0.5%) and latency_p99
//     (max_ratio 1.2), failures 2, min_samples 10;
//   - mann-whitney: the same metric checks (weight 1 each), failures 2,
//     pass_score 95, marginal_score 75;
//   - sequential: metrics error_rate and latency_p99 as tests (max_ratio
//     1.2 is latency_p99's tolerance; max_increase is not used),
//     false_positive_rate 1%.
//
// All of them: the given interval, on_no_data pause, min_samples 10.
func Analysis(judgeName string, interval time.Duration) judge.Config {
	return judge.Config{
		Interval:          interval,
		Judge:             judgeName,
		FalsePositiveRate: 0.01,
		Failures:          2,
		MinSamples:        10,
		PassScore:         95,
		MarginalScore:     75,
		OnNoData:          judge.NoDataPause,
		Metrics: []*judge.Check{
			{Metric: metrics.ErrorRate, MaxIncrease: &metrics.Value{V: 0.005, Raw: "0.5%"}, Weight: 1},
			{Metric: metrics.LatencyP99, MaxRatio: &metrics.Value{V: 1.2, Raw: "1.2"}, Weight: 1},
		},
	}
}

// DescribeAnalysis returns the analysis in the words a scenario would
// write it.
func DescribeAnalysis(a judge.Config) string {
	var ms []string
	for _, c := range a.Metrics {
		m := c.Metric
		if c.Max != nil {
			m += " max " + c.Max.Raw
		}
		if c.MaxIncrease != nil {
			m += " max_increase " + c.MaxIncrease.Raw
		}
		if c.MaxRatio != nil {
			m += " max_ratio " + c.MaxRatio.Raw
		}
		ms = append(ms, m)
	}
	return fmt.Sprintf("interval %v; metrics {%s}; failures %d; min_samples %d; pass_score %g / marginal_score %g; false_positive_rate %g%%; on_no_data %s",
		a.Interval, strings.Join(ms, "}, {"), a.Failures, a.MinSamples, a.PassScore, a.MarginalScore, a.FalsePositiveRate*100, a.OnNoData)
}

// Kind is what a case measures.
type Kind int

// Kinds of case.
const (
	// Bad: the canary is worse; measure detection.
	Bad Kind = iota
	// Good: the canary is the baseline; measure time to promote.
	Good
	// AA: the canary is the baseline; measure the false-rollback rate.
	AA
)

// Case is one simulated scenario, run Runs times.
type Case struct {
	Name   string
	Kind   Kind
	Canary Side
	Runs   int
	// Hold is the rollout's one step: the canary is promoted once the
	// judge has let Hold of intervals pass (paused intervals do not
	// count).
	Hold time.Duration
	// Limit caps the simulated time of a run.
	Limit time.Duration
	// BlueGreen, when set, makes the case a blue-green release: a preview
	// of BlueGreen.Preview, then post_switch; Hold is then unused (see
	// BlueGreen).
	BlueGreen *BlueGreen
}

// Rollout is the hold of every case, and the detection cap of bad ones.
const Rollout = 60 * time.Second

// Cases returns the standard cases: three bad canaries (runs each, capped
// at 60 s), a good canary (runs, 60 s rollout, stalled after 120 s),
// A/A and A/A under a fault both versions share (aaRuns each, the same).
func Cases(tr Traffic, runs, aaRuns int) []Case {
	p := tr.BaselineErrorRate
	return []Case{
		{Name: "errors 1%", Kind: Bad, Canary: Side{ErrorRate: 0.01}, Runs: runs, Hold: Rollout, Limit: Rollout},
		{Name: "errors 5%", Kind: Bad, Canary: Side{ErrorRate: 0.05}, Runs: runs, Hold: Rollout, Limit: Rollout},
		{Name: "latency x1.5", Kind: Bad, Canary: Side{ErrorRate: p, LatencyFactor: 1.5}, Runs: runs, Hold: Rollout, Limit: Rollout},
		{Name: "good canary", Kind: Good, Canary: Side{ErrorRate: p}, Runs: runs, Hold: Rollout, Limit: 2 * Rollout},
		{Name: "A/A", Kind: AA, Canary: Side{ErrorRate: p}, Runs: aaRuns, Hold: Rollout, Limit: 2 * Rollout},
		// A fault on a dependency both versions call, from the canary's
		// start: both fail 1% against the Reference's 0.1%. Not the
		// canary's doing, so a rollback is a false one.
		{Name: "A/A shared errors 1%", Kind: AA, Canary: Side{ErrorRate: 0.01, SharedErrorRate: 0.01}, Runs: aaRuns, Hold: Rollout, Limit: 2 * Rollout},
	}
}

// Result is one simulated run.
type Result struct {
	RolledBack bool
	Promoted   bool
	// At is the simulated time from the canary's start to the end of the
	// run: the rollback, the promotion, or the limit.
	At        time.Duration
	Intervals int
	Paused    int // intervals the judge paused
	// CanaryRequests and CanaryFailed count the canary's requests until
	// the end of the run.
	CanaryRequests, CanaryFailed int64
	// Excess is the canary's failures above what the baseline's
	// configured failure rate predicts for the same requests.
	Excess float64
	// Switched says a blue-green run switched to green (SwitchAt, from
	// the green's start); a rollback after it was decided in post_switch,
	// against the steady-state Reference.
	Switched bool
	SwitchAt time.Duration
	Reason   string // the last decision's reason
	Err      string // the judge panicked
	// JudgeTime is the wall time spent in the judge's Observe and Decide:
	// the only field that is not reproducible.
	JudgeTime time.Duration
}

// Factory builds a fresh judge for one run.
type Factory func() (judge.Judge, error)

// JudgeFactory returns the factory of a judge registered in package judge.
func JudgeFactory(name string, a judge.Config) Factory {
	return func() (judge.Judge, error) { return judge.New(name, a) }
}

// Simulate runs one run of a case for one judge: observe, decide, until a
// rollback, a promotion or the limit.
func Simulate(j judge.Judge, s *Stream, c Case) Result {
	if c.BlueGreen != nil {
		return simulateBlueGreen(j, s, c)
	}
	return SimulateAll([]judge.Judge{j}, s, c)[0]
}

// SimulateAll runs one run of a case for several judges on one stream:
// each interval is simulated once and observed by every judge still
// running, and each judge's run ends at its own rollback, promotion or the
// limit. The stream does not depend on the judges' decisions (the canary's
// weight is fixed), so every result is the one Simulate would give for the
// judge alone. A judge that panics ends its run with Err set. A blue-green
// case cannot share a stream (the switch is each judge's own): SimulateAll
// panics on one; RunCase and Simulate run it one judge to a stream.
func SimulateAll(js []judge.Judge, s *Stream, c Case) []Result {
	if c.BlueGreen != nil {
		panic("judgesim: SimulateAll of a blue-green case; use Simulate per judge")
	}
	rs := make([]Result, len(js))
	held := make([]time.Duration, len(js))
	done := make([]bool, len(js))
	active := len(js)
	for active > 0 && s.Elapsed < c.Limit {
		iv := s.Next()
		for k, j := range js {
			if done[k] {
				continue
			}
			r := &rs[k]
			if r.tally(j, iv, s.Elapsed) {
				held[k] += s.tr.Interval
				r.Promoted = held[k] >= c.Hold
			}
			if r.Err != "" || r.RolledBack || r.Promoted {
				done[k] = true
				active--
			}
		}
	}
	for k := range rs {
		rs[k].Excess = float64(rs[k].CanaryFailed) - float64(rs[k].CanaryRequests)*s.tr.BaselineErrorRate
	}
	return rs
}

// tally adds one interval's canary traffic and j's verdict on it to r,
// at elapsed time at. It returns true when the interval counts toward
// the hold: the judge neither failed, rolled back nor paused.
func (r *Result) tally(j judge.Judge, iv judge.Interval, at time.Duration) bool {
	r.Intervals++
	r.CanaryRequests += iv.Canary.Requests
	r.CanaryFailed += iv.Canary.Failed
	r.At = at
	d, err := observe(j, iv, &r.JudgeTime)
	r.Reason = d.Reason
	switch {
	case err != "":
		r.Err = err
	case d.Verdict == judge.Rollback:
		r.RolledBack = true
	case d.Verdict == judge.Pause:
		r.Paused++
	default:
		return true
	}
	return false
}

// observe feeds one interval to j and returns its decision, adding the time
// it took to *spent; err is set when the judge panicked.
func observe(j judge.Judge, iv judge.Interval, spent *time.Duration) (d judge.Decision, err string) {
	start := time.Now()
	defer func() {
		*spent += time.Since(start)
		if p := recover(); p != nil {
			err = fmt.Sprint(p)
		}
	}()
	j.Observe(iv)
	return j.Decide(), ""
}

// RunSeed returns the PCG seed of one run: a function of the seed, the
// case's name and the run's number only.
func RunSeed(seed uint64, caseName string, run int) (uint64, uint64) {
	h := fnv.New64a()
	h.Write([]byte(caseName))
	return splitmix64(seed ^ h.Sum64()), splitmix64(seed + uint64(run)*0x9e3779b97f4a7c15)
}

// splitmix64 scrambles nearby seeds into unrelated ones.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// Judged is a judge to simulate.
type Judged struct {
	Name string
	New  Factory
}

// CaseRuns is every run of one case.
type CaseRuns struct {
	// Results holds, per judge in the order given, every run's result in
	// run order; they do not depend on the number of workers.
	Results [][]Result
	// StreamTime is the time spent simulating the streams, summed over
	// workers; every judge shares it.
	StreamTime time.Duration
	// Intervals counts the intervals simulated: per run, as many as the
	// judge that ran longest observed.
	Intervals int
}

// RunCase runs every run of a case for every judge, on workers goroutines
// (GOMAXPROCS when workers <= 0). Each run's stream is simulated once and
// observed by all the judges (SimulateAll).
func RunCase(judges []Judged, tr Traffic, c Case, seed uint64, workers int) (CaseRuns, error) {
	if err := tr.Validate(); err != nil {
		return CaseRuns{}, err
	}
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	// Build each judge once up front, so that a judge that cannot be built
	// fails once, not once per run.
	for _, j := range judges {
		if _, err := j.New(); err != nil {
			return CaseRuns{}, fmt.Errorf("judge %s: %w", j.Name, err)
		}
	}
	out := CaseRuns{Results: make([][]Result, len(judges))}
	for k := range out.Results {
		out.Results[k] = make([]Result, c.Runs)
	}
	var mu sync.Mutex
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(workers, max(c.Runs, 1)) {
		wg.Go(func() {
			var spent time.Duration
			intervals := 0
			for i := range next {
				js := make([]judge.Judge, len(judges))
				for k, j := range judges {
					var err error
					if js[k], err = j.New(); err != nil {
						js[k] = failed{err}
					}
				}
				start := time.Now()
				rs, n := runOne(js, tr, c, seed, i)
				var judging time.Duration
				for k, r := range rs {
					out.Results[k][i] = r
					judging += r.JudgeTime
				}
				spent += time.Since(start) - judging
				intervals += n
			}
			mu.Lock()
			out.StreamTime += spent
			out.Intervals += intervals
			mu.Unlock()
		})
	}
	for i := range c.Runs {
		next <- i
	}
	close(next)
	wg.Wait()
	return out, nil
}

// runOne simulates run i of a case for every judge: one stream shared by
// all of them, or for a blue-green case one stream each from the same
// seed. It returns the results and the intervals simulated.
func runOne(js []judge.Judge, tr Traffic, c Case, seed uint64, i int) ([]Result, int) {
	s1, s2 := RunSeed(seed, c.Name, i)
	if c.BlueGreen == nil {
		s := NewStream(tr, c.Canary, s1, s2)
		return SimulateAll(js, s, c), int(s.Elapsed / tr.Interval)
	}
	rs := make([]Result, len(js))
	n := 0
	for k, j := range js {
		s := NewStream(tr, c.Canary, s1, s2)
		rs[k] = simulateBlueGreen(j, s, c)
		n += int(s.Elapsed / tr.Interval)
	}
	return rs, n
}

// failed stands in for a judge whose factory failed in one run: it panics
// at its first interval, so that the run reports the error.
type failed struct{ err error }

func (f failed) Observe(judge.Interval) { panic(f.err.Error()) }
func (f failed) Decide() judge.Decision { return judge.Decision{} }

// Summary aggregates a case's runs.
type Summary struct {
	Case     Case
	Runs     int
	Detected int // rolled back (a false rollback for Good and AA cases)
	// DetectMean and DetectP95 are over the rolled-back runs, from the
	// canary's start.
	DetectMean, DetectP95 time.Duration
	// DetectP95Lo and DetectP95Hi bound a 95% confidence interval for the
	// p95 (distribution-free, from order statistics: a p95 from 200 runs
	// is good to a few intervals, not to one); DetectP95Hi is 0 when the
	// runs are too few to bound it from above.
	DetectP95Lo, DetectP95Hi time.Duration
	// ExcessMean is the mean over every run of its excess failed canary
	// requests until the run ended (rollback or limit).
	ExcessMean float64
	Promoted   int
	// PromoteMean is over the promoted runs.
	PromoteMean time.Duration
	Stalled     int // neither rolled back nor promoted within the limit
	// DetectedAfterSwitch counts, for a blue-green case, the rollbacks
	// decided in post_switch (against the Reference);
	// DetectAfterSwitchMean is their mean time from the switch.
	DetectedAfterSwitch   int
	DetectAfterSwitchMean time.Duration
	PausedMean            float64
	Errors                int
	FirstErr              string
	// JudgeTime sums the runs' JudgeTime: time in the judge, against the
	// simulation's own.
	JudgeTime time.Duration
}

// DetectedRate is the fraction of runs rolled back.
func (s Summary) DetectedRate() float64 {
	if s.Runs == 0 {
		return 0
	}
	return float64(s.Detected) / float64(s.Runs)
}

// Aggregate summarizes the results of a case.
func Aggregate(c Case, rs []Result) Summary {
	s := Summary{Case: c, Runs: len(rs)}
	var detect, promote, afterSwitch []time.Duration
	var excess, paused float64
	for _, r := range rs {
		if r.Err != "" {
			s.Errors++
			if s.FirstErr == "" {
				s.FirstErr = r.Err
			}
		}
		switch {
		case r.RolledBack && r.Switched:
			detect = append(detect, r.At)
			afterSwitch = append(afterSwitch, r.At-r.SwitchAt)
		case r.RolledBack:
			detect = append(detect, r.At)
		case r.Promoted:
			promote = append(promote, r.At)
		case r.Err == "":
			s.Stalled++
		}
		excess += r.Excess
		paused += float64(r.Paused)
		s.JudgeTime += r.JudgeTime
	}
	s.Detected, s.Promoted = len(detect), len(promote)
	s.DetectMean, s.DetectP95 = mean(detect), percentile(detect, 0.95)
	s.DetectP95Lo, s.DetectP95Hi = quantileCI(detect, 0.95, 0.95)
	s.PromoteMean = mean(promote)
	s.DetectedAfterSwitch, s.DetectAfterSwitchMean = len(afterSwitch), mean(afterSwitch)
	if len(rs) > 0 {
		s.ExcessMean = excess / float64(len(rs))
		s.PausedMean = paused / float64(len(rs))
	}
	return s
}

func mean(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return sum / time.Duration(len(ds))
}

// percentile returns the nearest-rank q-quantile of ds, 0 for none.
func percentile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := int(math.Ceil(q * float64(len(s))))
	return s[max(rank, 1)-1]
}

// quantileCI returns order statistics X(l) ≤ X(u) of ds that bracket its
// q-quantile with confidence at least conf, whatever the distribution:
// the quantile lies between them unless fewer than l or at least u of
// the draws fall below it, and the count below it is Binomial(n, q).
// hi is 0 when no order statistic is high enough (too few draws), lo 0
// when none is low enough.
func quantileCI(ds []time.Duration, q, conf float64) (lo, hi time.Duration) {
	n := len(ds)
	if n == 0 {
		return 0, 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	b := distuv.Binomial{N: float64(n), P: q}
	tail := (1 - conf) / 2
	// l: the largest rank with P(count ≤ l−1) ≤ tail; u: the smallest
	// with P(count ≤ u−1) ≥ 1 − tail.
	l, u := 0, n+1
	for k := 1; k <= n; k++ {
		if b.CDF(float64(k-1)) <= tail {
			l = k
		}
		if u == n+1 && b.CDF(float64(k-1)) >= 1-tail {
			u = k
		}
	}
	if l > 0 {
		lo = s[l-1]
	}
	if u <= n {
		hi = s[u-1]
	}
	return lo, hi
}
