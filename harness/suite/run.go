package suite

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/drillhq/drill/harness"
	"github.com/drillhq/drill/harness/provider"
	"github.com/drillhq/drill/reports"
	"github.com/drillhq/drill/scenarios"
)

// Drill is one scenario file of the suite, loaded.
type Drill struct {
	File string
	// Scenario is nil when the file did not load; Problems then says why,
	// one file:line:col: message each.
	Scenario *scenarios.Scenario
	Problems []string
	// Skip, when set, is why the drill is not run (a game day found by a
	// directory scan: it needs people).
	Skip string
	// Need is the CPU the drill needs, in cores (see Need).
	Need float64
}

// RunFunc runs one attempt of a drill and returns its report, as
// harness.Run does: the report is written before it returns, and err is
// ErrInterrupted when ctx ended the drill.
type RunFunc func(ctx context.Context, sc *scenarios.Scenario, attempt int) (*reports.Report, error)

// Options say how a suite runs.
type Options struct {
	// Parallel is the most drills at once; at least 1.
	Parallel int
	// Capacity is the CPU, in cores, the drills running at once may need
	// in all (Capacity() when 0). A drill that needs more than all of it
	// runs alone.
	Capacity float64
	// Retries is how many times a drill that did not pass runs again.
	Retries int
	// Timeout bounds each attempt; past it the drill is aborted safely
	// (as by Ctrl-C) and the attempt has failed. 0: no bound.
	Timeout time.Duration
	// Run runs one attempt.
	Run RunFunc
	// Dir is the suite's directory: run directories are recorded
	// relative to it.
	Dir string
	// Baseline holds the baseline suite's last report of each scenario,
	// by name; MaxDrop is the score drop that makes a regression.
	Baseline map[string]*reports.Report
	MaxDrop  float64
	// Done, when set, is called (one call at a time) as each drill ends,
	// with its result and last report.
	Done func(d reports.SuiteDrill, last *reports.Report)
}

// ErrTimedOut is the cause of a drill's context when its attempt ran past
// Options.Timeout.
var ErrTimedOut = errors.New("timed out")

// Result is a suite run: the suite and each drill's last report (nil
// where the drill never ran), in Suite.Drills' order.
type Result struct {
	Suite *reports.Suite
	Last  []*reports.Report
	// Interrupted is set when ctx ended the suite (Ctrl-C): the drills
	// not yet started are skipped.
	Interrupted bool

	doneMu sync.Mutex // one Done call at a time
}

// Run runs the drills and returns the suite's result. Drills start in
// order, each as soon as the machine holds it beside the ones running:
// at most opts.Parallel at once, and never more CPU need together than
// opts.Capacity (a drill that needs more than that runs alone). A
// drill's attempts run one after another.
func Run(ctx context.Context, drills []Drill, opts Options) *Result {
	opts.Parallel = max(opts.Parallel, 1)
	if opts.Capacity <= 0 {
		opts.Capacity = Capacity()
	}
	res := &Result{
		Suite: &reports.Suite{SchemaVersion: reports.SuiteSchemaVersion, StartedAt: time.Now().UTC(),
			Parallel: opts.Parallel, Retries: opts.Retries, CPUs: CPUs(), Capacity: opts.Capacity, Tags: []string{}},
		Last: make([]*reports.Report, len(drills)),
	}
	if opts.Timeout > 0 {
		res.Suite.Timeout = opts.Timeout.String()
	}
	out := make([]reports.SuiteDrill, len(drills))
	var (
		mu      sync.Mutex
		cond    = sync.NewCond(&mu)
		running int
		used    float64
		wg      sync.WaitGroup
	)
	fits := func(need float64) bool {
		return running < opts.Parallel && (running == 0 || used+need <= opts.Capacity+1e-9)
	}
	for i, d := range drills {
		out[i] = reports.SuiteDrill{File: d.File, Tags: []string{}, Need: d.Need, Attempts: []reports.SuiteAttempt{}}
		if d.Scenario != nil {
			out[i].Scenario, out[i].Tags = d.Scenario.Name, append([]string{}, d.Scenario.Tags...)
		}
		switch {
		case d.Scenario == nil:
			out[i].Verdict, out[i].Problems = reports.VerdictInvalid, d.Problems
			if len(d.Problems) > 0 {
				out[i].Reason = d.Problems[0]
			}
			res.done(opts, out[i], nil)
			continue
		case d.Skip != "":
			out[i].Verdict, out[i].Reason = reports.VerdictSkipped, d.Skip
			res.done(opts, out[i], nil)
			continue
		}
		// Wait until the drill fits beside those running, in order: a
		// later, smaller drill does not overtake it, so a big drill
		// cannot wait forever behind a stream of small ones.
		mu.Lock()
		for !fits(d.Need) && ctx.Err() == nil {
			cond.Wait()
		}
		if ctx.Err() != nil {
			mu.Unlock()
			out[i].Verdict, out[i].Reason = reports.VerdictSkipped, "the suite was interrupted before it started"
			res.done(opts, out[i], nil)
			continue
		}
		running++
		used += d.Need
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			last := runDrill(ctx, d, &out[i], opts)
			mu.Lock()
			running--
			used -= d.Need
			res.Last[i] = last
			cond.Broadcast()
			mu.Unlock()
			res.done(opts, out[i], last)
		}()
	}
	// A waiter above must see the context end even when no drill ends.
	stop := context.AfterFunc(ctx, func() {
		mu.Lock()
		cond.Broadcast()
		mu.Unlock()
	})
	wg.Wait()
	stop()
	res.Interrupted = ctx.Err() != nil
	res.Suite.Drills = out
	res.Suite.EndedAt = time.Now().UTC()
	res.Suite.Tally()
	return res
}

