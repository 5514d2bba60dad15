package provider

import (
	"fmt"
	"slices"

	"github.com/drillhq/drill/scenarios"
)

// Evictions decides, for `artifacts: {retain: N}`, which service versions
// the run's store does not keep, and says why, by "service/version".
//
// A store keeps builds, not versions: versions that share a build (they
// differ only by env) share its digest and its entry, so they are kept or
// evicted together. Per service, builds are ordered by recency:
// versions are listed oldest first, a build is as recent as the most
// recent version that runs it, and the rollout's `to` version is the
// newest of its service wherever it is listed (it is what is being
// released). The retain newest builds of each service are kept; retain
// <= 0 keeps every build. arts are the built artifacts (ArtifactLister);
// a version with no artifact (a command) is never evicted.
func Evictions(sc *scenarios.Scenario, arts []Artifact, retain int) map[string]string {
	out := map[string]string{}
	if retain <= 0 {
		return out
	}
	digest := map[string]string{}
	for _, a := range arts {
		if a.Kind != "command" { // run in place, never stored
			digest[a.Service+"/"+a.Version] = a.Digest
		}
	}
	for _, s := range sc.Environment.Services {
		var order []string // the service's builds, oldest first
		bump := func(d string) {
			order = slices.DeleteFunc(order, func(x string) bool { return x == d })
			order = append(order, d)
		}
		for _, v := range s.Versions {
			if d := digest[s.Name+"/"+v.Name]; d != "" {
				bump(d)
			}
		}
		if s.Name == sc.Rollout.Service {
			if d := digest[s.Name+"/"+sc.Rollout.To]; d != "" {
				bump(d)
			}
		}
		if len(order) <= retain {
			continue
		}
		evicted := order[:len(order)-retain]
		for _, v := range s.Versions {
			if slices.Contains(evicted, digest[s.Name+"/"+v.Name]) {
				out[s.Name+"/"+v.Name] = fmt.Sprintf("evicted by artifacts.retain %d: %d newer %s of %s kept",
					retain, retain, plural(retain, "build", "builds"), s.Name)
			}
		}
	}
	return out
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
