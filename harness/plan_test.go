package harness

import (
	"strings"
	"testing"
	"time"

	"github.com/drillhq/drill/scenarios"
)

func TestPlanTimeline(t *testing.T) {
	sc, err := scenarios.Parse("plan.yaml", []byte(`version: 1
name: plan
environment:
  services:
    web:
      command: ["true"]
      versions: {v1: {}, v2: {}}
load: {target: web, rate: 10/s, requests: [{name: home, path: /}]}
steady_state: {duration: 10s}
rollout:
  service: web
  to: v2
  steps:
    - {weight: 10%, hold: 15s}
    - {approval: manual}
    - {weight: 50%, hold: 5s}
faults:
  - {name: a, kind: latency, target: web, at: 3s, duration: 4s, params: {delay: 1ms}}
  - {name: b, kind: latency, target: web, at: {step: 3}, params: {delay: 1ms}}
  - {name: c, kind: error, target: web, at: {after: rollout.start, delay: 2s}, duration: 1s}
  - {name: d, kind: error, target: web, at: {after: decision.rollback}}
`))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]PlanEntry{}
	for _, e := range Plan(sc) {
		got[strings.Fields(e.What)[0]+" "+strings.Fields(e.What)[1]+" "+strings.Fields(e.What)[2]] = e
	}
	tests := []struct {
		key    string
		at     time.Duration
		approx bool
	}{
		{"fault a applied", 3 * time.Second, false},
		{"fault a reverted", 7 * time.Second, false},
		{"step 1: v2", 13 * time.Second, false},
		{"step 3: v2", 28 * time.Second, true},
		{"fault b applied", 28 * time.Second, true},
		{"fault c applied", 15 * time.Second, false},
		{"fault c reverted", 16 * time.Second, false},
		{"fault d (error", -1, true},
	}
	for _, tt := range tests {
		e, ok := got[tt.key]
		if !ok {
			t.Errorf("no entry %q in %v", tt.key, got)
			continue
		}
		if e.At != tt.at || e.Approx != tt.approx {
			t.Errorf("%s: at %v approx %v, want %v %v", tt.key, e.At, e.Approx, tt.at, tt.approx)
		}
	}
}

// drill plan shows each strategy's own timeline: blue-green's preview,
// switch and scale-down; a flag's shares of targeting keys.
func TestPlanStrategies(t *testing.T) {
	for file, want := range map[string][]string{
		"../scenarios/orders-blue-green-switch-back.yaml": {
			"step 1 (preview): v2 gets synthetic load at 50/s from the request templates, no live traffic, for 10s, judged against v1's live traffic",
			"step 2 (post-switch): switch 100% to v2 at once (v1 drains, switch_seconds and switch_failed measured); held 10s, judged against the steady state's reference",
		},
		"../scenarios/pricing-flag-ramp-kill-switch.yaml": {
			"rollout of pricing: flag new-pricing: off -> on (flag, judge threshold every 1s)",
			"step 1: flag new-pricing=on for 10% of targeting keys for 10s, judged against off's live traffic",
			"step 3: flag new-pricing=on for 100% of targeting keys for 10s, judged against the steady state's reference",
		},
	} {
		sc, err := scenarios.Load(file)
		if err != nil {
			t.Fatal(err)
		}
		var lines []string
		for _, e := range Plan(sc) {
			lines = append(lines, e.What)
		}
		all := strings.Join(lines, "\n")
		for _, w := range want {
			if !strings.Contains(all, w) {
				t.Errorf("%s: plan lacks %q:\n%s", file, w, all)
			}
		}
	}
}

// TestPlanStages: each stage's timeline follows the one before, at the
// stage's own rate and with only its faults; times after a stage's gate
// are approximate.
func TestPlanStages(t *testing.T) {
	sc, err := scenarios.Parse("stages.yaml", []byte(`version: 1
name: stages
environment:
  services:
    web:
      command: ["true"]
      versions: {v1: {}, v2: {}}
load: {target: web, rate: 10/s, requests: [{name: home, path: /}]}
steady_state: {duration: 5s}
rollout:
  service: web
  to: v2
  steps: [{weight: 50%, hold: 5s}]
stages:
  - {name: staging, rate: 2/s}
  - {name: production, approval: manual}
faults:
  - {name: prod-only, kind: latency, target: web, at: 1s, stage: production, params: {delay: 1ms}}
`))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	var prodAt time.Duration
	for _, e := range Plan(sc) {
		lines = append(lines, e.What)
		if strings.HasPrefix(e.What, "stage 2 of 2: production") {
			prodAt = e.At
			if e.Approx {
				t.Errorf("the gate's own line is exact: %+v", e)
			}
		}
		if prodAt > 0 && e.At > prodAt && !e.Approx {
			t.Errorf("%q at %s follows production's gate: want it approximate", e.What, e.At)
		}
	}
	all := strings.Join(lines, "\n")
	if !strings.Contains(all, "load starts: 2/s") || !strings.Contains(all, "load starts: 10/s") {
		t.Errorf("want each stage's own rate:\n%s", all)
	}
	if strings.Count(all, "prod-only") != 1 || strings.Index(all, "prod-only") < strings.Index(all, "stage 2 of 2") {
		t.Errorf("want prod-only in production's timeline only:\n%s", all)
	}
	if prodAt <= 0 {
		t.Errorf("production starts at %s: want after staging's timeline", prodAt)
	}
}
