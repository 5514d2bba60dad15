// Package cleanup removes what drills that died left behind: it reads the
// journal of every run that did not finish its teardown and kills only
// processes provably still its own, asks every provider to sweep its
// objects (containers, networks), and removes only temp dirs drill names.
// It also picks where a run's temp dir goes (TempRoot), since it must
// recognise those dirs later.
package cleanup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"syscall"
	"time"

	"github.com/drillhq/drill/harness/journal"
	"github.com/drillhq/drill/harness/provider"
	"github.com/drillhq/drill/internal/procid"
)

// DeadRuns reads the journal of every run under outDir (a suite's runs
// too, in its suite-* directory) that did not finish
// its teardown (it was killed, SIGKILL included, or its machine stopped)
// and removes what it left: it resumes and kills the instances and
// databases it started — only processes that are provably still the ones
// journaled (same boot, same start time, same executable), so a reused
// PID or a journal from another boot never gets anything killed — and
// removes its temp dir, only when it is one drill itself names (see
// ownTempDir): a journal in a shared --out cannot make drill delete an
// arbitrary path. It appends cleanup.done to the journal, so a second
// Cleanup finds nothing to do. Runs whose harness is still alive are left
// alone.
func DeadRuns(outDir string) ([]Result, error) {
	journals, err := filepath.Glob(filepath.Join(outDir, "*", "journal.jsonl"))
	if err != nil {
		return nil, err
	}
	// A suite's runs are one level down, in its suite-* directory.
	inSuites, err := filepath.Glob(filepath.Join(outDir, "suite-*", "*", "journal.jsonl"))
	if err != nil {
		return nil, err
	}
	journals = append(journals, inSuites...)
	sort.Strings(journals)
	var out []Result
	var errs []error
	for _, path := range journals {
		res, err := cleanRun(path)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", filepath.Dir(path), err))
			continue
		}
		if res != nil {
			out = append(out, *res)
		}
	}
	// Then containers and networks of dead runs, by label: also those of
	// runs whose journal is not under outDir.
	for _, name := range provider.Names() {
		kind, _ := provider.Lookup(name)
		if kind.SweepAll == nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), SweepTimeout)
		swept, err := kind.SweepAll(ctx)
		cancel()
		if err != nil {
			errs = append(errs, err)
		}
		for _, r := range swept {
			if !r.Running && len(r.Actions)+len(r.Skipped) > 0 {
				out = append(out, r)
			}
		}
	}
	return out, errors.Join(errs...)
}

// SweepTimeout bounds one provider's sweep (a container engine's calls).
const SweepTimeout = time.Minute

// journaledProcess is a process a run started, as its journal records it.
type journaledProcess struct {
	name string
	procid.ID
}

// deadRun is what a run's journal says it started.
type deadRun struct {
	path              string // its journal
	harness           procid.ID
	tempDir, scenario string
	provName, runID   string
	procs             []journaledProcess
	finished          bool // teardown or an earlier cleanup completed
}

// readRun reads what the journal at path says the run started.
func readRun(path string) (*deadRun, error) {
	events, err := journal.Read(path)
	if err != nil {
		return nil, err
	}
	run := &deadRun{path: path}
	for _, e := range events {
		switch e.Event {
		case journal.TeardownDone, journal.CleanupDone:
			run.finished = true // finished, or already cleaned up
			return run, nil
		case journal.RunStart:
			run.harness = procid.FromFields(e.Fields)
			run.tempDir, _ = e.Fields["temp_dir"].(string)
			run.scenario, _ = e.Fields["scenario"].(string)
			run.provName, _ = e.Fields["provider"].(string)
			run.runID, _ = e.Fields["run_id"].(string)
		case journal.InstanceReady, journal.DatabaseReady:
			name := fmt.Sprintf("%v-%v", e.Fields["service"], e.Fields["version"])
			if e.Event == journal.DatabaseReady {
				name = fmt.Sprintf("database %v", e.Fields["database"])
			}
			run.procs = append(run.procs, journaledProcess{name: name, ID: procid.FromFields(e.Fields)})
		}
	}
	return run, nil
}

// cleanRun cleans up after the run whose journal is at path, when its
// harness is provably dead on this host; nil when the run finished.
func cleanRun(path string) (*Result, error) {
	run, err := readRun(path)
	if err != nil || run.finished {
		return nil, err
	}
	res := &Result{RunDir: filepath.Dir(path)}
	h := run.harness
	if !h.Complete() {
		return run.older(res)
	}
	if h.Host != "" && h.Host != procid.HostID() {
		// Its pids are another PID namespace's, and its temp dir and
		// containers may be a live run's: not for this host to judge.
		// Not marked done: cleanup on that host still has it to do.
		res.Skipped = append(res.Skipped, fmt.Sprintf("the run was started on another host (%s): left alone", h.Host))
		return res, nil
	}
	if h.Alive() {
		res.Running = true
		return res, nil
	}
	run.killProcesses(res)
	if kind, _ := provider.Lookup(run.provName); kind.SweepRun != nil && run.runID != "" {
		// The objects' own labels decide, not the journal: a journal
		// copied from another host names a run this host did not start.
		ctx, cancel := context.WithTimeout(context.Background(), SweepTimeout)
		r, err := kind.SweepRun(ctx, run.runID)
		cancel()
		res.Actions = append(res.Actions, r.Actions...)
		res.Skipped = append(res.Skipped, r.Skipped...)
		if err != nil {
			// No cleanup.done: the next cleanup tries again.
			return nil, fmt.Errorf("remove what %s run %s left: %w", run.provName, run.runID, err)
		}
	}
	if err := run.removeTempDir(res); err != nil {
		return nil, err
	}
	return res, markDone(path, res)
}

