package judgesim

import (
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/drillhq/drill/harness/judge"
	"github.com/drillhq/drill/harness/metrics"
)

// within fails unless got is within tol of want.
func within(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol {
		t.Errorf("%s = %.6g, want %.6g ± %.3g", what, got, want, tol)
	} else {
		t.Logf("%s = %.6g (want %.6g ± %.3g)", what, got, want, tol)
	}
}

// fast is the default traffic with a 2 s steady state: tests that do not
// read the reference spend less time building it (under -race especially).
func fast() Traffic {
	tr := DefaultTraffic()
	tr.SteadyState = 2 * time.Second
	return tr
}

// TestStreamWindows checks the shape of what a judge observes at the
// default interval: one window per side per interval, back to back, after
// the steady state's reference.
func TestStreamWindows(t *testing.T) {
	t.Parallel()
	tr := DefaultTraffic()
	s := NewStream(tr, Side{ErrorRate: tr.BaselineErrorRate}, 3, 4)
	ref := s.Reference
	if got := ref.End.Sub(ref.Start); got != tr.SteadyState || ref.Label != LabelBaseline {
		t.Errorf("reference %q spans %v, want the baseline over %v", ref.Label, got, tr.SteadyState)
	}
	lr := tr.TotalRPS * tr.SteadyState.Seconds() // 10 000
	within(t, "reference requests", float64(ref.Requests), lr, 6*math.Sqrt(lr))
	within(t, "reference p99 (ms)", float64(ref.Quantile(0.99))/1e6, float64(tr.LatencyQuantile(z99, 1))/1e6, 8)
	prev := ref.End
	const n = 40
	var nb, nc int64
	for i := range n {
		iv := s.Next()
		for _, w := range []metrics.Window{iv.Baseline, iv.Canary} {
			if !w.Start.Equal(prev) || w.End.Sub(w.Start) != tr.Interval {
				t.Fatalf("interval %d: %s window %v..%v, want %v from %v", i, w.Label, w.Start, w.End, tr.Interval, prev)
			}
		}
		if !iv.At.Equal(iv.Canary.End) || iv.Canary.Label != LabelCanary || iv.Baseline.Label != LabelBaseline {
			t.Fatalf("interval %d: At %v, windows %q..%v and %q", i, iv.At, iv.Canary.Label, iv.Canary.End, iv.Baseline.Label)
		}
		if !iv.LiveBaseline || iv.Reference.Requests != ref.Requests {
			t.Fatalf("interval %d: LiveBaseline %v, reference of %d requests; want true, %d", i, iv.LiveBaseline, iv.Reference.Requests, ref.Requests)
		}
		if iv.Canary.Hist.Count() != iv.Canary.Requests || iv.Baseline.Hist.Count() != iv.Baseline.Requests {
			t.Fatalf("interval %d: histograms hold %d/%d latencies for %d/%d requests", i,
				iv.Canary.Hist.Count(), iv.Baseline.Hist.Count(), iv.Canary.Requests, iv.Baseline.Requests)
		}
		prev = iv.At
		nb, nc = nb+iv.Baseline.Requests, nc+iv.Canary.Requests
	}
	if s.Elapsed != n*tr.Interval {
		t.Errorf("elapsed = %v, want %v", s.Elapsed, n*tr.Interval)
	}
	lb, lc := tr.PerInterval()
	if lb != 225 || lc != 25 {
		t.Errorf("per interval: %g baseline, %g canary; want 225 and 25", lb, lc)
	}
	within(t, "baseline requests in 40 intervals", float64(nb), n*lb, 6*math.Sqrt(n*lb))
	within(t, "canary requests in 40 intervals", float64(nc), n*lc, 6*math.Sqrt(n*lc))
}

