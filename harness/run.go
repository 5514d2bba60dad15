// Package harness runs a drill: it provisions the system under test through
// a provider.Provider, puts a router in front of every service, drives load, checks
// the steady state, rolls the new version out step by step while a judge.Judge
// watches live per-version metrics, rolls back in a fixed, journaled,
// idempotent order, verifies recovery and data, and hands the result to
// package reports.
package harness

import (
	"bufio"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/drillhq/drill/harness/dbcheck"
	"github.com/drillhq/drill/harness/journal"
	"github.com/drillhq/drill/harness/judge"
	"github.com/drillhq/drill/harness/ledger"
	"github.com/drillhq/drill/harness/load"
	"github.com/drillhq/drill/harness/metrics"
	"github.com/drillhq/drill/harness/provider"
	"github.com/drillhq/drill/harness/redact"
	"github.com/drillhq/drill/harness/router"
	"github.com/drillhq/drill/harness/strategy"
	"github.com/drillhq/drill/injectors"
	"github.com/drillhq/drill/internal/procid"
	"github.com/drillhq/drill/reports"
	"github.com/drillhq/drill/scenarios"
)

// Options configure one run. The zero value runs with the scenario's own
// provider and seed, writing under .drill/runs.
type Options struct {
	Provider    string // overrides environment.provider when set
	AutoApprove bool   // pass `approval: manual` gates without asking
	OutDir      string // parent of run directories; default DefaultOutDir
	CacheDir    string // build cache; default DefaultCacheDir
	Seed        *int64 // overrides the scenario seed
	// Stdin holds the operator's answers to approval gates, one a line.
	// When it has a Lines() <-chan string method (the CLI's reader shared
	// by every drill of one invocation), the gates receive from that
	// channel, so that no drill reads ahead into another's answers.
	Stdin io.Reader
	Log   io.Writer // progress lines for the operator; nil for none
	// BeforeDataCheck, when set, runs after the load has stopped and the
	// ledger is final, just before the data checks, with the drill's
	// databases. Tests plant faults in the database through it, so the
	// checker is proven against a real drill's ledger.
	BeforeDataCheck func(ctx context.Context, dbs map[string]*provider.DatabaseHandle) error
}

// Defaults the CLI reuses for its flags.
const (
	DefaultOutDir   = ".drill/runs"
	DefaultCacheDir = ".drill/cache"
	// approvalTimeout bounds how long a manual gate waits for an operator.
	approvalTimeout = 15 * time.Minute
)

// ClientSource is the metrics source of what the load generator sees.
const ClientSource = "client"

// ErrInterrupted is returned when the run was stopped by its context
// (Ctrl-C, SIGTERM) after the safe abort finished.
var ErrInterrupted = errors.New("interrupted")

// errSteadyState ends a drill whose hypothesis does not hold before the
// rollout: there is nothing meaningful to compare a canary with.
var errSteadyState = errors.New("steady state not met")

// drill is the state of one run.
type drill struct {
	sc   *scenarios.Scenario
	opts Options
	log  io.Writer

	runID, runDir, tmpDir string
	provider              string
	seed                  int64
	interval              time.Duration
	j                     *journal.Journal
	prov                  provider.Provider
	started               time.Time

	dbs     map[string]*provider.DatabaseHandle
	routers map[string]*router.Router
	routerR map[string]*metrics.Recorder
	// routerURL is each router's base URL: what dependency placeholders
	// and the load resolve to.
	routerURL map[string]string
	client    *metrics.Recorder
	series    map[string]map[string][]reports.SeriesPoint
	nextCut   time.Time
	// res holds the per-instance cpu/rss samples tick takes (resources.go).
	res *resources

	mu        sync.Mutex // guards instances, pids and the phase flags below
	instances map[string]map[string]provider.Instance
	pids      map[int]string

	heart *heartbeat
	// stalled says whether the window tick last returned was cut across
	// a machine stall (see stall.go).
	stalled bool

	recentMu sync.Mutex
	recent   map[string]map[string][]metrics.Window

	load        *load.Generator
	loadCancel  context.CancelFunc
	loadStopped bool // stopLoad ran and journaled load.stop
	ledger      *ledger.Writer
	faults      *faultSet

	approvals     <-chan string
	approvalsOnce sync.Once

	// Phase results.
	baseline metrics.Window // client view over the steady state
	// rolloutBaseline is the rollout service's baseline version at its
	// router over the steady state: what a 100% step is compared with,
	// since no live baseline traffic is left to compare.
	rolloutBaseline metrics.Window
	steady          reports.SteadyState
	canaryLive      bool // canary started and not yet rolled back or promoted
	migratedUp      bool
	outcome         reports.Outcome
	exposure        *time.Time
	detected        *time.Time
	recovered       *time.Time
	decision        *reports.Decision
	rbSteps         []reports.Step
	rbRerun         []reports.Step
	rbIdempotent    bool
	ledgerRes       *ledger.Result
	migPoints       map[string]*migrationPoint // guarded by mu
	// upFailedAt is the version whose up migration failed in this drill:
	// the one dirty state the rollback may force past.
	upFailedAt   uint
	invariantRes []reports.Invariant
	schema       schemaCheck
	leftovers    []string
	errText      string
	interrupted  bool

	// abort cancels the drill's context with a cause; panicErr is the
	// first panic recovered off the main goroutine (see onPanic).
	abort    context.CancelCauseFunc
	panicMu  sync.Mutex
	panicErr error
}