// older handles the journal of an older drill (or a torn run.start):
// nothing in it proves that its pids are still its processes or that its
// temp dir is drill's. Its harness may even still run, so it is not
// marked done while that pid runs the journaled executable.
func (run *deadRun) older(res *Result) (*Result, error) {
	h := run.harness
	if h.PID > 0 && h.Exe != "" && syscall.Kill(h.PID, 0) == nil && procid.ExePath(h.PID) == h.Exe {
		res.Running = true
		return res, nil
	}
	res.Skipped = append(res.Skipped, "the journal does not record process start times and boot ID (written by an older drill): nothing killed or removed")
	for _, p := range run.procs {
		if p.PID > 0 {
			res.Skipped = append(res.Skipped, fmt.Sprintf("%s (pid %d, %s): check by hand", p.name, p.PID, p.Exe))
		}
	}
	if run.tempDir != "" {
		res.Skipped = append(res.Skipped, "temp dir "+run.tempDir+": check by hand")
	}
	return res, markDone(run.path, res)
}

// killProcesses kills the run's processes that are provably still its own.
func (run *deadRun) killProcesses(res *Result) {
	for _, p := range run.procs {
		if p.PID <= 0 {
			continue // not a local process (a container)
		}
		if !p.Complete() {
			res.Skipped = append(res.Skipped, fmt.Sprintf("%s (pid %d): no start time journaled, left alone", p.name, p.PID))
			continue
		}
		if !p.Alive() {
			if syscall.Kill(p.PID, 0) == nil && p.Boot == procid.BootID() {
				// Reused by another process: not ours, and worth saying so.
				res.Skipped = append(res.Skipped, fmt.Sprintf("%s: pid %d is now another process, left alone", p.name, p.PID))
			}
			continue
		}
		if procid.State(p.PID) == 'T' {
			res.Actions = append(res.Actions, fmt.Sprintf("resumed paused %s (pid %d)", p.name, p.PID))
		}
		// SIGCONT first: a stopped process only dies of SIGKILL, but its
		// children may be stopped too and should not linger as zombies' parents.
		_ = syscall.Kill(-p.PID, syscall.SIGCONT)
		_ = syscall.Kill(-p.PID, syscall.SIGKILL)
		_ = syscall.Kill(p.PID, syscall.SIGKILL)
		res.Actions = append(res.Actions, fmt.Sprintf("killed %s (pid %d)", p.name, p.PID))
	}
}

// removeTempDir removes the run's temp dir when drill provably made it.
func (run *deadRun) removeTempDir(res *Result) error {
	if run.tempDir == "" {
		return nil
	}
	switch why := ownTempDir(run.tempDir, run.scenario); {
	case why == errTempDirGone:
	case why != nil:
		res.Skipped = append(res.Skipped, fmt.Sprintf("temp dir %s left alone: %v", run.tempDir, why))
	default:
		if err := os.RemoveAll(run.tempDir); err != nil {
			return fmt.Errorf("remove temp dir: %w", err)
		}
		res.Actions = append(res.Actions, "removed temp dir "+run.tempDir)
	}
	// The control socket lived in the temp dir; its link in the run
	// directory (gameday.Listen) now points at nothing.
	link := filepath.Join(res.RunDir, "ctl.sock")
	if fi, err := os.Lstat(link); err == nil && fi.Mode()&os.ModeSymlink != 0 {
		if err := os.Remove(link); err == nil {
			res.Actions = append(res.Actions, "removed the dead control socket's link "+link)
		}
	}
	return nil
}

// markDone appends cleanup.done, so the next cleanup finds nothing to do.
func markDone(path string, res *Result) error {
	return journal.Append(path, journal.CleanupDone, map[string]any{"actions": res.Actions, "skipped": res.Skipped, "pid": os.Getpid()})
}

// errTempDirGone says a journaled temp dir no longer exists: nothing to do.
var errTempDirGone = errors.New("gone")

// ownTempDir says why dir is not a temp dir drill made for a run of
// scenario (nil when it is one): drill's runs create theirs with
// os.MkdirTemp(TempRoot(), "drill-<scenario>-"), so anything else named in
// a journal — a path elsewhere, a link, another user's directory — is not
// drill's to remove, whatever the journal says.
func ownTempDir(dir, scenario string) error {
	if !filepath.IsAbs(dir) {
		return errors.New("not an absolute path")
	}
	dir = filepath.Clean(dir)
	parent, base := filepath.Split(dir)
	parent = filepath.Clean(parent)
	inRoot := false
	// The roots a run may have used: TMPDIR or the system default, or the
	// memory-backed root (tempRoot picks among them at each run).
	for _, root := range []string{TempRoot(), memTempRoot, os.TempDir()} {
		if root != "" && filepath.Clean(root) == parent {
			inRoot = true
			break
		}
	}
	if !inRoot {
		return fmt.Errorf("not directly inside drill's temp root (%s)", TempRoot())
	}
	if scenario == "" || !regexp.MustCompile(`^drill-`+regexp.QuoteMeta(scenario)+`-[0-9]+$`).MatchString(base) {
		return fmt.Errorf("not named drill-%s-<digits>", scenario)
	}
	fi, err := os.Lstat(dir)
	if errors.Is(err, os.ErrNotExist) {
		return errTempDirGone
	}
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return errors.New("not a directory (a link or a file)")
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("not owned by this user (uid %d)", os.Geteuid())
	}
	return nil
}

// Result is what Cleanup found of one dead run.
type Result = provider.CleanupResult
