// Package harness runs a drill. It is the orchestrator only: the stages
// run in order and hand their results forward as values —
//
//	provision → *System      (system.go: provider, databases, routers, instances)
//	startLoad → *monitor     (monitor.go: load and the interval clock)
//	steady    → Reference    (steady.go: the hypothesis and the baseline)
//	rollout   → *judge.Decision, recorded in a *release (rollout.go)
//	rollback  → Rollback     (rollback.go: the ordered, idempotent undo)
//	verify    → recovery time and Verification (verify.go)
//
// and finish (report.go) tears down and reports whatever the stages
// returned. Providers, judges, strategies, fault kinds and renderers live
// in their own packages, each behind a registry.
package harness

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/drillhq/drill/harness/cleanup"
	"github.com/drillhq/drill/harness/contract"
	"github.com/drillhq/drill/harness/faultset"
	"github.com/drillhq/drill/harness/gameday"
	"github.com/drillhq/drill/harness/journal"
	"github.com/drillhq/drill/harness/judge"
	"github.com/drillhq/drill/harness/metrics"
	"github.com/drillhq/drill/harness/promexport"
	"github.com/drillhq/drill/harness/provider"
	"github.com/drillhq/drill/harness/redact"
	"github.com/drillhq/drill/harness/stall"
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
	// Operator is who an answer on Stdin is recorded as (the OS user);
	// drill ctl and the dashboard name their own.
	Operator string
	Log      io.Writer // progress lines for the operator; nil for none
	// Metrics, when set, exports the drill's metrics for Prometheus
	// (drill run --metrics) while it runs.
	Metrics *promexport.Exporter
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
)

// ClientSource is the metrics source of what the load generator sees.
const ClientSource = "client"

// ErrInterrupted is returned when the run was stopped by its context
// (Ctrl-C, SIGTERM) after the safe abort finished.
var ErrInterrupted = errors.New("interrupted")

// drill is one run's configuration and the services every stage may use —
// the journal, progress lines, the operator's answers, the fault set and
// the exposure mark — but none of the stages' results: those are values
// passed from stage to stage (see results).
type drill struct {
	sc   *scenarios.Scenario
	opts Options
	log  io.Writer

	runID, runDir, tmpDir string
	provider              string
	seed                  int64
	interval              time.Duration
	j                     *journal.Journal
	started               time.Time

	faults *faultset.Set
	exp    *exposure
	// stage is the stage running now ("" without stages), stages those
	// started so far, and base the scenario as written (sc is the
	// current stage's copy).
	stage  string
	stages []stageRun
	base   *scenarios.Scenario
	// bg counts the background watchers (a switch's) that journal after
	// their stage returned: finish waits for them.
	bg sync.WaitGroup

	approvals     <-chan string
	approvalsOnce sync.Once

	// con is the operators' console (drill ctl, the dashboard) and ctl
	// its socket; would is the judge's first rollback that did not act
	// (game_day.judge: advisory or off); dashURL the live page's address.
	con     *gameday.Console
	ctl     *gameday.Server
	dash    *gameday.Dashboard
	would   *wouldDecision
	dashURL string
	// prom is this drill's Prometheus series (nil without --metrics).
	prom *promexport.Drill
	// meter gathers the evidence that the machine starved the drill,
	// over every stage's load (reports.Host).
	meter *stall.Meter

	// abort cancels the drill's context with a cause; panicErr is the
	// first panic recovered off the main goroutine (see onPanic).
	abort    context.CancelCauseFunc
	panicMu  sync.Mutex
	panicErr error
}

// results are the values the stages returned so far: execute collects
// them and finish reports them, whatever stage the run stopped in.
type results struct {
	sys       *System
	mon       *monitor
	ref       Reference
	rels      group
	decision  *reports.Decision
	detected  *time.Time
	recovered *time.Time
	outcome   reports.Outcome
	rollback  *Rollback
	verified  Verification
	leftovers []string
	errText   string
	// interrupted: the run was stopped by its context (Ctrl-C).
	interrupted bool
}

// Run executes one drill and returns its report. The report is written to
// its run directory before Run returns, on success, failure, interruption
// and panic alike; err says why a run did not complete normally
// (ErrInterrupted, a *provider.EnvError, or another failure).
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
	r := &results{}
	defer func() {
		if p := recover(); p != nil {
			d.j.Record(journal.Panic, "where", "main", "value", fmt.Sprint(p), "stack", string(debug.Stack()))
			err = fmt.Errorf("internal error: %v", p)
		}
		if perr := d.panicked(); perr != nil && err != nil {
			err = perr
		}
		var byOperator *operatorAbort
		if errors.As(context.Cause(ctx), &byOperator) && err != nil {
			err = byOperator
		}
		r.interrupted = err != nil && ctx.Err() != nil && d.panicked() == nil && byOperator == nil
		rep = d.finish(err, r)
		if r.interrupted {
			err = ErrInterrupted
		}
	}()
	return nil, d.execute(ctx, r)
}

