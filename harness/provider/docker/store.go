package docker

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"

	"github.com/drillhq/drill/harness/provider"
	"github.com/drillhq/drill/scenarios"
)

var _ provider.ArtifactStore = (*dockerProvider)(nil)

// The run's artifact store on the engine is a set of tags,
// drill-store-<run id>/<service>:<version>, each pointing at the image ID
// its version was built as. A tag is a name, not a copy: removing it
// (fault artifact-missing) leaves the image to the build cache's own tag,
// and Close (or `drill cleanup`) removes every tag of the run. Images
// carry no labels added after their build, so the run's tags are found
// by their repository name.
const storeRepoPrefix = "drill-store-"

// storeRepo is the repository prefix of run runID's store tags.
func storeRepo(runID string) string { return storeRepoPrefix + sanitizeRepo(runID) }

// storeRef is the tag of service's version in run runID's store.
func storeRef(runID, service, version string) string {
	return storeRepo(runID) + "/" + sanitizeRepo(service) + ":" + version
}

// dockerStore is what the provider knows of its store: entries by tag.
type dockerStore struct {
	mu      sync.Mutex
	entries map[string]*storeEntry
}

// storeEntry is one version's place in the store.
type storeEntry struct {
	artifact provider.StoredArtifact
	gone     string // why the store does not hold it now ("" when it does)
}

// StoreArtifacts tags every version's image into the run's store; see
// provider.Evictions for retain.
func (p *dockerProvider) StoreArtifacts(ctx context.Context, sc *scenarios.Scenario, retain int) ([]provider.StoredArtifact, error) {
	arts, err := p.Artifacts(ctx, sc)
	if err != nil {
		return nil, err
	}
	cli, err := dockerClient()
	if err != nil {
		return nil, err
	}
	st := &dockerStore{entries: map[string]*storeEntry{}}
	p.mu.Lock()
	p.store = st
	p.mu.Unlock()
	evicted := provider.Evictions(sc, arts, retain)
	var out []provider.StoredArtifact
	for _, a := range arts {
		ref := storeRef(p.cfg.RunID, a.Service, a.Version)
		sa := provider.StoredArtifact{Service: a.Service, Version: a.Version, Kind: a.Kind, Digest: a.Digest,
			Ref: ref, Evicted: evicted[a.Service+"/"+a.Version]}
		if sa.Evicted == "" {
			// By image ID, not by the build tag: the store holds exactly
			// the digest that was recorded, whatever the tag means later.
			if _, err := cli.ImageTag(ctx, client.ImageTagOptions{Source: a.Digest, Target: ref}); err != nil {
				return nil, &provider.EnvError{What: "tag " + ref + " into the artifact store", Err: err}
			}
		}
		st.mu.Lock()
		st.entries[ref] = &storeEntry{artifact: sa, gone: sa.Evicted}
		st.mu.Unlock()
		out = append(out, sa)
	}
	return out, nil
}

// lookup is ref's entry; the caller holds st.mu.
func (st *dockerStore) lookup(ref string) (*storeEntry, error) {
	if e := st.entries[ref]; e != nil {
		return e, nil
	}
	return nil, fmt.Errorf("artifact %s: no such entry in the store (known: %s)", ref, strings.Join(slices.Sorted(maps.Keys(st.entries)), ", "))
}

func (p *dockerProvider) artifactStore(what string) (*dockerStore, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.store == nil {
		return nil, fmt.Errorf("artifact %s: the run has no artifact store (StoreArtifacts was not called)", what)
	}
	return p.store, nil
}

// RemoveArtifact untags service's version from the store; the image itself
// stays (its build tag, other versions' store tags hold it).
func (p *dockerProvider) RemoveArtifact(ctx context.Context, service, version string) error {
	return p.setGone(ctx, service, version, true)
}

// RestoreArtifact tags a removed version's image ID back; an evicted one
// stays out, since no fault took it.
func (p *dockerProvider) RestoreArtifact(ctx context.Context, service, version string) error {
	return p.setGone(ctx, service, version, false)
}

