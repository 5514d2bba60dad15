// Package judge decides, interval by interval, whether a canary may go on:
// the Judge interface, the Interval it observes, its Decision, the
// registry of judges, and the judges themselves (threshold, mann-whitney,
// sequential) with the on_no_data policy they share.
package judge

import (
	"fmt"
	"time"

	"github.com/drillhq/drill/harness/metrics"
	"github.com/drillhq/drill/internal/registry"
)

// Interval is what a judge observes once per analysis interval: the
// baseline's and the canary's windows at the rollout service's router,
// side by side in the same span of time.
type Interval struct {
	At       time.Time
	Baseline metrics.Window
	Canary   metrics.Window
	// Extra holds metrics that do not come from the router (invariants,
	// cpu, rss), keyed by metric name, per side.
	Extra map[string]SidePair
	// LiveBaseline is false when Baseline is not traffic of the same span
	// (at a 100% step no baseline traffic is left, and Baseline is the
	// steady-state reference): a judge that compares the two sides within
	// an interval has nothing to compare then.
	LiveBaseline bool
	// Reference is the baseline version at the router over the steady
	// state, fixed before the rollout: thresholds a test must not learn
	// from the data it tests (the baseline's p99, say) come from it.
	Reference metrics.Window
}

// SidePair is one metric's value on each side; ok is false for no data.
type SidePair struct {
	Baseline, Canary     float64
	BaselineOK, CanaryOK bool
}

// Verdict is a judge's decision.
type Verdict string

// Verdicts.
const (
	Continue Verdict = "continue" // keep going; the step's hold advances
	Pause    Verdict = "pause"    // no data under on_no_data: pause; the hold does not advance
	Rollback Verdict = "rollback" // the canary is bad
)

// Decision is a verdict with its evidence, journaled and reported so a
// reviewer can see why.
type Decision struct {
	Verdict  Verdict        `json:"verdict"`
	Reason   string         `json:"reason"`
	Evidence map[string]any `json:"evidence,omitempty"`
}

// Judge decides, interval by interval, whether a canary may go on.
type Judge interface {
	// Observe feeds one interval.
	Observe(iv Interval)
	// Decide returns the decision after the intervals observed so far.
	Decide() Decision
}

// Factory builds a judge from the scenario's analysis.
type Factory func(a Config) (Judge, error)

// Kind is one registered judge: how to build it and what the scenario
// loader asks of it.
type Kind struct {
	New Factory
	// Tests says whether the judge tests metric on its own terms, so that
	// a check of it needs no bound of the scenario's (the sequential
	// judge's error and latency tests); nil when every check needs one.
	Tests func(metric string) bool
	// Validate checks the analysis fields only this judge reads; nil when
	// it reads none. The loader reports each problem at its field.
	Validate func(a Config) []Problem
	// Needs says how many canary requests an analysis interval a check of
	// metric needs before the judge's value of it means anything, and why
	// (0: none beyond min_samples). The loader warns at the check when
	// the scenario's rate and weights give fewer, and runs it anyway. nil
	// for a judge that weighs whatever evidence it has (the sequential
	// judge counts slow requests, however few an interval holds).
	Needs func(metric string) (requests int, why string)
	// Unread says which bound fields of a check of metric the judge does
	// not read, and why, so that the loader can warn at a field the
	// scenario wrote in vain (the sequential judge's error test has no
	// tolerance: max_increase). nil when it reads every bound.
	Unread func(metric string) (fields []string, why string)
}

// Problem is a judge's objection to the analysis it would run with.
type Problem struct {
	// Fields are the analysis fields it is about, in the order the loader
	// looks for the one the scenario wrote (the problem is reported there).
	Fields    []string
	Msg, Hint string
}

var judges = registry.New[Kind]("judge")

// Register adds a judge under name; judges call it from init.
func Register(name, description string, k Kind) { judges.Register(name, description, k) }

// New builds the judge registered as name.
func New(name string, a Config) (Judge, error) {
	k, err := judges.Get(name)
	if err != nil {
		return nil, err
	}
	return k.New(a)
}

// Validate is what the judge called name objects to in a (nil for an
// unknown judge: the loader reports the name itself).
func Validate(name string, a Config) []Problem {
	k, err := judges.Get(name)
	if err != nil || k.Validate == nil {
		return nil
	}
	return k.Validate(a)
}

