package judgesim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/drillhq/drill/harness/judge"
	"github.com/drillhq/drill/harness/metrics"
	"gonum.org/v1/gonum/stat/distuv"
)

// Traffic is the request stream both versions receive.
type Traffic struct {
	TotalRPS          float64       // requests per second to the service, both versions
	CanaryWeight      float64       // fraction of TotalRPS routed to the canary
	Interval          time.Duration // analysis interval: one window per side per interval
	BaselineErrorRate float64       // probability that a baseline request fails
	LatencyMedian     time.Duration // median of the lognormal latency
	LatencySigma      float64       // sigma of the latency's natural log
	// SteadyState is how long the baseline takes all the traffic before
	// the canary starts; its window is the judges' Reference.
	SteadyState time.Duration
}

// DefaultTraffic returns the traffic model described in the package
// documentation: 1000 requests/s, 10% canary, 250 ms intervals, 0.1%
// errors, lognormal latency with median 20 ms and sigma 0.5.
func DefaultTraffic() Traffic {
	return Traffic{
		TotalRPS:          1000,
		CanaryWeight:      0.10,
		Interval:          250 * time.Millisecond,
		BaselineErrorRate: 0.001,
		LatencyMedian:     20 * time.Millisecond,
		LatencySigma:      0.5,
		SteadyState:       10 * time.Second,
	}
}

// PerInterval returns the mean number of requests the baseline and the
// canary receive per analysis interval.
func (t Traffic) PerInterval() (baseline, canary float64) {
	s := t.Interval.Seconds()
	return t.TotalRPS * (1 - t.CanaryWeight) * s, t.TotalRPS * t.CanaryWeight * s
}

// LatencyQuantile returns the latency quantile at standard normal score z
// (0 for the median, 2.326 for p99) of the baseline, scaled by factor for
// a canary that multiplies latencies.
func (t Traffic) LatencyQuantile(z, factor float64) time.Duration {
	return time.Duration(float64(t.LatencyMedian) * math.Exp(t.LatencySigma*z) * factor)
}

// Validate reports a traffic model that cannot be simulated.
func (t Traffic) Validate() error {
	switch {
	case t.TotalRPS <= 0:
		return fmt.Errorf("total rate must be positive, got %g", t.TotalRPS)
	case t.CanaryWeight <= 0 || t.CanaryWeight >= 1:
		return fmt.Errorf("canary weight must be in (0, 1), got %g", t.CanaryWeight)
	case t.Interval <= 0:
		return fmt.Errorf("interval must be positive, got %v", t.Interval)
	case t.BaselineErrorRate < 0 || t.BaselineErrorRate > 1:
		return fmt.Errorf("baseline error rate must be in [0, 1], got %g", t.BaselineErrorRate)
	case t.LatencyMedian <= 0 || t.LatencySigma < 0:
		return fmt.Errorf("latency median must be positive and sigma non-negative")
	case t.SteadyState < 0:
		return fmt.Errorf("steady state must not be negative, got %v", t.SteadyState)
	}
	return nil
}

// Describe returns the traffic model in words, with the numbers it
// implies, for the top of a printout.
func (t Traffic) Describe() string {
	b, c := t.PerInterval()
	var s strings.Builder
	fmt.Fprintf(&s, "Traffic model: %g requests/s in total; canary weight %g%% -> %g canary requests/s, %g baseline requests/s.\n",
		t.TotalRPS, t.CanaryWeight*100, t.TotalRPS*t.CanaryWeight, t.TotalRPS*(1-t.CanaryWeight))
	fmt.Fprintf(&s, "Arrivals are Poisson: per %v analysis interval, baseline ~ Poisson(%g), canary ~ Poisson(%g).\n",
		t.Interval, b, c)
	fmt.Fprintf(&s, "Each request fails (500) with probability p (baseline p = %g%%); latency is lognormal, median %v, sigma %g,\n",
		t.BaselineErrorRate*100, t.LatencyMedian, t.LatencySigma)
	fmt.Fprintf(&s, "failed requests included: baseline p50 %v, p99 %v. A latency xF canary multiplies every latency by F.\n",
		t.LatencyQuantile(0, 1).Round(100*time.Microsecond), t.LatencyQuantile(z99, 1).Round(100*time.Microsecond))
	fmt.Fprintf(&s, "Steady state first: %v of baseline alone at %g requests/s, one window: every interval's Reference (LiveBaseline true).\n",
		t.SteadyState, t.TotalRPS)
	fmt.Fprintf(&s, "Outcomes go through a metrics.Recorder on a simulated clock, cut once per interval into the judge's Interval.")
	return s.String()
}