func newDrill(sc *scenarios.Scenario, opts Options) (*drill, error) {
	d := &drill{sc: sc, opts: opts, log: opts.Log, seed: sc.Seed}
	if d.log == nil {
		d.log = io.Discard
	}
	if opts.Seed != nil {
		d.seed = *opts.Seed
	}
	d.provider = cmp.Or(opts.Provider, sc.Environment.Provider, scenarios.DefaultProvider)
	d.interval = cmp.Or(max(sc.Rollout.Analysis.Interval, 0), time.Second)
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
	previous, cerr := cleanup.DeadRuns(out)
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
	tmp, err := os.MkdirTemp(cleanup.TempRoot(), "drill-"+sc.Name+"-")
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
	d.prom = opts.Metrics.Drill(sc.Name)
	d.meter = stall.NewMeter()
	d.exp = &exposure{j: d.j}
	d.faults = faultset.New(sc, d.seed, faultset.Host{J: d.j, Say: d.sayFault, Expose: d.exp.mark})
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

func (d *drill) say(format string, args ...any) {
	// Progress lines quote errors and commands: redacted like the journal.
	fmt.Fprintf(d.log, "[%6.1fs] %s\n", time.Since(d.started).Seconds(), redact.String(fmt.Sprintf(format, args...)))
}

// execute runs the stages in order, each given what the earlier ones
// returned, and records their results in r. Teardown is not its business:
// finish always runs after it.
func (d *drill) execute(ctx context.Context, r *results) error {
	d.say("drill %s (%s provider, seed %d) -> %s", d.sc.Name, d.provider, d.seed, d.runDir)
	if err := d.openConsole(); err != nil {
		return &provider.EnvError{What: "open the operators' console", Err: err}
	}
	if len(d.sc.Stages) > 0 {
		return d.executeStages(ctx, r)
	}
	return d.executeStage(ctx, r)
}

// executeStage is the drill in one environment: provision, steady
// state, rollout, then promotion or rollback, and verification.
func (d *drill) executeStage(ctx context.Context, r *results) error {
	rels, err := newGroup(d.sc)
	if err != nil {
		return err
	}
	d.phase("provisioning")
	sys, err := d.provision(ctx)
	r.sys = sys
	if err != nil {
		return err
	}
	for svc, rec := range sys.recorders {
		// Before any traffic: the tap is read per request.
		rec.Tap(d.prom.Tap(svc))
	}
	if err := d.checkPromoted(sys, rels); err != nil {
		r.outcome = reports.OutcomeAborted
		return err
	}
	drillCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	faults := d.faults
	r.mon = d.startLoad(drillCtx, sys, func(end time.Time, tw map[string]map[string]metrics.Window) {
		faults.Observe(tw)
		d.showWindows(sys, end, tw)
		d.exportState(sys, faults)
	})
	d.exp.follow(r.mon)
	d.faults.Bind(sys, r.mon.recentTraffic)
	d.faults.Schedule(drillCtx)
	d.con.SetFaults(d.faults)
	d.phase("steady")
	if r.ref, err = d.steadyState(ctx, r.mon, d.faults.AppliedAny); err != nil {
		if errors.Is(err, errSteadyState) {
			r.outcome = reports.OutcomeAborted
		}
		return err
	}
	r.rels = rels
	a := d.sc.Rollout.Analysis
	d.phase("rollout")
	dec, err := d.rollout(ctx, sys, r.mon, r.ref, rels, d.exp, func() (judge.Judge, error) { return judge.New(a.Judge, a) })
	if err != nil {
		return err
	}
	if dec == nil {
		r.outcome = reports.OutcomePromoted
		if r.decision, err = d.promote(ctx, sys, rels); err != nil {
			return err
		}
	} else if err := d.undoRelease(ctx, r, dec); err != nil {
		return err
	}
	d.phase("verify")
	r.verified, err = d.verifyData(ctx, sys, r.mon, rels, r.outcome == reports.OutcomePromoted)
	return err
}

// undoRelease acts on the judge's rollback decision: an abort (on_failure:
// abort), or the rollback and the recovery check.
func (d *drill) undoRelease(ctx context.Context, r *results, dec *judge.Decision) error {
	now := time.Now()
	if isBlock(dec) {
		// Nothing reached a user: the new versions started for the check
		// are stopped by the same ordered undo, and nothing is detected.
		r.outcome = reports.OutcomeBlocked
		r.decision = &reports.Decision{At: now.UTC(), Verdict: "block", Reason: dec.Reason, Evidence: dec.Evidence}
		rb := d.abortRollout(context.WithoutCancel(ctx), r.sys, r.rels, d.faults, "blocked by a contract")
		r.rollback = &rb
		return nil
	}
	r.detected = &now
	if at, ok := dec.Evidence["at"].(time.Time); ok && at.Before(now) {
		// An operator's order (a rollback, a rejected gate) was detection
		// when it was sent, not when the loop took it.
		r.detected = &at
	}
	r.decision = &reports.Decision{At: r.detected.UTC(), Verdict: string(dec.Verdict), Reason: dec.Reason, Evidence: dec.Evidence}
	d.j.Record(journal.DecisionRollback, "reason", dec.Reason, "evidence", dec.Evidence)
	d.say("DECISION rollback: %s", dec.Reason)
	if d.sc.Rollout.OnFailure == scenarios.OnFailureAbort {
		r.outcome = reports.OutcomeAborted
		rb := d.abortRollout(context.WithoutCancel(ctx), r.sys, r.rels, d.faults, "on_failure: abort")
		r.rollback = &rb
		return nil
	}
	r.outcome = reports.OutcomeRolledBack
	d.phase("rollback")
	rb := d.rollback(context.WithoutCancel(ctx), r.sys, r.rels, d.faults, now)
	r.rollback = &rb
	// The contracts hold again once the baseline serves.
	r.sys.checked = append(r.sys.checked, d.checkContracts(context.WithoutCancel(ctx), r.sys, contract.PhaseAfter)...)
	var err error
	r.recovered, err = d.verifyRecovery(ctx, r.mon, r.ref, now)
	return err
}

// loadTimeout is the client's request timeout: no request outlives it.
func (d *drill) loadTimeout() time.Duration {
	if d.sc.Load.Timeout > 0 {
		return d.sc.Load.Timeout
	}
	return 2 * time.Second
}
