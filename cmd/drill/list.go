package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/drillhq/drill/harness/judge"
	"github.com/drillhq/drill/harness/provider"
	"github.com/drillhq/drill/harness/strategy"
	"github.com/drillhq/drill/injectors"
	"github.com/drillhq/drill/reports"
	"github.com/drillhq/drill/scenarios"
)

func (c *cli) cmdList(_ context.Context, args []string) int {
	fs := newFlagSet(c, "list")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return ExitInvalid
	}
	if len(pos) > 0 {
		c.errorf("list takes no arguments")
		return ExitInvalid
	}
	w := c.stdout
	fmt.Fprintln(w, "providers:")
	for _, n := range provider.Names() {
		fmt.Fprintf(w, "  %-14s %s\n", n, provider.Description(n))
	}
	fmt.Fprintln(w, "\nstrategies:")
	for _, n := range strategy.Names() {
		fmt.Fprintf(w, "  %-14s %s\n", n, strategy.Description(n))
	}
	// The default is named: a scenario without analysis.judge gets it,
	// and it changed (threshold until issue 18).
	fmt.Fprintf(w, "\njudges (default %s):\n", scenarios.DefaultJudge)
	for _, n := range judge.Names() {
		fmt.Fprintf(w, "  %-14s %s\n", n, judge.Description(n))
	}
	fmt.Fprintln(w, "\nfault kinds:")
	for _, n := range injectors.Kinds() {
		k, _ := injectors.Lookup(n)
		d := k.Describe()
		fmt.Fprintf(w, "  %-14s %s (targets: %s)\n", n, d.Summary, d.Targets)
		for _, p := range d.Params {
			fmt.Fprintf(w, "  %-14s   %-13s %-11s %s\n", "", p.Name, p.Default, p.Description)
		}
	}
	if len(injectors.Planned) > 0 {
		fmt.Fprintf(w, "  (planned, not supported yet: %s)\n", strings.Join(injectors.Planned, ", "))
	}
	fmt.Fprintln(w, "\nrenderers:")
	for _, n := range reports.Names() {
		fmt.Fprintf(w, "  %-14s %s\n", n, reports.Describe(n))
	}
	return ExitOK
}
