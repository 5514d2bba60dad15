package harness

import (
	"cmp"
	"context"
	"path/filepath"
	"strings"
	"time"

	"github.com/drillhq/drill/harness/approval"
	"github.com/drillhq/drill/harness/journal"
	"github.com/drillhq/drill/harness/ledger"
	"github.com/drillhq/drill/harness/load"
	"github.com/drillhq/drill/harness/metrics"
	"github.com/drillhq/drill/harness/plan"
	"github.com/drillhq/drill/harness/resources"
	"github.com/drillhq/drill/harness/stall"
	"github.com/drillhq/drill/injectors"
	"github.com/drillhq/drill/reports"
)

// monitor is the drill's clock: it drives the load and cuts every
// recorder into analysis intervals. Every stage that waits for an
// interval (steady state, rollout, recovery) ticks it; it keeps the series
// for the report and the recent traffic faults are judged against.
type monitor struct {
	sys      *System
	j        *journal.Journal
	interval time.Duration
	nextCut  time.Time
	heart    *stall.Heartbeat
	meter    *stall.Meter // the drill's, told every window and the load's pace
	// stalled says whether the window tick last returned was cut across
	// a machine stall (see package stall).
	stalled bool
	// observe is told every interval's windows (the fault set's
	// observation of its targets).
	observe func(end time.Time, tw map[string]map[string]metrics.Window)
	series  map[string]map[string][]reports.SeriesPoint
	// res holds the per-instance cpu/rss samples tick takes (package resources).
	res *resources.History

	// recent is the last recentIntervals windows of every source and
	// label: a fault's "before" is the traffic just before it.
	recent *metrics.Recent

	load        *load.Generator
	loadCancel  context.CancelFunc
	loadStopped bool // stop ran and journaled load.stop
	ledger      *ledger.Writer
}

// startLoad starts vegeta against the load target's router and the
// interval clock with it.
func (d *drill) startLoad(ctx context.Context, sys *System, observe func(time.Time, map[string]map[string]metrics.Window)) *monitor {
	m := &monitor{sys: sys, j: d.j, interval: d.interval, observe: observe, meter: d.meter,
		series: map[string]map[string][]reports.SeriesPoint{}, res: resources.New(), recent: metrics.NewRecent(recentIntervals)}
	lctx, cancel := context.WithCancel(ctx)
	m.loadCancel = cancel
	lw, err := ledger.Open(filepath.Join(d.stageDir(), "ledger.jsonl"))
	if err != nil {
		panic(err) // the run dir was just created; failing here is a bug
	}
	m.ledger = lw
	m.load = load.New(d.sc, sys.urls[d.sc.Load.Target], sys.client, lw)
	d.j.Record(journal.LoadStart, "target", d.sc.Load.Target, "rate", d.sc.Load.Rate.String())
	m.heart = stall.Start(ctx)
	m.nextCut = time.Now()
	maxDur := d.maxDuration()
	injectors.Go(lctx, "load generator", func() { m.load.Run(lctx, maxDur) })
	return m
}

// maxDuration is a hard upper bound on the drill's load: request loops are
// bounded in time even if every other bound failed. It is summed without
// overflow (a wrapped sum once made the bound negative, and vegeta never
// stopped) and never exceeds maxLoadDuration.
func (d *drill) maxDuration() time.Duration {
	ss := d.sc.SteadyState
	// The warm-up, every steady-state attempt, then a margin for
	// provisioning stalls and the rollback itself.
	total := plan.SatMul(d.interval, plan.WarmupIntervals(ss.Warmup, d.interval))
	total = plan.SatAdd(total, plan.SatMul(ss.Duration, max(ss.Attempts, 1)), 2*time.Minute)
	for _, st := range d.sc.Rollout.Steps {
		total = plan.SatAdd(total, st.Hold)
		if st.IsApproval() && !d.opts.AutoApprove {
			total = plan.SatAdd(total, cmp.Or(st.Timeout, approval.Timeout))
		}
	}
	// The operators may hold the rollout paused this long in all.
	total = plan.SatAdd(total, pauseLimit)
	if r := d.sc.Verify.Recovery; r != nil {
		total = plan.SatAdd(total, r.Within, r.Window)
	} else {
		total = plan.SatAdd(total, time.Minute)
	}
	return min(total, maxLoadDuration)
}

