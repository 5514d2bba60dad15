package harness

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"

	"github.com/drillhq/drill/harness/cleanup"
	"github.com/drillhq/drill/harness/contract"
	"github.com/drillhq/drill/harness/dbcheck"
	"github.com/drillhq/drill/harness/flags"
	"github.com/drillhq/drill/harness/journal"
	"github.com/drillhq/drill/harness/metrics"
	"github.com/drillhq/drill/harness/provider"
	"github.com/drillhq/drill/harness/redact"
	"github.com/drillhq/drill/harness/router"
	"github.com/drillhq/drill/injectors"
	"github.com/drillhq/drill/internal/procid"
	"github.com/drillhq/drill/reports"
	"github.com/drillhq/drill/scenarios"
)

// System is what provision hands the later stages: the running system
// under test — its provider, databases, the router in front of every
// service and the instances behind them — and the schema as it was before
// the rollout. It is also the injectors.Env of the drill's faults (env.go).
type System struct {
	sc   *scenarios.Scenario
	j    *journal.Journal
	say  func(format string, args ...any)
	seed int64

	prov provider.Provider
	dbs  map[string]*provider.DatabaseHandle
	// routers, their recorders and their base URLs (what dependency
	// placeholders and the load resolve to), by service.
	routers   map[string]*router.Router
	recorders map[string]*metrics.Recorder
	urls      map[string]string
	client    *metrics.Recorder // what the load generator sees
	// flags is drill's flag service (nil when the scenario defines no
	// flags) and flagsURL its base URL (flagsys.go).
	flags    *flags.Server
	flagsURL string
	// artifacts are what each service version runs, with its digest;
	// stored are their entries in the run's artifact store (by
	// service/version; none when the provider keeps no store), which
	// every instance starts from.
	artifacts []reports.Artifact
	stored    map[string]provider.StoredArtifact
	// contracts are the scenario's contracts, compiled; each is also
	// installed on its provider's router (contractsys.go).
	contracts []*contract.Contract
	// checked are the contract checks made so far (before the rollout,
	// after a rollback): the stages run on one goroutine.
	checked []contract.Result
	// schemaBefore is every database's schema after the baseline
	// migration, when the scenario asks for `schema: baseline`.
	schemaBefore map[string]dbcheck.Schema

	mu        sync.Mutex // guards instances, pids, migPoints
	instances map[string]map[string]provider.Instance
	pids      map[int]string
	migPoints map[string]*dbcheck.FaultPoint
}

// newSystem is an empty system; provision fills it.
func newSystem(sc *scenarios.Scenario, j *journal.Journal, say func(string, ...any), seed int64) *System {
	return &System{sc: sc, j: j, say: say, seed: seed,
		dbs: map[string]*provider.DatabaseHandle{}, routers: map[string]*router.Router{}, recorders: map[string]*metrics.Recorder{},
		urls: map[string]string{}, instances: map[string]map[string]provider.Instance{}, pids: map[int]string{}}
}

// provision builds and starts databases, routers and baseline instances,
// migrates the schema to the baseline version and snapshots it. The System
// it returns is also returned on error: teardown closes what started.
func (d *drill) provision(ctx context.Context) (*System, error) {
	sys := newSystem(d.sc, d.j, d.say, d.seed)
	d.j.Record(journal.ProvisionStart)
	prov, err := provider.New(d.provider, provider.Config{
		RunID: d.stageRunID(), RunDir: d.stageDir(), TempDir: d.stageTemp(),
		CacheDir: cmp.Or(d.opts.CacheDir, DefaultCacheDir),
		BaseDirs: baseDirs(d.sc.Path), Log: d.log,
	})
	if err != nil {
		return sys, &provider.EnvError{What: "provider", Err: err}
	}
	sys.prov = prov
	d.say("building services")
	if err := prov.Build(ctx, d.sc); err != nil {
		return sys, err
	}
	if err := sys.digestArtifacts(ctx); err != nil {
		return sys, err
	}
	if err := sys.startDatabases(ctx); err != nil {
		return sys, err
	}
	// Routers first: every service's dependency URLs point at routers, so
	// they must exist before any instance starts.
	sys.client = metrics.NewRecorder(ClientSource)
	sys.client.Declare("all")
	for i, s := range d.sc.Environment.Services {
		rec := metrics.NewRecorder("router:" + s.Name)
		rt := router.New(s.Name, rec, router.WithSeed(d.seed+int64(i)*7919))
		u, err := rt.Start(ctx)
		if err != nil {
			return sys, &provider.EnvError{What: "start router for " + s.Name, Err: err}
		}
		sys.routers[s.Name], sys.recorders[s.Name], sys.urls[s.Name] = rt, rec, u
	}
	if err := sys.startFlags(ctx); err != nil {
		return sys, err
	}
	if err := sys.compileContracts(); err != nil {
		return sys, err
	}
	for _, s := range d.sc.Environment.Services {
		base := s.Version(s.Baseline)
		if err := sys.migrate(ctx, s, base, "migrate.baseline"); err != nil {
			return sys, err
		}
		if _, err := sys.startInstance(ctx, s, base); err != nil {
			return sys, err
		}
		sys.routers[s.Name].SetSplit(base.Name, "", 0)
		sys.recorders[s.Name].Declare(base.Name)
	}
	if err := sys.snapshotBaseline(ctx); err != nil {
		return sys, err
	}
	d.j.Record(journal.ProvisionDone)
	return sys, nil
}

