// Package provider starts the system under test: databases and service
// instances, as local processes (package process) or containers (package
// docker). Each provider registers itself by name; the harness asks the
// registry and never names one.
package provider

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/drillhq/drill/injectors"
	"github.com/drillhq/drill/internal/registry"
	"github.com/drillhq/drill/scenarios"
)

// Provider starts the system under test: databases and service instances.
// Implementations register themselves by name (process, docker).
type Provider interface {
	// Build prepares every program the scenario runs (compiles fixtures,
	// builds images) so that starting an instance later is fast.
	Build(ctx context.Context, sc *scenarios.Scenario) error
	// StartDatabase starts (or creates) a database and says how to reach it.
	StartDatabase(ctx context.Context, db *scenarios.Database) (*DatabaseHandle, error)
	// StartInstance starts one version of a service and waits until its
	// health path answers 200.
	StartInstance(ctx context.Context, spec InstanceSpec) (Instance, error)
	// Close stops everything the provider started and removes what it
	// created. It is safe to call more than once.
	Close(ctx context.Context) error
}

// Config is what every provider is built from.
type Config struct {
	RunID   string
	RunDir  string // .drill/runs/<name>-<time>; logs go to RunDir/logs
	TempDir string // removed at teardown
	// CacheDir keeps build outputs between runs (compilers cache the rest).
	CacheDir string
	// BaseDirs are searched, in order, for relative `build:` paths.
	BaseDirs []string
	Log      io.Writer // progress lines for the operator
}

// DatabaseHandle says how to reach a started database.
type DatabaseHandle struct {
	Name   string
	Engine string
	// URL is what services get in DATABASE_URL (`sqlite:///abs/file.db`,
	// or for PostgreSQL the URL of the TCP proxy in front of the server).
	URL string
	// MigrateURL is the golang-migrate database URL.
	MigrateURL string
	// DriverName and DSN open the database with database/sql for checks.
	// They reach the server directly, never through Proxy, so faults on
	// the proxy cannot break migrations and verification.
	DriverName, DSN string
	// PID is the database server's process id (PostgreSQL's postmaster),
	// for the leftovers check; 0 when the database is not a process (SQLite).
	PID int
	// Proxy is the fault point of the TCP proxy URL points at; nil when
	// the database has none (SQLite: no connection to act on).
	Proxy injectors.ConnPoint
}

// InstanceSpec describes one instance to start.
type InstanceSpec struct {
	Service *scenarios.Service
	Version *scenarios.Version
	Env     map[string]string // fully resolved, placeholders substituted
	// Artifact, when set, is the version's entry in the run's artifact
	// store (a StoredArtifact.Ref): the instance starts from the stored
	// copy, not from the build cache, and fails with an
	// *ArtifactMissingError when the store no longer holds it.
	Artifact string
}

// Instance is one running version of a service.
type Instance interface {
	// Name is "<service>-<version>".
	Name() string
	// URL is the base URL the router forwards to.
	URL() string
	// PID is the operating-system process id (0 when not a local process).
	PID() int
	// Alive reports whether the instance is still running.
	Alive() bool
	// Stop stops the instance: a graceful signal, then a kill after a
	// grace period. It is idempotent.
	Stop(ctx context.Context) error
	// Kill, Pause and Resume are what process faults do to an instance
	// (SIGKILL, SIGSTOP, SIGCONT on the process provider).
	Kill() error
	Pause() error
	Resume() error
}

// ErrEnvironment marks failures of the environment (a missing compiler, a
// build that fails, a service that never gets healthy): the CLI exits 3.
var ErrEnvironment = errors.New("environment")

// EnvError is an environment problem with a hint on how to fix it.
type EnvError struct {
	What string // what failed
	Hint string // how to get what is missing
	Err  error
}

