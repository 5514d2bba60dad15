package docker

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/drillhq/drill/harness/provider"
	"github.com/drillhq/drill/scenarios"
)

// TestDockerArtifactStore stores pricing's image (v1 and v2 share the
// build) as run-scoped tags, starts v1 from its tag, removes and restores
// it (fault artifact-missing), notices a tag untagged behind its back, and
// checks that Close removes every tag and Leftovers sees them until then.
func TestDockerArtifactStore(t *testing.T) {
	pricingImage(t) // built once, shared with the other tests
	ctx := context.Background()
	runID := fmt.Sprintf("Test-Store-%d", time.Now().UnixNano()) // upper case: tags are lowercased
	prov, err := provider.New("docker", provider.Config{RunID: runID, RunDir: t.TempDir(), TempDir: t.TempDir(), CacheDir: t.TempDir(),
		BaseDirs: []string{filepath.Join(fixturesDir(t), "..")}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = prov.Close(context.Background()) })
	store := prov.(provider.ArtifactStore)
	svc := &scenarios.Service{Name: "pricing", Build: "fixtures/pricing", Health: "/healthz",
		Versions: []*scenarios.Version{{Name: "v1"}, {Name: "v2"}}}
	sc := &scenarios.Scenario{Environment: scenarios.Environment{Services: []*scenarios.Service{svc}},
		Rollout: scenarios.Rollout{Service: "pricing", To: "v2"}}
	if err := prov.Build(ctx, sc); err != nil {
		t.Fatal(err)
	}
	arts, err := store.StoreArtifacts(ctx, sc, 1) // one build: nothing to evict
	if err != nil {
		t.Fatal(err)
	}
	wantRef := "drill-store-" + strings.ToLower(runID) + "/pricing:v1"
	if len(arts) != 2 || arts[0].Ref != wantRef || arts[0].Evicted != "" || arts[1].Evicted != "" || arts[0].Digest != arts[1].Digest {
		t.Fatalf("stored %+v", arts)
	}
	v1 := arts[0]
	if d, err := store.StoredDigest(ctx, v1.Ref); err != nil || d != v1.Digest {
		t.Fatalf("StoredDigest = %q, %v; want %s", d, err, v1.Digest)
	}
	inst, err := prov.StartInstance(ctx, provider.InstanceSpec{Service: svc, Version: svc.Versions[0], Artifact: v1.Ref})
	if err != nil {
		t.Fatalf("start v1 from the store: %v", err)
	}
	resp, err := http.Get(inst.URL() + "/price?sku=SKU-1&qty=1")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("v1 from the store: %v %v", resp, err)
	}
	resp.Body.Close()
	_ = inst.Stop(ctx)

	if err := store.RemoveArtifact(ctx, "pricing", "v1"); err != nil {
		t.Fatal(err)
	}
	_, err = prov.StartInstance(ctx, provider.InstanceSpec{Service: svc, Version: svc.Versions[0], Artifact: v1.Ref})
	if !errors.Is(err, provider.ErrArtifactMissing) || !strings.Contains(err.Error(), v1.Digest) || !strings.Contains(err.Error(), provider.ReasonRemoved) {
		t.Fatalf("start of a removed v1: %v", err)
	}
	// v2's tag is its own: the removal of v1's leaves it.
	if d, err := store.StoredDigest(ctx, arts[1].Ref); err != nil || d != v1.Digest {
		t.Errorf("v2 after v1's removal: %q, %v", d, err)
	}
	if err := store.RestoreArtifact(ctx, "pricing", "v1"); err != nil {
		t.Fatal(err)
	}
	if d, err := store.StoredDigest(ctx, v1.Ref); err != nil || d != v1.Digest {
		t.Errorf("restored v1: %q, %v", d, err)
	}

	untag(t, arts[1].Ref) // behind the provider's back
	if _, err := store.StoredDigest(ctx, arts[1].Ref); !errors.Is(err, provider.ErrArtifactMissing) || !strings.Contains(err.Error(), "gone from the engine") {
		t.Errorf("v2 untagged outside drill: %v", err)
	}
	ll := prov.(provider.LeftoverLister)
	// Before Close the run's network is there too; only v1's tag is a
	// store tag (v2's was untagged above).
	if tags := storeLeftovers(ctx, ll); len(tags) != 1 || !strings.Contains(tags[0], wantRef) {
		t.Errorf("store tags in Leftovers before Close = %q, want v1's", tags)
	}
	if err := prov.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if l := ll.Leftovers(ctx); len(l) != 0 {
		t.Errorf("Leftovers after Close = %q", l)
	}
}

// storeLeftovers is what Leftovers says of the artifact store.
func storeLeftovers(ctx context.Context, ll provider.LeftoverLister) []string {
	var tags []string
	for _, l := range ll.Leftovers(ctx) {
		if strings.Contains(l, "artifact store tag") {
			tags = append(tags, l)
		}
	}
	return tags
}

// untag removes a tag from the engine, as `docker rmi TAG` would.
func untag(t *testing.T, ref string) {
	t.Helper()
	cli, err := dockerClient()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.ImageRemove(context.Background(), ref, client.ImageRemoveOptions{}); err != nil {
		t.Fatal(err)
	}
}