// TestStreamHasTheConfiguredRates checks the simulated streams against the
// traffic model over 250 s of traffic (225k baseline, 25k canary
// requests). It cuts 10 s intervals rather than 250 ms ones: the stream's
// code is the same (only the Poisson means scale), and a thousand Cuts
// would take seconds under -race. Tolerances are six standard errors (or
// more) of each estimate, so a correct stream fails with probability far
// below 1e-6 whatever the seed.
func TestStreamHasTheConfiguredRates(t *testing.T) {
	t.Parallel()
	tr := fast()
	tr.Interval = 10 * time.Second
	const n = 25
	s := NewStream(tr, Side{ErrorRate: 0.05, LatencyFactor: 1.5}, 7, 11)
	var bs, cs []metrics.Window
	for range n {
		iv := s.Next()
		bs, cs = append(bs, iv.Baseline), append(cs, iv.Canary)
	}
	b, c := metrics.Merge(bs...), metrics.Merge(cs...)
	lb, lc := tr.PerInterval() // 9000, 1000
	within(t, "baseline requests", float64(b.Requests), n*lb, 6*math.Sqrt(n*lb))
	within(t, "canary requests", float64(c.Requests), n*lc, 6*math.Sqrt(n*lc))

	// Errors: binomial counts.
	pb := tr.BaselineErrorRate
	within(t, "baseline error rate", b.ErrorRate(), pb, 6*math.Sqrt(pb*(1-pb)/float64(b.Requests)))
	within(t, "canary error rate", c.ErrorRate(), 0.05, 6*math.Sqrt(0.05*0.95/float64(c.Requests)))

	// Latency: median 20 ms, p99 ≈ 64 ms; the canary ×1.5 everywhere. The
	// standard error of the baseline's median is about 0.02 ms, of its
	// p99 about 0.3 ms; the histogram adds 0.1%.
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	within(t, "baseline median (ms)", ms(b.Quantile(0.5)), 20, 0.2)
	within(t, "baseline p99 (ms)", ms(b.Quantile(0.99)), ms(tr.LatencyQuantile(z99, 1)), 0.02*64)
	within(t, "canary median (ms)", ms(c.Quantile(0.5)), 30, 0.5)
	within(t, "canary p99 / baseline p99", float64(c.Quantile(0.99))/float64(b.Quantile(0.99)), 1.5, 0.06)
}

// TestArrivalsArePoisson checks the arrival counts' mean and variance at
// the default interval's means: both are λ for a Poisson count (a fixed
// count, or a normal approximation gone wrong, would fail the variance).
func TestArrivalsArePoisson(t *testing.T) {
	s := NewStream(fast(), Side{}, 5, 6)
	const n = 20000
	for _, lambda := range []float64{225, 25} {
		var sum, sq float64
		for range n {
			x := float64(s.poisson(lambda))
			sum += x
			sq += x * x
		}
		m := sum / n
		v := (sq - n*m*m) / (n - 1)
		within(t, fmt.Sprintf("Poisson(%g) mean", lambda), m, lambda, 6*math.Sqrt(lambda/n))
		// The sample variance's standard error is about λ·√(2/n) + √(λ/n).
		within(t, fmt.Sprintf("Poisson(%g) variance", lambda), v, lambda, 6*(lambda*math.Sqrt(2.0/n)+math.Sqrt(lambda/n)))
	}
}

func TestDescribeStatesTheModel(t *testing.T) {
	got := DefaultTraffic().Describe()
	for _, want := range []string{"1000 requests/s", "canary weight 10%", "100 canary requests/s", "250ms", "Poisson(225)", "Poisson(25)", "0.1%", "median 20ms", "sigma 0.5", "p99 64ms"} {
		if !strings.Contains(got, want) {
			t.Errorf("Describe() lacks %q:\n%s", want, got)
		}
	}
}

func threshold(t *testing.T) Judged {
	t.Helper()
	f := JudgeFactory("threshold", Analysis("threshold", DefaultTraffic().Interval))
	if _, err := f(); err != nil {
		t.Fatal(err)
	}
	return Judged{Name: "threshold", New: f}
}

func TestSameSeedSameResult(t *testing.T) {
	t.Parallel()
	tr := fast()
	th := threshold(t)
	c := Cases(tr, 4, 4)[0] // errors 1%
	run := func(seed uint64, workers int) []Result {
		out, err := RunCase([]Judged{th}, tr, c, seed, workers)
		if err != nil {
			t.Fatal(err)
		}
		return reproducible(out.Results[0]...)
	}
	a, b := run(42, 1), run(42, 3)
	if !reflect.DeepEqual(a, b) {
		t.Errorf("same seed, 1 vs 3 workers: results differ\n%+v\n%+v", a, b)
	}
	if !reflect.DeepEqual(Aggregate(c, a), Aggregate(c, b)) {
		t.Errorf("same seed: summaries differ")
	}

	// A single run, replayed.
	s1, s2 := RunSeed(42, c.Name, 3)
	j1, _ := th.New()
	j2, _ := th.New()
	r1 := reproducible(Simulate(j1, NewStream(tr, c.Canary, s1, s2), c))[0]
	r2 := reproducible(Simulate(j2, NewStream(tr, c.Canary, s1, s2), c))[0]
	if !reflect.DeepEqual(r1, r2) || !reflect.DeepEqual(r1, a[3]) {
		t.Errorf("run 3 replayed: %+v, %+v, RunCase had %+v", r1, r2, a[3])
	}

	// Another seed draws other streams.
	counts := func(seed uint64) []int64 {
		s1, s2 := RunSeed(seed, c.Name, 0)
		s := NewStream(tr, c.Canary, s1, s2)
		var out []int64
		for range 20 {
			iv := s.Next()
			out = append(out, iv.Baseline.Requests, iv.Canary.Requests)
		}
		return out
	}
	if reflect.DeepEqual(counts(42), counts(43)) {
		t.Errorf("seeds 42 and 43 drew the same 20 intervals")
	}
	// Runs and cases draw distinct streams too.
	x1, x2 := RunSeed(42, c.Name, 0)
	if y1, y2 := RunSeed(42, c.Name, 1); x1 == y1 && x2 == y2 {
		t.Errorf("runs 0 and 1 share a seed")
	}
	if y1, y2 := RunSeed(42, "A/A", 0); x1 == y1 && x2 == y2 {
		t.Errorf("two cases share a seed")
	}
}