// Run executes one drill and returns its report. The report is written to
// its run directory before Run returns, on success, failure, interruption
// and panic alike; err says why a run did not complete normally
// (ErrInterrupted, an *provider.EnvError, or another failure).
func Run(ctx context.Context, sc *scenarios.Scenario, opts Options) (rep *reports.Report, err error) {
	// The CLI checked this already; a caller of the package may not have.
	if err := sc.ProviderProblems(cmp.Or(opts.Provider, sc.Environment.Provider, scenarios.DefaultProvider), provider.Catalog()); err != nil {
		return nil, err
	}
	d, err := newDrill(sc, opts)
	if err != nil {
		return nil, err
	}
	// A panic on a goroutine the drill started (load, fault, injector)
	// cancels this context with its error: the main path then unwinds into
	// the same safe abort as Ctrl-C, instead of the process dying with
	// faults in place and the canary live.
	ctx, d.abort = context.WithCancelCause(ctx)
	defer d.abort(nil)
	ctx = injectors.WithPanicHandler(ctx, d.onPanic)
	defer func() {
		if p := recover(); p != nil {
			d.j.Record(journal.Panic, "where", "main", "value", fmt.Sprint(p), "stack", string(debug.Stack()))
			err = fmt.Errorf("internal error: %v", p)
		}
		if perr := d.panicked(); perr != nil && err != nil {
			err = perr
		}
		d.interrupted = err != nil && ctx.Err() != nil && d.panicked() == nil
		rep = d.finish(err)
		if d.interrupted {
			err = ErrInterrupted
		}
	}()
	return nil, d.execute(ctx)
}

func newDrill(sc *scenarios.Scenario, opts Options) (*drill, error) {
	d := &drill{sc: sc, opts: opts, log: opts.Log, seed: sc.Seed,
		dbs: map[string]*provider.DatabaseHandle{}, routers: map[string]*router.Router{}, routerR: map[string]*metrics.Recorder{}, routerURL: map[string]string{},
		instances: map[string]map[string]provider.Instance{}, pids: map[int]string{},
		series: map[string]map[string][]reports.SeriesPoint{}}
	if d.log == nil {
		d.log = io.Discard
	}
	if opts.Seed != nil {
		d.seed = *opts.Seed
	}
	d.provider = cmp.Or(opts.Provider, sc.Environment.Provider, "process")
	d.interval = sc.Rollout.Analysis.Interval
	if d.interval <= 0 {
		d.interval = time.Second
	}
	d.started = time.Now()
	var rnd [3]byte
	_, _ = rand.Read(rnd[:])
	stamp := d.started.UTC().Format("20060102T150405Z")
	d.runID = fmt.Sprintf("%s-%s-%s", sc.Name, stamp, hex.EncodeToString(rnd[:]))
	out := cmp.Or(opts.OutDir, DefaultOutDir)
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, &provider.EnvError{What: "create output directory " + out, Err: err}
	}
	// Whatever an earlier run that died left behind goes first.
	previous, cerr := Cleanup(out)
	d.runDir = filepath.Join(out, sc.Name+"-"+stamp)
	for i := 2; ; i++ {
		err := os.Mkdir(d.runDir, 0o700) // private: the journal, logs and ledger of a run are its user's
		if err == nil {
			break
		}
		if !os.IsExist(err) {
			return nil, &provider.EnvError{What: "create run directory", Err: err}
		}
		d.runDir = filepath.Join(out, fmt.Sprintf("%s-%s-%d", sc.Name, stamp, i))
	}
	tmp, err := os.MkdirTemp(tempRoot(), "drill-"+sc.Name+"-")
	if err != nil {
		return nil, &provider.EnvError{What: "create temp directory", Err: err}
	}
	d.tmpDir = tmp
	j, err := journal.Open(filepath.Join(d.runDir, "journal.jsonl"), d.started)
	if err != nil {
		os.RemoveAll(tmp)
		return nil, &provider.EnvError{What: "create journal", Err: err}
	}
	d.j = j
	d.j.Record(journal.RunStart, append([]any{"run_id", d.runID, "scenario", sc.Name, "file", sc.Path, "provider", d.provider,
		"seed", d.seed, "temp_dir", d.tmpDir, "pid", os.Getpid(), "exe", procid.ExePath(os.Getpid())}, procid.Identity(os.Getpid())...)...)
	for _, r := range previous {
		if len(r.Actions) > 0 {
			d.j.Record(journal.CleanupPrevious, "run_dir", r.RunDir, "actions", r.Actions)
			d.say("cleaned up after %s: %s", r.RunDir, strings.Join(r.Actions, "; "))
		}
	}
	if cerr != nil {
		d.j.Record(journal.CleanupPreviousFailed, "error", cerr.Error())
	}
	d.faults = newFaultSet(d)
	return d, nil
}

// onPanic is the drill's injectors.PanicHandler: it journals the first
// panic off the main goroutine and aborts the drill with it.
func (d *drill) onPanic(where string, value any, stack []byte) {
	d.j.Record(journal.Panic, "where", where, "value", fmt.Sprint(value), "stack", string(stack))
	d.panicMu.Lock()
	first := d.panicErr == nil
	if first {
		d.panicErr = fmt.Errorf("internal error in %s: %v", where, value)
	}
	d.panicMu.Unlock()
	if first {
		d.say("PANIC in %s: %v; aborting safely", where, value)
		d.abort(d.panicked())
	}
}

