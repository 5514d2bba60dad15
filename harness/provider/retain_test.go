package provider_test

import (
	"maps"
	"slices"
	"testing"

	"github.com/drillhq/drill/harness/provider"
	"github.com/drillhq/drill/scenarios"
)

func TestEvictions(t *testing.T) {
	sc := &scenarios.Scenario{
		Environment: scenarios.Environment{Services: []*scenarios.Service{
			{Name: "orders", Versions: []*scenarios.Version{{Name: "v1"}, {Name: "v3"}, {Name: "v2"}, {Name: "v1b"}}},
			{Name: "pricing", Versions: []*scenarios.Version{{Name: "p1"}, {Name: "p2"}, {Name: "p3"}}},
		}},
		// v3 is released: the newest orders build wherever it is listed.
		Rollout: scenarios.Rollout{Service: "orders", To: "v3"},
	}
	arts := []provider.Artifact{
		{Service: "orders", Version: "v1", Digest: "sha256:a"},
		{Service: "orders", Version: "v3", Digest: "sha256:c"},
		{Service: "orders", Version: "v2", Digest: "sha256:b"},
		{Service: "orders", Version: "v1b", Digest: "sha256:a"}, // v1's build, another env: as recent as v1b
		{Service: "pricing", Version: "p1", Digest: "sha256:p1"},
		{Service: "pricing", Version: "p2", Digest: "sha256:p2"},
		// A command is no build: it neither counts nor is evicted.
		{Service: "pricing", Version: "p3", Kind: "command", Digest: "sha256:sh"},
	}
	for retain, want := range map[int][]string{
		0: nil,
		1: {"orders/v1", "orders/v1b", "orders/v2", "pricing/p1"},
		2: {"orders/v2"},
		3: nil,
	} {
		got := provider.Evictions(sc, arts, retain)
		if keys := slices.Sorted(maps.Keys(got)); !slices.Equal(keys, want) {
			t.Errorf("retain %d evicts %v, want %v", retain, keys, want)
		}
	}
	if why := provider.Evictions(sc, arts, 2)["orders/v2"]; why != "evicted by artifacts.retain 2: 2 newer builds of orders kept" {
		t.Errorf("reason %q", why)
	}
}