// reproducible clears the one field that is not: the time spent judging.
func reproducible(rs ...Result) []Result {
	for i := range rs {
		rs[i].JudgeTime = 0
	}
	return rs
}

func TestTriviallyBadCanaryIsRolledBackByThreshold(t *testing.T) {
	t.Parallel()
	tr := fast()
	c := Case{Name: "errors 50%", Kind: Bad, Canary: Side{ErrorRate: 0.5}, Runs: 10, Hold: Rollout, Limit: Rollout}
	out, err := RunCase([]Judged{threshold(t)}, tr, c, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	rs := out.Results[0]
	for i, r := range rs {
		// Two failed error-rate checks (failures: 2) are two intervals;
		// allow two more for an interval short of min_samples.
		if !r.RolledBack || r.Intervals > 4 {
			t.Errorf("run %d: rolled back %v after %d intervals (%v): %s", i, r.RolledBack, r.Intervals, r.At, r.Reason)
		}
		if r.Excess <= 0 {
			t.Errorf("run %d: excess failed %v, want > 0 at 50%% errors", i, r.Excess)
		}
	}
	s := Aggregate(c, rs)
	if s.DetectedRate() != 1 || s.DetectP95 > time.Second {
		t.Errorf("summary: detected %v, p95 %v; want 100%% within 1s", s.DetectedRate(), s.DetectP95)
	}
}

// scripted is a judge that answers a fixed sequence of verdicts, then
// repeats the last.
type scripted struct {
	vs []judge.Verdict
	n  int
}

func (s *scripted) Observe(judge.Interval) { s.n++ }
func (s *scripted) Decide() judge.Decision {
	return judge.Decision{Verdict: s.vs[min(s.n, len(s.vs))-1]}
}

func TestSimulateFollowsTheRolloutLoop(t *testing.T) {
	t.Parallel()
	tr := fast()
	c := Case{Name: "x", Kind: Good, Hold: 2 * time.Second, Limit: 4 * time.Second}
	run := func(vs ...judge.Verdict) Result {
		return Simulate(&scripted{vs: vs}, NewStream(tr, Side{ErrorRate: tr.BaselineErrorRate}, 1, 2), c)
	}
	if r := run(judge.Continue); !r.Promoted || r.At != 2*time.Second || r.Intervals != 8 {
		t.Errorf("always continue: %+v, want promoted at 2s after 8 intervals", r)
	}
	// Paused intervals do not advance the hold.
	if r := run(judge.Pause, judge.Pause, judge.Pause, judge.Pause, judge.Continue); !r.Promoted || r.At != 3*time.Second || r.Paused != 4 {
		t.Errorf("4 pauses then continue: %+v, want promoted at 3s with 4 paused", r)
	}
	if r := run(judge.Pause); r.Promoted || r.RolledBack || r.At != 4*time.Second || r.Intervals != 16 {
		t.Errorf("always pause: %+v, want stalled at the 4s limit", r)
	}
	if r := run(judge.Continue, judge.Continue, judge.Rollback); !r.RolledBack || r.At != 750*time.Millisecond || r.Intervals != 3 {
		t.Errorf("rollback at the third interval: %+v, want rolled back at 750ms", r)
	}
	// A panicking judge is reported, not fatal.
	if r := Simulate(panicky{}, NewStream(tr, Side{}, 1, 2), c); r.Err == "" {
		t.Errorf("panicking judge: %+v, want Err set", r)
	}
}

// TestSharedStreamGivesEachJudgeItsOwnResult checks that judges observing
// one stream together get what each would alone.
func TestSharedStreamGivesEachJudgeItsOwnResult(t *testing.T) {
	t.Parallel()
	tr := fast()
	th := threshold(t)
	c := Cases(tr, 2, 2)[2] // latency x1.5
	c.Limit = 1500 * time.Millisecond
	judges := func() []judge.Judge {
		j, _ := th.New()
		return []judge.Judge{
			&scripted{vs: []judge.Verdict{judge.Continue}}, // runs to the limit (hold 60s)
			j,
			&scripted{vs: []judge.Verdict{judge.Pause, judge.Continue, judge.Rollback}},
			panicky{},
		}
	}
	for run := range 2 {
		s1, s2 := RunSeed(9, c.Name, run)
		together := reproducible(SimulateAll(judges(), NewStream(tr, c.Canary, s1, s2), c)...)
		for k, j := range judges() {
			alone := reproducible(Simulate(j, NewStream(tr, c.Canary, s1, s2), c))[0]
			if !reflect.DeepEqual(together[k], alone) {
				t.Errorf("run %d judge %d: together %+v, alone %+v", run, k, together[k], alone)
			}
		}
	}
	out, err := RunCase([]Judged{th, th}, tr, c, 9, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(reproducible(out.Results[0]...), reproducible(out.Results[1]...)) {
		t.Errorf("the same judge twice got different results")
	}
	if out.Intervals == 0 || out.StreamTime <= 0 {
		t.Errorf("intervals %d, stream time %v; want both counted", out.Intervals, out.StreamTime)
	}
}

type panicky struct{}

func (panicky) Observe(judge.Interval) { panic("boom") }
func (panicky) Decide() judge.Decision { return judge.Decision{} }

func TestAggregate(t *testing.T) {
	c := Case{Name: "x", Kind: Bad, Runs: 5}
	s := Aggregate(c, []Result{
		{RolledBack: true, At: 1 * time.Second, Excess: 2},
		{RolledBack: true, At: 3 * time.Second, Excess: 4},
		{RolledBack: true, At: 2 * time.Second, Excess: 3},
		{Promoted: true, At: 60 * time.Second, Excess: 1},
		{At: 60 * time.Second, Excess: 0},
	})
	if s.Runs != 5 || s.Detected != 3 || s.Promoted != 1 || s.Stalled != 1 {
		t.Errorf("counts: %+v", s)
	}
	if s.DetectMean != 2*time.Second || s.DetectP95 != 3*time.Second || s.PromoteMean != 60*time.Second {
		t.Errorf("times: mean %v p95 %v promote %v", s.DetectMean, s.DetectP95, s.PromoteMean)
	}
	if s.ExcessMean != 2 || s.DetectedRate() != 0.6 {
		t.Errorf("excess %v, rate %v", s.ExcessMean, s.DetectedRate())
	}
}

func TestEveryRegisteredJudgeBuildsFromItsAnalysis(t *testing.T) {
	for _, name := range judge.Names() {
		if _, err := judge.New(name, Analysis(name, DefaultTraffic().Interval)); err != nil {
			t.Errorf("judge %s: %v", name, err)
		}
	}
}

// BenchmarkStreamNext is the simulation's own cost per analysis interval
// (about 250 requests and one Cut at the defaults).
func BenchmarkStreamNext(b *testing.B) {
	s := NewStream(DefaultTraffic(), Side{ErrorRate: 0.001}, 1, 2)
	b.ReportAllocs()
	for b.Loop() {
		s.Next()
	}
}

// BenchmarkNewStream is the cost of a run's setup: the recorder and the
// 10 s steady state.
func BenchmarkNewStream(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		NewStream(DefaultTraffic(), Side{ErrorRate: 0.001}, 1, 2)
	}
}

// TestQuantileCI: for 200 draws the 95% interval of the p95 runs from the
// 184th to the 197th order statistic (P(Binomial(200, 0.95) ≤ 183) =
// 0.0238 ≤ 0.025 < P(≤ 184) = 0.0444; P(≤ 195) = 0.9736 < 0.975 ≤
// P(≤ 196) = 0.9910; coverage 0.967); with 10 draws there is no upper
// bound.
func TestQuantileCI(t *testing.T) {
	ds := make([]time.Duration, 200)
	for i := range ds {
		ds[i] = time.Duration(200-i) * time.Millisecond // unsorted on purpose
	}
	lo, hi := quantileCI(ds, 0.95, 0.95)
	if lo != 184*time.Millisecond || hi != 197*time.Millisecond {
		t.Errorf("200 draws: (%v, %v), want (184ms, 197ms)", lo, hi)
	}
	if _, hi := quantileCI(ds[:10], 0.95, 0.95); hi != 0 {
		t.Errorf("10 draws: upper bound %v, want none", hi)
	}
}
