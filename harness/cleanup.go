package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/drillhq/drill/harness/journal"
)

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

// Cleanup reads the journal of every run under outDir that did not finish
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
func Cleanup(outDir string) ([]CleanupResult, error) {
	journals, err := filepath.Glob(filepath.Join(outDir, "*", "journal.jsonl"))
	if err != nil {
		return nil, err
	}
	sort.Strings(journals)
	var out []CleanupResult
	var errs []error
	for _, path := range journals {
		res, err := cleanupRun(path)
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
	ctx, cancel := context.WithTimeout(context.Background(), dockerCleanupTimeout)
	defer cancel()
	swept, err := sweepDocker(ctx)
	if err != nil {
		errs = append(errs, err)
	}
	for _, r := range swept {
		if !r.Running && len(r.Actions)+len(r.Skipped) > 0 {
			out = append(out, r)
		}
	}
	return out, errors.Join(errs...)
}

// dockerCleanupTimeout bounds the engine calls of one cleanup.
const dockerCleanupTimeout = time.Minute

// journaledProcess is a process a run started, as its journal records it.
type journaledProcess struct {
	name string
	procID
}

// procID names one process for the life of the machine: a PID alone is
// reused (after the process ends, and after a reboot), but not together
// with the boot ID and the process's start time.
type procID struct {
	pid   int
	exe   string
	start uint64 // field 22 of /proc/<pid>/stat, clock ticks since boot
	boot  string // /proc/sys/kernel/random/boot_id when it was recorded
	host  string // hostID() when it was recorded: where pid means something
}

// procIDOf reads a process's identity from journal fields (see procIdentity).
func procIDOf(f map[string]any) procID {
	id := procID{pid: intField(f, "pid")}
	id.exe, _ = f["exe"].(string)
	id.boot, _ = f["boot_id"].(string)
	id.host, _ = f["host"].(string)
	if v, ok := f["start_time"].(float64); ok && v > 0 {
		id.start = uint64(v)
	}
	return id
}

// complete reports whether the journal recorded everything that proves
// the process is still the one it started. Journals of older drills have
// the pid and executable only.
func (p procID) complete() bool {
	return p.pid > 0 && p.exe != "" && p.start > 0 && p.boot != ""
}

// alive reports whether p is still running: the same boot, the same start
// time and the same executable as journaled, and not a zombie (a dead
// harness its parent has not reaped yet).
func (p procID) alive() bool {
	if !p.complete() || p.boot != bootID() || processState(p.pid) == 'Z' {
		return false
	}
	st, err := procStartTime(p.pid)
	if err != nil || st != p.start {
		return false
	}
	return exePath(p.pid) == p.exe
}

// procIdentity is what the journal records beside a pid so that cleanup
// can later prove the pid is still that process: start_time, boot_id and
// host (see hostID: a journal in an --out shared with another container
// names pids of another PID namespace), as key-value pairs for
// Journal.Record. It is empty when pid is no local
// process (a container's instance has pid 0) or /proc cannot say; cleanup
// then leaves the pid alone.
func procIdentity(pid int) []any {
	if pid <= 0 {
		return nil
	}
	st, err := procStartTime(pid)
	boot := bootID()
	if err != nil || boot == "" {
		return nil
	}
	return []any{"start_time", st, "boot_id", boot, "host", hostID()}
}

// procStartTime is field 22 of /proc/<pid>/stat: when the process started,
// in clock ticks since boot. The comm field (2) may hold spaces and
// parentheses, so fields are counted after its last ')'.
func procStartTime(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no comm field", pid)
	}
	fields := strings.Fields(string(b[i+1:]))
	// fields[0] is field 3 (state).
	if len(fields) < 20 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields after comm", pid, len(fields))
	}
	return strconv.ParseUint(fields[19], 10, 64)
}

// bootID is this boot's random ID ("" when the kernel does not say): start
// times count from boot, so they identify a process only within one boot.
var bootID = sync.OnceValue(func() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
})

