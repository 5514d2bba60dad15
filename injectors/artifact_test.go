package injectors_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/drillhq/drill/harness/provider"
	_ "github.com/drillhq/drill/harness/provider/process"
	"github.com/drillhq/drill/injectors"
	"github.com/drillhq/drill/scenarios"
)

// artifactEnv is a drill whose only fault point is its artifact store.
type artifactEnv struct {
	procEnv
	store provider.ArtifactStore
}

func (e artifactEnv) Artifacts() (injectors.ArtifactPoint, error) { return e.store, nil }

// processStore builds a one-file Go service as orders v1 and v2 and puts
// them in a real process provider's store under a temp dir.
func processStore(t *testing.T) provider.ArtifactStore {
	t.Helper()
	dir := t.TempDir()
	for name, body := range map[string]string{
		"go.mod":  "module svc\n\ngo 1.22\n",
		"main.go": "package main\n\nfunc main() {}\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p, err := provider.New("process", provider.Config{RunID: "artifact-test", RunDir: t.TempDir(), TempDir: t.TempDir(), CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close(context.Background()) })
	sc := &scenarios.Scenario{Environment: scenarios.Environment{Services: []*scenarios.Service{{
		Name: "orders", Build: dir, Versions: []*scenarios.Version{{Name: "v1"}, {Name: "v2"}},
	}}}}
	if err := p.Build(context.Background(), sc); err != nil {
		t.Fatal(err)
	}
	st := p.(provider.ArtifactStore)
	if _, err := st.StoreArtifacts(context.Background(), sc, 0); err != nil {
		t.Fatal(err)
	}
	return st
}

func TestArtifactMissing(t *testing.T) {
	ctx := context.Background()
	k, ok := injectors.Lookup("artifact-missing")
	if !ok {
		t.Fatal("artifact-missing is not registered")
	}
	if _, err := k.Parse(func(any) error { return nil }); err == nil || !strings.Contains(err.Error(), "needs params.version") {
		t.Errorf("parse without version: %v", err)
	}
	params, err := k.Parse(func(v any) error { v.(*injectors.ArtifactMissingParams).Version = "v1"; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if v := k.(injectors.VersionParam).ParamVersion(params); v != "v1" {
		t.Errorf("ParamVersion = %q", v)
	}
	store := processStore(t)
	inj := k.New(injectors.Spec{Name: "gone", Target: "orders", Probability: 1, Params: params})
	if err := inj.Revert(ctx); err != nil {
		t.Errorf("revert before apply: %v", err)
	}
	if err := inj.Apply(ctx, artifactEnv{store: store}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.StoredDigest(ctx, "orders/v1"); !errors.Is(err, provider.ErrArtifactMissing) ||
		!strings.Contains(err.Error(), "removed by fault artifact-missing") {
		t.Errorf("v1 after apply: %v", err)
	}
	if _, err := store.StoredDigest(ctx, "orders/v2"); err != nil {
		t.Errorf("v2 (same build) after v1's removal: %v", err)
	}
	for range 2 { // revert is idempotent
		if err := inj.Revert(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := store.StoredDigest(ctx, "orders/v1"); err != nil {
		t.Errorf("v1 after revert: %v", err)
	}
	other := k.New(injectors.Spec{Name: "gone", Target: "orders", Probability: 1, Params: params})
	if err := other.Apply(ctx, procEnv{}); err == nil || !strings.Contains(err.Error(), "no artifact store") {
		t.Errorf("apply without a store: %v", err)
	}
}
