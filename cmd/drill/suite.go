package main

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/drillhq/drill/harness"
	"github.com/drillhq/drill/harness/promexport"
	"github.com/drillhq/drill/harness/suite"
	"github.com/drillhq/drill/reports"
	"github.com/drillhq/drill/scenarios"
)

// suiteFlags are drill run's options for a suite.
type suiteFlags struct {
	tags, shard, junit, baseline string
	parallel, retries            int
	timeout                      time.Duration
	maxDrop, capacity            float64
	list                         bool
}

// any says whether a suite-only option was given.
func (f *suiteFlags) any() bool {
	return f.tags != "" || f.shard != "" || f.junit != "" || f.baseline != "" || f.parallel > 1 || f.retries > 0 || f.timeout > 0 || f.list || f.capacity > 0
}

// isSuite says whether drill run's arguments make a suite: anything but
// one scenario file with no suite option, which runs as it always did
// (its run directory straight under --out, its summary printed whole).
func isSuite(args []string, f *suiteFlags) bool {
	return f.any() || len(args) != 1 || namesMany(args[0])
}

// runSettings are what every drill of a run gets, suite or not.
type runSettings struct {
	provider, out, cache string
	autoApprove, quiet   bool
	seed                 *int64
	formats              []string
	exporter             *promexport.Exporter
}

// runSuite runs the scenarios args name as one suite: every file found,
// one verdict each; an invalid file is a failed case and the others run.
func (c *cli) runSuite(ctx context.Context, args []string, f *suiteFlags, rs runSettings) int {
	var shard suite.Shard
	if f.shard != "" {
		var err error
		if shard, err = suite.ParseShard(f.shard); err != nil {
			c.errorf("%v", err)
			c.tryf("drill run scenarios/ --shard 1/3")
			return ExitInvalid
		}
	}
	if f.parallel < 1 || f.retries < 0 || f.timeout < 0 || f.capacity < 0 || math.IsNaN(f.capacity) || math.IsInf(f.capacity, 0) {
		c.errorf("--parallel must be 1 or more; --retries, --timeout and --capacity 0 or more")
		return ExitInvalid
	}
	found, err := suite.Find(args)
	if err != nil {
		c.errorf("%v", err)
		c.tryf("drill run scenarios/ (a directory), 'scenarios/*.yaml' (a glob) or scenarios/... (recursive)")
		return ExitInvalid
	}
	var baseline map[string]*reports.Report
	if f.baseline != "" {
		if baseline, err = suite.LoadBaseline(f.baseline); err != nil {
			c.errorf("%v", err)
			return ExitInvalid
		}
	}
	drills := c.suiteDrills(found, shard, suite.ParseTags(f.tags), rs.provider)
	if f.list {
		for _, d := range drills {
			switch {
			case d.Scenario == nil:
				fmt.Fprintf(c.stdout, "%s\tinvalid\n", d.File)
			case d.Skip != "":
				fmt.Fprintf(c.stdout, "%s\t%s\tskipped: %s\n", d.File, d.Scenario.Name, d.Skip)
			default:
				fmt.Fprintf(c.stdout, "%s\t%s\tneeds %.2f CPU\n", d.File, d.Scenario.Name, d.Need)
			}
		}
		return ExitOK
	}
	if len(drills) == 0 {
		// Not an error: a shard of a small suite may hold nothing. Its
		// JUnit file and index are still written, empty, for CI.
		fmt.Fprintf(c.stderr, "suite: no drill selected: %d scenario files found, none with --tags %q in --shard %q\n", len(found), f.tags, f.shard)
	}
	dir, err := suiteDir(rs.out)
	if err != nil {
		c.errorf("%v", err)
		return ExitEnvironment
	}
	fmt.Fprintf(c.stderr, "suite: %d drills -> %s\n", len(drills), dir)
	res := suite.Run(ctx, drills, suite.Options{
		Parallel: f.parallel, Retries: f.retries, Timeout: f.timeout, Dir: dir, Capacity: f.capacity,
		Baseline: baseline, MaxDrop: f.maxDrop,
		Run:  c.suiteAttempt(dir, f.parallel, rs),
		Done: func(d reports.SuiteDrill, _ *reports.Report) { c.drillDone(d) },
	})
	s := res.Suite
	s.Args, s.Shard, s.Tags, s.Baseline = args, shard.String(), suite.ParseTags(f.tags).List(), f.baseline
	if s.Tags == nil {
		s.Tags = []string{}
	}
	code := c.writeSuite(dir, f.junit, res, rs.formats)
	c.suiteSummary(s, dir, f.junit)
	for _, d := range s.Drills {
		code = worse(code, suiteExit(d.Verdict))
	}
	return code
}

