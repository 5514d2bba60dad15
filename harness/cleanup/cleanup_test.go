package cleanup

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/drillhq/drill/harness/journal"
	"github.com/drillhq/drill/internal/procid"
)

// writeJournal writes a run directory under out holding a journal of
// events (name, then fields) and returns the journal's path.
func writeJournal(t *testing.T, out, run string, events ...journal.Event) string {
	t.Helper()
	dir := filepath.Join(out, run)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, e := range events {
		e.T = time.Now().UTC()
		line, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(append(line, '\n'))
	}
	path := filepath.Join(dir, "journal.jsonl")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// deadHarness is a run.start whose harness is provably gone: a process
// that has exited, with a complete identity, so cleanup goes on to what
// the run left. extra adds fields (temp_dir, scenario).
func deadHarness(t *testing.T, extra map[string]any) journal.Event {
	t.Helper()
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	f := map[string]any{"run_id": "test", "provider": "process", "scenario": "x",
		"pid": gone.Process.Pid, "exe": "/bin/true", "start_time": 1, "boot_id": procid.BootID(), "host": procid.HostID()}
	for k, v := range extra {
		f[k] = v
	}
	return journal.Event{Event: "run.start", Fields: f}
}

// sleeper is a process that is not drill's: a sleep in a process group of
// its own, as drill starts its instances.
type sleeper struct {
	cmd  *exec.Cmd
	done chan error
}

func startSleeper(t *testing.T) *sleeper {
	t.Helper()
	cmd := exec.Command("sleep", "30")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &sleeper{cmd: cmd, done: make(chan error, 1)}
	go func() { s.done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-s.done
	})
	return s
}

// signal is what ended the sleeper after the test sends it SIGTERM: had
// cleanup killed it, it died of SIGKILL before. Deterministic, unlike
// checking whether the pid still runs right after a kill.
func (s *sleeper) endedBy(t *testing.T) syscall.Signal {
	t.Helper()
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	err := <-s.done
	s.done <- err // for the t.Cleanup
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("sleep ended with %v, want a signal", err)
	}
	ws := ee.Sys().(syscall.WaitStatus)
	if !ws.Signaled() {
		t.Fatalf("sleep exited with %d, want a signal", ws.ExitStatus())
	}
	return ws.Signal()
}

func (s *sleeper) instance(start any, boot any) journal.Event {
	f := map[string]any{"service": "svc", "version": "v1", "pid": s.cmd.Process.Pid, "exe": procid.ExePath(s.cmd.Process.Pid)}
	if start != nil {
		f["start_time"] = start
	}
	if boot != nil {
		f["boot_id"] = boot
	}
	return journal.Event{Event: "instance.ready", Fields: f}
}

// TestCleanupLeavesProcessesThatAreNotOurs names a live process that is
// not drill's (a sleep) in the journals of dead runs, with the right
// executable but a wrong start time (its pid reused), a wrong boot ID (a
// journal from before a reboot), or no identity at all (an older drill's
// journal). Cleanup used to kill it for the executable alone; it must be
// left alive, and said so where it is one the journal names.
func TestCleanupLeavesProcessesThatAreNotOurs(t *testing.T) {
	out := t.TempDir()
	for _, tc := range []struct {
		name   string
		events func(s *sleeper, st uint64) []journal.Event
	}{
		{"wrong start time", func(s *sleeper, st uint64) []journal.Event {
			return []journal.Event{deadHarness(t, nil), s.instance(st+1, procid.BootID())}
		}},
		{"wrong boot id", func(s *sleeper, st uint64) []journal.Event {
			return []journal.Event{deadHarness(t, nil), s.instance(st, "00000000-0000-0000-0000-000000000000")}
		}},
		{"no identity in the journal", func(s *sleeper, st uint64) []journal.Event {
			old := deadHarness(t, nil)
			delete(old.Fields, "start_time")
			delete(old.Fields, "boot_id")
			return []journal.Event{old, s.instance(nil, nil)}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startSleeper(t)
			st, err := procid.StartTime(s.cmd.Process.Pid)
			if err != nil {
				t.Fatal(err)
			}
			path := writeJournal(t, out, strings.ReplaceAll(tc.name, " ", "-"), tc.events(s, st)...)
			res, err := cleanRun(path)
			if err != nil {
				t.Fatal(err)
			}
			if res == nil || res.Running || len(res.Actions) != 0 {
				t.Errorf("cleanup = %+v, want nothing done", res)
			}
			if res != nil && tc.name != "wrong boot id" && len(res.Skipped) == 0 {
				t.Errorf("cleanup skipped nothing it reports: %+v", res)
			}
			if sig := s.endedBy(t); sig != syscall.SIGTERM {
				t.Errorf("the sleep died of %v before the test ended it: cleanup killed a process that is not drill's", sig)
			}
		})
	}
}

