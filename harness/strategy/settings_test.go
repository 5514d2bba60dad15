package strategy_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/drillhq/drill/harness/strategy"
	"github.com/drillhq/drill/scenarios"
)

// A strategy with settings of its own, registered here only: the loader
// must accept its field because the strategy owns it, hand the node to its
// Parse with positions, and refuse the field under another strategy.
type sizing struct {
	Size int    `yaml:"size"`
	Mode string `yaml:"mode"`
}

func init() {
	strategy.Register("test-sized", "a strategy with settings, for the loader's tests", strategy.Kind{
		Field: "test_sized",
		Parse: func(decode func(any) error) (any, error) {
			p := sizing{Mode: "warm"}
			if err := decode(&p); err != nil {
				return nil, err
			}
			if p.Size < 0 {
				return p, errors.New("test_sized.size must not be negative")
			}
			return p, nil
		},
		New: func(any) (strategy.Strategy, error) { return nil, errors.New("not for running") },
	})
}

const sizedScenario = `version: 1
name: sized
environment:
  services:
    api: {build: x, versions: {v1: {}, v2: {}}}
load: {target: api, rate: 1/s, requests: [{path: /}]}
rollout:
  service: api
  to: v2
  strategy: STRATEGY
  steps: [{weight: 10%}]
  test_sized: SETTINGS
`

func parseSized(t *testing.T, strat, settings string) (*scenarios.Scenario, error) {
	t.Helper()
	y := strings.NewReplacer("STRATEGY", strat, "SETTINGS", settings).Replace(sizedScenario)
	return scenarios.Parse("sized.yaml", []byte(y))
}

func TestStrategyDecodesItsOwnSettings(t *testing.T) {
	sc, err := parseSized(t, "test-sized", "{size: 3}")
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := sc.Rollout.StrategyParams.(sizing); !ok || p.Size != 3 || p.Mode != "warm" {
		t.Errorf("StrategyParams = %#v, want size 3 and the default mode", sc.Rollout.StrategyParams)
	}
	for _, tc := range []struct{ strat, settings, want string }{
		{"test-sized", "{size: 3, colour: red}", `sized.yaml:12:25: unknown field "colour" in rollout.test_sized`}, // strict, at its position
		{"test-sized", "{size: -1}", "test_sized.size must not be negative"},                                       // the strategy's own check
		{"canary", "{size: 3}", "sized.yaml:12:3: test_sized: settings of strategy test-sized, not canary"},
	} {
		_, err := parseSized(t, tc.strat, tc.settings)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s with %s: %v, want %q", tc.strat, tc.settings, err, tc.want)
		}
	}
}

// blue_green is decoded by the blue-green strategy: strictly, with
// positions, with DESIGN.md's defaults for what it leaves out.
func TestBlueGreenSettings(t *testing.T) {
	y := strings.NewReplacer("STRATEGY", "blue-green", "  steps: [{weight: 10%}]\n", "", "test_sized: SETTINGS", "blue_green: {preview: {rate: 50/s}, scale_down_delay: 5s}").Replace(sizedScenario)
	sc, err := scenarios.Parse("bg.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	b, ok := sc.Rollout.StrategyParams.(strategy.BlueGreen)
	if !ok || b.Preview.Rate != 50 || time.Duration(b.Preview.Hold) != 10*time.Second || time.Duration(b.ScaleDownDelay) != 5*time.Second || time.Duration(b.PostSwitch.Hold) != 20*time.Second {
		t.Fatalf("settings %#v", sc.Rollout.StrategyParams)
	}
	for _, tc := range []struct{ settings, want string }{
		{"{preview: {rate: fast}}", `invalid rate "fast"`},
		{"{preview: {hold: 0s}}", "blue_green.preview.hold must be positive"},
		{"{post_swtich: {hold: 1s}}", `bg.yaml:11:16: unknown field "post_swtich" in rollout.blue_green`},
	} {
		y := strings.NewReplacer("STRATEGY", "blue-green", "  steps: [{weight: 10%}]\n", "", "test_sized: SETTINGS", "blue_green: "+tc.settings).Replace(sizedScenario)
		if _, err := scenarios.Parse("bg.yaml", []byte(y)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.settings, err, tc.want)
		}
	}
}

// blue-green's preview sends the load's requests to the new version: a
// release of another service than the load's target is refused.
func TestBlueGreenPreviewNeedsTheLoadTarget(t *testing.T) {
	y := strings.NewReplacer("STRATEGY", "blue-green", "  steps: [{weight: 10%}]\n", "", "  test_sized: SETTINGS\n", "",
		"load: {target: api,", "load: {target: web,", "    api: {build: x, versions: {v1: {}, v2: {}}}", "    api: {build: x, versions: {v1: {}, v2: {}}}\n    web: {build: x, versions: {v1: {}}}").Replace(sizedScenario)
	_, err := scenarios.Parse("bg.yaml", []byte(y))
	if err == nil || !strings.Contains(err.Error(), "previews the new version with the load's own requests, which are written for web, not api") {
		t.Errorf("%v", err)
	}
}