// suiteDrills loads the shard's files as drill validate checks them
// (check: the loader, the provider, build and migration files on disk,
// names unique), prints every problem, and hands what loaded and what did
// not to suite.Select.
func (c *cli) suiteDrills(found []suite.Found, shard suite.Shard, tags suite.Tags, providerName string) []suite.Drill {
	var files []string
	for _, fd := range found {
		if shard.Has(fd.File) {
			files = append(files, fd.File)
		}
	}
	scs, diags := c.check(files, providerName, true)
	c.printDiagnostics(diags)
	loaded := map[string]*scenarios.Scenario{}
	for _, sc := range scs {
		loaded[sc.Path] = sc
	}
	problems := map[string][]string{}
	for _, d := range diags {
		if d.Severity != severityWarning { // printed above; the drill runs
			problems[d.of] = append(problems[d.of], d.oneLine())
		}
	}
	return suite.Select(found, shard, loaded, problems, tags, providerName)
}

// suiteDir creates OUT/suite-<UTC time>[-n], the suite's directory: its
// runs, suite.json and the index.
func suiteDir(out string) (string, error) {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", fmt.Errorf("create output directory %s: %w", out, err)
	}
	var rnd [2]byte
	_, _ = rand.Read(rnd[:])
	dir := filepath.Join(out, "suite-"+time.Now().UTC().Format("20060102T150405Z")+"-"+hex.EncodeToString(rnd[:]))
	if err := os.Mkdir(dir, 0o755); err != nil {
		return "", fmt.Errorf("create suite directory: %w", err)
	}
	return dir, nil
}

// suiteAttempt is the suite's RunFunc: harness.Run with the run's
// settings, its run directory in the suite's, and its report files
// written as a single run writes them. Side by side, drills' progress
// lines carry their name, and no drill reads stdin: one operator cannot
// answer two drills' gates on one stream: a gate is then as on a closed
// stdin (rejected at once outside a game day; CI passes --auto-approve).
func (c *cli) suiteAttempt(dir string, parallel int, rs runSettings) suite.RunFunc {
	var stdin io.Reader
	if parallel == 1 {
		stdin = c.sharedStdin()
	}
	var logMu sync.Mutex
	return func(ctx context.Context, sc *scenarios.Scenario, attempt int) (*reports.Report, error) {
		opts := harness.Options{Provider: rs.provider, AutoApprove: rs.autoApprove, OutDir: dir, CacheDir: rs.cache,
			Seed: rs.seed, Stdin: stdin, Log: c.stderr, Operator: osUser(), Metrics: rs.exporter}
		if parallel > 1 {
			prefix := sc.Name
			if attempt > 1 {
				prefix = fmt.Sprintf("%s#%d", sc.Name, attempt)
			}
			opts.Log = &prefixWriter{w: c.stderr, mu: &logMu, prefix: "[" + prefix + "] "}
		}
		if rs.quiet {
			opts.Log = nil
		}
		if attempt > 1 {
			fmt.Fprintf(c.stderr, "suite: %s: attempt %d\n", sc.Name, attempt)
		}
		rep, err := harness.Run(ctx, sc, opts)
		if rep != nil && rep.RunDir != "" {
			saved, rerr := reports.Read(rep.RunDir)
			if rerr == nil {
				_, rerr = reports.WriteFormats(rep.RunDir, saved, rs.formats)
			}
			if rerr != nil {
				c.errorf("%v", rerr)
			}
		}
		return rep, err
	}
}

