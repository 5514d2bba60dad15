package scenarios

import (
	"errors"
	"strings"
	"testing"
)

// trafficScenario is a canary of api, the load's target. Each old string
// of pairs is replaced by the new one after it. As written: 100/s, a 25%
// step (25 canary requests a 1 s interval) and a threshold p99 check at
// line 16, column 18.
func trafficScenario(t *testing.T, pairs ...string) []byte {
	t.Helper()
	s := `version: 1
name: traffic
environment:
  services:
    api: {build: x, versions: {v1: {}, v2: {}}}
    dep: {build: y, versions: {v1: {}, v2: {}}}
load: {target: api, rate: 100/s, requests: [{path: /}]}
steady_state: {duration: 5s}
rollout:
  service: api
  to: v2
  steps: [{weight: 25%, hold: 10s}, {weight: 100%, hold: 5s}]
  analysis:
    judge: threshold
    metrics:
      - {metric: latency_p99, max_ratio: 1.5}
      - {metric: error_rate, max_increase: 1%}
`
	for i := 0; i+1 < len(pairs); i += 2 {
		if !strings.Contains(s, pairs[i]) {
			t.Fatalf("%q not in the scenario", pairs[i])
		}
		s = strings.Replace(s, pairs[i], pairs[i+1], 1)
	}
	return []byte(s)
}