func cleanupRun(path string) (*CleanupResult, error) {
	events, err := journal.Read(path)
	if err != nil {
		return nil, err
	}
	var (
		harness           procID
		tempDir, scenario string
		provider, runID   string
		procs             []journaledProcess
	)
	for _, e := range events {
		switch e.Event {
		case journal.TeardownDone, journal.CleanupDone:
			return nil, nil // finished, or already cleaned up
		case journal.RunStart:
			harness = procIDOf(e.Fields)
			tempDir, _ = e.Fields["temp_dir"].(string)
			scenario, _ = e.Fields["scenario"].(string)
			provider, _ = e.Fields["provider"].(string)
			runID, _ = e.Fields["run_id"].(string)
		case journal.InstanceReady, journal.DatabaseReady:
			name := fmt.Sprintf("%v-%v", e.Fields["service"], e.Fields["version"])
			if e.Event == journal.DatabaseReady {
				name = fmt.Sprintf("database %v", e.Fields["database"])
			}
			procs = append(procs, journaledProcess{name: name, procID: procIDOf(e.Fields)})
		}
	}
	res := &CleanupResult{RunDir: filepath.Dir(path)}
	if harness.complete() {
		if harness.host != "" && harness.host != hostID() {
			// Its pids are another PID namespace's, and its temp dir and
			// containers may be a live run's: not for this host to judge.
			// Not marked done: cleanup on that host still has it to do.
			res.Skipped = append(res.Skipped, fmt.Sprintf("the run was started on another host (%s): left alone", harness.host))
			return res, nil
		}
		if harness.alive() {
			res.Running = true
			return res, nil
		}
	} else {
		// A journal of an older drill (or a torn run.start): nothing in it
		// proves that its pids are still its processes or that its temp dir
		// is drill's. Its harness may even still run, so it is not marked
		// done while that pid runs the journaled executable.
		if harness.pid > 0 && harness.exe != "" && syscall.Kill(harness.pid, 0) == nil && exePath(harness.pid) == harness.exe {
			res.Running = true
			return res, nil
		}
		res.Skipped = append(res.Skipped, "the journal does not record process start times and boot ID (written by an older drill): nothing killed or removed")
		for _, p := range procs {
			if p.pid > 0 {
				res.Skipped = append(res.Skipped, fmt.Sprintf("%s (pid %d, %s): check by hand", p.name, p.pid, p.exe))
			}
		}
		if tempDir != "" {
			res.Skipped = append(res.Skipped, "temp dir "+tempDir+": check by hand")
		}
		if err := journal.Append(path, journal.CleanupDone, map[string]any{"actions": res.Actions, "skipped": res.Skipped, "pid": os.Getpid()}); err != nil {
			return nil, err
		}
		return res, nil
	}
	for _, p := range procs {
		if p.pid <= 0 {
			continue // not a local process (a container)
		}
		if !p.complete() {
			res.Skipped = append(res.Skipped, fmt.Sprintf("%s (pid %d): no start time journaled, left alone", p.name, p.pid))
			continue
		}
		if !p.alive() {
			if syscall.Kill(p.pid, 0) == nil && p.boot == bootID() {
				// Reused by another process: not ours, and worth saying so.
				res.Skipped = append(res.Skipped, fmt.Sprintf("%s: pid %d is now another process, left alone", p.name, p.pid))
			}
			continue
		}
		if processState(p.pid) == 'T' {
			res.Actions = append(res.Actions, fmt.Sprintf("resumed paused %s (pid %d)", p.name, p.pid))
		}
		// SIGCONT first: a stopped process only dies of SIGKILL, but its
		// children may be stopped too and should not linger as zombies' parents.
		_ = syscall.Kill(-p.pid, syscall.SIGCONT)
		_ = syscall.Kill(-p.pid, syscall.SIGKILL)
		_ = syscall.Kill(p.pid, syscall.SIGKILL)
		res.Actions = append(res.Actions, fmt.Sprintf("killed %s (pid %d)", p.name, p.pid))
	}
	if provider == "docker" && runID != "" {
		// The containers' own labels decide, not the journal: a journal
		// copied from another host names a run this host did not start.
		ctx, cancel := context.WithTimeout(context.Background(), dockerCleanupTimeout)
		r, err := removeDeadRun(ctx, runID)
		cancel()
		res.Actions = append(res.Actions, r.Actions...)
		res.Skipped = append(res.Skipped, r.Skipped...)
		if err != nil {
			// No cleanup.done: the next cleanup tries again.
			return nil, fmt.Errorf("remove the containers of docker run %s: %w", runID, err)
		}
	}
	if tempDir != "" {
		switch why := ownTempDir(tempDir, scenario); {
		case why == errTempDirGone:
		case why != nil:
			res.Skipped = append(res.Skipped, fmt.Sprintf("temp dir %s left alone: %v", tempDir, why))
		default:
			if err := os.RemoveAll(tempDir); err != nil {
				return nil, fmt.Errorf("remove temp dir: %w", err)
			}
			res.Actions = append(res.Actions, "removed temp dir "+tempDir)
		}
	}
	if err := journal.Append(path, journal.CleanupDone, map[string]any{"actions": res.Actions, "skipped": res.Skipped, "pid": os.Getpid()}); err != nil {
		return nil, err
	}
	return res, nil
}

// errTempDirGone says a journaled temp dir no longer exists: nothing to do.
var errTempDirGone = errors.New("gone")

// ownTempDir says why dir is not a temp dir drill made for a run of
// scenario (nil when it is one): drill's runs create theirs with
// os.MkdirTemp(tempRoot(), "drill-<scenario>-"), so anything else named in
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
	for _, root := range []string{tempRoot(), memTempRoot, os.TempDir()} {
		if root != "" && filepath.Clean(root) == parent {
			inRoot = true
			break
		}
	}
	if !inRoot {
		return fmt.Errorf("not directly inside drill's temp root (%s)", tempRoot())
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

func intField(m map[string]any, k string) int {
	if v, ok := m[k].(float64); ok {
		return int(v)
	}
	return 0
}

// exePath is the executable of a running process ("" when gone).
func exePath(pid int) string {
	p, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(p, " (deleted)")
}

// processState is the state letter of /proc/<pid>/stat ('T' = stopped).
func processState(pid int) byte {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 || i+2 >= len(b) {
		return 0
	}
	return b[i+2]
}
