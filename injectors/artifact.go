package injectors

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

func init() { Register("artifact-missing", artifactMissingKind{}) }

// ArtifactPoint is the run's artifact store as a fault point (a provider's
// ArtifactStore is one).
type ArtifactPoint interface {
	// RemoveArtifact takes a service version's build out of the store;
	// RestoreArtifact puts it back. Both are idempotent.
	RemoveArtifact(ctx context.Context, service, version string) error
	RestoreArtifact(ctx context.Context, service, version string) error
}

// ArtifactEnv is an Env with an artifact store. It is a separate interface
// so that environments without a store need not implement it;
// artifact-missing fails to apply on one that does not.
type ArtifactEnv interface {
	Artifacts() (ArtifactPoint, error)
}

// VersionParam is implemented by a kind whose params name a version of
// its target service: the scenario loader checks that the version exists,
// at the param, as it checks a target.
type VersionParam interface {
	// ParamVersion is the version the parsed params name ("" when none).
	ParamVersion(params any) string
}

// ArtifactMissingParams configures artifact-missing.
type ArtifactMissingParams struct {
	Version string `yaml:"version"`
}

type artifactMissingKind struct{}

var _ VersionParam = artifactMissingKind{}

func (artifactMissingKind) Describe() Description {
	return Description{
		Name: "artifact-missing",
		Summary: "remove one version's build from the run's artifact store (as a registry losing an image would): " +
			"starting it from the store, e.g. a rollback redeploying the baseline, must fail loudly; revert puts it back",
		Targets: "service",
		Params:  []Param{{Name: "version", Default: "(required)", Description: "the version of the target service whose artifact goes, e.g. v1"}},
	}
}

func (artifactMissingKind) Parse(decode func(any) error) (any, error) {
	var p ArtifactMissingParams
	if err := decode(&p); err != nil {
		return nil, err
	}
	if p.Version == "" {
		return p, errors.New("artifact-missing needs params.version, the version whose artifact goes (e.g. version: v1)")
	}
	return p, nil
}

func (artifactMissingKind) ParamVersion(params any) string {
	p, _ := params.(ArtifactMissingParams)
	return p.Version
}

func (artifactMissingKind) New(s Spec) Injector {
	return &artifactMissing{service: s.Target, version: s.Params.(ArtifactMissingParams).Version, coin: newCoin(s.Seed, s.Probability)}
}

type artifactMissing struct {
	service, version string
	coin             *coin
	mu               sync.Mutex
	ap               ArtifactPoint // set while applied
}

func (f *artifactMissing) Apply(ctx context.Context, env Env) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ap != nil || !f.coin.flip() {
		return nil
	}
	ae, ok := env.(ArtifactEnv)
	if !ok {
		return errors.New("artifact-missing: this drill has no artifact store")
	}
	ap, err := ae.Artifacts()
	if err != nil {
		return fmt.Errorf("artifact-missing: %w", err)
	}
	if err := ap.RemoveArtifact(ctx, f.service, f.version); err != nil {
		return fmt.Errorf("artifact-missing: %w", err)
	}
	f.ap = ap
	return nil
}

func (f *artifactMissing) Revert(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ap == nil {
		return nil
	}
	if err := f.ap.RestoreArtifact(ctx, f.service, f.version); err != nil {
		return fmt.Errorf("artifact-missing: put %s %s back in the store: %w", f.service, f.version, err)
	}
	f.ap = nil
	return nil
}
