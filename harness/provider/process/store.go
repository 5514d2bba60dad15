package process

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/drillhq/drill/harness/provider"
	"github.com/drillhq/drill/scenarios"
)

var _ provider.ArtifactStore = (*processProvider)(nil)

// storeDir is the run's artifact store under its temp dir: one executable
// copy per build, named by digest (sha256-<hex>), and index.json, which
// says which service version runs which digest. removedDir holds the
// copies fault artifact-missing took out, until their revert puts them
// back: the fault hides a build, it does not destroy the evidence.
const (
	storeDir   = "store"
	removedDir = "store-removed"
	indexFile  = "index.json"
)

// artifactStore is the process provider's store: entries by
// "service/version", which is also their store ref.
type artifactStore struct {
	dir, removed string
	mu           sync.Mutex
	entries      map[string]*storeEntry
}

// storeEntry is one version's place in the store.
type storeEntry struct {
	artifact provider.StoredArtifact
	gone     string // why the store does not hold it now ("" when it does)
}

// StoreArtifacts copies every built binary into the store, content
// addressed, and records which versions run it; see provider.Evictions
// for retain. A command is not stored: it is the author's program, run in
// place.
func (p *processProvider) StoreArtifacts(ctx context.Context, sc *scenarios.Scenario, retain int) ([]provider.StoredArtifact, error) {
	arts, err := p.Artifacts(ctx, sc)
	if err != nil {
		return nil, err
	}
	if p.cfg.TempDir == "" {
		return nil, &provider.EnvError{What: "the artifact store needs the run's temp dir (provider.Config.TempDir)"}
	}
	st := &artifactStore{dir: filepath.Join(p.cfg.TempDir, storeDir), removed: filepath.Join(p.cfg.TempDir, removedDir),
		entries: map[string]*storeEntry{}}
	for _, d := range []string{st.dir, st.removed} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, &provider.EnvError{What: "create the artifact store", Err: err}
		}
	}
	evicted := provider.Evictions(sc, arts, retain)
	var out []provider.StoredArtifact
	for _, a := range arts {
		key := a.Service + "/" + a.Version
		sa := provider.StoredArtifact{Service: a.Service, Version: a.Version, Kind: a.Kind, Digest: a.Digest}
		if a.Kind == "binary" {
			sa.Ref, sa.Evicted = key, evicted[key]
			if sa.Evicted == "" {
				if err := st.put(a.Ref, a.Digest); err != nil {
					return nil, &provider.EnvError{What: "store " + key + "'s binary", Err: err}
				}
			}
			st.entries[key] = &storeEntry{artifact: sa, gone: sa.Evicted}
		}
		out = append(out, sa)
	}
	if err := st.writeIndex(); err != nil {
		return nil, &provider.EnvError{What: "write the artifact store's index", Err: err}
	}
	// Published whole: faults and starts never see a half-filled store.
	p.mu.Lock()
	p.store = st
	p.mu.Unlock()
	return out, nil
}

// blob is where the store keeps the build of digest.
func (st *artifactStore) blob(digest string) string {
	return filepath.Join(st.dir, strings.Replace(digest, ":", "-", 1))
}

// put copies the binary at src into the store as its digest, once: the
// copy is written aside and renamed, so an instance never executes a
// half-written file.
func (st *artifactStore) put(src, digest string) error {
	dst := st.blob(digest)
	if _, err := os.Stat(dst); err == nil {
		return nil
	}
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(st.dir, ".put-*")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(b)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr, os.Chmod(tmp.Name(), 0o500)); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), dst)
}

// writeIndex records which version runs which stored digest, for a person
// looking into the run's temp dir; the provider never reads it back.
func (st *artifactStore) writeIndex() error {
	idx := map[string]string{}
	for k, e := range st.entries {
		if e.gone == "" {
			idx[k] = e.artifact.Digest
		}
	}
	b, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(st.dir, indexFile), append(b, '\n'), 0o600)
}

// entry looks a store ref up; the caller holds st.mu.
func (p *processProvider) entry(ref string) (*artifactStore, error) {
	p.mu.Lock()
	st := p.store
	p.mu.Unlock()
	if st == nil {
		return nil, fmt.Errorf("artifact %s: the run has no artifact store (StoreArtifacts was not called)", ref)
	}
	return st, nil
}

