package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/drillhq/drill/harness"
	"github.com/drillhq/drill/harness/promexport"
	"github.com/drillhq/drill/harness/provider"
	"github.com/drillhq/drill/reports"
	"github.com/drillhq/drill/scenarios"
)

func (c *cli) cmdRun(ctx context.Context, args []string) int {
	fs := newFlagSet(c, "run")
	providerName := fs.String("provider", "", "override environment.provider: "+strings.Join(provider.Names(), " or "))
	autoApprove := fs.Bool("auto-approve", false, "pass approval: manual gates without asking (CI)")
	out := fs.String("out", harness.DefaultOutDir, "directory that receives run directories")
	cache := fs.String("cache", harness.DefaultCacheDir, "build cache directory")
	var seed seedFlag
	fs.Var(&seed, "seed", "override the scenario seed")
	quiet := fs.Bool("quiet", false, "no progress lines, only the summary")
	metricsAddr := fs.String("metrics", "", "serve Prometheus metrics at http://ADDR/metrics while the drills run (loopback only, e.g. 127.0.0.1:9464; port 0 picks one)")
	var sf suiteFlags
	fs.StringVar(&sf.tags, "tags", "", "suite: run only drills with one of these tags (comma-separated; !TAG excludes)")
	fs.IntVar(&sf.parallel, "parallel", 1, "suite: run up to N drills at once, as many as the machine's CPU holds without starving any")
	fs.Float64Var(&sf.capacity, "capacity", 0, "suite: CPU, in cores, drills side by side may need in all (default: 90% of the logical CPUs)")
	fs.StringVar(&sf.shard, "shard", "", "suite: run shard I of N (I/N), the same drills every time: one CI machine's share")
	fs.IntVar(&sf.retries, "retries", 0, "suite: run a drill that did not pass up to N more times; a verdict that changes is flaky, never a pass")
	fs.DurationVar(&sf.timeout, "timeout", 0, "suite: abort a drill safely after this long and count it failed (0: no limit)")
	fs.StringVar(&sf.junit, "junit", "", "suite: write one JUnit XML file for the whole suite here")
	fs.StringVar(&sf.baseline, "baseline", "", "suite: compare each drill with the same drill under this earlier suite's directory; a regression fails the suite")
	fs.Float64Var(&sf.maxDrop, "max-drop", reports.DefaultMaxDrop, "suite: score points a drill may lose against --baseline before it is a regression")
	fs.BoolVar(&sf.list, "list", false, "suite: print the drills the suite would run (after --tags and --shard) and run nothing")
	format := fs.String("format", "all", "files written into the run directory besides report.json: all, none, or a comma-separated list of "+joinNames(reports.FileFormats()))
	files, err := parseInterleaved(fs, args)
	if err != nil {
		return ExitInvalid
	}
	if len(files) == 0 {
		c.errorf("run needs at least one scenario file, directory or glob")
		c.tryf("drill run scenarios/orders-canary-latency.yaml, or drill run scenarios/ --junit suite.xml")
		return ExitInvalid
	}
	if math.IsNaN(sf.maxDrop) || math.IsInf(sf.maxDrop, 0) || sf.maxDrop < 0 {
		c.errorf("--max-drop must be a finite number of score points, 0 or more; got %g", sf.maxDrop)
		return ExitInvalid
	}
	if *providerName != "" && !contains(provider.Names(), *providerName) {
		c.errorf("unknown provider %q (known: %v)", *providerName, provider.Names())
		return ExitInvalid
	}
	formats, ok := parseFormats(*format)
	if !ok {
		c.errorf("unknown --format %q (file formats: %s; or all, none)", *format, joinNames(reports.FileFormats()))
		return ExitInvalid
	}
	suiteRun := isSuite(files, &sf)
	var scs []*scenarios.Scenario
	if !suiteRun {
		var ok bool
		if scs, ok = c.loadAll(files, *providerName); !ok {
			return ExitInvalid
		}
	}
	var exporter *promexport.Exporter
	if *metricsAddr != "" {
		exporter = promexport.New()
		url, stop, err := exporter.Serve(*metricsAddr)
		if err != nil {
			c.errorf("--metrics: %v", err)
			return ExitInvalid
		}
		defer func() { _ = stop() }()
		fmt.Fprintf(c.stderr, "metrics: %s\n", url)
	}
	if suiteRun {
		return c.runSuite(ctx, files, &sf, runSettings{provider: *providerName, out: *out, cache: *cache,
			autoApprove: *autoApprove, quiet: *quiet, seed: seed.ptr(), formats: formats, exporter: exporter})
	}
	stdin := c.sharedStdin()
	worst := ExitOK
	for _, sc := range scs {
		opts := harness.Options{Provider: *providerName, AutoApprove: *autoApprove, OutDir: *out, CacheDir: *cache,
			Seed: seed.ptr(), Stdin: stdin, Log: c.stderr, Operator: osUser(), Metrics: exporter}
		if *quiet {
			opts.Log = nil
		}
		rep, err := harness.Run(ctx, sc, opts)
		var written []string
		if rep != nil && rep.RunDir != "" {
			// From report.json as written, like `drill report`: every
			// file is re-renderable later, to the same bytes.
			saved, rerr := reports.Read(rep.RunDir)
			if rerr == nil {
				written, rerr = reports.WriteFormats(rep.RunDir, saved, formats)
			}
			if rerr != nil {
				c.errorf("%v", rerr)
			}
		}
		code := c.finishRun(rep, err, written)
		worst = worse(worst, code)
		if code == ExitInterrupted {
			break // the operator wants out: do not start the next drill
		}
	}
	return worst
}

