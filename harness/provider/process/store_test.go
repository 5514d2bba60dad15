package process

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/drillhq/drill/harness/provider"
	"github.com/drillhq/drill/scenarios"
)

// writeService writes a tiny Go service to a fresh directory: it answers
// every path with its tag, so a test can tell builds apart by what they say.
func writeService(t *testing.T, tag string) string {
	t.Helper()
	dir := t.TempDir()
	src := fmt.Sprintf(`package main

import (
	"net/http"
	"os"
)

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(%q)) })
	http.ListenAndServe(os.Getenv("HOST")+":"+os.Getenv("PORT"), nil)
}
`, tag)
	for name, body := range map[string]string{"go.mod": "module svc\n\ngo 1.22\n", "main.go": src} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// storeScenario has orders v1 (build A), v2 (build B, the rollout's to)
// and v3 (build A again, another env): two builds, three versions.
func storeScenario(t *testing.T) *scenarios.Scenario {
	a, b := writeService(t, "build-a"), writeService(t, "build-b")
	return &scenarios.Scenario{
		Environment: scenarios.Environment{Services: []*scenarios.Service{{
			Name: "orders", Build: a, Health: "/healthz",
			Versions: []*scenarios.Version{{Name: "v1"}, {Name: "v2", Build: b}, {Name: "v3"}},
		}}},
		Rollout: scenarios.Rollout{Service: "orders", To: "v2"},
	}
}

func newStoreProvider(t *testing.T) *processProvider {
	t.Helper()
	p := newProcessProvider(provider.Config{RunID: "store-test", RunDir: t.TempDir(), TempDir: t.TempDir(), CacheDir: t.TempDir()})
	t.Cleanup(func() { _ = p.Close(context.Background()) })
	return p
}

// startFromStore starts version of sc's orders from its store entry and
// returns what it answers, or the start's error.
func startFromStore(t *testing.T, p *processProvider, sc *scenarios.Scenario, version string) (string, error) {
	t.Helper()
	s := sc.Environment.Services[0]
	inst, err := p.StartInstance(context.Background(), provider.InstanceSpec{Service: s, Version: s.Version(version), Artifact: "orders/" + version})
	if err != nil {
		return "", err
	}
	defer inst.Stop(context.Background())
	resp, err := http.Get(inst.URL() + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func stored(t *testing.T, arts []provider.StoredArtifact, version string) provider.StoredArtifact {
	t.Helper()
	for _, a := range arts {
		if a.Version == version {
			return a
		}
	}
	t.Fatalf("no stored artifact for %s in %+v", version, arts)
	return provider.StoredArtifact{}
}

func TestProcessStoreRemoveRestore(t *testing.T) {
	ctx := context.Background()
	sc := storeScenario(t)
	p := newStoreProvider(t)
	arts, err := p.StoreArtifacts(ctx, sc, 0)
	if err != nil {
		t.Fatal(err)
	}
	v1, v2, v3 := stored(t, arts, "v1"), stored(t, arts, "v2"), stored(t, arts, "v3")
	if v1.Digest != v3.Digest || v1.Digest == v2.Digest || v1.Evicted != "" || v1.Ref != "orders/v1" {
		t.Fatalf("stored %+v", arts)
	}
	for _, a := range arts {
		if d, err := p.StoredDigest(ctx, a.Ref); err != nil || d != a.Digest {
			t.Errorf("StoredDigest(%s) = %q, %v; want %s", a.Ref, d, err, a.Digest)
		}
	}
	if got, err := startFromStore(t, p, sc, "v2"); err != nil || got != "build-b" {
		t.Fatalf("v2 from the store answers %q, %v", got, err)
	}
	// v1 shares its build with v3: removing v1 must not take v3's away.
	if err := p.RemoveArtifact(ctx, "orders", "v1"); err != nil {
		t.Fatal(err)
	}
	_, err = startFromStore(t, p, sc, "v1")
	var miss *provider.ArtifactMissingError
	if !errors.As(err, &miss) || !errors.Is(err, provider.ErrArtifactMissing) ||
		!strings.Contains(err.Error(), "orders v1") || !strings.Contains(err.Error(), v1.Digest) ||
		!strings.Contains(err.Error(), provider.ReasonRemoved) {
		t.Fatalf("start of a removed v1: %v", err)
	}
	if got, err := startFromStore(t, p, sc, "v3"); err != nil || got != "build-a" {
		t.Fatalf("v3 (same build as the removed v1) answers %q, %v", got, err)
	}
	// Removing v3 too leaves build A with no version: its copy goes aside.
	if err := p.RemoveArtifact(ctx, "orders", "v3"); err != nil {
		t.Fatal(err)
	}
	blob := filepath.Join(p.cfg.TempDir, storeDir, strings.Replace(v1.Digest, ":", "-", 1))
	if _, err := os.Stat(blob); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("build A still in the store with no version running it: %v", err)
	}
	for _, v := range []string{"v1", "v3", "v1"} { // a second restore is a no-op
		if err := p.RestoreArtifact(ctx, "orders", v); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := startFromStore(t, p, sc, "v1"); err != nil || got != "build-a" {
		t.Fatalf("v1 after restore answers %q, %v", got, err)
	}
	if d, err := p.StoredDigest(ctx, "orders/v1"); err != nil || d != v1.Digest {
		t.Errorf("restored v1 digests %q, %v; want %s", d, err, v1.Digest)
	}
}

func TestProcessStoreRetainAndTeardown(t *testing.T) {
	ctx := context.Background()
	sc := storeScenario(t)
	p := newStoreProvider(t)
	arts, err := p.StoreArtifacts(ctx, sc, 1)
	if err != nil {
		t.Fatal(err)
	}
	// retain 1 keeps v2's build (the rollout's to, the newest); v1 and v3
	// share the older build and go together.
	for _, v := range []string{"v1", "v3"} {
		if a := stored(t, arts, v); !strings.Contains(a.Evicted, "evicted by artifacts.retain 1") {
			t.Errorf("%s: evicted %q", v, a.Evicted)
		}
	}
	_, err = startFromStore(t, p, sc, "v1")
	if !errors.Is(err, provider.ErrArtifactMissing) || !strings.Contains(err.Error(), "evicted by artifacts.retain 1") {
		t.Fatalf("start of an evicted v1: %v", err)
	}
	// A removed-then-restored evicted version stays evicted: no fault took it.
	if err := p.RemoveArtifact(ctx, "orders", "v1"); err != nil {
		t.Fatal(err)
	}
	if err := p.RestoreArtifact(ctx, "orders", "v1"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.StoredDigest(ctx, "orders/v1"); !errors.Is(err, provider.ErrArtifactMissing) {
		t.Errorf("evicted v1 after a restore: %v", err)
	}
	// The digest is of the bytes, not of the index: a changed copy shows.
	v2 := stored(t, arts, "v2")
	blob := filepath.Join(p.cfg.TempDir, storeDir, strings.Replace(v2.Digest, ":", "-", 1))
	if err := os.Chmod(blob, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(blob, []byte("not the build"), 0o700); err != nil {
		t.Fatal(err)
	}
	if d, err := p.StoredDigest(ctx, v2.Ref); err != nil || d == v2.Digest {
		t.Errorf("a changed stored copy digests %q, %v; want a new digest", d, err)
	}
	if _, err := p.StoredDigest(ctx, "orders/v9"); err == nil || !strings.Contains(err.Error(), "known: orders/v1, orders/v2, orders/v3") {
		t.Errorf("unknown ref: %v", err)
	}
	if l := p.Leftovers(ctx); len(l) != 2 || !strings.Contains(l[0], "artifact store") {
		t.Errorf("Leftovers before Close = %q, want the store and its aside dir", l)
	}
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if l := p.Leftovers(ctx); len(l) != 0 {
		t.Errorf("Leftovers after Close = %q", l)
	}
	for _, d := range []string{storeDir, removedDir} {
		if _, err := os.Stat(filepath.Join(p.cfg.TempDir, d)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s survives Close: %v", d, err)
		}
	}
}

func TestStoreWithoutStoreArtifacts(t *testing.T) {
	p := newStoreProvider(t)
	if err := p.RemoveArtifact(context.Background(), "orders", "v1"); err == nil || !strings.Contains(err.Error(), "no artifact store") {
		t.Errorf("RemoveArtifact before StoreArtifacts: %v", err)
	}
}
