package harness

import (
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/drillhq/drill/harness/metrics"
	"github.com/drillhq/drill/scenarios"
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

// JudgeFactory builds a judge from the scenario's analysis.
type JudgeFactory func(a scenarios.Analysis) (Judge, error)

type judgeEntry struct {
	desc    string
	factory JudgeFactory
}

var (
	judgesMu sync.RWMutex
	judges   = map[string]judgeEntry{}
)

// RegisterJudge adds a judge under name.
func RegisterJudge(name, description string, f JudgeFactory) {
	judgesMu.Lock()
	defer judgesMu.Unlock()
	if _, dup := judges[name]; dup {
		panic(fmt.Sprintf("harness: judge %q registered twice", name))
	}
	judges[name] = judgeEntry{desc: description, factory: f}
}

// NewJudge builds the judge registered as name.
func NewJudge(name string, a scenarios.Analysis) (Judge, error) {
	judgesMu.RLock()
	e, ok := judges[name]
	judgesMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("unknown judge %q (known: %v)", name, JudgeNames())
	}
	return e.factory(a)
}

// JudgeNames lists registered judges, sorted.
func JudgeNames() []string {
	judgesMu.RLock()
	defer judgesMu.RUnlock()
	var names []string
	for n := range judges {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// JudgeDescription returns the one-line description of a judge.
func JudgeDescription(name string) string {
	judgesMu.RLock()
	defer judgesMu.RUnlock()
	return judges[name].desc
}

// withDefaults fills the analysis fields every judge reads with the
// loader's defaults when an Analysis built in Go (a test, the bench) left
// them zero: one rule for every judge, so that none counts failures, or
// tests at a false-positive rate, its own way.
func withDefaults(a scenarios.Analysis) scenarios.Analysis {
	if a.Failures <= 0 {
		a.Failures = scenarios.DefaultFailures
	}
	if a.MinSamples <= 0 {
		a.MinSamples = scenarios.DefaultMinSamples
	}
	if a.FalsePositiveRate <= 0 || a.FalsePositiveRate >= 1 {
		a.FalsePositiveRate = scenarios.DefaultFalsePositiveRate
	}
	if a.OnNoData == "" {
		a.OnNoData = scenarios.DefaultOnNoData
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
	case scenarios.NoDataFail:
		*failures++
		evidence["failed_checks"] = *failures
		v := Continue
		if *failures >= allowed {
			v = Rollback
		}
		return Decision{Verdict: v, Reason: "no data counts as a failed check (on_no_data: fail): " + why, Evidence: evidence}
	case scenarios.NoDataPass:
		return Decision{Verdict: Continue, Reason: "no data passed by policy (on_no_data: pass): " + why, Evidence: evidence}
	}
	if p.run >= noDataLimit {
		return Decision{Verdict: Rollback, Reason: fmt.Sprintf("no data for %d intervals in a row (on_no_data: pause gives up): %s", p.run, why), Evidence: evidence}
	}
	return Decision{Verdict: Pause, Reason: "paused, no data (on_no_data: pause): " + why, Evidence: evidence}
}
