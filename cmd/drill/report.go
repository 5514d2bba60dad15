package main

import (
	"context"

	"github.com/drillhq/drill/reports"
)

func (c *cli) cmdReport(_ context.Context, args []string) int {
	fs := newFlagSet(c, "report")
	format := fs.String("format", "table", "renderer: "+joinNames(reports.Names()))
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return ExitInvalid
	}
	if len(pos) != 1 {
		c.errorf("report needs one run directory or report.json")
		c.tryf("drill report .drill/runs/<run>")
		return ExitInvalid
	}
	r, ok := reports.Lookup(*format)
	if !ok {
		c.errorf("unknown format %q (known: %s)", *format, joinNames(reports.Names()))
		return ExitInvalid
	}
	rep, err := reports.Read(pos[0])
	if err != nil {
		c.errorf("%v", err)
		return ExitInvalid
	}
	if err := r.Render(c.stdout, rep); err != nil {
		c.errorf("render: %v", err)
		return ExitFailed
	}
	return ExitOK
}

func joinNames(ns []string) string {
	out := ""
	for i, n := range ns {
		if i > 0 {
			out += ", "
		}
		out += n
	}
	return out
}