// digestArtifacts records the artifact each service version runs, with its
// content digest, in the journal and for the report: the release and the
// baseline a rollback returns to are named by content, not by version.
func (sys *System) digestArtifacts(ctx context.Context) error {
	al, ok := sys.prov.(provider.ArtifactLister)
	if !ok {
		return nil
	}
	as, err := al.Artifacts(ctx, sys.sc)
	if err != nil {
		return err
	}
	for _, a := range as {
		sys.artifacts = append(sys.artifacts, reports.Artifact{Service: a.Service, Version: a.Version, Kind: a.Kind, Ref: a.Ref, Digest: a.Digest})
		sys.j.Record(journal.ArtifactBuilt, "service", a.Service, "version", a.Version, "kind", a.Kind, "ref", a.Ref, "digest", a.Digest)
	}
	st, ok := sys.prov.(provider.ArtifactStore)
	if !ok {
		return nil
	}
	stored, err := st.StoreArtifacts(ctx, sys.sc, sys.sc.Artifacts.Retain)
	if err != nil {
		return err
	}
	sys.stored = map[string]provider.StoredArtifact{}
	for _, a := range stored {
		sys.stored[a.Service+"/"+a.Version] = a
		sys.j.Record(journal.ArtifactStored, "service", a.Service, "version", a.Version, "ref", a.Ref, "digest", a.Digest, "evicted", a.Evicted)
	}
	return nil
}

// Artifacts implements injectors.ArtifactEnv: the run's artifact store,
// for fault artifact-missing.
func (sys *System) Artifacts() (injectors.ArtifactPoint, error) {
	st, ok := sys.prov.(provider.ArtifactStore)
	if !ok || sys.stored == nil {
		return nil, fmt.Errorf("provider %T keeps no artifact store", sys.prov)
	}
	return st, nil
}

// storedDigest digests what the store holds for service version now (""
// when the store holds nothing for it).
func (sys *System) storedDigest(ctx context.Context, service, version string) (string, error) {
	st, ok := sys.prov.(provider.ArtifactStore)
	a, held := sys.stored[service+"/"+version]
	if !ok || !held || a.Ref == "" {
		return "", nil
	}
	return st.StoredDigest(ctx, a.Ref)
}

// redeployDigest digests the artifact service version runs now and says
// whether it is the one recorded at start (nil when either is unknown):
// a baseline started again must be the same build, not whatever is there.
func (sys *System) redeployDigest(ctx context.Context, service, version string) (string, *bool) {
	al, ok := sys.prov.(provider.ArtifactLister)
	if !ok {
		return "", nil
	}
	now, err := al.Artifacts(ctx, sys.sc)
	if err != nil {
		sys.j.Record(journal.ArtifactBuilt, "service", service, "version", version, "error", err.Error())
		return "", nil
	}
	for _, a := range now {
		if a.Service != service || a.Version != version {
			continue
		}
		for _, was := range sys.artifacts {
			if was.Service == service && was.Version == version {
				same := was.Digest == a.Digest
				return a.Digest, &same
			}
		}
		return a.Digest, nil
	}
	return "", nil
}