// sharedStdin returns the one reader of operator answers that every drill
// of the invocation gets as its Stdin: a drill with a reader of its own
// would read ahead into the next drill's answers. It is nil when the cli
// has no stdin, which the harness reads as no operator.
func (c *cli) sharedStdin() io.Reader {
	if c.stdin == nil {
		return nil
	}
	return newLineSource(c.stdin)
}

// finishRun prints the summary, with the report files written, and maps
// the result to an exit code.
func (c *cli) finishRun(rep *reports.Report, err error, written []string) int {
	if rep != nil {
		if tr, ok := reports.Lookup("table"); ok {
			if rerr := tr.Render(c.stdout, rep); rerr != nil {
				c.errorf("render summary: %v", rerr)
			}
		}
		fmt.Fprintf(c.stdout, "report: %s/report.json\n", rep.RunDir)
		for _, path := range written {
			fmt.Fprintf(c.stdout, "        %s\n", path)
		}
	}
	var env *provider.EnvError
	switch {
	case errors.Is(err, harness.ErrInterrupted):
		c.errorf("interrupted: faults reverted, traffic back on baseline, processes stopped; partial report written")
		return ExitInterrupted
	case errors.As(err, &env):
		c.errorf("%s", env.Error())
		if env.Hint != "" {
			c.tryf("%s", env.Hint)
		}
		return ExitEnvironment
	case err != nil:
		c.errorf("%v", err)
		return ExitFailed
	case rep == nil || !rep.Passed:
		return ExitFailed
	case rep.Inconclusive():
		// Neither a pass nor a fail: not a pass (the summary says why).
		return ExitFailed
	}
	return ExitOK
}

// worse orders exit codes by severity: interrupted > environment > failed > ok.
func worse(a, b int) int {
	rank := map[int]int{ExitOK: 0, ExitFailed: 1, ExitInvalid: 2, ExitEnvironment: 3, ExitInterrupted: 4}
	if rank[b] > rank[a] {
		return b
	}
	return a
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// seedFlag is an optional int64 flag.
type seedFlag struct {
	set bool
	v   int64
}

func (s *seedFlag) String() string { return fmt.Sprint(s.v) }
func (s *seedFlag) Set(v string) error {
	_, err := fmt.Sscan(v, &s.v)
	s.set = err == nil
	return err
}
func (s *seedFlag) ptr() *int64 {
	if !s.set {
		return nil
	}
	return &s.v
}

// parseFormats reads --format: all, none, or a list of file formats.
func parseFormats(s string) ([]string, bool) {
	switch strings.TrimSpace(s) {
	case "all":
		return reports.FileFormats(), true
	case "none", "":
		return nil, true
	}
	var out []string
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if !contains(reports.FileFormats(), f) {
			return nil, false
		}
		out = append(out, f)
	}
	return out, true
}
