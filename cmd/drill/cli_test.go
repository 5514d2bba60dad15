package main

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/drillhq/drill/reports"
)

// TestHelpExitsZero: --help, -h and -help on every command print the
// command's usage to stdout and exit 0; they were a usage error (exit 2,
// on stderr).
func TestHelpExitsZero(t *testing.T) {
	for _, cmd := range commands {
		for _, h := range []string{"--help", "-h", "-help", "--help=true"} {
			t.Run(cmd.name+h, func(t *testing.T) {
				code, stdout, stderr := runCLI(t, cmd.name, h)
				if code != ExitOK {
					t.Errorf("exit %d, want 0\nstderr: %s", code, stderr)
				}
				if !strings.Contains(stdout, "Usage: "+cmd.usage) {
					t.Errorf("stdout lacks the usage line %q:\n%s", cmd.usage, stdout)
				}
				if stderr != "" {
					t.Errorf("stderr not empty: %s", stderr)
				}
			})
		}
	}
	// Help wins wherever it is, and the command does not act on the
	// other arguments.
	code, stdout, _ := runCLI(t, "validate", "/no/such/file.yaml", "--help")
	if code != ExitOK || !strings.Contains(stdout, "Flags:") || !strings.Contains(stdout, "-provider") {
		t.Errorf("validate FILE --help: exit %d, want 0 with the flags\n%s", code, stdout)
	}
	if code, stdout, _ := runCLI(t, "help", "compare"); code != ExitOK || !strings.Contains(stdout, "-max-drop") {
		t.Errorf("drill help compare: exit %d, want 0 with --max-drop\n%s", code, stdout)
	}
	// After "--" it is an argument, and a bad flag is still a usage error.
	if code, _, _ := runCLI(t, "validate", "--", "-h"); code != ExitInvalid {
		t.Errorf("validate -- -h: exit %d, want 2 (no such file)", code)
	}
	if code, _, stderr := runCLI(t, "validate", "--bogus"); code != ExitInvalid || !strings.Contains(stderr, "Usage: drill validate") {
		t.Errorf("validate --bogus: exit %d, want 2 with the usage on stderr\n%s", code, stderr)
	}
}

// TestCompareMaxDropMustBeFinite: NaN and +Inf turned the regression gate
// off without a word (exit 0); they, -Inf and negatives are usage errors.
func TestCompareMaxDropMustBeFinite(t *testing.T) {
	old, cur := minimalReport(t), minimalReport(t)
	for _, v := range []string{"NaN", "nan", "Inf", "+Inf", "-Inf", "-1", "-0.5"} {
		code, _, stderr := runCLI(t, "compare", old, cur, "--max-drop", v)
		if code != ExitInvalid || !strings.Contains(stderr, "--max-drop must be a finite number") || strings.Contains(stderr, "%!") {
			t.Errorf("--max-drop %s: exit %d, want 2 with a clear error\n%s", v, code, stderr)
		}
	}
	for _, v := range []string{"0", "5", "12.5"} {
		if code, _, stderr := runCLI(t, "compare", old, cur, "--max-drop", v); code != ExitOK {
			t.Errorf("--max-drop %s: exit %d, want 0\n%s", v, code, stderr)
		}
	}
}

// failingWriter fails every write, as stdout on a full disk does.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("no space left on device") }

// TestReportRenderErrorExitCodes: a render error was exit 1, which reads
// as "a drill failed". Output that cannot be written is the environment
// (3); a renderer refusing the report is bad input (2).
func TestReportRenderErrorExitCodes(t *testing.T) {
	run := minimalReport(t)
	for _, format := range []string{"json", "table"} {
		var stderr bytes.Buffer
		c := &cli{stdout: failingWriter{}, stderr: &stderr}
		if code := runWith(t, c, "report", run, "--format", format); code != ExitEnvironment || !strings.Contains(stderr.String(), "cannot write") {
			t.Errorf("report --format %s to a failing stdout: exit %d, want 3\n%s", format, code, stderr.String())
		}
	}
	var stderr bytes.Buffer
	c := &cli{stdout: failingWriter{}, stderr: &stderr}
	if code := runWith(t, c, "compare", run, run); code != ExitEnvironment {
		t.Errorf("compare to a failing stdout: exit %d, want 3\n%s", code, stderr.String())
	}
	registerRefusingRenderer()
	code, _, errOut := runCLI(t, "report", run, "--format", refusingRenderer)
	if code != ExitInvalid || !strings.Contains(errOut, "cannot render this") {
		t.Errorf("report with a renderer that refuses the report: exit %d, want 2\n%s", code, errOut)
	}
}

// refusingRenderer names a renderer that fails without writing, as one
// refusing what a report holds does.
const refusingRenderer = "test-refuses"

func registerRefusingRenderer() {
	if _, ok := reports.Lookup(refusingRenderer); ok {
		return
	}
	reports.Register(refusingRenderer, "a renderer that refuses every report", reports.RendererFunc(func(io.Writer, *reports.Report) error {
		return errors.New("cannot render this")
	}))
}
