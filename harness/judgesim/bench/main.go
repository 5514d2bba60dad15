// Command bench runs the canary-analysis simulation of package judgesim
// for every judge registered in package judge and prints one table row per
// judge and case: how often and how fast bad canaries are rolled back, how
// long good ones take to be promoted, and the false-rollback rate of A/A
// runs; then the same judges on a simulated blue-green release (a preview
// against blue's live traffic, then post_switch against the steady-state
// reference).
//
//	go run ./harness/judgesim/bench [-runs 200] [-aa-runs 1000] [-seed 1] [-interval 250ms]
package main

import (
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/drillhq/drill/harness/judge"
	"github.com/drillhq/drill/harness/judgesim"
	"github.com/drillhq/drill/harness/metrics"
)

func main() {
	runs := flag.Int("runs", 200, "runs of each bad-canary case and of the good canary")
	aaRuns := flag.Int("aa-runs", 1000, "A/A runs (false-rollback rate)")
	seed := flag.Uint64("seed", 1, "seed of every run's PCG stream")
	interval := flag.Duration("interval", 250*time.Millisecond, "analysis interval")
	only := flag.String("judges", "", "comma-separated judges to run (default: every registered judge)")
	workers := flag.Int("workers", 0, "runs simulated in parallel (default GOMAXPROCS)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile to this file")
	flag.Parse()
	if *runs < 1 || *aaRuns < 1 {
		fmt.Fprintln(os.Stderr, "bench: -runs and -aa-runs must be at least 1")
		os.Exit(2)
	}
	tr := judgesim.DefaultTraffic()
	tr.Interval = *interval
	if err := tr.Validate(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	judges := judge.Names()
	if *only != "" {
		var picked []string
		for _, j := range strings.Split(*only, ",") {
			if j = strings.TrimSpace(j); !slices.Contains(judges, j) {
				fmt.Fprintf(os.Stderr, "bench: unknown judge %q (registered: %s)\n", j, strings.Join(judges, ", "))
				os.Exit(2)
			}
			picked = append(picked, j)
		}
		judges = picked
	}
	if *workers <= 0 {
		*workers = runtime.GOMAXPROCS(0)
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	if err := run(os.Stdout, tr, judges, *runs, *aaRuns, *seed, *workers); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type judgeResult struct {
	name      string
	err       error
	summaries []judgesim.Summary
	intervals int // intervals observed, every case
}

func run(w io.Writer, tr judgesim.Traffic, names []string, runs, aaRuns int, seed uint64, workers int) error {
	bg := judgesim.DefaultBlueGreen(tr)
	cases := append(judgesim.Cases(tr, runs, aaRuns), judgesim.BlueGreenCases(tr, bg, runs, aaRuns)...)
	fmt.Fprintf(w, "judgesim: seed %d, %d runs per case, %d A/A runs, interval %v, %d workers, judges: %s\n\n",
		seed, runs, aaRuns, tr.Interval, workers, strings.Join(names, ", "))
	fmt.Fprintln(w, tr.Describe())
	fmt.Fprintf(w, "Rollout: the canary holds %g%% for %v (paused intervals do not count); bad canaries: %s, each capped at %v\n",
		tr.CanaryWeight*100, judgesim.Rollout, badNames(cases), judgesim.Rollout)
	fmt.Fprintf(w, "(not rolled back by then: missed). Seeds depend on seed, case and run only: every judge sees the same streams.\n")
	fmt.Fprintf(w, "Blue-green: green alone takes a %g requests/s preview beside blue's %g (live baseline: blue) for a %v hold, then all the traffic\n",
		bg.PreviewRPS, tr.TotalRPS, bg.Preview)
	fmt.Fprintf(w, "switches to green, judged for a %v post_switch hold with no live baseline (Baseline = Reference, the steady state's %v);\n", bg.PostSwitch, tr.SteadyState)
	fmt.Fprintf(w, "paused intervals advance neither hold. A bad green still there after post_switch is missed. Each judge gets its own\n")
	fmt.Fprintf(w, "copy of a run's stream (the switch is its own), from the same seed.\n\n")
	fmt.Fprintf(w, "Analysis, the same for every judge (each reads the fields it knows):\n  %s\n",
		judgesim.DescribeAnalysis(judgesim.Analysis("", tr.Interval)))
	results := make([]*judgeResult, len(names))
	var judges []judgesim.Judged
	var live []*judgeResult
	for k, name := range names {
		a := judgesim.Analysis(name, tr.Interval)
		if r, ok := reads[name]; ok {
			fmt.Fprintf(w, "  %s reads: %s\n", name, r)
		}
		results[k] = &judgeResult{name: name}
		j := judgesim.Judged{Name: name, New: judgesim.JudgeFactory(name, a)}
		if _, err := j.New(); err != nil {
			results[k].err = err
			continue
		}
		judges = append(judges, j)
		live = append(live, results[k])
	}
	fmt.Fprintln(w)

	start := time.Now()
	var streamTime time.Duration
	intervals := 0
	for _, c := range cases {
		cs := time.Now()
		out, err := judgesim.RunCase(judges, tr, c, seed, workers)
		if err != nil {
			return err
		}
		streamTime += out.StreamTime
		intervals += out.Intervals
		for k, rs := range out.Results {
			live[k].summaries = append(live[k].summaries, judgesim.Aggregate(c, rs))
			for _, r := range rs {
				live[k].intervals += r.Intervals
			}
		}
		fmt.Fprintf(os.Stderr, "bench: %s: %d runs in %.1fs\n", c.Name, c.Runs, time.Since(cs).Seconds())
	}
	wall := time.Since(start)
	if err := table(w, results); err != nil {
		return err
	}
	fmt.Fprintln(w, "detected: rolled back within the cap. Detection times: seconds from the canary's start to the Rollback")
	fmt.Fprintln(w, "verdict, over detected runs. Excess failed: canary failures minus canary requests x the baseline's")
	fmt.Fprintf(w, "%g%%, until the run ended (rollback or cap), mean over all runs. Time to promote: mean over promoted runs.\n",
		tr.BaselineErrorRate*100)
	fmt.Fprintln(w, "post-switch (blue-green): rollbacks decided after the switch, against the steady-state reference, of all rollbacks,")
	fmt.Fprintln(w, "and their mean seconds from the switch. Blue-green detection times count from green's preview start.")
	floors(w, tr, cases)
	for _, jr := range results {
		for _, s := range jr.summaries {
			if s.Errors > 0 {
				fmt.Fprintf(w, "warning: %s / %s: %d runs panicked, first: %s\n", jr.name, s.Case.Name, s.Errors, s.FirstErr)
			}
		}
	}
	fmt.Fprintln(w)
	timing(w, live, wall, streamTime, intervals, workers)
	return nil
}

// timing prints where the bench's time went: the streams, and each judge
// as if it ran alone.
func timing(w io.Writer, live []*judgeResult, wall, streamTime time.Duration, intervals, workers int) {
	fmt.Fprintf(w, "time: %.1fs wall on %d workers (GOMAXPROCS %d). Each run's stream is simulated once and observed by every judge\n(a blue-green run's once per judge):\n",
		wall.Seconds(), workers, runtime.GOMAXPROCS(0))
	fmt.Fprintf(w, "  streams        %6.1fs CPU (%d intervals)\n", streamTime.Seconds(), intervals)
	fmt.Fprintln(w, "wall time per judge, if run alone (-judges NAME measures it): (time in Observe+Decide + its share of the")
	fmt.Fprintln(w, "streams, by intervals observed) / workers; CPU in the judge itself alongside:")
	for _, jr := range live {
		var in time.Duration
		for _, s := range jr.summaries {
			in += s.JudgeTime
		}
		share := 0.0
		if intervals > 0 {
			share = float64(jr.intervals) / float64(intervals)
		}
		alone := (in.Seconds() + share*streamTime.Seconds()) / float64(workers)
		fmt.Fprintf(w, "  %-14s ~%5.1fs wall alone; %6.1fs CPU in the judge (%d intervals)\n", jr.name, alone, in.Seconds(), jr.intervals)
	}
}

// floors prints, for each error case, the p95 detection time no judge can
// beat at the bench's false-positive rate (judgesim.DetectionFloor): the
// yardstick for the detection columns above.
func floors(w io.Writer, tr judgesim.Traffic, cases []judgesim.Case) {
	an := judgesim.Analysis("", tr.Interval)
	alpha := an.FalsePositiveRate
	fmt.Fprintf(w, "floor: the p95 detection time no judge can beat with a false-rollback rate of at most alpha: the first time on\n")
	fmt.Fprintf(w, "the %v grid at which the most powerful test (Neyman-Pearson, told both error rates) has 95%% power; excess failed:\n", tr.Interval)
	fmt.Fprintf(w, "the canary's failures above the baseline rate until then, to set beside the table's excess failed column.\n")
	fmt.Fprintf(w, "For latency, the test of the p99 check told the baseline's p99 and the share of the canary's requests above the\n")
	fmt.Fprintf(w, "tolerance (against the 1%% a canary at the tolerance has): the least favourable canary within the check leaves\n")
	fmt.Fprintf(w, "nothing else to tell them apart (judgesim.LatencyDetectionFloor).\n")
	ratio := 1.0
	var sharedFloors []string
	for _, c := range an.Metrics {
		if c.Metric == metrics.LatencyP99 && c.MaxRatio != nil {
			ratio = c.MaxRatio.V
		}
	}
	for _, c := range cases {
		// The floor is for the canary's share of the traffic; a blue-green
		// green has another one in each phase.
		if c.Kind != judgesim.Bad || c.BlueGreen != nil {
			continue
		}
		latency := c.Canary.LatencyFactor > 1
		if !latency && c.Canary.ErrorRate <= tr.BaselineErrorRate {
			continue
		}
		var parts []string
		for _, a := range []float64{alpha, alpha / 2} {
			var f time.Duration
			var ok bool
			var p1 float64
			if latency {
				f, p1, ok = judgesim.LatencyDetectionFloor(tr, c.Canary.LatencyFactor, 0.99, ratio, a, 0.95, c.Limit)
			} else {
				f, ok = judgesim.DetectionFloor(tr, c.Canary.ErrorRate, a, 0.95, c.Limit)
			}
			v := "beyond the cap"
			switch {
			case ok && latency:
				v = fmt.Sprintf("%ss (%.2f%% of the canary's requests above the tolerance)", secs(f), 100*p1)
			case ok:
				// The blast radius a judge at the floor lets through: the
				// canary's failures above the baseline's rate until then.
				excess := (c.Canary.ErrorRate - tr.BaselineErrorRate) * tr.TotalRPS * tr.CanaryWeight * f.Seconds()
				v = fmt.Sprintf("%ss (excess failed %.1f)", secs(f), excess)
			}
			parts = append(parts, fmt.Sprintf("%s at alpha %g%%", v, a*100))
		}
		fmt.Fprintf(w, "  %-12s %s (alpha/2: each test's share when error_rate and latency_p99 are both tested)\n", c.Name, strings.Join(parts, ", "))
		// The floor of a judge that ignores shared faults: the same
		// events, the baseline's rate not trusted but tested against.
		p0, p1 := tr.BaselineErrorRate, c.Canary.ErrorRate
		if latency {
			p0 = 0.01
			_, p1, _ = judgesim.LatencyDetectionFloor(tr, c.Canary.LatencyFactor, 0.99, ratio, alpha, 0.95, c.Limit)
		}
		var shared []string
		for _, a := range []float64{alpha, alpha / 2} {
			v := "beyond the cap"
			if f, ok := judgesim.SharedFaultFloor(tr, p0, p1, a, 0.95, c.Limit); ok {
				v = secs(f) + "s"
			}
			shared = append(shared, fmt.Sprintf("%s at alpha %g%%", v, a*100))
		}
		sharedFloors = append(sharedFloors, fmt.Sprintf("  %-12s %s", c.Name, strings.Join(shared, ", ")))
	}
	fmt.Fprintf(w, "shared-fault floor: the same for a judge that must not roll back for a fault both versions share, so may not trust\n")
	fmt.Fprintf(w, "the baseline's rate: the most powerful test given the events both versions had, whose canary share is binomial\n")
	fmt.Fprintf(w, "(judgesim.SharedFaultFloor; why it binds every such judge: its doc comment):\n")
	for _, l := range sharedFloors {
		fmt.Fprintln(w, l)
	}
}

// reads says which fields of the analysis each known judge uses.
var reads = map[string]string{
	"threshold":    "both bounds per interval (p99 pooled to 100 requests a side), failures, min_samples, on_no_data",
	"mann-whitney": "the bounds as tolerances, weights, failures, pass_score / marginal_score, false_positive_rate, min_samples",
	"sequential":   "error_rate and latency_p99 as tests (against the steady-state Reference's p99; without a live baseline, against the Reference's rates), false_positive_rate, min_samples",
}

func badNames(cases []judgesim.Case) string {
	var out []string
	for _, c := range cases {
		if c.Kind == judgesim.Bad && c.BlueGreen == nil {
			out = append(out, c.Name)
		}
	}
	return strings.Join(out, ", ")
}

func table(w io.Writer, results []*judgeResult) error {
	header := []any{"judge", "case", "runs", "detected", "detect mean s", "detect p95 s (95% CI)", "post-switch", "excess failed", "promote mean s", "false rollbacks"}
	right, left := tw.AlignRight, tw.AlignLeft
	t := tablewriter.NewTable(w,
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithHeaderAlignment(tw.AlignLeft),
		tablewriter.WithRowAlignmentConfig(tw.CellAlignment{PerColumn: []tw.Align{left, left, right, right, right, right, right, right, right, right}}),
	)
	t.Header(header...)
	for _, jr := range results {
		if jr.err != nil {
			if err := t.Append(jr.name, "error: "+jr.err.Error(), "", "", "", "", "", "", "", ""); err != nil {
				return err
			}
			continue
		}
		for _, s := range jr.summaries {
			if err := t.Append(toAny(row(jr.name, s))...); err != nil {
				return err
			}
		}
	}
	return t.Render()
}

func row(judge string, s judgesim.Summary) []string {
	const none = "-"
	r := []string{judge, s.Case.Name, strconv.Itoa(s.Runs), none, none, none, none, none, none, none}
	bg := s.Case.BlueGreen != nil
	switch s.Case.Kind {
	case judgesim.Bad:
		r[3] = pct(s.DetectedRate())
		if s.Detected > 0 {
			r[4], r[5] = secs(s.DetectMean), p95(s)
		}
		if bg && s.Detected > 0 {
			r[6] = postSwitch(s)
		}
		r[7] = strconv.FormatFloat(s.ExcessMean, 'f', 1, 64)
		if math.Abs(s.ExcessMean) < 0.05 {
			r[7] = "0.0" // not "-0.0": noise around no excess at all
		}
	case judgesim.Good:
		r[8] = promoted(s)
		r[9] = fmt.Sprintf("%d/%d", s.Detected, s.Runs)
	case judgesim.AA:
		if bg {
			// A good green: its time to be promoted is the release's.
			r[8] = promoted(s)
			if s.Detected > 0 {
				r[6] = postSwitch(s)
			}
		}
		r[9] = fmt.Sprintf("%s (%d/%d)", pct(s.DetectedRate()), s.Detected, s.Runs)
	}
	return r
}

// p95 is the p95 detection time with its confidence interval: the bench's
// runs are a sample, and a target one interval away is within its noise.
func p95(s judgesim.Summary) string {
	hi := "-"
	if s.DetectP95Hi > 0 {
		hi = secs(s.DetectP95Hi)
	}
	return fmt.Sprintf("%s (%s-%s)", secs(s.DetectP95), secs(s.DetectP95Lo), hi)
}

// postSwitch is the share of a blue-green case's rollbacks decided after
// the switch (in reference mode), with their mean time from the switch.
func postSwitch(s judgesim.Summary) string {
	out := fmt.Sprintf("%d/%d", s.DetectedAfterSwitch, s.Detected)
	if s.DetectedAfterSwitch > 0 {
		out += fmt.Sprintf(" +%ss", secs(s.DetectAfterSwitchMean))
	}
	return out
}

// promoted is the mean time to promote, the promoted runs and the stalled.
func promoted(s judgesim.Summary) string {
	var out string
	if s.Promoted > 0 {
		out = fmt.Sprintf("%s (%d)", secs(s.PromoteMean), s.Promoted)
	}
	if s.Stalled > 0 {
		out += fmt.Sprintf(", %d stalled", s.Stalled)
	}
	if out == "" {
		return "-"
	}
	return out
}

func secs(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', 2, 64) }

func pct(f float64) string { return strconv.FormatFloat(f*100, 'f', 1, 64) + "%" }

func toAny(s []string) []any {
	a := make([]any, len(s))
	for i, v := range s {
		a[i] = v
	}
	return a
}