// panicked is the first panic recovered off the main goroutine, or nil.
func (d *drill) panicked() error {
	d.panicMu.Lock()
	defer d.panicMu.Unlock()
	return d.panicErr
}

// goSafe runs fn on a goroutine whose panic aborts the drill (onPanic).
func (d *drill) goSafe(ctx context.Context, where string, fn func()) {
	injectors.Go(ctx, where, fn)
}

func (d *drill) say(format string, args ...any) {
	// Progress lines quote errors and commands: redacted like the journal.
	fmt.Fprintf(d.log, "[%6.1fs] %s\n", time.Since(d.started).Seconds(), redact.String(fmt.Sprintf(format, args...)))
}

// execute runs the phases in order. Teardown is not its business: finish
// always runs after it.
func (d *drill) execute(ctx context.Context) error {
	d.say("drill %s (%s provider, seed %d) -> %s", d.sc.Name, d.provider, d.seed, d.runDir)
	if err := d.provision(ctx); err != nil {
		return err
	}
	drillCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	d.startLoad(drillCtx)
	d.faults.schedule(drillCtx)
	if err := d.steadyState(ctx); err != nil {
		return err
	}
	dec, err := d.rollout(ctx)
	if err != nil {
		return err
	}
	if dec != nil {
		now := time.Now()
		d.detected = &now
		d.decision = &reports.Decision{At: now.UTC(), Verdict: string(dec.Verdict), Reason: dec.Reason, Evidence: dec.Evidence}
		d.j.Record(journal.DecisionRollback, "reason", dec.Reason, "evidence", dec.Evidence)
		d.say("DECISION rollback: %s", dec.Reason)
	}
	switch {
	case dec == nil:
		if err := d.promote(ctx); err != nil {
			return err
		}
	case d.sc.Rollout.OnFailure == scenarios.OnFailureAbort:
		d.outcome = reports.OutcomeAborted
		d.abortRollout(context.WithoutCancel(ctx), "on_failure: abort")
	default:
		d.outcome = reports.OutcomeRolledBack
		d.rollback(context.WithoutCancel(ctx))
		if err := d.verifyRecovery(ctx); err != nil {
			return err
		}
	}
	return d.verifyData(ctx)
}

// provision builds and starts databases, routers and baseline instances,
// and migrates the schema to the baseline version.
func (d *drill) provision(ctx context.Context) error {
	d.j.Record(journal.ProvisionStart)
	prov, err := provider.New(d.provider, provider.Config{
		RunID: d.runID, RunDir: d.runDir, TempDir: d.tmpDir,
		CacheDir: cmp.Or(d.opts.CacheDir, DefaultCacheDir),
		BaseDirs: baseDirs(d.sc.Path), Log: d.log,
	})
	if err != nil {
		return &provider.EnvError{What: "provider", Err: err}
	}
	d.prov = prov
	d.say("building services")
	if err := prov.Build(ctx, d.sc); err != nil {
		return err
	}
	for _, db := range d.sc.Environment.Databases {
		h, err := prov.StartDatabase(ctx, db)
		if err != nil {
			return err
		}
		d.dbs[db.Name] = h
		if h.PID > 0 {
			d.mu.Lock()
			d.pids[h.PID] = "postgres " + db.Name
			d.mu.Unlock()
		}
		// database.ready carries what drill cleanup needs to find it again.
		d.j.Record(journal.DatabaseReady, append([]any{"database", db.Name, "engine", db.Engine, "pid", h.PID, "exe", procid.ExePath(h.PID)}, procid.Identity(h.PID)...)...)
	}
	// Routers first: every service's dependency URLs point at routers, so
	// they must exist before any instance starts.
	d.client = metrics.NewRecorder(ClientSource)
	d.client.Declare("all")
	for i, s := range d.sc.Environment.Services {
		rec := metrics.NewRecorder("router:" + s.Name)
		rt := router.New(s.Name, rec, router.WithSeed(d.seed+int64(i)*7919))
		u, err := rt.Start(ctx)
		if err != nil {
			return &provider.EnvError{What: "start router for " + s.Name, Err: err}
		}
		d.routers[s.Name], d.routerR[s.Name], d.routerURL[s.Name] = rt, rec, u
	}
	for _, s := range d.sc.Environment.Services {
		base := s.Version(s.Baseline)
		if err := d.migrate(ctx, s, base, "migrate.baseline"); err != nil {
			return err
		}
		if _, err := d.startInstance(ctx, s, base); err != nil {
			return err
		}
		d.routers[s.Name].SetSplit(base.Name, "", 0)
		d.routerR[s.Name].Declare(base.Name)
	}
	if err := d.snapshotBaseline(ctx); err != nil {
		return err
	}
	d.j.Record(journal.ProvisionDone)
	return nil
}