// TestCleanupKillsItsOwnProcess is the other side: a journaled process
// whose pid, executable, start time and boot ID all match is the run's own
// leftover, and cleanup kills it.
func TestCleanupKillsItsOwnProcess(t *testing.T) {
	s := startSleeper(t)
	st, err := procid.StartTime(s.cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	path := writeJournal(t, t.TempDir(), "run", deadHarness(t, nil), s.instance(st, procid.BootID()))
	res, err := cleanRun(path)
	if err != nil {
		t.Fatal(err)
	}
	if res == nil || len(res.Actions) != 1 || !strings.HasPrefix(res.Actions[0], "killed svc-v1") {
		t.Errorf("cleanup = %+v, want the sleep killed", res)
	}
	if sig := s.endedBy(t); sig != syscall.SIGKILL {
		t.Errorf("the sleep ended by %v, want SIGKILL from cleanup", sig)
	}
	// Done once: the journal now says so.
	if again, err := cleanRun(path); err != nil || again != nil {
		t.Errorf("second cleanup = %+v, %v; want nothing", again, err)
	}
}

// TestCleanupRemovesOnlyDrillTempDirs gives dead runs' journals temp dirs
// drill does not name — elsewhere than its temp root, another scenario's
// name, a symlink, an older drill's journal, another host's journal — and
// one it does. Cleanup
// used to RemoveAll whatever the journal said; now only the last goes.
func TestCleanupRemovesOnlyDrillTempDirs(t *testing.T) {
	root, out := t.TempDir(), t.TempDir()
	precious := filepath.Join(t.TempDir(), "precious")
	t.Setenv("TMPDIR", root) // TempRoot() is then root
	if err := os.Mkdir(precious, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(precious, "data"), []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	otherName, err := os.MkdirTemp(root, "drill-other-")
	if err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(root, "drill-x-123")
	if err := os.Symlink(precious, link); err != nil {
		t.Fatal(err)
	}
	oldJournals, err := os.MkdirTemp(root, "drill-x-")
	if err != nil {
		t.Fatal(err)
	}
	own, err := os.MkdirTemp(root, "drill-x-")
	if err != nil {
		t.Fatal(err)
	}
	othersLive, err := os.MkdirTemp(root, "drill-x-")
	if err != nil {
		t.Fatal(err)
	}

	keep := map[string]string{"elsewhere": precious, "other-name": otherName, "symlink": link}
	for run, dir := range keep {
		path := writeJournal(t, out, run, deadHarness(t, map[string]any{"temp_dir": dir}))
		res, err := cleanRun(path)
		if err != nil {
			t.Fatalf("%s: %v", run, err)
		}
		if len(res.Actions) != 0 || len(res.Skipped) != 1 || !strings.Contains(res.Skipped[0], dir) {
			t.Errorf("%s: cleanup = %+v, want the temp dir skipped and said so", run, res)
		}
	}
	old := deadHarness(t, map[string]any{"temp_dir": oldJournals})
	delete(old.Fields, "start_time")
	delete(old.Fields, "boot_id")
	if res, err := cleanRun(writeJournal(t, out, "old", old)); err != nil || len(res.Actions) != 0 || len(res.Skipped) == 0 {
		t.Errorf("older drill's journal: cleanup = %+v, %v; want nothing removed and the skip reported", res, err)
	}
	// A journal another host wrote (an --out and a temp root shared with
	// another container): its harness may be alive there.
	foreign := deadHarness(t, map[string]any{"temp_dir": othersLive, "host": "ci-job-2/" + procid.BootID() + "/pid:[4026532999]"})
	if res, err := cleanRun(writeJournal(t, out, "foreign", foreign)); err != nil || len(res.Actions) != 0 || len(res.Skipped) != 1 ||
		!strings.Contains(res.Skipped[0], "another host") {
		t.Errorf("another host's journal: cleanup = %+v, %v; want it left alone and said so", res, err)
	}
	for _, p := range []string{filepath.Join(precious, "data"), otherName, link, oldJournals, othersLive} {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("%s was removed: %v", p, err)
		}
	}

	res, err := cleanRun(writeJournal(t, out, "own", deadHarness(t, map[string]any{"temp_dir": own})))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Actions) != 1 || res.Actions[0] != "removed temp dir "+own {
		t.Errorf("own temp dir: cleanup = %+v, want it removed", res)
	}
	if _, err := os.Lstat(own); !os.IsNotExist(err) {
		t.Errorf("drill's own temp dir %s still exists: %v", own, err)
	}
}

