// Command drill runs chaos and rollback drills: see `drill help`.
//
// The CLI only wires flags to library calls (packages scenarios, harness,
// injectors, reports) and maps errors to exit codes.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	_ "github.com/drillhq/drill/injectors" // fault kinds register themselves
	"github.com/drillhq/drill/scenarios/templates"
)

// Exit codes, as the README lists them.
const (
	ExitOK          = 0   // every expectation met
	ExitFailed      = 1   // a drill ran and an expectation failed
	ExitInvalid     = 2   // invalid scenario or usage
	ExitEnvironment = 3   // the environment could not be set up
	ExitInterrupted = 130 // interrupted, after a safe abort
)

// cli holds everything a command touches, so tests run commands in-process.
type cli struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

type command struct {
	name, usage, summary string
	run                  func(c *cli, ctx context.Context, args []string) int
	// details, when set, follows the summary in the command's --help.
	details string
	// trapsSignals is set for the one command with something to undo on
	// SIGINT or SIGTERM (see signalContext).
	trapsSignals bool
}

var commands []command

func init() {
	commands = []command{
		{name: "run", usage: "drill run FILE|DIR|DIR/...|GLOB... [--provider process|docker] [--auto-approve] [--out DIR] [--seed N] [--quiet] [--format all|none|LIST] [--metrics ADDR] [--tags a,b,!c] [--parallel N] [--shard I/N] [--retries N] [--timeout D] [--junit FILE] [--baseline DIR] [--list]", summary: "run drills and write their reports; many at once as a suite", run: (*cli).cmdRun,
			details: "One scenario file runs as one drill. Several files, a directory (its *.yaml), DIR/... (and below,\n" +
				"testdata left out), a glob, or any suite option make a suite: every file one verdict (an invalid file\n" +
				"is a failed case, the others still run), its runs, suite.json, index.md and index.html in\n" +
				"OUT/suite-<time>/, one JUnit file with --junit. Exit codes of a suite: the worst of its drills\n" +
				"(flaky, inconclusive and regressed are 1). See docs/ci.md.\n" +
				"On SIGINT or SIGTERM (Ctrl-C) a drill aborts safely: faults reverted, traffic back on the\nbaseline, processes stopped, a partial report written; then exit 130.\nWithout --auto-approve, an approval gate reads its answer from stdin: yes or no, one a line,\nor takes it from drill ctl RUN_DIR approve|reject or the game day's dashboard.",
			trapsSignals: true},
		{name: "init", usage: "drill init NAME [--template " + strings.Join(templates.Names(), "|") + "] [--dir DIR] [--force]", summary: "write a commented, runnable scenario NAME.yaml to start from", run: (*cli).cmdInit,
			details: "The default template is " + templates.Default + ". NAME must be a scenario name ([a-z0-9-]). An existing file is kept\nunless --force. Exit codes: 0 written; 2 bad name, template or usage, or the file exists; 3 it cannot be written."},
		{name: "validate", usage: "drill validate FILE... [--provider process|docker] [--format text|json|github]", summary: "check scenarios and the files they need; print every problem as file:line:col", run: (*cli).cmdValidate,
			details: "A scenario must be a regular file of at most 64 MiB. Besides the file itself, validate checks what a run\nwould find missing only when it builds or migrates: build: directories, migrations directories and the\nfile of every migration: N, looked up as a run started here looks them up.\n--format json prints {files, problems} for tools; github prints one ::error workflow command per problem."},
		{name: "plan", usage: "drill plan FILE", summary: "print the drill's timeline (steps, faults) without running anything", run: (*cli).cmdPlan},
		{name: "list", usage: "drill list", summary: "list providers, strategies, judges, fault kinds and renderers", run: (*cli).cmdList},
		{name: "cleanup", usage: "drill cleanup [--out DIR]", summary: "remove what runs that died (even by SIGKILL) left: processes, containers, networks, temp dirs", run: (*cli).cmdCleanup},
		{name: "report", usage: "drill report RUN_DIR|report.json [--format table|json|markdown|html|junit]", summary: "re-render a run's report", run: (*cli).cmdReport,
			details: "report.json must be a regular file of at most 512 MiB.\nExit codes: 0 rendered; 2 the report cannot be read or the format cannot render it (bad input);\n            3 the output cannot be written (full disk, I/O error: the environment)."},
		{name: "ctl", usage: "drill ctl RUN_DIR approve|reject|pause|resume|promote|rollback|abort|note TEXT|inject FAULT|revert FAULT|status [--as NAME] [--json]", summary: "send an operator command to a running drill (game days)", run: (*cli).cmdCtl,
			details: "The drill answers on RUN_DIR/ctl.sock (owner only). Every command is journaled with --as.\nExit codes: 0 applied; 2 the command cannot apply now (the reason is printed; nothing changed)\n            or bad usage; 3 no drill answers in RUN_DIR."},
		{name: "compare", usage: "drill compare OLD NEW [--max-drop 5]", summary: "two runs side by side; exit 1 when the score drops by more than --max-drop or an expectation that held now fails", run: (*cli).cmdCompare,
			details: "--max-drop is a finite number of score points, 0 or more."},
	}
}

