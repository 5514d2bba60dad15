package main

import (
	"context"
	"io"

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
	out := &watchedWriter{w: c.stdout}
	if err := r.Render(out, rep); err != nil {
		return c.renderFailed(out, err, *format)
	}
	return ExitOK
}

// renderFailed reports a renderer's error and maps it to an exit code by
// its cause: the output could not be written (full disk, I/O error) is
// the environment's, exit 3; anything else is the renderer refusing what
// the report holds, bad input, exit 2. Neither is a drill that failed
// (exit 1), which is what a script gating on `drill report` would read.
func (c *cli) renderFailed(out *watchedWriter, err error, format string) int {
	if out.err != nil {
		c.errorf("cannot write the %s output: %v", format, out.err)
		c.tryf("free space where standard output goes, or redirect it to a file that can be written")
		return ExitEnvironment
	}
	c.errorf("render %s: %v", format, err)
	return ExitInvalid
}

// watchedWriter remembers the first error of the writer it wraps, so that
// a write error is told apart from a renderer's own.
type watchedWriter struct {
	w   io.Writer
	err error
}

func (ww *watchedWriter) Write(p []byte) (int, error) {
	n, err := ww.w.Write(p)
	if err != nil && ww.err == nil {
		ww.err = err
	}
	return n, err
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