// TestTrafficWarnings: a threshold check of a latency quantile warns, at
// its metric, when the canary's expected requests an interval are fewer
// than the quantile needs (n(1-q) < 1), and so does min_samples above
// them, for any judge. The file still loads: a warning never refuses.
func TestTrafficWarnings(t *testing.T) {
	tests := []struct {
		name  string
		pairs []string
		wants []want
	}{
		{name: "p99 from 25 requests an interval", wants: []want{{"16:18",
			"latency_p99 under judge threshold: about 25 canary requests an interval at step 1 (100/s × 25% × 1s), fewer than the 100 it needs: a p99 of fewer than 100 requests is one of their two slowest",
			"use interval: 4s, a higher load rate or step weight, latency_p95 (needs 20) or judge: sequential"}}},
		{name: "p99 from 100 requests an interval", pairs: []string{"rate: 100/s", "rate: 400/s"}},
		{name: "a longer interval holds them", pairs: []string{"judge: threshold", "judge: threshold\n    interval: 4s"}},
		{name: "the sequential judge counts slow requests itself", pairs: []string{"judge: threshold", "judge: sequential", ", max_increase: 1%}", "}"}},
		{name: "the default judge is sequential", pairs: []string{"    judge: threshold\n", "", ", max_increase: 1%}", "}"}},
		{name: "a bound the sequential judge does not read, at its field",
			pairs: []string{"judge: threshold", "judge: sequential"},
			wants: []want{{"17:30", "max_increase: not read by judge sequential: the sequential judge tests any increase of error_rate over the baseline, given evidence",
				"drop max_increase, or use judge: threshold for a bound per interval"}}},
		{name: "the default judge does not read it either",
			pairs: []string{"    judge: threshold\n", ""}, wants: []want{{"16:30", "max_increase: not read by judge sequential", ""}}},
		{name: "mann-whitney reads it, as a tolerance", pairs: []string{"judge: threshold", "judge: mann-whitney"}},
		{name: "p95 needs 20", pairs: []string{"latency_p99", "latency_p95", "rate: 100/s", "rate: 76/s"}, wants: []want{{"16:18",
			"latency_p95 under judge threshold: about 19 canary requests an interval at step 1 (76/s × 25% × 1s), fewer than the 20 it needs",
			"use interval: 2s, a higher load rate or step weight, latency_p90 (needs 10) or judge: sequential"}}},
		{name: "p95 from 20", pairs: []string{"latency_p99", "latency_p95", "rate: 100/s", "rate: 80/s"}},
		{name: "p50 needs no more than min_samples", pairs: []string{"latency_p99", "latency_p50"}},
		{name: "several short steps: the fewest named, the others listed",
			pairs: []string{"[{weight: 25%, hold: 10s}, ", "[{weight: 10%, hold: 10s}, {weight: 50%, hold: 10s}, {approval: manual}, {weight: 60%, hold: 10s}, "},
			wants: []want{{"16:18", "about 10 canary requests an interval at step 1 (100/s × 10% × 1s; step 2 and step 4 are short too)", "interval: 10s"}}},
		{name: "a ramp counts at its peak", pairs: []string{"rate: 100/s", "ramp: {from: 400/s, to: 40/s, over: 30s}"}, wants: []want{}},
		{name: "a ramp's peak too low", pairs: []string{"rate: 100/s", "ramp: {from: 20/s, to: 200/s, over: 30s}"},
			wants: []want{{"16:18", "about 50 canary requests an interval at step 1 (200/s (the ramp's peak) × 25% × 1s)", "interval: 2s"}}},
		{name: "each stage at its own rate",
			pairs: []string{"steady_state:", "stages: [{name: staging, rate: 40/s}, {name: production, rate: 800/s}]\nsteady_state:"},
			wants: []want{{"17:18", "about 10 canary requests an interval at stage staging, step 1 (40/s × 25% × 1s; stage staging, step 2 is short too)", ""}}},
		{name: "a blue-green preview at its own rate",
			pairs: []string{"  steps: [{weight: 25%, hold: 10s}, {weight: 100%, hold: 5s}]\n",
				"  strategy: blue-green\n  blue_green: {preview: {hold: 5s, rate: 30/s}, post_switch: {hold: 5s}}\n"},
			wants: []want{{"17:18", "about 30 canary requests an interval at preview (preview 30/s × 1s)", "use interval: 4s, a higher preview rate, latency_p95"}}},
		{name: "a dependency's traffic is not the load's",
			pairs: []string{"service: api", "service: dep", "rate: 100/s", "rate: 1/s"}},
		{name: "min_samples above the requests an interval, at min_samples",
			pairs: []string{"judge: threshold", "judge: sequential\n    min_samples: 30", ", max_increase: 1%}", "}"},
			wants: []want{{"15:18", "about 25 canary requests an interval at step 1 (100/s × 25% × 1s), fewer than min_samples 30: such intervals are no data (on_no_data: pause)",
				"use interval: 2s, a higher load rate or step weight or min_samples: 25"}}},
		{name: "the default min_samples, at the analysis",
			pairs: []string{"judge: threshold", "judge: sequential\n    on_no_data: fail", "rate: 100/s", "rate: 20/s", ", max_increase: 1%}", "}"},
			wants: []want{{"13:3", "about 5 canary requests an interval at step 1 (20/s × 25% × 1s), fewer than min_samples 10: such intervals are no data (on_no_data: fail)", "interval: 2s"}}},
		{name: "without an analysis, at the rollout",
			pairs: []string{"  analysis:\n    judge: threshold\n    metrics:\n      - {metric: latency_p99, max_ratio: 1.5}\n      - {metric: error_rate, max_increase: 1%}\n", "", "rate: 100/s", "rate: 2/m"},
			wants: []want{{"9:1", "about 0.00833 canary requests an interval at step 1 (2/m × 25% × 1s; step 2 is short too)", "a higher load rate or step weight"}}},
		{name: "both: min_samples first, then the check",
			pairs: []string{"rate: 100/s", "rate: 20/s"},
			wants: []want{{"13:3", "fewer than min_samples 10", ""}, {"16:18", "about 5 canary requests", "latency_p50 or judge: sequential"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			source := trafficScenario(t, tc.pairs...)
			s := mustParse(t, source)
			checkProblems(t, source, s.Warnings, tc.wants)
			for _, w := range s.Warnings {
				if !w.Warning {
					t.Errorf("%v: Warning is false", w)
				}
			}
		})
	}
}

// TestTrafficWarningsNotOnInvalidFiles: a file with a problem does not
// load, and its warnings are not computed from values that may be wrong:
// only the problem is reported.
func TestTrafficWarningsNotOnInvalidFiles(t *testing.T) {
	source := trafficScenario(t, "steady_state: {duration: 5s}", "steady_state: {duration: 5s, atempts: 2}")
	ps := problemsOf(t, source)
	checkProblems(t, source, ps, []want{{"8:30", `unknown field "atempts"`, ""}})
}

// TestWarningFormat: a warning says so after its position; its hint
// follows on an indented line, as a problem's does.
func TestWarningFormat(t *testing.T) {
	p := Problem{Pos: Pos{File: "a.yaml", Line: 3, Col: 7}, Msg: "thin", Hint: "thicken", Warning: true}
	if got, want := p.Error(), "a.yaml:3:7: warning: thin\n    hint: thicken"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	p.Warning = false
	if got, want := p.Error(), "a.yaml:3:7: thin\n    hint: thicken"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	// A warning is not an error: Parse returns the scenario and no error.
	s, err := Parse("t.yaml", trafficScenario(t))
	var ps Problems
	if err != nil || errors.As(err, &ps) || s == nil || len(s.Warnings) != 1 {
		t.Errorf("Parse: %v, %d warnings; want the scenario, no error and 1 warning", err, len(s.Warnings))
	}
}
