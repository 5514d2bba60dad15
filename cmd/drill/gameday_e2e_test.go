package main

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drillhq/drill/harness/gameday"
	"github.com/drillhq/drill/reports"
)

// liveDrill is a `drill run` in the background whose progress lines the
// test reads as they come.
type liveDrill struct {
	cmd  *exec.Cmd
	out  string
	mu   sync.Mutex
	errs []string
	done chan error
}

// startDrill starts drill run with args (no --auto-approve: people answer)
// and stdin, under a fresh --out.
func startDrill(t *testing.T, stdin io.Reader, args ...string) *liveDrill {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end drill; skipped with -short")
	}
	out := t.TempDir()
	cmd := exec.Command(drillBin, append(append([]string{"run"}, args...), "--out", out,
		"--cache", filepath.Join(repoRoot(t), ".drill", "cache"))...)
	cmd.Dir = repoRoot(t)
	cmd.Stdin = stdin
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ld := &liveDrill{cmd: cmd, out: out, done: make(chan error, 1)}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the drill's progress lines:\n%s", ld.stderr())
		}
	})
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			ld.mu.Lock()
			ld.errs = append(ld.errs, sc.Text())
			ld.mu.Unlock()
		}
		ld.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Signal(os.Interrupt)
			select {
			case <-ld.done:
			case <-time.After(2 * time.Minute):
				_ = cmd.Process.Kill()
			}
		}
	})
	return ld
}

// stderr is every progress line so far.
func (ld *liveDrill) stderr() string {
	ld.mu.Lock()
	defer ld.mu.Unlock()
	return strings.Join(ld.errs, "\n")
}

// line waits for a progress line starting with prefix (after the
// timestamp) and returns the rest of it.
func (ld *liveDrill) line(t *testing.T, prefix string, within time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		ld.mu.Lock()
		for _, l := range ld.errs {
			_, rest, ok := strings.Cut(l, "] "+prefix)
			if !ok {
				rest, ok = strings.CutPrefix(l, prefix) // the CLI's own lines have no time
			}
			if ok {
				ld.mu.Unlock()
				return strings.TrimSpace(rest)
			}
		}
		ld.mu.Unlock()
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no line %q within %s; stderr:\n%s", prefix, within, ld.stderr())
	return ""
}

// exited says whether the drill process has ended (its exit is then
// kept for wait).
func (ld *liveDrill) exited() bool {
	select {
	case err := <-ld.done:
		ld.done <- err
		return true
	default:
		return false
	}
}

// wait waits for the drill to exit and returns its exit code.
func (ld *liveDrill) wait(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case err := <-ld.done:
		return exitCode(err)
	case <-time.After(within):
		t.Fatalf("drill still running after %s; stderr:\n%s", within, ld.stderr())
	}
	return -1
}

