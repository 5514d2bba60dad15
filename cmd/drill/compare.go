package main

import (
	"context"

	"github.com/drillhq/drill/reports"
)

// cmdCompare is the nightly regression gate: NEW against OLD, both run
// directories or report.json files.
func (c *cli) cmdCompare(_ context.Context, args []string) int {
	fs := newFlagSet(c, "compare")
	maxDrop := fs.Float64("max-drop", reports.DefaultMaxDrop, "score points NEW may lose against OLD before it is a regression")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return ExitInvalid
	}
	if len(pos) != 2 {
		c.errorf("compare needs two runs: OLD and NEW")
		c.tryf("drill compare .drill/runs/<last night> .drill/runs/<tonight>")
		return ExitInvalid
	}
	if *maxDrop < 0 {
		c.errorf("--max-drop must not be negative, got %g", *maxDrop)
		return ExitInvalid
	}
	var reps [2]*reports.Report
	for i, p := range pos {
		if reps[i], err = reports.Read(p); err != nil {
			c.errorf("%v", err)
			return ExitInvalid
		}
	}
	cmp := reports.Compare(reps[0], reps[1], *maxDrop)
	if err := cmp.Render(c.stdout); err != nil {
		c.errorf("render: %v", err)
		return ExitFailed
	}
	if len(cmp.Regressions) > 0 {
		return ExitFailed
	}
	return ExitOK
}