func (e *EnvError) Error() string {
	s := e.What
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap lets errors.Is(err, ErrEnvironment) match.
func (e *EnvError) Unwrap() []error { return []error{ErrEnvironment, e.Err} }

// Factory builds a provider for one run.
type Factory func(cfg Config) (Provider, error)

// Kind is one registered provider: how to build it for a run and, for a
// provider whose objects outlive the harness process that created them
// (containers, networks), how to sweep what dead runs left.
type Kind struct {
	New Factory
	// Caps says what the provider can run; the scenario is checked
	// against it (scenarios.ProviderProblems) before anything starts.
	Caps scenarios.ProviderCaps
	// SweepRun removes what run runID left when the harness that started
	// it is gone (the objects' own labels decide, not the caller); nil
	// when the provider leaves nothing a dead harness's process group and
	// temp dir do not cover.
	SweepRun func(ctx context.Context, runID string) (CleanupResult, error)
	// SweepAll does the same for every dead run of this host, including
	// runs whose journal is not under the output directory.
	SweepAll func(ctx context.Context) ([]CleanupResult, error)
}

var providers = registry.New[Kind]("provider")

// Register adds a provider under name; providers call it from init.
func Register(name, description string, k Kind) { providers.Register(name, description, k) }

// Lookup returns the provider registered as name.
func Lookup(name string) (Kind, error) { return providers.Get(name) }

// New builds the provider registered as name.
func New(name string, cfg Config) (Provider, error) {
	k, err := providers.Get(name)
	if err != nil {
		return nil, err
	}
	return k.New(cfg)
}

// Catalog is every registered provider's capabilities, by name: what
// scenarios.ProviderProblems checks a scenario against.
func Catalog() map[string]scenarios.ProviderCaps {
	out := map[string]scenarios.ProviderCaps{}
	for _, n := range providers.Names() {
		k, _ := providers.Get(n)
		out[n] = k.Caps
	}
	return out
}

// Names lists registered providers, sorted.
func Names() []string { return providers.Names() }

// Description returns the one-line description of a provider.
func Description(name string) string { return providers.Description(name) }

// UsageReporter is an instance that measures its own usage, for instances
// that are not a local process tree (a container: the engine's cgroup
// counters). The first sample of an instance has CPUOK false; ErrNoProcess
// (or any error) means nothing could be sampled this time.
type UsageReporter interface {
	Usage(ctx context.Context) (ResourceSample, error)
}

// ResourceSample is one instance's usage, sampled at the end of an interval.
type ResourceSample struct {
	At time.Time // when the sample was taken
	// CPU is the CPU time the process tree used since the previous sample
	// divided by the wall time between the two samples: cores in use.
	// CPUOK is false for the first sample of a process (nothing to delta
	// against).
	CPU   float64
	CPUOK bool
	RSS   float64 // resident set size in bytes, summed over the tree
}

// CleanupResult is what Cleanup found in one run directory.
type CleanupResult struct {
	RunDir  string
	Running bool     // the run's harness is still alive: left alone
	Actions []string // what was removed, killed or resumed
	// Skipped is what was left alone although the run is over, and why:
	// what drill cannot prove is its own (a journal written before drill
	// recorded process identities, a reused PID, a temp dir drill does not
	// name, another host's containers).
	Skipped []string
}

// LeftoverLister is a Provider that can prove, after Close, that nothing it
// created survives (a container engine's objects, which have no PID the
// harness could check).
type LeftoverLister interface {
	Leftovers(ctx context.Context) []string
}

// ForwardAllower is a Provider that forwards only the loopback listeners
// the harness names as its own: the harness calls AllowForward with every
// router entry it hands a service (resolveFor). Database proxies are the
// provider's own and need no naming.
type ForwardAllower interface {
	AllowForward(url string)
}

// ErrNoProcess means the sampled instance's process is gone.
var ErrNoProcess = errors.New("process not found")

// Artifact is what one service version runs: a built binary, a command's
// executable, or an image, with a content digest, so that a report says
// exactly which build was released and which one a rollback came back to.
type Artifact struct {
	Service, Version string
	// Kind is "binary" (a build: the process provider compiled), "command"
	// (a command: program's executable) or "image" (a container image).
	Kind string
	// Ref is the binary's or executable's path, or the image's name.
	Ref string
	// Digest is "sha256:<hex>": of the file's bytes, or the image ID.
	Digest string
}

// ArtifactLister is a Provider that names, after Build, the artifact each
// service version of the scenario runs.
type ArtifactLister interface {
	Artifacts(ctx context.Context, sc *scenarios.Scenario) ([]Artifact, error)
}

// ArtifactStore is a Provider with an artifact store of the run's own:
// copies of every service version's build, by digest, that instances
// can start from (InstanceSpec.Artifact) and a rollback can redeploy a
// baseline from. It is created by StoreArtifacts (after Build) and
// removed by Close; a LeftoverLister also reports it if it survives.
type ArtifactStore interface {
	// StoreArtifacts puts every service version's artifact in the store,
	// keeping per service only the retain most recent builds (0: all of
	// them; see Evictions for what "recent" means). It returns one entry
	// per artifact ArtifactLister names, in the scenario's order, evicted
	// ones included.
	StoreArtifacts(ctx context.Context, sc *scenarios.Scenario, retain int) ([]StoredArtifact, error)
	// RemoveArtifact takes one service version's artifact out of the store
	// (fault artifact-missing), so that starting it from the store fails;
	// RestoreArtifact puts it back (the fault's revert). Both are
	// idempotent.
	RemoveArtifact(ctx context.Context, service, version string) error
	RestoreArtifact(ctx context.Context, service, version string) error
	// StoredDigest digests what the store holds under ref (a
	// StoredArtifact.Ref) right now: the stored bytes or image, never the
	// store's own record of what it put there, so that a redeployed
	// baseline can be proven to be the recorded build.
	StoredDigest(ctx context.Context, ref string) (string, error)
}

// StoredArtifact is one service version's entry in the run's store.
type StoredArtifact struct {
	Service, Version string
	// Kind is the built artifact's kind (binary, image); "command" for a
	// version the store does not hold (its program runs in place).
	Kind string
	// Digest is the build's "sha256:<hex>" (file bytes or image ID).
	Digest string
	// Ref names the entry in the store: set it as InstanceSpec.Artifact.
	// Empty for a command, which is never stored.
	Ref string
	// Evicted says why the store does not hold this version although it
	// was built ("evicted by artifacts.retain 1"); empty when it does.
	Evicted string
}

// Artifact reasons a store entry can be missing, for errors and reports.
const (
	// ReasonRemoved is why an entry removed by RemoveArtifact is missing.
	ReasonRemoved = "removed by fault artifact-missing"
)

// ErrArtifactMissing is what starting an instance from a store entry that
// is not there (evicted or removed) fails with, wrapped in an
// *ArtifactMissingError naming the version, its digest and why.
var ErrArtifactMissing = errors.New("artifact missing from the store")

// ArtifactMissingError is the error of an InstanceSpec whose artifact the
// store does not hold.
type ArtifactMissingError struct {
	Service, Version string
	Digest           string
	Why              string // ReasonRemoved, or the eviction
}

func (e *ArtifactMissingError) Error() string {
	return "start " + e.Service + " " + e.Version + " from the artifact store: " + e.Digest + " is not in the store (" + e.Why + ")"
}

// Unwrap lets errors.Is(err, ErrArtifactMissing) match.
func (e *ArtifactMissingError) Unwrap() error { return ErrArtifactMissing }