// startDatabases starts every database of the scenario.
func (sys *System) startDatabases(ctx context.Context) error {
	for _, db := range sys.sc.Environment.Databases {
		h, err := sys.prov.StartDatabase(ctx, db)
		if err != nil {
			return err
		}
		sys.dbs[db.Name] = h
		if h.PID > 0 {
			sys.mu.Lock()
			sys.pids[h.PID] = "postgres " + db.Name
			sys.mu.Unlock()
		}
		// database.ready carries what drill cleanup needs to find it again.
		sys.j.Record(journal.DatabaseReady, append([]any{"database", db.Name, "engine", db.Engine, "pid", h.PID, "exe", procid.ExePath(h.PID)}, procid.Identity(h.PID)...)...)
	}
	return nil
}

// baseDirs are where relative build paths are looked up: the scenario's
// folder and its parents, then the working directory
// (scenarios.SearchDirs, which drill validate looks them up with too).
func baseDirs(scenarioPath string) []string {
	wd, _ := os.Getwd()
	return scenarios.SearchDirs(scenarioPath, wd)
}

// migrate brings the service's database to the version's migration.
func (sys *System) migrate(ctx context.Context, s *scenarios.Service, v *scenarios.Version, event string) error {
	if s.Database == "" || v.Migration == 0 {
		return nil
	}
	m := sys.migrator(s)
	sys.j.Record(event+".start", "service", s.Name, "database", s.Database, "to", v.Migration)
	sys.say("migrating %s to %d", s.Database, v.Migration)
	changed, err := m.Run(ctx, v.Migration)
	if err != nil {
		sys.j.Record(event+".failed", "error", err.Error())
		var env *provider.EnvError
		if errors.As(err, &env) {
			return err
		}
		return fmt.Errorf("migrate %s to %d: %w", s.Database, v.Migration, err)
	}
	sys.j.Record(event+".done", "version", v.Migration, "changed", changed)
	return nil
}

// migrator is the service's schema migrator, with the migration faults
// armed on its database.
func (sys *System) migrator(s *scenarios.Service) dbcheck.Migrator {
	dir := s.Migrations
	if !filepath.IsAbs(dir) {
		for _, base := range baseDirs(sys.sc.Path) {
			if fileExists(filepath.Join(base, dir)) {
				dir = filepath.Join(base, dir)
				break
			}
		}
	}
	h := sys.dbs[s.Database]
	// Engines rarely share DDL: a migrations dir may hold one folder per
	// engine (migrations/sqlite, migrations/postgres).
	if h != nil && fileExists(filepath.Join(dir, h.Engine)) {
		dir = filepath.Join(dir, h.Engine)
	}
	return dbcheck.Migrator{DB: h, Dir: dir, Faults: func() []injectors.MigrationFault {
		sys.mu.Lock()
		p := sys.migPoints[s.Database]
		sys.mu.Unlock()
		return p.Armed()
	}}
}

// startInstance starts one version behind its router.
func (sys *System) startInstance(ctx context.Context, s *scenarios.Service, v *scenarios.Version) (provider.Instance, error) {
	env := map[string]string{}
	for k, val := range s.Env {
		env[k] = val
	}
	for k, val := range v.Env {
		env[k] = val
	}
	for k, val := range env {
		resolved, err := sys.resolveFor(s.Name, val)
		if err != nil {
			return nil, err
		}
		env[k] = resolved
	}
	// Secret-looking values are redacted everywhere from here on, on
	// every provider (not only where a provider registers them).
	redact.RegisterEnv(env)
	registerMarkedSecrets(s, v, env)
	env["DRILL_SERVICE"], env["DRILL_VERSION"] = s.Name, v.Name
	env["DRILL_SEED"] = fmt.Sprint(sys.seed)
	sys.flagEnv(env)
	if v.Migration > 0 {
		env["DRILL_MIGRATION"] = fmt.Sprint(v.Migration)
	}
	sys.j.Record(journal.InstanceStart, "service", s.Name, "version", v.Name)
	// Every instance starts from the run's artifact store when there is
	// one: the build recorded at start, not whatever the cache holds now.
	// A build the store evicted (artifacts.retain) still starts at
	// provision from the cache: only a redeploy needs the store.
	var ref string
	if a := sys.stored[s.Name+"/"+v.Name]; a.Evicted == "" || sys.instance(s.Name, v.Name) != nil {
		ref = a.Ref
	}
	inst, err := sys.prov.StartInstance(ctx, provider.InstanceSpec{Service: s, Version: v, Env: env, Artifact: ref})
	if err != nil {
		sys.j.Record(journal.InstanceFailed, "service", s.Name, "version", v.Name, "error", err.Error())
		return nil, err
	}
	sys.mu.Lock()
	if sys.instances[s.Name] == nil {
		sys.instances[s.Name] = map[string]provider.Instance{}
	}
	sys.instances[s.Name][v.Name] = inst
	if pid := inst.PID(); pid > 0 {
		sys.pids[pid] = inst.Name()
	}
	sys.mu.Unlock()
	if err := sys.routers[s.Name].SetBackend(v.Name, inst.URL()); err != nil {
		return nil, err
	}
	sys.j.Record(journal.InstanceReady, append([]any{"service", s.Name, "version", v.Name, "url", inst.URL(), "pid", inst.PID(), "exe", procid.ExePath(inst.PID())}, procid.Identity(inst.PID())...)...)
	return inst, nil
}