// lookup is ref's entry, or an error naming the known ones.
func (st *artifactStore) lookup(ref string) (*storeEntry, error) {
	if e := st.entries[ref]; e != nil {
		return e, nil
	}
	return nil, fmt.Errorf("artifact %s: no such entry in the store (known: %s)", ref, strings.Join(slices.Sorted(maps.Keys(st.entries)), ", "))
}

// shared reports whether a version other than key's holds digest now.
func (st *artifactStore) shared(key, digest string) bool {
	for k, e := range st.entries {
		if k != key && e.gone == "" && e.artifact.Digest == digest {
			return true
		}
	}
	return false
}

// RemoveArtifact takes service's version out of the store. Its copy moves
// aside only when no other version runs the same build (versions that
// differ by env share one): the others must still start.
func (p *processProvider) RemoveArtifact(_ context.Context, service, version string) error {
	ref := service + "/" + version
	st, err := p.entry(ref)
	if err != nil {
		return err
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	e, err := st.lookup(ref)
	if err != nil || e.gone != "" {
		return err // already removed or evicted: nothing to take out
	}
	e.gone = provider.ReasonRemoved
	d := e.artifact.Digest
	if !st.shared(ref, d) {
		if err := os.Rename(st.blob(d), filepath.Join(st.removed, filepath.Base(st.blob(d)))); err != nil {
			e.gone = ""
			return fmt.Errorf("remove %s from the artifact store: %w", ref, err)
		}
	}
	return st.writeIndex()
}

// RestoreArtifact puts a removed version back; an evicted one stays out,
// since no fault took it.
func (p *processProvider) RestoreArtifact(_ context.Context, service, version string) error {
	ref := service + "/" + version
	st, err := p.entry(ref)
	if err != nil {
		return err
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	e, err := st.lookup(ref)
	if err != nil || e.gone != provider.ReasonRemoved {
		return err
	}
	blob := st.blob(e.artifact.Digest)
	aside := filepath.Join(st.removed, filepath.Base(blob))
	if _, err := os.Stat(aside); err == nil {
		if err := os.Rename(aside, blob); err != nil {
			return fmt.Errorf("restore %s to the artifact store: %w", ref, err)
		}
	}
	e.gone = ""
	return st.writeIndex()
}

// storedPath is the stored copy ref starts from, or an
// *provider.ArtifactMissingError when the store does not hold it.
func (p *processProvider) storedPath(ref string) (string, error) {
	st, err := p.entry(ref)
	if err != nil {
		return "", err
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	e, err := st.lookup(ref)
	if err != nil {
		return "", err
	}
	if e.gone != "" {
		a := e.artifact
		return "", &provider.ArtifactMissingError{Service: a.Service, Version: a.Version, Digest: a.Digest, Why: e.gone}
	}
	return st.blob(e.artifact.Digest), nil
}

// StoredDigest hashes the stored copy's bytes as they are now.
func (p *processProvider) StoredDigest(_ context.Context, ref string) (string, error) {
	path, err := p.storedPath(ref)
	if err != nil {
		return "", err
	}
	return fileDigest(path)
}

// closeStore removes the store and what faults put aside, by path: a
// StoreArtifacts that failed half-way filled them without publishing p.store.
func (p *processProvider) closeStore() error {
	if p.cfg.TempDir == "" {
		return nil // no temp dir, no store: never a path relative to the working directory
	}
	var errs []error
	for _, d := range []string{storeDir, removedDir} {
		errs = append(errs, os.RemoveAll(filepath.Join(p.cfg.TempDir, d)))
	}
	return errors.Join(errs...)
}

var _ provider.LeftoverLister = (*processProvider)(nil)

// Leftovers implements provider.LeftoverLister: the artifact store and
// what faults put aside, if they survive Close. Processes are the
// harness's own check (by PID); the rest of the temp dir is its teardown's.
func (p *processProvider) Leftovers(context.Context) []string {
	if p.cfg.TempDir == "" {
		return nil
	}
	var out []string
	for _, d := range []string{storeDir, removedDir} {
		path := filepath.Join(p.cfg.TempDir, d)
		if _, err := os.Lstat(path); err == nil {
			out = append(out, "artifact store "+path+" still exists")
		}
	}
	return out
}