// runDirOf waits for the run directory of scenario name whose control
// socket answers, and returns it.
func (ld *liveDrill) runDirOf(t *testing.T, name string, within time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		// A run of several files is a suite: its runs are in suite-*/.
		dirs, _ := filepath.Glob(filepath.Join(ld.out, name+"-2*"))
		inSuite, _ := filepath.Glob(filepath.Join(ld.out, "suite-*", name+"-2*"))
		dirs = append(dirs, inSuite...)
		for _, d := range dirs {
			if _, err := os.Stat(filepath.Join(d, gameday.SocketName)); err == nil {
				return d
			}
		}
		if ld.exited() {
			t.Fatalf("drill exited before a run of %s answered; stderr:\n%s", name, ld.stderr())
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no run of %s answered within %s; stderr:\n%s", name, within, ld.stderr())
	return ""
}

// ctl runs drill ctl and returns its stdout, stderr and exit code.
func ctl(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(drillBin, append([]string{"ctl"}, args...)...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), exitCode(err)
}

// waitStatus polls drill ctl status until ok says the status is what the
// test waits for, and returns it.
func waitStatus(t *testing.T, dir string, within time.Duration, what string, ok func(gameday.Status) bool) gameday.Status {
	t.Helper()
	deadline := time.Now().Add(within)
	var last gameday.Reply
	for time.Now().Before(deadline) {
		out, errOut, code := ctl(t, dir, "status", "--json", "--as", "test")
		if code != 0 {
			t.Fatalf("ctl status exited %d: %s", code, errOut)
		}
		last = gameday.Reply{}
		if err := json.Unmarshal([]byte(out), &last); err != nil {
			t.Fatalf("ctl status --json: %v in %q", err, out)
		}
		if last.Status != nil && ok(*last.Status) {
			return *last.Status
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("status never showed %s within %s; last: %+v", what, within, last.Status)
	return gameday.Status{}
}

func readReport(t *testing.T, dir string) *reports.Report {
	t.Helper()
	rep, err := reports.Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// TestApprovalGates answers manual gates the three ways a person can:
// two drills of one `drill run` share its stdin (the first takes "yes" twice,
// the second "no": no line is swallowed by the wrong drill), and a third
// drill's gates are answered with drill ctl (approve, then reject). The
// report names who answered and how.
func TestApprovalGates(t *testing.T) {
	// An os.Pipe, not an io.Pipe: exec would copy an io.Pipe in a
	// goroutine that Wait waits for, until the test closed its end.
	stdinR, stdinW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdinW.Close() // held open: the third drill must wait for drill ctl
	// Three copies: the names of one run's scenarios must differ.
	src, err := os.ReadFile(filepath.Join(repoRoot(t), "cmd/drill/testdata/gates.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, n := range []string{"gates-1", "gates-2", "gates-3"} {
		f := filepath.Join(t.TempDir(), n+".yaml")
		if err := os.WriteFile(f, []byte(strings.Replace(string(src), "name: gates", "name: "+n, 1)), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	ld := startDrill(t, stdinR, files...)
	stdinR.Close() // the drill's now
	go func() { _, _ = io.WriteString(stdinW, "yes\nyes\nno\n") }()
	first := ld.runDirOf(t, "gates-1", 3*time.Minute)
	second := ld.runDirOf(t, "gates-2", 3*time.Minute)
	third := ld.runDirOf(t, "gates-3", 3*time.Minute)
	waitStatus(t, third, time.Minute, "the gate at step 2", func(st gameday.Status) bool { return st.Gate != nil && st.Gate.Step == 2 })
	// The facilitator's fault on demand: applied once, then reverted.
	for _, c := range []struct {
		args []string
		code int
		says string
	}{
		{[]string{"inject", "slow-pricing"}, 0, "fault slow-pricing applied"},
		{[]string{"inject", "slow-pricing"}, 2, "applied already"},
		{[]string{"inject", "slow-pricng"}, 2, "unknown fault"},
		{[]string{"revert", "slow-pricing"}, 0, "fault slow-pricing reverted"},
		{[]string{"revert", "slow-pricing"}, 2, "not applied now"},
	} {
		out, errOut, code := ctl(t, append([]string{third}, append(c.args, "--as", "facilitator")...)...)
		if code != c.code || !strings.Contains(out+errOut, c.says) {
			t.Errorf("ctl %v: exit %d %q %q; want %d and %q", c.args, code, out, errOut, c.code, c.says)
		}
	}
	if _, errOut, code := ctl(t, third, "approve", "--as", "carol"); code != 0 {
		t.Fatalf("ctl approve exited %d: %s", code, errOut)
	}
	// A second answer to the same gate changes nothing (exit 2).
	if _, errOut, code := ctl(t, third, "reject", "--as", "carol"); code != 2 || !strings.Contains(errOut, "answered already") && !strings.Contains(errOut, "no approval gate") {
		t.Errorf("a late reject: exit %d, %q; want 2 and why", code, errOut)
	}
	waitStatus(t, third, time.Minute, "the gate at step 4", func(st gameday.Status) bool { return st.Gate != nil && st.Gate.Step == 4 })
	if _, errOut, code := ctl(t, third, "reject", "--as", "dave"); code != 0 {
		t.Fatalf("ctl reject exited %d: %s", code, errOut)
	}
	ld.wait(t, 3*time.Minute)

	type answer struct{ as, command, via string }
	for _, tc := range []struct {
		dir     string
		outcome reports.Outcome
		answers []answer
	}{
		{first, reports.OutcomePromoted, []answer{{osUser(), "approve", "stdin"}, {osUser(), "approve", "stdin"}}},
		{second, reports.OutcomeRolledBack, []answer{{osUser(), "reject", "stdin"}}},
		{third, reports.OutcomeRolledBack, []answer{{"facilitator", "inject", "ctl"}, {"facilitator", "revert", "ctl"},
			{"carol", "approve", "ctl"}, {"dave", "reject", "ctl"}}},
	} {
		rep := readReport(t, tc.dir)
		if rep.Outcome != tc.outcome {
			t.Errorf("%s: outcome %s, want %s", filepath.Base(tc.dir), rep.Outcome, tc.outcome)
		}
		if rep.GameDay == nil {
			t.Fatalf("%s: no game_day in the report", filepath.Base(tc.dir))
		}
		var got []answer
		for _, a := range rep.GameDay.Actions {
			if a.Applied {
				got = append(got, answer{a.As, a.Command, a.Via})
			}
		}
		if !equalAnswers(got, tc.answers) {
			t.Errorf("%s: applied answers %v, want %v", filepath.Base(tc.dir), got, tc.answers)
		}
		if tc.dir == third {
			if f := rep.Faults[0]; f.AppliedAt == nil || f.RevertedAt == nil {
				t.Errorf("the injected fault: %+v, want applied and reverted", f)
			}
		}
		if _, err := os.Lstat(filepath.Join(tc.dir, gameday.SocketName)); !os.IsNotExist(err) {
			t.Errorf("%s: control socket left behind (%v)", filepath.Base(tc.dir), err)
		}
		assertNothingLeft(t, tc.dir)
	}
}

func equalAnswers[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestGameDay runs the shipped game day (advisory judge, hidden faults,
// the dashboard, --metrics) with a scripted team: the dashboard renders
// and follows the windows, and a note pressed on it reaches the drill;
// /metrics shows the canary's counters moving and the split following
// the steps; alice notes and bob rolls back with drill ctl once the
// judge's evidence crosses its bound. The report names them, their
// actions and times, and the judge's would-be time beside them; nothing
// the operators saw named the hidden fault before the drill ended.
func TestGameDay(t *testing.T) {
	ld := startDrill(t, nil, "scenarios/gameday-orders.yaml", "--metrics", "127.0.0.1:0")
	scrapeURL := ld.line(t, "metrics: ", time.Minute)
	dir := ld.runDirOf(t, "gameday-orders", 3*time.Minute)
	dashURL := ld.line(t, "dashboard: ", time.Minute)

	// The canary's first step: 20% to v2, its counters move.
	waitStatus(t, dir, 2*time.Minute, "step 1", func(st gameday.Status) bool { return st.Step == 1 && st.Windows > 0 })
	first := waitScrape(t, scrapeURL, "orders v2 at 20%", func(s scraped) bool {
		return s.gauge("drill_traffic_split_ratio", "service", "orders", "version", "v2") == 0.2
	})
	page := openDashboard(t, dashURL)
	page.waitWindowsMove(t)
	page.note(t, "erin", "watching v2")

	st := waitStatus(t, dir, 90*time.Second, "the judge's rollback verdict", func(st gameday.Status) bool {
		return len(st.Judges) > 0 && st.Judges[0].Verdict == "rollback"
	})
	if !st.FaultsHidden || len(st.Faults) != 0 || st.Judges[0].Acts {
		t.Errorf("status shows faults %v (hidden %v) and an acting judge %v: want hidden faults, an advisory judge", st.Faults, st.FaultsHidden, st.Judges[0].Acts)
	}
	second := scrape(t, scrapeURL)
	if a, b := first.counter("drill_requests_total", "service", "orders", "version", "v2"), second.counter("drill_requests_total", "service", "orders", "version", "v2"); b <= a {
		t.Errorf("drill_requests_total of orders v2 did not move: %v then %v", a, b)
	}
	if _, hidden := second.find("drill_fault_active"); hidden {
		t.Errorf("/metrics shows the hidden fault's state before the drill ended")
	}
	if _, errOut, code := ctl(t, dir, "note", "v2 errors climbing, rolling back", "--as", "alice"); code != 0 {
		t.Fatalf("ctl note: exit %d: %s", code, errOut)
	}
	if _, errOut, code := ctl(t, dir, "rollback", "--as", "bob"); code != 0 {
		t.Fatalf("ctl rollback: exit %d: %s", code, errOut)
	}
	waitStatus(t, dir, time.Minute, "the rollback", func(st gameday.Status) bool {
		return st.Phase == "rollback" || st.Phase == "verify" || st.Weight == 0 && st.Order == "rollback" && !st.Rollout
	})
	waitScrape(t, scrapeURL, "orders v1 at 100% again", func(s scraped) bool {
		return s.gauge("drill_traffic_split_ratio", "service", "orders", "version", "v1") == 1 &&
			s.gauge("drill_traffic_split_ratio", "service", "orders", "version", "v2") == 0
	})
	code := ld.wait(t, 2*time.Minute)
	progress, _, _ := strings.Cut(ld.stderr(), "\nreport: ")
	if strings.Contains(progress, "v2-errors") {
		t.Errorf("the progress lines named the hidden fault:\n%s", progress)
	}
	if code != 0 {
		t.Errorf("exit %d, want 0 (rolled back by people within a minute)", code)
	}
	rep := readReport(t, dir)
	g := rep.GameDay
	if rep.Outcome != reports.OutcomeRolledBack || g == nil {
		t.Fatalf("outcome %s, game_day %v", rep.Outcome, g)
	}
	if !strings.Contains(rep.Decision.Reason, "operator bob") {
		t.Errorf("decision %q: want bob's rollback", rep.Decision.Reason)
	}
	var did []string
	for _, a := range g.Actions {
		if a.Applied && a.Command != "status" {
			did = append(did, a.As+" "+a.Command+" via "+a.Via)
		}
	}
	want := []string{"erin note via dashboard", "alice note via ctl", "bob rollback via ctl"}
	if !equalAnswers(did, want) {
		t.Errorf("actions %v, want %v", did, want)
	}
	h, j := g.Human, g.JudgeTimes
	if h.AcknowledgeSeconds == nil || h.DetectSeconds == nil || h.RecoverSeconds == nil || j.DetectSeconds == nil {
		t.Fatalf("human times %+v, judge times %+v: want all set", h, j)
	}
	if *j.DetectSeconds > *h.DetectSeconds || !j.Estimated || g.JudgeDecision == nil {
		t.Errorf("the judge's would-be detection %vs (estimated %v) should come before bob's %vs", *j.DetectSeconds, j.Estimated, *h.DetectSeconds)
	}
	if g.Dashboard == "" || strings.Contains(g.Dashboard, "token") {
		t.Errorf("report's dashboard address %q: want the address without its token", g.Dashboard)
	}
	md, err := os.ReadFile(filepath.Join(dir, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"## Game day", "| bob | rollback | ctl | applied |", "operator.command"} {
		if !strings.Contains(string(md), s) {
			t.Errorf("report.md lacks %q", s)
		}
	}
	assertNothingLeft(t, dir)
}
