package main

import (
	"context"
	"fmt"

	"github.com/drillhq/drill/harness"
	"github.com/drillhq/drill/harness/cleanup"
)

func (c *cli) cmdCleanup(_ context.Context, args []string) int {
	fs := newFlagSet(c, "cleanup")
	out := fs.String("out", harness.DefaultOutDir, "directory holding run directories")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return ExitInvalid
	}
	if len(pos) > 0 {
		c.errorf("cleanup takes no arguments (use --out DIR)")
		return ExitInvalid
	}
	results, err := cleanup.DeadRuns(*out)
	did, skipped := 0, 0
	for _, r := range results {
		switch {
		case r.Running:
			fmt.Fprintf(c.stdout, "%s: still running, left alone\n", r.RunDir)
		case len(r.Actions) == 0 && len(r.Skipped) == 0:
			fmt.Fprintf(c.stdout, "%s: unfinished run, nothing left behind\n", r.RunDir)
		default:
			for _, a := range r.Actions {
				fmt.Fprintf(c.stdout, "%s: %s\n", r.RunDir, a)
				did++
			}
			// What cleanup could not prove is drill's own: the operator
			// should know it is there, and why drill did not touch it.
			for _, s := range r.Skipped {
				fmt.Fprintf(c.stdout, "%s: skipped: %s\n", r.RunDir, s)
				skipped++
			}
		}
	}
	if err != nil {
		c.errorf("%v", err)
		return ExitEnvironment
	}
	if did == 0 && skipped == 0 {
		fmt.Fprintln(c.stdout, "nothing to do")
	}
	return ExitOK
}
