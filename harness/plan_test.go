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