// instance is the running instance of one version, or nil.
func (sys *System) instance(service, version string) provider.Instance {
	sys.mu.Lock()
	defer sys.mu.Unlock()
	return sys.instances[service][version]
}

// liveInstances is a copy of the instance table, for sampling.
func (sys *System) liveInstances() map[string]map[string]provider.Instance {
	sys.mu.Lock()
	defer sys.mu.Unlock()
	out := map[string]map[string]provider.Instance{}
	for svc, vs := range sys.instances {
		out[svc] = map[string]provider.Instance{}
		for v, inst := range vs {
			out[svc][v] = inst
		}
	}
	return out
}

// resolveFor substitutes ${services.X.url} and ${databases.X.url} in the
// environment of service caller. A service's URL is the entry point of X's
// router reserved for that caller, so a partition can cut caller off from
// X without touching anyone else's traffic to X. The placeholders are
// read by scenarios.Segments, as the loader read them; anything else, a
// name without a router or database included, is kept as written.
func (sys *System) resolveFor(caller, s string) (string, error) {
	var firstErr error
	var b strings.Builder
	for _, seg := range scenarios.Segments(s) {
		switch seg.Kind {
		case scenarios.SegServiceURL:
			rt, ok := sys.routers[seg.Name]
			if !ok {
				b.WriteString(seg.Text)
				continue
			}
			u, err := rt.CallerURL(caller)
			if err != nil && firstErr == nil {
				firstErr = &provider.EnvError{What: fmt.Sprintf("router entry for %s -> %s", caller, seg.Name), Err: err}
			}
			// A provider that forwards loopback into containers forwards
			// only what the harness names as its own.
			if fa, ok := sys.prov.(provider.ForwardAllower); ok && err == nil {
				fa.AllowForward(u)
			}
			b.WriteString(u)
		case scenarios.SegFlagsURL:
			b.WriteString(cmp.Or(sys.flagsURL, seg.Text))
		case scenarios.SegDatabaseURL:
			if h, ok := sys.dbs[seg.Name]; ok {
				b.WriteString(h.URL)
			} else {
				b.WriteString(seg.Text)
			}
		default:
			b.WriteString(seg.Text)
		}
	}
	return b.String(), firstErr
}

// close stops everything the system started (the provider's instances and
// databases, the routers); it journals what failed.
func (sys *System) close(ctx context.Context) {
	if sys.prov != nil {
		if err := sys.prov.Close(ctx); err != nil {
			sys.j.Record(journal.TeardownProvider, "error", err.Error())
		}
	}
	for name, rt := range sys.routers {
		if err := rt.Close(); err != nil {
			sys.j.Record(journal.TeardownRouter, "service", name, "error", err.Error())
		}
	}
	if sys.flags != nil {
		if err := sys.flags.Close(); err != nil {
			sys.j.Record(journal.TeardownRouter, "service", "flags", "error", err.Error())
		}
	}
}

// leftovers proves, after close, that no process the system started still
// runs and that the provider left nothing behind.
func (sys *System) leftovers() []string {
	var out []string
	sys.mu.Lock()
	pids := make([]int, 0, len(sys.pids))
	for pid := range sys.pids {
		pids = append(pids, pid)
	}
	sys.mu.Unlock()
	sort.Ints(pids)
	for _, pid := range pids {
		// Signal 0 checks existence; a reaped child is gone (ESRCH).
		if err := syscall.Kill(pid, 0); err == nil {
			out = append(out, fmt.Sprintf("process %s (pid %d) still running", sys.pids[pid], pid))
		}
	}
	if ll, ok := sys.prov.(provider.LeftoverLister); ok {
		ctx, cancel := context.WithTimeout(context.Background(), cleanup.SweepTimeout)
		out = append(out, ll.Leftovers(ctx)...)
		cancel()
	}
	return out
}