// drillDone prints a drill's verdict as it ends.
func (c *cli) drillDone(d reports.SuiteDrill) {
	line := fmt.Sprintf("%-12s %s", strings.ToUpper(d.Verdict), cmp.Or(d.Scenario, d.File))
	if d.Verdict == reports.VerdictInvalid {
		// Its reason starts with the file already.
		line = fmt.Sprintf("%-12s", strings.ToUpper(d.Verdict))
	}
	if a := d.Final(); a != nil {
		line += fmt.Sprintf(" (score %d, %.1fs", a.Score, d.Seconds())
		if len(d.Attempts) > 1 {
			line += fmt.Sprintf(", %d attempts", len(d.Attempts))
		}
		line += ")"
	}
	if d.Reason != "" && d.Verdict != reports.VerdictPassed {
		line += ": " + d.Reason
	}
	fmt.Fprintln(c.stdout, line)
}

// writeSuite writes suite.json, index.md and index.html into the suite's
// directory and the JUnit file; a write failure is the environment's.
func (c *cli) writeSuite(dir, junit string, res *suite.Result, formats []string) int {
	s := res.Suite
	mdLink, htmlLink := "report.json", "report.json"
	if slices.Contains(formats, "markdown") {
		mdLink, htmlLink = "report.md", "report.md"
	}
	if slices.Contains(formats, "html") {
		htmlLink = "report.html"
	}
	var errs []error
	errs = append(errs, reports.WriteSuite(dir, s))
	var md, page bytes.Buffer
	if err := reports.RenderSuiteMarkdown(&md, s, mdLink); err == nil {
		errs = append(errs, os.WriteFile(filepath.Join(dir, "index.md"), md.Bytes(), 0o644))
	} else {
		errs = append(errs, err)
	}
	if err := reports.RenderSuiteHTML(&page, s, htmlLink); err == nil {
		errs = append(errs, os.WriteFile(filepath.Join(dir, "index.html"), page.Bytes(), 0o644))
	} else {
		errs = append(errs, err)
	}
	if junit != "" {
		var x bytes.Buffer
		err := reports.RenderSuiteJUnit(&x, s, res.Last)
		if err == nil {
			if d := filepath.Dir(junit); d != "." {
				err = os.MkdirAll(d, 0o755)
			}
		}
		if err == nil {
			err = os.WriteFile(junit, x.Bytes(), 0o644)
		}
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		c.errorf("write the suite's files: %v", err)
		return ExitEnvironment
	}
	return ExitOK
}

// suiteSummary prints the suite's counts and where its files are.
func (c *cli) suiteSummary(s *reports.Suite, dir, junit string) {
	var counts []string
	for _, v := range reports.SuiteVerdicts {
		if n := s.Counts[v]; n > 0 {
			counts = append(counts, fmt.Sprintf("%d %s", n, v))
		}
	}
	word := "FAIL"
	if s.Passed {
		word = "PASS"
	}
	if len(counts) == 0 {
		counts = []string{"none run"}
	}
	fmt.Fprintf(c.stdout, "suite %s: %d drills, %s in %.1fs\n", word, len(s.Drills), strings.Join(counts, ", "), s.EndedAt.Sub(s.StartedAt).Seconds())
	fmt.Fprintf(c.stdout, "index: %s\n       %s\n", filepath.Join(dir, "index.html"), filepath.Join(dir, "index.md"))
	if junit != "" {
		fmt.Fprintf(c.stdout, "junit: %s\n", junit)
	}
}

// suiteExit maps a drill's suite verdict to the exit code it calls for.
func suiteExit(v string) int {
	switch v {
	case reports.VerdictPassed, reports.VerdictSkipped:
		return ExitOK
	case reports.VerdictInvalid:
		return ExitInvalid
	case reports.VerdictError:
		return ExitEnvironment
	case reports.VerdictInterrupted:
		return ExitInterrupted
	}
	return ExitFailed // failed, flaky, inconclusive, regressed
}

// prefixWriter starts every line written through it with prefix, and
// writes whole lines under mu (shared by the suite's drills), so that
// drills side by side do not cut into each other's lines.
type prefixWriter struct {
	w      io.Writer
	mu     *sync.Mutex
	prefix string
	buf    []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	// A drill writes from more than one goroutine (faults, the load).
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			return len(b), nil
		}
		_, err := io.WriteString(p.w, p.prefix+string(p.buf[:i+1]))
		p.buf = p.buf[i+1:]
		if err != nil {
			return len(b), err
		}
	}
}