// baseDirs are where relative build paths are looked up: the scenario's
// folder and its parents (scenarios usually live in a repository's
// scenarios/ folder), then the working directory.
func baseDirs(scenarioPath string) []string {
	var dirs []string
	if scenarioPath != "" {
		dir, _ := filepath.Abs(filepath.Dir(scenarioPath))
		for {
			dirs = append(dirs, dir)
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	if wd, err := os.Getwd(); err == nil {
		dirs = append(dirs, wd)
	}
	return dirs
}

// migrate brings the service's database to the version's migration.
func (d *drill) migrate(ctx context.Context, s *scenarios.Service, v *scenarios.Version, event string) error {
	if s.Database == "" || v.Migration == 0 {
		return nil
	}
	m := d.migrator(s)
	d.j.Record(event+".start", "service", s.Name, "database", s.Database, "to", v.Migration)
	d.say("migrating %s to %d", s.Database, v.Migration)
	changed, err := m.Run(ctx, v.Migration)
	if err != nil {
		d.j.Record(event+".failed", "error", err.Error())
		var env *provider.EnvError
		if errors.As(err, &env) {
			return err
		}
		return fmt.Errorf("migrate %s to %d: %w", s.Database, v.Migration, err)
	}
	d.j.Record(event+".done", "version", v.Migration, "changed", changed)
	return nil
}

func (d *drill) migrator(s *scenarios.Service) dbcheck.Migrator {
	dir := s.Migrations
	if !filepath.IsAbs(dir) {
		for _, base := range baseDirs(d.sc.Path) {
			if fileExists(filepath.Join(base, dir)) {
				dir = filepath.Join(base, dir)
				break
			}
		}
	}
	h := d.dbs[s.Database]
	// Engines rarely share DDL: a migrations dir may hold one folder per
	// engine (migrations/sqlite, migrations/postgres).
	if h != nil && fileExists(filepath.Join(dir, h.Engine)) {
		dir = filepath.Join(dir, h.Engine)
	}
	return dbcheck.Migrator{DB: h, Dir: dir, Faults: func() []injectors.MigrationFault {
		d.mu.Lock()
		p := d.migPoints[s.Database]
		d.mu.Unlock()
		return p.armed()
	}}
}

// startInstance starts one version behind its router.
func (d *drill) startInstance(ctx context.Context, s *scenarios.Service, v *scenarios.Version) (provider.Instance, error) {
	env := map[string]string{}
	for k, val := range s.Env {
		env[k] = val
	}
	for k, val := range v.Env {
		env[k] = val
	}
	for k, val := range env {
		resolved, err := d.resolveFor(s.Name, val)
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
	env["DRILL_SEED"] = fmt.Sprint(d.seed)
	if v.Migration > 0 {
		env["DRILL_MIGRATION"] = fmt.Sprint(v.Migration)
	}
	d.j.Record(journal.InstanceStart, "service", s.Name, "version", v.Name)
	inst, err := d.prov.StartInstance(ctx, provider.InstanceSpec{Service: s, Version: v, Env: env})
	if err != nil {
		d.j.Record(journal.InstanceFailed, "service", s.Name, "version", v.Name, "error", err.Error())
		return nil, err
	}
	d.mu.Lock()
	if d.instances[s.Name] == nil {
		d.instances[s.Name] = map[string]provider.Instance{}
	}
	d.instances[s.Name][v.Name] = inst
	if pid := inst.PID(); pid > 0 {
		d.pids[pid] = inst.Name()
	}
	d.mu.Unlock()
	if err := d.routers[s.Name].SetBackend(v.Name, inst.URL()); err != nil {
		return nil, err
	}
	d.j.Record(journal.InstanceReady, append([]any{"service", s.Name, "version", v.Name, "url", inst.URL(), "pid", inst.PID(), "exe", procid.ExePath(inst.PID())}, procid.Identity(inst.PID())...)...)
	return inst, nil
}

// placeholderRE matches a ${…} placeholder in a service's environment.
var placeholderRE = regexp.MustCompile(`\$\{([^}]*)\}`)

// resolveFor substitutes ${services.X.url} and ${databases.X.url} in the
// environment of service caller. A service's URL is the entry point of X's
// router reserved for that caller, so a partition can cut caller off from
// X without touching anyone else's traffic to X.
func (d *drill) resolveFor(caller, s string) (string, error) {
	var firstErr error
	out := placeholderRE.ReplaceAllStringFunc(s, func(m string) string {
		parts := strings.Split(m[2:len(m)-1], ".")
		if len(parts) != 3 || parts[2] != "url" {
			return m
		}
		switch parts[0] {
		case "services":
			rt, ok := d.routers[parts[1]]
			if !ok {
				return m
			}
			u, err := rt.CallerURL(caller)
			if err != nil && firstErr == nil {
				firstErr = &provider.EnvError{What: fmt.Sprintf("router entry for %s -> %s", caller, parts[1]), Err: err}
			}
			// A provider that forwards loopback into containers forwards
			// only what the harness names as its own.
			if fa, ok := d.prov.(provider.ForwardAllower); ok && err == nil {
				fa.AllowForward(u)
			}
			return u
		case "databases":
			if h, ok := d.dbs[parts[1]]; ok {
				return h.URL
			}
		}
		return m
	})
	return out, firstErr
}

// startLoad starts vegeta against the load target's router.
func (d *drill) startLoad(ctx context.Context) {
	lctx, cancel := context.WithCancel(ctx)
	d.loadCancel = cancel
	lw, err := ledger.Open(filepath.Join(d.runDir, "ledger.jsonl"))
	if err != nil {
		panic(err) // the run dir was just created; failing here is a bug
	}
	d.ledger = lw
	d.load = load.New(d.sc, d.routerURL[d.sc.Load.Target], d.client, lw)
	d.j.Record(journal.LoadStart, "target", d.sc.Load.Target, "rate", d.sc.Load.Rate.String())
	d.heart = startHeartbeat(ctx)
	d.nextCut = time.Now()
	maxDur := d.maxDuration()
	d.goSafe(lctx, "load generator", func() { d.load.Run(lctx, maxDur) })
}

// maxDuration is a hard upper bound on the drill's load: request loops are
// bounded in time even if every other bound failed. It is summed without
// overflow (a wrapped sum once made the bound negative, and vegeta never
// stopped) and never exceeds maxLoadDuration.
func (d *drill) maxDuration() time.Duration {
	ss := d.sc.SteadyState
	// The warm-up, every steady-state attempt, then a margin for
	// provisioning stalls and the rollback itself.
	total := satMul(d.interval, warmupIntervals(ss.Warmup, d.interval))
	total = satAdd(total, satMul(ss.Duration, max(ss.Attempts, 1)), 2*time.Minute)
	for _, st := range d.sc.Rollout.Steps {
		total = satAdd(total, st.Hold)
		if st.IsApproval() && !d.opts.AutoApprove {
			total = satAdd(total, approvalTimeout)
		}
	}
	if r := d.sc.Verify.Recovery; r != nil {
		total = satAdd(total, r.Within, r.Window)
	} else {
		total = satAdd(total, time.Minute)
	}
	return min(total, maxLoadDuration)
}

// maxLoadDuration caps any drill's load, whatever its scenario sums to.
const maxLoadDuration = 7 * 24 * time.Hour

// satAdd adds durations, saturating at the largest Duration instead of
// wrapping; negative terms count as 0.
func satAdd(a time.Duration, bs ...time.Duration) time.Duration {
	a = max(a, 0)
	for _, b := range bs {
		if b <= 0 {
			continue
		}
		if a > math.MaxInt64-b {
			return math.MaxInt64
		}
		a += b
	}
	return a
}

// satMul multiplies a duration by a count, saturating like satAdd.
func satMul(d time.Duration, n int) time.Duration {
	if d <= 0 || n <= 0 {
		return 0
	}
	if d > math.MaxInt64/time.Duration(n) {
		return math.MaxInt64
	}
	return d * time.Duration(n)
}

// tick waits for the end of the current interval, cuts every recorder and
// returns the windows by source and label.
func (d *drill) tick(ctx context.Context) (map[string]map[string]metrics.Window, error) {
	if d.nextCut.IsZero() {
		d.nextCut = time.Now()
	}
	d.nextCut = d.nextCut.Add(d.interval)
	wait := time.Until(d.nextCut)
	if wait < 0 {
		// Fell behind (a slow phase step): re-align instead of cutting a
		// burst of empty windows.
		d.nextCut = time.Now()
		wait = 0
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-t.C:
	}
	d.stalled = false
	if late := d.heart.take(); late >= stallThreshold {
		d.stalled = true
		d.j.Record(journal.MachineStall, "late_ms", late.Milliseconds(), "window_end", d.nextCut.UTC(),
			"note", "the harness was not scheduled for this long: latencies of this window measure the machine, not the system under test")
	}
	out := map[string]map[string]metrics.Window{}
	recs := []*metrics.Recorder{d.client}
	for _, s := range d.sc.Environment.Services {
		recs = append(recs, d.routerR[s.Name])
	}
	for _, rec := range recs {
		ws := rec.Cut(d.nextCut)
		m := map[string]metrics.Window{}
		for _, w := range ws {
			m[w.Label] = w
			d.addSeries(w)
		}
		out[rec.Source()] = m
	}
	if d.ledger != nil {
		d.ledger.Flush()
	}
	// cpu and rss of every live instance, for judges (judge.Interval.Extra) and
	// the report's "resources:<service>" series.
	d.sampleResources(ctx)
	d.remember(out)
	d.faults.observe(out)
	return out, nil
}

// warmupIntervals is how many analysis intervals of load the warm-up
// takes: steady_state.warmup rounded up to whole intervals, since windows
// are cut on interval boundaries.
func warmupIntervals(warmup, interval time.Duration) int {
	if warmup <= 0 || interval <= 0 {
		return 0
	}
	n := int(warmup / interval)
	if warmup%interval != 0 {
		n++
	}
	return n
}

// recentIntervals is how many past intervals recentTraffic looks back.
const recentIntervals = 10

// remember keeps the last few windows of every source and label, so a
// fault's "before" is the traffic just before it was applied.
func (d *drill) remember(tw map[string]map[string]metrics.Window) {
	d.recentMu.Lock()
	defer d.recentMu.Unlock()
	if d.recent == nil {
		d.recent = map[string]map[string][]metrics.Window{}
	}
	for src, labels := range tw {
		if d.recent[src] == nil {
			d.recent[src] = map[string][]metrics.Window{}
		}
		for l, w := range labels {
			ws := append(d.recent[src][l], w)
			if len(ws) > recentIntervals {
				ws = ws[len(ws)-recentIntervals:]
			}
			d.recent[src][l] = ws
		}
	}
}

// recentTraffic merges a target's remembered windows.
func (d *drill) recentTraffic(target string) metrics.Window {
	d.recentMu.Lock()
	defer d.recentMu.Unlock()
	svc, version, _ := strings.Cut(target, ".")
	var ws []metrics.Window
	for l, lw := range d.recent["router:"+svc] {
		if version == "" || l == version {
			ws = append(ws, lw...)
		}
	}
	return metrics.Merge(ws...)
}

func (d *drill) addSeries(w metrics.Window) {
	s := w.Summary()
	src := d.series[w.Source]
	if src == nil {
		src = map[string][]reports.SeriesPoint{}
		d.series[w.Source] = src
	}
	src[w.Label] = append(src[w.Label], reports.SeriesPoint{
		Start: s.Start, Requests: s.Requests, Failed: s.Failed, ErrorRate: s.ErrorRate, Throughput: s.Throughput,
		P50Ms: s.P50, P90Ms: s.P90, P95Ms: s.P95, P99Ms: s.P99, MaxMs: s.Max,
	})
}

// steadyState checks the hypothesis over steady_state.duration and keeps
// the client's view as the baseline the recovery is compared with. A miss
// is measured again, up to steady_state.attempts times in all, unless a
// fault was applied meanwhile: then the miss may be the fault's doing and
// measuring again would prove nothing.
func (d *drill) steadyState(ctx context.Context) error {
	ss := d.sc.SteadyState
	d.say("steady state: %s at %s", ss.Duration, d.sc.Load.Rate)
	// Warm-up: freshly started services open their connection pools and
	// fill their caches in the first moments of load; those requests say
	// nothing about the steady state (k6 and Flagger users know this as
	// ramp-up and the analysis' initial delay). Load is sent, not judged.
	warm := warmupIntervals(ss.Warmup, d.interval)
	d.j.Record(journal.WarmupStart, "warmup", ss.Warmup.String(), "intervals", warm)
	for range warm {
		if _, err := d.tick(ctx); err != nil {
			return err
		}
	}
	attempts := max(ss.Attempts, 1)
	var ok bool
	var detail string
	for attempt := 1; ; attempt++ {
		var err error
		if ok, detail, err = d.steadyAttempt(ctx, attempt, attempts); err != nil {
			return err
		}
		if ok || attempt >= attempts {
			break
		}
		if d.faults.appliedAny() {
			detail += "; not measured again: a fault was applied during the measurement"
			break
		}
		d.say("steady state not met (attempt %d of %d): %s; measuring again", attempt, attempts, detail)
	}
	d.steady = reports.SteadyState{OK: ok, Detail: detail, Baseline: windowValues(d.baseline)}
	d.j.Record(journal.SteadyStateDone, "ok", ok, "detail", detail, "baseline", d.steady.Baseline)
	if !ok {
		d.outcome = reports.OutcomeAborted
		d.say("steady state NOT met: %s", detail)
		return fmt.Errorf("%w: %s", errSteadyState, detail)
	}
	d.say("steady state met: %s", detail)
	return nil
}

// steadyAttempt measures the hypothesis once over steady_state.duration.
func (d *drill) steadyAttempt(ctx context.Context, attempt, attempts int) (bool, string, error) {
	ss := d.sc.SteadyState
	d.j.Record(journal.SteadyStateStart, "duration", ss.Duration.String(), "attempt", attempt, "attempts", attempts)
	n := max(int(ss.Duration/d.interval), 1)
	var ws, rs, clean []metrics.Window
	svc := d.sc.Environment.Service(d.sc.Rollout.Service)
	for range n {
		tw, err := d.tick(ctx)
		if err != nil {
			return false, "", err
		}
		ws = append(ws, tw[ClientSource]["all"])
		rs = append(rs, tw["router:"+svc.Name][svc.Baseline])
		if !d.stalled {
			clean = append(clean, tw[ClientSource]["all"])
		}
	}
	// Windows cut across a machine stall measure the machine; they are
	// left out of the hypothesis as long as most windows remain.
	excluded := len(ws) - len(clean)
	if len(clean)*2 < len(ws) {
		clean, excluded = ws, 0
	}
	d.baseline = metrics.Merge(clean...)
	d.rolloutBaseline = metrics.Merge(rs...)
	ok, detail := checkSLOs(ss.SLO, d.baseline, nil)
	if excluded > 0 {
		detail += fmt.Sprintf(" (%d of %d windows left out: machine stalls, see machine.stall events)", excluded, len(ws))
	}
	if attempt > 1 {
		detail += fmt.Sprintf(" (attempt %d of %d)", attempt, attempts)
	}
	d.j.Record(journal.SteadyStateAttempt, "attempt", attempt, "ok", ok, "detail", detail)
	return ok, detail, nil
}

// windowValues lists every window metric that has a value.
func windowValues(w metrics.Window) map[string]float64 {
	out := map[string]float64{"requests": float64(w.Requests)}
	for _, m := range metrics.MetricNames() {
		if v, ok := w.Value(m); ok {
			out[m] = v
		}
	}
	return out
}

// checkSLOs evaluates the steady-state SLOs on a window; with a baseline it
// also demands the window be back near it (see recoveryTolerance).
func checkSLOs(slos []*scenarios.SLO, w metrics.Window, base *metrics.Window) (bool, string) {
	var parts []string
	ok := true
	if w.Requests == 0 {
		return false, "no requests completed"
	}
	for _, s := range slos {
		v, has := w.Value(s.Metric)
		if !has {
			ok = false
			parts = append(parts, fmt.Sprintf("%s: no data", s.Metric))
			continue
		}
		mark := "<="
		if v > s.Max.V {
			ok, mark = false, ">"
		}
		parts = append(parts, fmt.Sprintf("%s %s %s %s", s.Metric, judge.FormatMetric(s.Metric, v), mark, s.Max.Raw))
	}
	if base != nil {
		for _, c := range recoveryChecks(*base) {
			v, has := w.Value(c.metric)
			if !has || v > c.limit {
				ok = false
				parts = append(parts, fmt.Sprintf("%s %s above baseline limit %s", c.metric, judge.FormatMetric(c.metric, v), judge.FormatMetric(c.metric, c.limit)))
			}
		}
	}
	return ok, strings.Join(parts, ", ")
}

// rollout runs the steps. It returns the judge's rollback decision, or nil
// when every step passed.
func (d *drill) rollout(ctx context.Context) (*judge.Decision, error) {
	ro := d.sc.Rollout
	svc := d.sc.Environment.Service(ro.Service)
	base, to := svc.Version(svc.Baseline), svc.Version(ro.To)
	rt, rec := d.routers[svc.Name], d.routerR[svc.Name]
	jdg, err := judge.New(ro.Analysis.Judge, ro.Analysis)
	if err != nil {
		return nil, err
	}
	strat, err := strategy.Get(ro.Strategy)
	if err != nil {
		return nil, err
	}
	rel := strategy.Release{Service: svc.Name, Baseline: base.Name, To: to.Name}
	probes, err := d.newInvariantProbes()
	if err != nil {
		return nil, err
	}
	defer probes.close()
	d.j.Record(journal.RolloutStart, "service", svc.Name, "from", base.Name, "to", to.Name, "strategy", ro.Strategy)
	d.say("rollout %s %s -> %s (%d steps, judge %s)", svc.Name, base.Name, to.Name, len(ro.Steps), ro.Analysis.Judge)
	if to.Migration != base.Migration {
		// From here on the schema may differ from the baseline's, and the
		// new release is exposed: its migration runs against live traffic.
		d.mu.Lock()
		d.migratedUp = true
		d.mu.Unlock()
		d.markExposure(time.Now())
		if err := d.migrate(ctx, svc, to, "migrate.canary"); err != nil {
			var env *provider.EnvError
			if errors.As(err, &env) || ctx.Err() != nil {
				return nil, err
			}
			// A failed migration is a failed canary, caught before it took
			// any traffic: roll back (through the dirty state it left).
			ev := map[string]any{"migration": to.Migration, "error": err.Error()}
			if st, serr := d.migrator(svc).State(); serr == nil {
				ev["schema_version"] = st.String()
				if st.Dirty {
					d.upFailedAt = st.Version
				}
			}
			return &judge.Decision{Verdict: judge.Rollback, Reason: fmt.Sprintf("the canary's migration to %d failed: %s", to.Migration, dbcheck.MigrationCause(err)), Evidence: ev}, nil
		}
	}
	rec.Declare(to.Name)
	d.mu.Lock()
	d.canaryLive = true
	d.mu.Unlock()
	if _, err := d.startInstance(ctx, svc, to); err != nil {
		return nil, err
	}
	strat.Begin(rt, rel)
	observe := func(tw map[string]map[string]metrics.Window) *judge.Decision {
		src := tw[rec.Source()]
		iv := judge.Interval{At: d.nextCut, Baseline: src[base.Name], Canary: src[to.Name], LiveBaseline: true, Reference: d.rolloutBaseline}
		_, _, w := rt.Split()
		if w >= 1 {
			iv.Baseline, iv.LiveBaseline = d.rolloutBaseline, false
		}
		// Per-instance cpu and rss sampled by this tick; at 100% the
		// baseline side is the baseline's usage before the canary started,
		// as for the router metrics above.
		iv.Extra = d.res.extra(svc.Name, base.Name, to.Name, d.nextCut, w >= 1)
		for m, p := range probes.observe(ctx, d) {
			if iv.Extra == nil {
				iv.Extra = map[string]judge.SidePair{}
			}
			iv.Extra[m] = p
		}
		jdg.Observe(iv)
		dec := jdg.Decide()
		d.j.Record("analysis", "verdict", string(dec.Verdict), "reason", dec.Reason, "evidence", dec.Evidence)
		if dec.Verdict == judge.Rollback {
			return &dec
		}
		return nil
	}
	for i, st := range ro.Steps {
		stepNo := i + 1
		if st.IsApproval() {
			d.j.Record(journal.StepStart, "step", stepNo, "approval", st.Approval)
			d.j.Signal(fmt.Sprintf("step.start:%d", stepNo))
			dec, approved, err := d.approvalGate(ctx, stepNo, observe)
			if err != nil || dec != nil {
				return dec, err
			}
			if !approved {
				now := time.Now()
				return &judge.Decision{Verdict: judge.Rollback, Reason: "operator rejected the approval gate at step " + fmt.Sprint(stepNo), Evidence: map[string]any{"at": now}}, nil
			}
			d.j.Record(journal.StepEnd, "step", stepNo)
			continue
		}
		what := strat.Step(rt, rel, st.Weight)
		now := time.Now()
		d.j.Record(journal.StepStart, "step", stepNo, "weight", st.Weight, "hold", st.Hold.String())
		d.j.Signal(fmt.Sprintf("step.start:%d", stepNo))
		d.markExposure(now)
		d.say("step %d: %s for %s", stepNo, what, st.Hold)
		held := time.Duration(0)
		for held < st.Hold {
			tw, err := d.tick(ctx)
			if err != nil {
				return nil, err
			}
			if dec := observe(tw); dec != nil {
				if ro.OnFailure == scenarios.OnFailureContinue {
					d.j.Record(journal.DecisionIgnored, "reason", dec.Reason, "policy", "on_failure: continue")
					jdg = mustJudge(ro.Analysis)
				} else {
					return dec, nil
				}
			}
			if jdg.Decide().Verdict != judge.Pause {
				held += d.interval
			}
		}
		d.j.Record(journal.StepEnd, "step", stepNo)
	}
	return nil, nil
}

// mustJudge builds a fresh judge; used after a decision ignored by
// on_failure: continue so that one bad stretch is not counted forever.
func mustJudge(a scenarios.Analysis) judge.Judge {
	j, err := judge.New(a.Judge, a)
	if err != nil {
		panic(err) // the same call succeeded at the start of the rollout
	}
	return j
}

func (d *drill) markExposure(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.exposure == nil || t.Before(*d.exposure) {
		d.exposure = &t
		if d.load != nil {
			d.load.MarkExposure(t)
		}
		d.j.RecordAt(t, journal.Exposure, "note", "T0: first bad-release or fault exposure")
	}
}

// approvalGate waits for an operator while the judge keeps watching.
func (d *drill) approvalGate(ctx context.Context, step int, observe func(map[string]map[string]metrics.Window) *judge.Decision) (*judge.Decision, bool, error) {
	if d.opts.AutoApprove {
		d.j.Record(journal.ApprovalAuto, "step", step)
		d.say("step %d: approval passed by --auto-approve", step)
		return nil, true, nil
	}
	d.say("step %d: APPROVAL NEEDED - type 'yes' to continue the rollout, 'no' to roll back", step)
	d.j.Record(journal.ApprovalWait, "step", step)
	answers := d.operatorAnswers()
	deadline := time.Now().Add(approvalTimeout)
	for time.Now().Before(deadline) {
		tw, err := d.tick(ctx)
		if err != nil {
			return nil, false, err
		}
		if dec := observe(tw); dec != nil {
			return dec, false, nil
		}
		select {
		case a, ok := <-answers:
			if !ok {
				d.j.Record(journal.ApprovalRejected, "step", step, "reason", "no operator input (stdin closed); use --auto-approve in unattended runs")
				d.say("no operator input: treating the gate as rejected (use --auto-approve in CI)")
				return nil, false, nil
			}
			switch strings.ToLower(strings.TrimSpace(a)) {
			case "y", "yes":
				d.j.Record(journal.ApprovalGranted, "step", step)
				return nil, true, nil
			case "n", "no":
				d.j.Record(journal.ApprovalRejected, "step", step, "reason", "operator")
				return nil, false, nil
			default:
				d.say("answer 'yes' or 'no'")
			}
		default:
		}
	}
	d.j.Record(journal.ApprovalRejected, "step", step, "reason", "timed out after "+approvalTimeout.String())
	return nil, false, nil
}

// operatorAnswers reads lines from stdin once per run.
func (d *drill) operatorAnswers() <-chan string {
	d.approvalsOnce.Do(func() {
		in := d.opts.Stdin
		// A stdin shared by several drills hands out its own lines: a
		// scanner here would read ahead into the next drill's answers.
		if ls, ok := in.(interface{ Lines() <-chan string }); ok {
			d.approvals = ls.Lines()
			return
		}
		ch := make(chan string, 4)
		d.approvals = ch
		if in == nil {
			close(ch)
			return
		}
		go func() {
			defer close(ch)
			sc := bufio.NewScanner(in)
			for sc.Scan() {
				ch <- sc.Text()
			}
		}()
	})
	return d.approvals
}

// promote makes the canary the serving version and stops the old one.
func (d *drill) promote(ctx context.Context) error {
	ro := d.sc.Rollout
	svc := d.sc.Environment.Service(ro.Service)
	rt := d.routers[svc.Name]
	strat, err := strategy.Get(ro.Strategy)
	if err != nil {
		return err
	}
	strat.Promote(rt, strategy.Release{Service: svc.Name, Baseline: svc.Baseline, To: ro.To})
	d.mu.Lock()
	d.canaryLive = false
	old := d.instances[svc.Name][svc.Baseline]
	d.mu.Unlock()
	d.outcome = reports.OutcomePromoted
	d.decision = &reports.Decision{At: time.Now().UTC(), Verdict: "promote", Reason: "every step passed its analysis"}
	d.j.Record(journal.Promote, "service", svc.Name, "version", ro.To)
	d.say("promoted %s %s", svc.Name, ro.To)
	if old != nil {
		wctx, cancel := context.WithTimeout(ctx, d.loadTimeout())
		_ = rt.WaitIdle(wctx, svc.Baseline)
		cancel()
		rt.RemoveBackend(svc.Baseline)
		if err := old.Stop(ctx); err != nil {
			return err
		}
		d.j.Record(journal.InstanceStop, "service", svc.Name, "version", svc.Baseline, "reason", "promoted")
	}
	return nil
}
