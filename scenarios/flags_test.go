package scenarios

import (
	"strings"
	"testing"
)

const flagScenario = `version: 1
name: flagged
environment:
  services:
    api:
      build: x
      env: {FLAGS: "${flags.url}"}
      versions: {v1: {}}
flags:
  new-path:
    state: ENABLED
    variants: {on: true, off: false}
    defaultVariant: off
    targeting: TARGETING
load: {target: api, rate: 1/s, requests: [{path: /}]}
rollout:
  service: api
  strategy: flag
  flag: FLAG
  to: TO
  steps: [{weight: 10%}]
`

func parseFlagged(t *testing.T, targeting, flag, to string) (*Scenario, error) {
	t.Helper()
	y := strings.NewReplacer("TARGETING", targeting, "FLAG", flag, "TO", to).Replace(flagScenario)
	return Parse("f.yaml", []byte(y))
}

func TestFlagsLoad(t *testing.T) {
	sc, err := parseFlagged(t, `{"fractional": [["on", 10], ["off", 90]]}`, "new-path", "on")
	if err != nil {
		t.Fatal(err)
	}
	if f := sc.Flags["new-path"]; f == nil || f.DefaultVariant != "off" || sc.Rollout.Flag != "new-path" || sc.Rollout.To != "on" {
		t.Fatalf("flags %+v rollout %+v", sc.Flags, sc.Rollout)
	}
}

// Every flag problem is at its line and column, all at once.
func TestFlagProblemsAtTheirPositions(t *testing.T) {
	_, err := parseFlagged(t, `{"sem_ver": [{"var": "v"}, ">=", "1.0.0"]}`, "old-path", "maybe")
	if err == nil {
		t.Fatal("want problems")
	}
	for _, want := range []string{
		`f.yaml:14:28: flags.new-path.targeting.sem_ver: operator "sem_ver" is not supported`, // the unsupported operator, at the targeting
		`f.yaml:19:9: flag: unknown flag "old-path"`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%v\nwant %q", err, want)
		}
	}
	_, err = parseFlagged(t, `{}`, "new-path", "maybe")
	if err == nil || !strings.Contains(err.Error(), `f.yaml:20:7: to: "maybe" is not a variant of flag new-path`) {
		t.Errorf("to: %v", err)
	}
	_, err = parseFlagged(t, `{}`, "new-path", "off")
	if err == nil || !strings.Contains(err.Error(), `is the default variant of flag new-path already`) {
		t.Errorf("to default: %v", err)
	}
}

func TestFlagsURLNeedsFlags(t *testing.T) {
	y := strings.NewReplacer("TARGETING", "{}", "FLAG", "new-path", "TO", "on").Replace(flagScenario)
	y = y[:strings.Index(y, "flags:\n")] + y[strings.Index(y, "load:"):]
	y = strings.Replace(y, "strategy: flag\n  flag: new-path\n  to: on", "to: v2", 1)
	_, err := Parse("f.yaml", []byte(y))
	if err == nil || !strings.Contains(err.Error(), "${flags.url} but the scenario defines no flags") {
		t.Errorf("%v", err)
	}
}