// Side is how the canary differs from the baseline.
type Side struct {
	ErrorRate     float64 // probability that a canary request fails
	LatencyFactor float64 // every canary latency is multiplied by it; 0 means 1
	// FullLoadOnly: the defect shows only once the canary takes all the
	// traffic (a blue-green after the switch; a pool that runs dry at
	// full load); before, the canary is the baseline.
	FullLoadOnly bool
	// SharedErrorRate, when set, is a fault both versions share from the
	// canary's start (a dependency both call): the baseline's requests
	// fail at this rate too, while the steady-state Reference, taken
	// before, does not. A judge that compares with the live baseline sees
	// no difference; one that trusts the Reference sees a bad canary.
	SharedErrorRate float64
}

// Stream generates, interval by interval, the windows a router would
// record for the baseline and the canary.
type Stream struct {
	tr      Traffic
	canary  Side
	rng     *rand.Rand
	src     *rand.PCG
	lambdaB float64
	lambdaC float64
	rec     *metrics.Recorder
	now     time.Time
	// Reference is the baseline's window over the steady state.
	Reference metrics.Window
	// Elapsed is the simulated time since the canary started.
	Elapsed time.Duration
	// switched: all the traffic goes to the canary, and an interval has
	// no live baseline (a blue-green's post_switch).
	switched bool
}

// Preview makes the stream a blue-green preview from the next interval
// on: the baseline (blue) takes all of the traffic's TotalRPS, and the
// canary (green) a synthetic load of rps beside it.
func (s *Stream) Preview(rps float64) {
	sec := s.tr.Interval.Seconds()
	s.lambdaB, s.lambdaC = s.tr.TotalRPS*sec, rps*sec
}

// Switch sends all the traffic to the canary from the next interval on.
// The baseline has none left: an interval's LiveBaseline is false and its
// Baseline the steady-state Reference, as the harness passes them at a
// 100% step.
func (s *Stream) Switch() {
	s.lambdaB, s.lambdaC = 0, s.tr.TotalRPS*s.tr.Interval.Seconds()
	s.switched = true
}

// NewStream returns a stream of the traffic with the canary side given,
// drawing from a PCG source seeded with (seed1, seed2). It simulates the
// steady state at once; Next simulates the rollout's intervals.
func NewStream(tr Traffic, canary Side, seed1, seed2 uint64) *Stream {
	if canary.LatencyFactor == 0 {
		canary.LatencyFactor = 1
	}
	src := rand.NewPCG(seed1, seed2)
	b, c := tr.PerInterval()
	s := &Stream{tr: tr, canary: canary, rng: rand.New(src), src: src, lambdaB: b, lambdaC: c, now: t0}
	s.rec = metrics.NewRecorder("judgesim")
	s.rec.Declare(LabelBaseline)
	s.rec.Declare(LabelCanary)
	// The first windows start at the steady state's start, not at
	// time.Now(). One window over the whole steady state is what merging
	// its intervals would give (the same histogram geometry), for one Cut.
	s.rec.Cut(t0.Add(-tr.SteadyState))
	s.record(LabelBaseline, s.poisson(tr.TotalRPS*tr.SteadyState.Seconds()), tr.BaselineErrorRate, 1)
	for _, w := range s.rec.Cut(t0) {
		if w.Label == LabelBaseline {
			s.Reference = w
		}
	}
	return s
}

// poisson draws a Poisson count with mean lambda.
func (s *Stream) poisson(lambda float64) int {
	if lambda <= 0 {
		return 0
	}
	return int(distuv.Poisson{Lambda: lambda, Src: s.src}.Rand())
}

// record draws n requests of one side into the recorder.
func (s *Stream) record(label string, n int, errRate, factor float64) {
	scale := float64(s.tr.LatencyMedian) * factor
	for range n {
		o := metrics.Outcome{Status: 200}
		if s.rng.Float64() < errRate {
			o.Status = 500
		}
		o.Latency = time.Duration(scale * math.Exp(s.tr.LatencySigma*s.rng.NormFloat64()))
		s.rec.Record(label, o)
	}
}

// Next simulates one analysis interval and returns what the judge
// observes at its end.
func (s *Stream) Next() judge.Interval {
	nb, nc := s.poisson(s.lambdaB), s.poisson(s.lambdaC)
	s.record(LabelBaseline, nb, max(s.tr.BaselineErrorRate, s.canary.SharedErrorRate), 1)
	if c := s.canary; c.FullLoadOnly && !s.switched {
		s.record(LabelCanary, nc, s.tr.BaselineErrorRate, 1)
	} else {
		s.record(LabelCanary, nc, c.ErrorRate, c.LatencyFactor)
	}
	s.now = s.now.Add(s.tr.Interval)
	s.Elapsed += s.tr.Interval
	iv := judge.Interval{At: s.now, LiveBaseline: !s.switched, Reference: s.Reference}
	for _, w := range s.rec.Cut(s.now) {
		switch w.Label {
		case LabelBaseline:
			iv.Baseline = w
		case LabelCanary:
			iv.Canary = w
		}
	}
	if s.switched {
		iv.Baseline = s.Reference
	}
	return iv
}
