package harness

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/drillhq/drill/reports"
	"github.com/drillhq/drill/scenarios"
)

// steadyScenario is a drill of a service (this test binary, see
// helperSlowFirst) whose first slowFirst requests take 600 ms. At 50/s the
// 2 s warm-up takes about 100 requests and each 2 s steady-state attempt
// another 100, so slowFirst 150 spoils the first attempt only.
func steadyScenario(t *testing.T, slowFirst, attempts int, faults string) *scenarios.Scenario {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	y := fmt.Sprintf(`version: 1
name: steady-attempts
seed: 1
environment:
  services:
    api:
      command: [%q, "-test.run=^TestHelperProcess$"]
      env: {%s: slow-first, SLOW_FIRST: "%d", SLOW_FOR: 600ms}
      versions: {v1: {}, v2: {}}
load: {target: api, rate: 50/s, timeout: 2s, requests: [{path: /x}]}
steady_state:
  duration: 2s
  warmup: 2s
  attempts: %d
  slo: [{metric: latency_p99, max: 200ms}]
rollout:
  service: api
  to: v2
  steps: [{weight: 50%%, hold: 1s}]
  analysis: {metrics: [{metric: error_rate, max_increase: 50%%}]}
%s`, exe, helperEnv, slowFirst, attempts, faults)
	sc, err := scenarios.Parse("steady.yaml", []byte(y))
	if err != nil {
		t.Fatalf("scenario: %v\n%s", err, y)
	}
	return sc
}

// steadyAttempts lists the ok field of every steady_state.attempt event.
func steadyAttempts(t *testing.T, rep *reports.Report) []bool {
	t.Helper()
	var out []bool
	for _, e := range runEvents(t, rep) {
		if e.Event == "steady_state.attempt" {
			out = append(out, e.Fields["ok"].(bool))
		}
	}
	return out
}

func TestSteadyStateIsMeasuredAgainAfterAMiss(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a drill of real processes for about 10 s")
	}
	tests := []struct {
		name         string
		slowFirst    int
		attempts     int
		faults       string
		wantAttempts []bool
		wantOutcome  reports.Outcome
		wantDetail   string
	}{
		{name: "a miss, then met", slowFirst: 150, attempts: 3,
			wantAttempts: []bool{false, true}, wantOutcome: reports.OutcomePromoted, wantDetail: "attempt 2 of 3"},
		{name: "met at once", slowFirst: 0, attempts: 3,
			wantAttempts: []bool{true}, wantOutcome: reports.OutcomePromoted},
		{name: "one attempt allowed", slowFirst: 150, attempts: 1,
			wantAttempts: []bool{false}, wantOutcome: reports.OutcomeAborted},
		{name: "never met", slowFirst: 100000, attempts: 2,
			wantAttempts: []bool{false, false}, wantOutcome: reports.OutcomeAborted},
		{name: "a fault during the miss: not measured again", slowFirst: 150, attempts: 3,
			faults:       "faults: [{name: f, kind: latency, target: api, at: 2500ms, duration: 500ms, params: {delay: 1ms}}]\n",
			wantAttempts: []bool{false}, wantOutcome: reports.OutcomeAborted, wantDetail: "not measured again: a fault was applied"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sc := steadyScenario(t, tc.slowFirst, tc.attempts, tc.faults)
			rep, err := Run(context.Background(), sc, Options{OutDir: t.TempDir(), CacheDir: t.TempDir()})
			if rep == nil {
				t.Fatalf("no report: %v", err)
			}
			got := steadyAttempts(t, rep)
			if !attemptsMatch(got, tc.wantAttempts, tc.attempts) {
				t.Errorf("attempts ok = %v, want %v (steady state: %s)", got, tc.wantAttempts, rep.SteadyState.Detail)
			}
			if rep.Outcome != tc.wantOutcome {
				t.Errorf("outcome %s, want %s (err %v)", rep.Outcome, tc.wantOutcome, err)
			}
			if len(got) == len(tc.wantAttempts) && !strings.Contains(rep.SteadyState.Detail, tc.wantDetail) {
				t.Errorf("steady state detail %q, want it to contain %q", rep.SteadyState.Detail, tc.wantDetail)
			}
			if len(rep.Leftovers) != 0 {
				t.Errorf("leftovers: %v", rep.Leftovers)
			}
		})
	}
}

// attemptsMatch compares the attempts a drill made with the expected ones.
// The slow requests make a miss certain; a met attempt is only likely (a
// host stall can spoil one), so an expectation ending in a met attempt is
// also satisfied by extra misses before it, within the allowed attempts —
// what must never happen is an attempt after a met one.
func attemptsMatch(got, want []bool, allowed int) bool {
	if fmt.Sprint(got) == fmt.Sprint(want) {
		return true
	}
	if len(want) == 0 || !want[len(want)-1] || len(got) < len(want) || len(got) > allowed || !got[len(got)-1] {
		return false
	}
	for i, ok := range got[:len(got)-1] {
		if ok || (i < len(want)-1 && want[i]) {
			return false
		}
	}
	return true
}
