package main

import (
	"context"
	"fmt"

	"github.com/drillhq/drill/harness"
)

func (c *cli) cmdPlan(_ context.Context, args []string) int {
	fs := newFlagSet(c, "plan")
	files, err := parseInterleaved(fs, args)
	if err != nil {
		return ExitInvalid
	}
	if len(files) != 1 {
		c.errorf("plan needs one scenario file")
		c.tryf("drill plan scenarios/orders-canary-latency.yaml")
		return ExitInvalid
	}
	scs, ok := c.loadAll(files, "")
	if !ok {
		return ExitInvalid
	}
	sc := scs[0]
	fmt.Fprintf(c.stdout, "%s: timeline if every step passes (nothing is run)\n\n", sc.Name)
	for _, e := range harness.Plan(sc) {
		at := fmt.Sprintf("%8s", "later")
		if e.At >= 0 {
			at = fmt.Sprintf("%7.1fs", e.At.Seconds())
			if e.Approx {
				at = fmt.Sprintf("~%6.1fs", e.At.Seconds())
			}
		}
		fmt.Fprintf(c.stdout, "  %s  %s\n", at, e.What)
	}
	fmt.Fprintln(c.stdout, "\n  ~ after an approval gate: times assume the gate passes at once (--auto-approve)")
	return ExitOK
}
