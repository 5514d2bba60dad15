package provider_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/drillhq/drill/harness/provider"
	_ "github.com/drillhq/drill/harness/provider/docker"
	_ "github.com/drillhq/drill/harness/provider/process"
	"github.com/drillhq/drill/scenarios"
)

// TestCatalogDrivesProviderProblems: what each shipped provider registers
// is what the scenario check refuses: an image on process, a command and
// a literal loopback address on docker, an unknown name anywhere.
func TestCatalogDrivesProviderProblems(t *testing.T) {
	sc, err := scenarios.Parse("t.yaml", []byte(`version: 1
name: caps
environment:
  services:
    api:
      build: fixtures/api
      env: {UPSTREAM: "http://127.0.0.1:9999"}
      versions: {v1: {}, v2: {image: example/api:2}}
    tool:
      command: [./tool]
      versions: {t1: {}}
load: {target: api, rate: 1/s, requests: [{path: /}]}
rollout: {service: api, to: v2, steps: [{weight: 10%}]}
`))
	if err != nil {
		t.Fatal(err)
	}
	cat := provider.Catalog()
	for name, want := range map[string][]string{
		"process": {`runs image "example/api:2", which needs the docker provider`},
		"docker":  {`"127.0.0.1:9999" is a port on the host's loopback`, `runs command "./tool"`}, // in file order
		"dockr":   {`unknown provider "dockr" (known: docker, process)`},
	} {
		var ps scenarios.Problems
		if err := sc.ProviderProblems(name, cat); !errors.As(err, &ps) || len(ps) != len(want) {
			t.Errorf("%s: %v, want %d problems", name, err, len(want))
			continue
		}
		for i, w := range want {
			if !strings.Contains(ps[i].Msg, w) {
				t.Errorf("%s: problem %d = %q, want %q", name, i, ps[i].Msg, w)
			}
		}
	}
}
