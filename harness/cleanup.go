package harness

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// CleanupResult is what Cleanup found in one run directory.
type CleanupResult struct {
	RunDir  string
	Running bool     // the run's harness is still alive: left alone
	Actions []string // what was removed, killed or resumed
}

// Cleanup reads the journal of every run under outDir that did not finish
// its teardown (it was killed, SIGKILL included, or its machine stopped)
// and removes what it left: it resumes and kills the instances and
// databases it started — only processes whose executable is still the
// one journaled, so a reused PID is never touched — and removes its temp
// dir. It appends cleanup.done to the journal, so a second Cleanup finds
// nothing to do. Runs whose harness is still alive are left alone.
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
		if !r.Running && len(r.Actions) > 0 {
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
	pid  int
	exe  string
}

func cleanupRun(path string) (*CleanupResult, error) {
	events, err := readJournal(path)
	if err != nil {
		return nil, err
	}
	var (
		harnessPID      int
		harnessExe      string
		tempDir         string
		provider, runID string
		procs           []journaledProcess
	)
	for _, e := range events {
		switch e.Event {
		case "teardown.done", "cleanup.done":
			return nil, nil // finished, or already cleaned up
		case "run.start":
			harnessPID = intField(e.Fields, "pid")
			harnessExe, _ = e.Fields["exe"].(string)
			tempDir, _ = e.Fields["temp_dir"].(string)
			provider, _ = e.Fields["provider"].(string)
			runID, _ = e.Fields["run_id"].(string)
		case "instance.ready", "database.ready":
			exe, _ := e.Fields["exe"].(string)
			name := fmt.Sprintf("%v-%v", e.Fields["service"], e.Fields["version"])
			if e.Event == "database.ready" {
				name = fmt.Sprintf("database %v", e.Fields["database"])
			}
			procs = append(procs, journaledProcess{name: name, pid: intField(e.Fields, "pid"), exe: exe})
		}
	}
	res := &CleanupResult{RunDir: filepath.Dir(path)}
	if harnessPID > 0 && sameProcess(harnessPID, harnessExe) {
		res.Running = true
		return res, nil
	}
	for _, p := range procs {
		if p.pid <= 0 || !sameProcess(p.pid, p.exe) {
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
		ctx, cancel := context.WithTimeout(context.Background(), dockerCleanupTimeout)
		done, err := RemoveRun(ctx, runID)
		cancel()
		res.Actions = append(res.Actions, done...)
		if err != nil {
			// No cleanup.done: the next cleanup tries again.
			return nil, fmt.Errorf("remove the containers of docker run %s: %w", runID, err)
		}
	}
	if tempDir != "" {
		if _, err := os.Stat(tempDir); err == nil {
			if err := os.RemoveAll(tempDir); err != nil {
				return nil, fmt.Errorf("remove temp dir: %w", err)
			}
			res.Actions = append(res.Actions, "removed temp dir "+tempDir)
		}
	}
	if err := appendEvent(path, "cleanup.done", map[string]any{"actions": res.Actions, "pid": os.Getpid()}); err != nil {
		return nil, err
	}
	return res, nil
}

func readJournal(path string) ([]Event, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var events []Event
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var e Event
		// A run killed mid-write may leave a torn last line: skip it.
		if json.Unmarshal(sc.Bytes(), &e) == nil {
			events = append(events, e)
		}
	}
	return events, sc.Err()
}

func appendEvent(path, event string, fields map[string]any) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	line, _ := json.Marshal(Event{T: time.Now().UTC(), Event: event, Fields: fields})
	_, err = f.Write(append(line, '\n'))
	return err
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

// sameProcess reports whether pid still runs the journaled executable.
func sameProcess(pid int, exe string) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	if exe == "" {
		return false // nothing to prove it is ours: leave it alone
	}
	return exePath(pid) == exe
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
