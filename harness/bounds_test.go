package harness

import (
	"math"
	"testing"
	"time"

	"github.com/drillhq/drill/scenarios"
)

// TestMaxDurationBoundsEveryPhase: the load's hard bound covers the
// warm-up and every steady-state attempt (it used to count one attempt
// and no warm-up), and durations that would overflow saturate instead of
// wrapping to a negative bound (vegeta would then never stop).
func TestMaxDurationBoundsEveryPhase(t *testing.T) {
	sc := &scenarios.Scenario{}
	sc.SteadyState = scenarios.SteadyState{Duration: 10 * time.Minute, Attempts: 3, Warmup: 5 * time.Second}
	sc.Rollout.Steps = []*scenarios.Step{{Weight: 0.1, Hold: time.Minute}}
	d := &drill{sc: sc, interval: time.Second}
	min := 5*time.Second + 3*10*time.Minute + time.Minute
	if got := d.maxDuration(); got < min {
		t.Errorf("maxDuration = %s, want at least %s (warm-up + 3 attempts + step)", got, min)
	}

	sc.SteadyState = scenarios.SteadyState{Duration: math.MaxInt64 / 2, Attempts: 1 << 30, Warmup: math.MaxInt64}
	sc.Rollout.Steps = []*scenarios.Step{{Hold: math.MaxInt64}, {Hold: math.MaxInt64}}
	sc.Verify.Recovery = &scenarios.Recovery{Within: math.MaxInt64, Window: math.MaxInt64}
	if got := d.maxDuration(); got <= 0 || got > maxLoadDuration {
		t.Errorf("maxDuration = %d with huge durations, want in (0, %s]", got, maxLoadDuration)
	}
}

// TestPlanSaturates: a plan over huge durations never prints a wrapped,
// negative or shrinking time.
func TestPlanSaturates(t *testing.T) {
	sc := &scenarios.Scenario{}
	sc.Load.Target = "web"
	sc.Environment.Services = []*scenarios.Service{{Name: "web", Baseline: "v1"}}
	sc.Rollout = scenarios.Rollout{Service: "web", To: "v2", Steps: []*scenarios.Step{
		{Weight: 0.1, Hold: math.MaxInt64 / 2}, {Weight: 0.5, Hold: math.MaxInt64 / 2}, {Weight: 1, Hold: math.MaxInt64 / 2}}}
	sc.SteadyState = scenarios.SteadyState{Duration: math.MaxInt64 / 2, Warmup: time.Second}
	prev := time.Duration(0)
	for _, e := range Plan(sc) {
		if e.At < 0 {
			continue
		}
		if e.At < prev {
			t.Errorf("%q at %d comes before %d: a sum wrapped", e.What, e.At, prev)
		}
		prev = e.At
	}
}