func (p *dockerProvider) setGone(ctx context.Context, service, version string, remove bool) error {
	ref := storeRef(p.cfg.RunID, service, version)
	st, err := p.artifactStore(ref)
	if err != nil {
		return err
	}
	cli, err := dockerClient()
	if err != nil {
		return err
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	e, err := st.lookup(ref)
	switch {
	case err != nil:
		return err
	case remove && e.gone == "":
		if _, err := cli.ImageRemove(ctx, ref, client.ImageRemoveOptions{}); err != nil && !cerrdefs.IsNotFound(err) {
			return fmt.Errorf("remove %s from the artifact store: %w", ref, err)
		}
		e.gone = provider.ReasonRemoved
	case !remove && e.gone == provider.ReasonRemoved:
		if _, err := cli.ImageTag(ctx, client.ImageTagOptions{Source: e.artifact.Digest, Target: ref}); err != nil {
			return fmt.Errorf("restore %s to the artifact store: %w", ref, err)
		}
		e.gone = ""
	}
	return nil
}

// storedImage checks that ref is in the store and on the engine now, and
// returns its image ID; a missing one is an *provider.ArtifactMissingError.
func (p *dockerProvider) storedImage(ctx context.Context, ref string) (string, error) {
	st, err := p.artifactStore(ref)
	if err != nil {
		return "", err
	}
	st.mu.Lock()
	e, err := st.lookup(ref)
	var a provider.StoredArtifact
	var gone string
	if e != nil {
		a, gone = e.artifact, e.gone
	}
	st.mu.Unlock()
	if err != nil {
		return "", err
	}
	if gone != "" {
		return "", &provider.ArtifactMissingError{Service: a.Service, Version: a.Version, Digest: a.Digest, Why: gone}
	}
	cli, err := dockerClient()
	if err != nil {
		return "", err
	}
	img, err := cli.ImageInspect(ctx, ref)
	if cerrdefs.IsNotFound(err) {
		// Untagged behind the drill's back (docker rmi): as missing as
		// a fault's removal, and said differently.
		return "", &provider.ArtifactMissingError{Service: a.Service, Version: a.Version, Digest: a.Digest,
			Why: "tag " + ref + " is gone from the engine"}
	}
	if err != nil {
		return "", fmt.Errorf("inspect %s: %w", ref, err)
	}
	return img.ID, nil
}

// StoredDigest is the image ID the store tag points at now, as the
// engine says.
func (p *dockerProvider) StoredDigest(ctx context.Context, ref string) (string, error) {
	return p.storedImage(ctx, ref)
}

// storeTags lists run runID's store tags on the engine.
func storeTags(ctx context.Context, cli client.APIClient, runID string) ([]string, error) {
	repo := storeRepo(runID)
	imgs, err := cli.ImageList(ctx, client.ImageListOptions{Filters: client.Filters{}.Add("reference", repo+"/*")})
	if err != nil {
		return nil, fmt.Errorf("list the artifact store of run %s: %w", runID, err)
	}
	var out []string
	for _, img := range imgs.Items {
		for _, t := range img.RepoTags {
			if strings.HasPrefix(t, repo+"/") {
				out = append(out, t)
			}
		}
	}
	slices.Sort(out)
	return out, nil
}

// removeStore untags every store tag of run runID (the images stay:
// their build tags hold them) and returns what it removed.
func removeStore(ctx context.Context, cli client.APIClient, runID string) ([]string, error) {
	tags, err := storeTags(ctx, cli, runID)
	if err != nil {
		return nil, err
	}
	var done []string
	var errs []error
	for _, t := range tags {
		if _, err := cli.ImageRemove(ctx, t, client.ImageRemoveOptions{}); err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove store tag %s: %w", t, err))
			continue
		}
		done = append(done, "removed store tag "+t)
	}
	return done, errors.Join(errs...)
}