// done tells Options.Done, one call at a time.
func (res *Result) done(opts Options, d reports.SuiteDrill, last *reports.Report) {
	if opts.Done == nil {
		return
	}
	res.doneMu.Lock()
	defer res.doneMu.Unlock()
	opts.Done(d, last)
}

// runDrill runs a drill's attempts and sets its verdict: it runs again
// while it has not passed and retries are left. Its last report is
// returned.
func runDrill(ctx context.Context, d Drill, out *reports.SuiteDrill, opts Options) *reports.Report {
	var last *reports.Report
	for attempt := 1; attempt <= 1+opts.Retries; attempt++ {
		a, rep, err := runAttempt(ctx, d, attempt, opts)
		out.Attempts = append(out.Attempts, a)
		if rep != nil {
			last = rep
		}
		var env *provider.EnvError
		switch {
		case errors.Is(err, harness.ErrInterrupted) && !a.TimedOut:
			out.Verdict, out.Reason = reports.VerdictInterrupted, "interrupted: faults reverted, traffic back on baseline, processes stopped"
			return last
		case errors.As(err, &env):
			// The machine cannot run it: running it again will not help.
			out.Verdict, out.Reason = reports.VerdictError, env.Error()
			return last
		case a.Passed && !a.Inconclusive:
			attempt = 1 + opts.Retries // a pass ends the drill's attempts
		}
	}
	out.Verdict, out.Reason = verdict(out.Attempts)
	if b := opts.Baseline[d.Scenario.Name]; b != nil && last != nil {
		// A failed drill shows the comparison too; only a pass becomes
		// a regression (a failure is worse already).
		out.Baseline = compare(b, last, opts.MaxDrop)
		if out.Verdict == reports.VerdictPassed && len(out.Baseline.Regressions) > 0 {
			out.Verdict, out.Reason = reports.VerdictRegressed, out.Baseline.Regressions[0]
		}
	}
	return last
}

// verdict is a drill's verdict from its attempts: a pass is a pass only
// if no conclusive attempt failed; a failure then a pass, or a pass then
// a failure, is flaky; only starved attempts is inconclusive.
func verdict(as []reports.SuiteAttempt) (string, string) {
	var passed, failed int
	var firstFail, lastInconclusive string
	for i, a := range as {
		switch {
		case a.Inconclusive && !a.TimedOut:
			lastInconclusive = fmt.Sprintf("attempt %d: the machine starved it: %s", i+1, strings.Join(a.Evidence, "; "))
		case a.Passed:
			passed++
		default:
			failed++
			if firstFail == "" {
				firstFail = fmt.Sprintf("attempt %d: %s", i+1, failWhy(a))
			}
		}
	}
	switch {
	case passed > 0 && failed > 0:
		return reports.VerdictFlaky, fmt.Sprintf("%d of %d conclusive attempts passed; %s", passed, passed+failed, firstFail)
	case passed > 0:
		return reports.VerdictPassed, ""
	case failed > 0:
		return reports.VerdictFailed, strings.TrimPrefix(firstFail, "attempt 1: ")
	}
	return reports.VerdictInconclusive, lastInconclusive
}

// failWhy is a failed attempt's reason in one line.
func failWhy(a reports.SuiteAttempt) string {
	switch {
	case a.TimedOut:
		return "timed out: " + a.Error
	case a.Error != "":
		return a.Error
	case len(a.Failed) > 0:
		return a.Failed[0]
	}
	return "an expectation failed"
}

// runAttempt runs one attempt under the suite's timeout.
func runAttempt(ctx context.Context, d Drill, attempt int, opts Options) (reports.SuiteAttempt, *reports.Report, error) {
	actx, cancel := ctx, context.CancelFunc(func() {})
	if opts.Timeout > 0 {
		actx, cancel = context.WithTimeoutCause(ctx, opts.Timeout, ErrTimedOut)
	}
	defer cancel()
	start := time.Now()
	rep, err := opts.Run(actx, d.Scenario, attempt)
	a := reports.SuiteAttempt{Seconds: time.Since(start).Seconds()}
	a.TimedOut = ctx.Err() == nil && errors.Is(context.Cause(actx), ErrTimedOut)
	if rep != nil {
		a.Outcome, a.Score, a.Grade = rep.Outcome, rep.Score.Total, rep.Score.Grade
		a.Passed, a.Inconclusive = rep.Passed && err == nil, rep.Inconclusive()
		if rep.Host != nil {
			a.Evidence = rep.Host.Evidence
		}
		for _, e := range rep.Expectations {
			if !e.OK {
				a.Failed = append(a.Failed, e.Name+": "+e.Detail)
			}
		}
		if rep.RunDir != "" {
			a.RunDir = rep.RunDir
			if rel, rerr := filepath.Rel(opts.Dir, rep.RunDir); rerr == nil && opts.Dir != "" && !strings.HasPrefix(rel, "..") {
				a.RunDir = filepath.ToSlash(rel)
			}
		}
	}
	switch {
	case a.TimedOut:
		a.Passed = false
		a.Error = fmt.Sprintf("the drill ran past --timeout %s and was aborted safely", opts.Timeout)
	case err != nil:
		a.Passed = false
		a.Error = err.Error()
	}
	return a, rep, err
}

// compare is reports.Compare as the suite records it.
func compare(old, cur *reports.Report, maxDrop float64) *reports.SuiteBaseline {
	c := reports.Compare(old, cur, maxDrop)
	return &reports.SuiteBaseline{RunDir: old.RunDir, Score: old.Score.Total, Delta: cur.Score.Total - old.Score.Total,
		Regressions: append([]string{}, c.Regressions...)}
}
