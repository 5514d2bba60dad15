package main

import (
	"context"
	"math"

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
	// NaN compares false with everything and +Inf exceeds every drop:
	// either would silently turn the regression gate off.
	if *maxDrop < 0 || math.IsNaN(*maxDrop) || math.IsInf(*maxDrop, 0) {
		c.errorf("--max-drop must be a finite number of score points, 0 or more; got %g", *maxDrop)
		c.tryf("drill compare OLD NEW --max-drop %v", reports.DefaultMaxDrop)
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
	out := &watchedWriter{w: c.stdout}
	if err := cmp.Render(out); err != nil {
		return c.renderFailed(out, err, "comparison")
	}
	if len(cmp.Regressions) > 0 {
		return ExitFailed
	}
	return ExitOK
}