// TestProcStartTime reads field 22 past a comm field holding spaces and a
// ')' (sleep run under such a name), and finds it stable for one process
// and different for another started later.
func TestProcStartTime(t *testing.T) {
	self, err := procid.StartTime(os.Getpid())
	if err != nil || self == 0 {
		t.Fatalf("own start time = %d, %v", self, err)
	}
	again, _ := procid.StartTime(os.Getpid())
	if again != self {
		t.Errorf("start time changed: %d then %d", self, again)
	}
	dir := t.TempDir()
	odd := filepath.Join(dir, "a) b c")
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep")
	}
	if err := os.Symlink(sleep, odd); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(odd, "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	st, err := procid.StartTime(cmd.Process.Pid)
	if err != nil || st < self {
		t.Errorf("child start time = %d, %v; want >= the test's %d", st, err, self)
	}
	if id := procid.Identity(cmd.Process.Pid); len(id) != 6 || id[1] != st || id[3] != procid.BootID() || id[5] != procid.HostID() {
		t.Errorf("procIdentity = %v", id)
	}
	if id := procid.Identity(0); id != nil {
		t.Errorf("procid.Identity(0) = %v, want nothing for a container", id)
	}
}

// TestDeadRunsFindsASuitesRuns: a suite keeps its runs in OUT/suite-*/,
// one level deeper than a single run's; a killed suite's leftovers must
// be found there too, by DeadRuns(OUT) as drill cleanup calls it.
func TestDeadRunsFindsASuitesRuns(t *testing.T) {
	s := startSleeper(t)
	st, err := procid.StartTime(s.cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	suiteDir := filepath.Join(out, "suite-20261203T000000Z-abcd")
	if err := os.Mkdir(suiteDir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeJournal(t, suiteDir, "run", deadHarness(t, nil), s.instance(st, procid.BootID()))
	res, err := DeadRuns(out)
	if err != nil {
		t.Fatal(err)
	}
	killed := false
	for _, r := range res {
		for _, a := range r.Actions {
			killed = killed || strings.HasPrefix(a, "killed svc-v1")
		}
	}
	if !killed {
		t.Errorf("DeadRuns(%s) = %+v, want the suite run's sleep killed", out, res)
	}
	if sig := s.endedBy(t); sig != syscall.SIGKILL {
		t.Errorf("the sleep ended by %v, want SIGKILL from cleanup", sig)
	}
}
