package judgesim

import (
	"time"

	"github.com/drillhq/drill/harness/judge"
)

// BlueGreen is the shape of a simulated blue-green release
// (rollout.blue_green): green first takes a synthetic preview load alone
// and is judged against blue's live traffic (LiveBaseline true); once the
// preview's hold has passed, all the traffic switches to green, which is
// judged against the steady-state Reference for the post_switch hold
// (LiveBaseline false, Baseline = Reference, as the harness passes them at
// a 100% step). Paused intervals advance neither hold, as in the rollout
// loop, so the switch happens at a time of each judge's own: every judge
// gets its own copy of a run's stream (the same seed, so the same draws
// until the first switch), not one shared stream.
type BlueGreen struct {
	// Preview is preview.hold; PreviewRPS is preview.rate, green's
	// synthetic load (blue keeps the whole live traffic meanwhile).
	Preview    time.Duration
	PreviewRPS float64
	// PostSwitch is post_switch.hold: green is promoted once it has
	// passed.
	PostSwitch time.Duration
}

// DefaultBlueGreen is the release the bench simulates: the design's
// example (preview 10 s, post_switch 20 s) with green's preview load at
// the canary's share of the traffic (100 requests/s of 1000; the design's
// 20/s beside 200/s is the same 10%).
func DefaultBlueGreen(tr Traffic) BlueGreen {
	return BlueGreen{Preview: 10 * time.Second, PreviewRPS: tr.TotalRPS * tr.CanaryWeight, PostSwitch: 20 * time.Second}
}

// BlueGreenCases returns the blue-green cases: the canary cases' three bad
// greens, the 1% and latency ones again with a defect that shows only
// after the switch (so that the post_switch judgement, against the
// Reference, is what must catch it), each run runs times, and an A/A green
// (aaRuns), each capped at twice the release's length (a bad green
// promoted after its post_switch hold is missed; a good one neither rolled
// back nor promoted by the cap is stalled).
func BlueGreenCases(tr Traffic, bg BlueGreen, runs, aaRuns int) []Case {
	p := tr.BaselineErrorRate
	limit := 2 * (bg.Preview + bg.PostSwitch)
	c := func(name string, k Kind, s Side, n int) Case {
		b := bg
		return Case{Name: "blue-green " + name, Kind: k, Canary: s, Runs: n, Hold: bg.Preview + bg.PostSwitch, Limit: limit, BlueGreen: &b}
	}
	return []Case{
		c("errors 1%", Bad, Side{ErrorRate: 0.01}, runs),
		c("errors 5%", Bad, Side{ErrorRate: 0.05}, runs),
		c("latency x1.5", Bad, Side{ErrorRate: p, LatencyFactor: 1.5}, runs),
		c("errors 1% after switch", Bad, Side{ErrorRate: 0.01, FullLoadOnly: true}, runs),
		c("latency x1.5 after switch", Bad, Side{ErrorRate: p, LatencyFactor: 1.5, FullLoadOnly: true}, runs),
		c("A/A", AA, Side{ErrorRate: p}, aaRuns),
	}
}

// simulateBlueGreen runs one blue-green run for one judge on its own
// stream: preview, switch, post_switch, until a rollback, the promotion
// or the limit.
func simulateBlueGreen(j judge.Judge, s *Stream, c Case) Result {
	bg := c.BlueGreen
	s.Preview(bg.PreviewRPS)
	var r Result
	var held time.Duration
	for s.Elapsed < c.Limit {
		iv := s.Next()
		if r.tally(j, iv, s.Elapsed) {
			held += s.tr.Interval
			switch {
			case !r.Switched && held >= bg.Preview:
				s.Switch()
				r.Switched, r.SwitchAt, held = true, s.Elapsed, 0
			case r.Switched && held >= bg.PostSwitch:
				r.Promoted = true
			}
		}
		if r.Err != "" || r.RolledBack || r.Promoted {
			break
		}
	}
	r.Excess = float64(r.CanaryFailed) - float64(r.CanaryRequests)*s.tr.BaselineErrorRate
	return r
}
