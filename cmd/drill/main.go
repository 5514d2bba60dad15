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
	// trapsSignals is set for the one command with something to undo on
	// SIGINT or SIGTERM (see signalContext).
	trapsSignals bool
}

var commands []command

func init() {
	commands = []command{
		{"run", "drill run FILE... [--provider process|docker] [--auto-approve] [--out DIR] [--seed N] [--quiet] [--format all|none|LIST]", "run drills and write their reports", (*cli).cmdRun, true},
		{"validate", "drill validate FILE... [--provider process|docker]", "check scenarios; print every problem as file:line:col", (*cli).cmdValidate, false},
		{"plan", "drill plan FILE", "print the drill's timeline (steps, faults) without running anything", (*cli).cmdPlan, false},
		{"list", "drill list", "list providers, judges, fault kinds and renderers", (*cli).cmdList, false},
		{"cleanup", "drill cleanup [--out DIR]", "remove what runs that died (even by SIGKILL) left: processes, containers, networks, temp dirs", (*cli).cmdCleanup, false},
		{"report", "drill report RUN_DIR|report.json [--format table|json|markdown|html|junit]", "re-render a run's report", (*cli).cmdReport, false},
		{"compare", "drill compare OLD NEW [--max-drop 5]", "two runs side by side; exit 1 when the score drops by more than --max-drop or an expectation that held now fails", (*cli).cmdCompare, false},
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
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		c.usage(c.stdout)
		return ExitOK
	}
	for _, cmd := range commands {
		if cmd.name == args[0] {
			return cmd.run(c, ctx, args[1:])
		}
	}
	c.errorf("unknown command %q", args[0])
	c.tryf("drill help")
	return ExitInvalid
}

func (c *cli) usage(w io.Writer) {
	fmt.Fprintln(w, "drill - chaos and rollback drills: canary, faults, rollback, verification, score")
	fmt.Fprintln(w, "\nUsage:")
	for _, cmd := range commands {
		fmt.Fprintf(w, "  %-70s %s\n", cmd.usage, cmd.summary)
	}
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
	return fs
}

// isUsage reports whether err came from flag parsing.
func isUsage(err error) bool {
	return err != nil && (errors.Is(err, flag.ErrHelp) || strings.Contains(err.Error(), "flag"))
}
