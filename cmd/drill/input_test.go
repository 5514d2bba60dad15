package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// These tests run drill commands in-process (runCLI) or, where a hang or
// unbounded read must be caught, as the built binary (drillBin, built by
// TestMain unless -short). None runs a drill.

// cliTimeout bounds one command: every command here ends in milliseconds,
// so reaching it means the command hangs.
const cliTimeout = 10 * time.Second

// runCLI runs `drill args...` in-process and returns its exit code,
// stdout and stderr. A command still running after cliTimeout fails the
// test instead of hanging it (its goroutine is left behind).
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	c := &cli{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr}
	return runWith(t, c, args...), stdout.String(), stderr.String()
}

func runWith(t *testing.T, c *cli, args ...string) int {
	t.Helper()
	done := make(chan int, 1)
	go func() { done <- c.main(context.Background(), args) }()
	select {
	case code := <-done:
		return code
	case <-time.After(cliTimeout):
		t.Fatalf("drill %s still running after %v", strings.Join(args, " "), cliTimeout)
		return -1
	}
}

// minimalReport writes the smallest report.json drill reads into a new
// run directory and returns the directory.
func minimalReport(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "report.json"), []byte(`{"schema_version":1,"scenario":"x"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func mkfifo(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "scenario.yaml")
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// sparse creates a file of size bytes that takes no disk space.
func sparse(t *testing.T, name string, size int64) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestInputsMustBeRegularFiles: a FIFO, a directory or a device given as
// a scenario or a report is refused at once (exit 2) with a clear error.
// A FIFO blocked validate, plan and report forever; run in-process, the
// old code fails this test by its timeout.
func TestInputsMustBeRegularFiles(t *testing.T) {
	fifo := mkfifo(t)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"validate", fifo}, "is a named pipe (FIFO), not a regular file"},
		{[]string{"plan", fifo}, "is a named pipe (FIFO), not a regular file"},
		{[]string{"run", fifo, "--out", t.TempDir()}, "is a named pipe (FIFO), not a regular file"},
		{[]string{"validate", t.TempDir()}, "no scenario files (*.yaml, *.yml) there"}, // a directory is its scenarios, and an empty one is a mistake
		{[]string{"run", t.TempDir(), "--out", t.TempDir()}, "no scenario files (*.yaml, *.yml) there"},
		{[]string{"validate", "/dev/null"}, "is a device, not a regular file"},
		{[]string{"report", fifo}, "is a named pipe (FIFO), not a regular file"},
		{[]string{"compare", fifo, minimalReport(t)}, "is a named pipe (FIFO), not a regular file"},
	} {
		code, _, stderr := runCLI(t, tt.args...)
		if code != ExitInvalid || !strings.Contains(stderr, tt.want) {
			t.Errorf("drill %s: exit %d, want 2 with %q\n%s", strings.Join(tt.args, " "), code, tt.want, stderr)
		}
	}
}

// TestScenarioSizeLimit: a scenario over 64 MiB is refused before it is
// read (a sparse file: no disk space used); it was read whole and parsed.
func TestScenarioSizeLimit(t *testing.T) {
	big := sparse(t, "big.yaml", 64<<20+1)
	code, _, stderr := runCLI(t, "validate", big)
	if code != ExitInvalid || !strings.Contains(stderr, "larger than 64 MiB") {
		t.Errorf("validate on a 64 MiB + 1 byte file: exit %d, want 2 with the limit\n%s", code, stderr)
	}
}

// drillLimited runs the built binary with args, its address space capped
// (so that an unbounded read fails the test instead of the machine) and
// SIGTERM sent after a second if it is still running, as `timeout 1
// drill …` would. It returns the exit code, or -1 when drill was still
// running cliTimeout after the SIGTERM.
func drillLimited(t *testing.T, args ...string) (int, string) {
	t.Helper()
	if drillBin == "" {
		t.Skip("needs the drill binary, which TestMain builds without -short")
	}
	// 4 GiB of address space is plenty for drill's commands other than
	// run (1 GiB is not: the runtime reserves address space it never
	// uses), and far below what reading /dev/zero until memory runs out
	// takes.
	sh := append([]string{"-c", `ulimit -v 4194304 && exec "$0" "$@"`, drillBin}, args...)
	cmd := exec.Command("/bin/sh", sh...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return exitCode(err), out.String()
	case <-time.After(time.Second):
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		return exitCode(err), out.String()
	case <-time.After(cliTimeout):
		_ = cmd.Process.Kill()
		<-done
		return -1, out.String()
	}
}

// TestValidateFIFOEndsPromptly is `timeout 1 drill validate FIFO`: drill
// caught SIGTERM, never looked at its context and hung forever on the
// FIFO. Now the FIFO is refused at once (exit 2), and validate does not
// trap signals at all.
func TestValidateFIFOEndsPromptly(t *testing.T) {
	code, out := drillLimited(t, "validate", mkfifo(t))
	if code != ExitInvalid || !strings.Contains(out, "not a regular file") {
		t.Errorf("drill validate FIFO: exit %d, want 2 with a clear error (-1: still running after SIGTERM)\n%s", code, out)
	}
}

// TestReportOfDevZeroFailsFast: a report.json that is a link to /dev/zero
// was read until memory ran out; now it is refused before it is opened.
func TestReportOfDevZeroFailsFast(t *testing.T) {
	dir := t.TempDir()
	if err := os.Symlink("/dev/zero", filepath.Join(dir, "report.json")); err != nil {
		t.Fatal(err)
	}
	for _, arg := range []string{dir, filepath.Join(dir, "report.json")} {
		start := time.Now()
		code, out := drillLimited(t, "report", arg)
		if code != ExitInvalid || !strings.Contains(out, "is a device, not a regular file") {
			t.Errorf("drill report %s (-> /dev/zero): exit %d, want 2 with a clear error\n%s", arg, code, out)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("drill report %s took %v", arg, d)
		}
	}
}

// TestReportSizeLimit: a report.json over 512 MiB is refused before it is
// read; it was read whole into memory.
func TestReportSizeLimit(t *testing.T) {
	big := sparse(t, "report.json", 512<<20+1)
	code, out := drillLimited(t, "report", filepath.Dir(big))
	if code != ExitInvalid || !strings.Contains(out, "larger than 512 MiB") {
		t.Errorf("drill report on a 512 MiB + 1 byte report.json: exit %d, want 2 with the limit\n%s", code, out)
	}
}

// TestListNamesTheDefaultJudge: drill list says which judge a scenario
// without analysis.judge gets, and lists it.
func TestListNamesTheDefaultJudge(t *testing.T) {
	code, out, _ := runCLI(t, "list")
	if code != 0 || !strings.Contains(out, "judges (default sequential):") || !strings.Contains(out, "\n  sequential ") {
		t.Errorf("drill list exited %d and printed:\n%s\nwant the judges headed with the default, sequential", code, out)
	}
}