// Unbounded says whether a check of metric needs no bound under the judge
// called name (see Kind.Tests); false for an unknown judge.
func Unbounded(name, metric string) bool {
	k, err := judges.Get(name)
	return err == nil && k.Tests != nil && k.Tests(metric)
}

// Needs is what the judge called name needs of a check of metric (see
// Kind.Needs); 0 for a judge without the need, or an unknown judge.
func Needs(name, metric string) (int, string) {
	k, err := judges.Get(name)
	if err != nil || k.Needs == nil {
		return 0, ""
	}
	return k.Needs(metric)
}

// Unread is what the judge called name leaves unread of a check of
// metric (see Kind.Unread); nothing for an unknown judge.
func Unread(name, metric string) ([]string, string) {
	k, err := judges.Get(name)
	if err != nil || k.Unread == nil {
		return nil, ""
	}
	return k.Unread(metric)
}

// Names lists registered judges, sorted.
func Names() []string { return judges.Names() }

// Description returns the one-line description of a judge.
func Description(name string) string { return judges.Description(name) }

// withDefaults fills the analysis fields every judge reads with the
// loader's defaults when an Analysis built in Go (a test, the bench) left
// them zero: one rule for every judge, so that none counts failures, or
// tests at a false-positive rate, its own way.
func withDefaults(a Config) Config {
	if a.Failures <= 0 {
		a.Failures = DefaultFailures
	}
	if a.MinSamples <= 0 {
		a.MinSamples = DefaultMinSamples
	}
	if a.FalsePositiveRate <= 0 || a.FalsePositiveRate >= 1 {
		a.FalsePositiveRate = DefaultFalsePositiveRate
	}
	if a.OnNoData == "" {
		a.OnNoData = DefaultOnNoData
	}
	return a
}

// sideValue reads a metric for one side of an interval.
func (iv Interval) sideValue(metric string, canary bool) (float64, bool) {
	if p, ok := iv.Extra[metric]; ok {
		if canary {
			return p.Canary, p.CanaryOK
		}
		return p.Baseline, p.BaselineOK
	}
	w := iv.Baseline
	if canary {
		w = iv.Canary
	}
	return w.Value(metric)
}

// noDataPolicy applies analysis.on_no_data for every judge, so that no
// judge can let an interval without data pass silently.
type noDataPolicy struct {
	policy string
	run    int // consecutive intervals without data
}

// reset ends a run of no-data intervals (an interval had data).
func (p *noDataPolicy) reset() { p.run = 0 }

// decide is the decision for an interval without data: pause (the hold
// does not advance; after noDataLimit intervals in a row the canary
// fails), fail (counts in *failures; rollback once allowed are reached) or
// pass (journaled as passed by policy).
func (p *noDataPolicy) decide(evidence map[string]any, why string, failures *int, allowed int) Decision {
	p.run++
	evidence["no_data"] = why
	evidence["policy"] = p.policy
	switch p.policy {
	case NoDataFail:
		*failures++
		evidence["failed_checks"] = *failures
		v := Continue
		if *failures >= allowed {
			v = Rollback
		}
		return Decision{Verdict: v, Reason: "no data counts as a failed check (on_no_data: fail): " + why, Evidence: evidence}
	case NoDataPass:
		return Decision{Verdict: Continue, Reason: "no data passed by policy (on_no_data: pass): " + why, Evidence: evidence}
	}
	if p.run >= noDataLimit {
		return Decision{Verdict: Rollback, Reason: fmt.Sprintf("no data for %d intervals in a row (on_no_data: pause gives up): %s", p.run, why), Evidence: evidence}
	}
	return Decision{Verdict: Pause, Reason: "paused, no data (on_no_data: pause): " + why, Evidence: evidence}
}

// FormatMetric formats a metric's canonical value for humans, in the
// metric's unit (2.00%, 35.0ms, 12.0/s, 1.5MiB): the judges' reasons and
// the harness's SLO checks print values alike.
func FormatMetric(metric string, v float64) string {
	switch metrics.UnitOf(metric) {
	case metrics.UnitFraction:
		return fmt.Sprintf("%.2f%%", v*100)
	case metrics.UnitSeconds:
		return fmt.Sprintf("%.1fms", v*1000)
	case metrics.UnitPerSecond:
		return fmt.Sprintf("%.1f/s", v)
	case metrics.UnitBytes:
		return fmt.Sprintf("%.1fMiB", v/(1<<20))
	}
	return fmt.Sprintf("%g", v)
}