func main() {
	c := &cli{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr}
	ctx, stop := signalContext(os.Args[1:])
	code := c.main(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

// signalContext returns the context a command runs under. Only a command
// that traps signals (run: it has faults to revert and processes to stop)
// turns SIGINT and SIGTERM into a cancelled context. Every other command
// keeps Go's default and dies at once: none holds anything to undo, and
// a signal trapped by a command that never looks at its context leaves
// it unkillable but by SIGKILL.
func signalContext(args []string) (context.Context, context.CancelFunc) {
	if cmd, ok := lookup(args); ok && cmd.trapsSignals {
		return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	}
	return context.WithCancel(context.Background())
}

// lookup finds the command args name, if any.
func lookup(args []string) (command, bool) {
	if len(args) == 0 {
		return command{}, false
	}
	for _, cmd := range commands {
		if cmd.name == args[0] {
			return cmd, true
		}
	}
	return command{}, false
}

func (c *cli) main(ctx context.Context, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" && len(args) == 1 {
		c.usage(c.stdout)
		return ExitOK
	}
	if args[0] == "help" { // drill help CMD
		cmd, ok := lookup(args[1:])
		if !ok {
			c.errorf("unknown command %q", args[1])
			c.tryf("drill help")
			return ExitInvalid
		}
		return c.help(ctx, cmd)
	}
	cmd, ok := lookup(args)
	if !ok {
		c.errorf("unknown command %q", args[0])
		c.tryf("drill help")
		return ExitInvalid
	}
	if wantsHelp(args[1:]) {
		return c.help(ctx, cmd)
	}
	return cmd.run(c, ctx, args[1:])
}

// wantsHelp reports whether args ask for help the way the flag package
// reads it: -h, -help, --h or --help (with or without =value) anywhere
// before a "--".
func wantsHelp(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		name, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-"), "=")
		if strings.HasPrefix(a, "-") && (name == "h" || name == "help") {
			return true
		}
	}
	return false
}

// help prints cmd's usage and flags to stdout and exits 0, as --help
// does for any tool. It runs the command with -h alone and its stderr on
// stdout, so that the command's own flag set prints its flags: flag
// parsing stops at -h, before the command acts.
func (c *cli) help(ctx context.Context, cmd command) int {
	h := *c
	h.stderr = c.stdout
	cmd.run(&h, ctx, []string{"-h"})
	return ExitOK
}

func (c *cli) usage(w io.Writer) {
	fmt.Fprintln(w, "drill - chaos and rollback drills: canary, faults, rollback, verification, score")
	fmt.Fprintln(w, "\nUsage:")
	for _, cmd := range commands {
		fmt.Fprintf(w, "  %-70s %s\n", cmd.usage, cmd.summary)
	}
	fmt.Fprintln(w, "\n`drill COMMAND --help` (or `drill help COMMAND`) prints a command's flags.")
	fmt.Fprintln(w, "\nExit codes: 0 all expectations met, 1 an expectation failed, 2 invalid scenario or usage,")
	fmt.Fprintln(w, "            3 environment could not be set up, 130 interrupted (after a safe abort)")
}

// errorf prints "Error: …" the way every drill command reports failures.
func (c *cli) errorf(format string, args ...any) {
	fmt.Fprintf(c.stderr, "Error: "+format+"\n", args...)
}

// tryf prints the follow-up hint line.
func (c *cli) tryf(format string, args ...any) {
	fmt.Fprintf(c.stderr, "Try: "+format+"\n", args...)
}

// parseInterleaved parses flags that may come before, between or after
// the positional arguments (`drill run a.yaml --auto-approve`).
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func newFlagSet(c *cli, name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.Usage = func() {
		w := fs.Output()
		if cmd, ok := lookup([]string{name}); ok {
			fmt.Fprintf(w, "Usage: %s\n\n%s\n", cmd.usage, cmd.summary)
			if cmd.details != "" {
				fmt.Fprintf(w, "\n%s\n", cmd.details)
			}
		}
		hasFlags := false
		fs.VisitAll(func(*flag.Flag) { hasFlags = true })
		if hasFlags {
			fmt.Fprintln(w, "\nFlags:")
			fs.PrintDefaults()
		}
	}
	return fs
}

// isUsage reports whether err came from flag parsing.
func isUsage(err error) bool {
	return err != nil && (errors.Is(err, flag.ErrHelp) || strings.Contains(err.Error(), "flag"))
}