// maxLoadDuration caps any drill's load, whatever its scenario sums to.
const maxLoadDuration = 7 * 24 * time.Hour

// tick waits for the end of the current interval, cuts every recorder and
// returns the windows by source and label.
func (m *monitor) tick(ctx context.Context) (map[string]map[string]metrics.Window, error) {
	if m.nextCut.IsZero() {
		m.nextCut = time.Now()
	}
	m.nextCut = m.nextCut.Add(m.interval)
	wait := time.Until(m.nextCut)
	if wait < 0 {
		// Fell behind (a slow phase step): re-align instead of cutting a
		// burst of empty windows.
		m.nextCut = time.Now()
		wait = 0
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-t.C:
	}
	m.stalled = false
	late := m.heart.Take()
	m.meter.Window(late)
	if late >= stall.Threshold {
		m.stalled = true
		m.j.Record(journal.MachineStall, "late_ms", late.Milliseconds(), "window_end", m.nextCut.UTC(),
			"note", "the harness was not scheduled for this long: latencies of this window measure the machine, not the system under test")
	}
	out := map[string]map[string]metrics.Window{}
	recs := []*metrics.Recorder{m.sys.client}
	for _, s := range m.sys.sc.Environment.Services {
		recs = append(recs, m.sys.recorders[s.Name])
	}
	for _, rec := range recs {
		ws := rec.Cut(m.nextCut)
		byLabel := map[string]metrics.Window{}
		for _, w := range ws {
			byLabel[w.Label] = w
			m.addSeries(w)
		}
		out[rec.Source()] = byLabel
	}
	m.ledger.Flush()
	// cpu and rss of every live instance, for judges (judge.Interval.Extra)
	// and the report's "resources:<service>" series.
	m.sampleResources(ctx)
	m.recent.Add(out)
	if m.observe != nil {
		m.observe(m.nextCut, out)
	}
	return out, nil
}

// recentIntervals is how many past intervals recentTraffic looks back.
const recentIntervals = 10

// recentTraffic merges a target's remembered windows (service or
// service.version, at its router).
func (m *monitor) recentTraffic(target string) metrics.Window {
	svc, version, _ := strings.Cut(target, ".")
	return m.recent.Merged("router:"+svc, version)
}

func (m *monitor) addSeries(w metrics.Window) {
	s := w.Summary()
	src := m.series[w.Source]
	if src == nil {
		src = map[string][]reports.SeriesPoint{}
		m.series[w.Source] = src
	}
	src[w.Label] = append(src[w.Label], reports.SeriesPoint{
		Start: s.Start, Requests: s.Requests, Failed: s.Failed, ErrorRate: s.ErrorRate, Throughput: s.Throughput,
		P50Ms: s.P50, P90Ms: s.P90, P95Ms: s.P95, P99Ms: s.P99, MaxMs: s.Max,
	})
}

// sampleResources samples every live instance's cpu and rss at the cut
// just made and adds them to the report's series.
func (m *monitor) sampleResources(ctx context.Context) {
	got := m.res.SampleAll(ctx, m.nextCut, m.sys.liveInstances())
	for svc, vs := range got {
		src := resources.SourcePrefix + svc
		for ver, s := range vs {
			if !s.CPUOK {
				continue
			}
			if m.series[src] == nil {
				m.series[src] = map[string][]reports.SeriesPoint{}
			}
			m.series[src][ver] = append(m.series[src][ver], reports.SeriesPoint{
				Start: m.nextCut.Add(-m.interval).UTC(), CPU: s.CPU, RSS: s.RSS,
			})
		}
	}
}

// markExposure tells the load when the release was first exposed, so the
// blast radius counts only requests sent from then on.
func (m *monitor) markExposure(t time.Time) {
	if m != nil {
		m.load.MarkExposure(t)
	}
}

// stop ends the load and waits for in-flight requests; idempotent and
// safe on a nil monitor (the drill ended before the load started).
func (m *monitor) stop() {
	if m == nil {
		return
	}
	m.loadCancel()
	m.load.Wait()
	_ = m.ledger.Close()
	if !m.loadStopped {
		m.loadStopped = true
		total, failed := m.load.Counts()
		expected, sent := m.load.Pace()
		m.meter.Load(expected, sent)
		m.j.Record(journal.LoadStop, "requests", total, "failed", failed, "rate_asked_for", expected)
	}
}
