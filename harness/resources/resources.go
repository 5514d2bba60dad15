// Package resources samples the cpu and rss of every live instance once
// per analysis interval, keeps their history, and hands the judges the
// canary's usage beside the baseline's.
package resources

import (
	"context"
	"sync"
	"time"

	"github.com/shirou/gopsutil/v4/process"

	"github.com/drillhq/drill/harness/judge"
	"github.com/drillhq/drill/harness/provider"
	"github.com/drillhq/drill/scenarios"
)

// Per-instance resource metrics: `cpu` (cores used, a fraction of one
// core: 1.0 is one core busy, 2.5 is two and a half) and `rss` (bytes of
// resident memory), sampled once per analysis interval for every live
// instance. A local process is sampled with gopsutil by PID: its usage is
// the sum over its process and all its descendants (the process provider
// starts each instance as the leader of its own process group). An
// instance that implements provider.UsageReporter (a container) reports its own,
// from the engine's cgroup counters.

// SourcePrefix prefixes the report series of a service's instance
// samples: "resources:<service>", labelled by version.
const SourcePrefix = "resources:"

// procSampler samples one instance's process tree. It is not safe for
// concurrent use.
type procSampler struct {
	pid    int32
	prevAt time.Time
	// prev is the CPU seconds (user+system) of each process of the tree
	// at prevAt: a child that exited since then is simply left out, a new
	// child counts with its whole CPU time, so the tree's delta never
	// goes negative.
	prev map[int32]float64
}

func newProcSampler(pid int) *procSampler {
	return &procSampler{pid: int32(pid)}
}

// sample reads the tree's CPU times and RSS.
func (s *procSampler) sample(ctx context.Context) (provider.ResourceSample, error) {
	root, err := process.NewProcessWithContext(ctx, s.pid)
	if err != nil {
		return provider.ResourceSample{}, provider.ErrNoProcess
	}
	now := time.Now()
	cur := map[int32]float64{}
	var rss float64
	seen := map[int32]bool{}
	var walk func(p *process.Process, depth int)
	walk = func(p *process.Process, depth int) {
		if seen[p.Pid] || depth > 16 {
			return
		}
		seen[p.Pid] = true
		if t, err := p.TimesWithContext(ctx); err == nil {
			cur[p.Pid] = t.User + t.System
		}
		if m, err := p.MemoryInfoWithContext(ctx); err == nil {
			rss += float64(m.RSS)
		}
		kids, err := p.ChildrenWithContext(ctx)
		if err != nil {
			return // ErrorNoChildren, or the process just exited
		}
		for _, k := range kids {
			walk(k, depth+1)
		}
	}
	walk(root, 0)
	if _, ok := cur[s.pid]; !ok {
		return provider.ResourceSample{}, provider.ErrNoProcess
	}
	out := provider.ResourceSample{At: now, RSS: rss}
	if s.prev != nil {
		if wall := now.Sub(s.prevAt).Seconds(); wall > 0 {
			var used float64
			for pid, c := range cur {
				d := c - s.prev[pid] // a new child: its whole CPU time
				if d > 0 {
					used += d
				}
			}
			out.CPU, out.CPUOK = used/wall, true
		}
	}
	s.prev, s.prevAt = cur, now
	return out, nil
}

// instanceSample is a sample tagged with the interval it closes.
type instanceSample struct {
	window time.Time // end of the interval (the tick's cut)
	provider.ResourceSample
}

// maxResourceHistory bounds the samples kept per instance.
const maxResourceHistory = 4096

// History samples every live instance once per tick and keeps the
// samples per service and version.
type History struct {
	mu       sync.Mutex
	samplers map[string]*procSampler // by service/version
	history  map[string][]instanceSample
}

// New is an empty history.
func New() *History {
	return &History{samplers: map[string]*procSampler{}, history: map[string][]instanceSample{}}
}

func resourceKey(service, version string) string { return service + "/" + version }

// SampleAll samples every live local instance; window is the end of the
// interval just cut. It returns the new samples by service and version.
// Instances that are gone, paused-and-reaped or not local processes (pid
// 0) are skipped: their side of a check then has no data.
func (r *History) SampleAll(ctx context.Context, window time.Time, insts map[string]map[string]provider.Instance) map[string]map[string]provider.ResourceSample {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]map[string]provider.ResourceSample{}
	for svc, versions := range insts {
		for ver, inst := range versions {
			key := resourceKey(svc, ver)
			smp, ok := r.sampleOne(ctx, key, inst)
			if !ok {
				continue
			}
			h := append(r.history[key], instanceSample{window: window, ResourceSample: smp})
			if len(h) > maxResourceHistory {
				h = h[len(h)-maxResourceHistory:]
			}
			r.history[key] = h
			if out[svc] == nil {
				out[svc] = map[string]provider.ResourceSample{}
			}
			out[svc][ver] = smp
		}
	}
	return out
}

// sampleOne samples one instance: through its own Usage when it reports
// it (a container), else its process tree by PID. A restarted instance is
// a new Instance value (and a new PID): its CPU delta starts over.
func (r *History) sampleOne(ctx context.Context, key string, inst provider.Instance) (provider.ResourceSample, bool) {
	if ur, ok := inst.(provider.UsageReporter); ok {
		delete(r.samplers, key)
		if !inst.Alive() {
			return provider.ResourceSample{}, false
		}
		smp, err := ur.Usage(ctx)
		return smp, err == nil
	}
	pid := inst.PID()
	if pid <= 0 || !inst.Alive() {
		delete(r.samplers, key)
		return provider.ResourceSample{}, false
	}
	s := r.samplers[key]
	if s == nil || s.pid != int32(pid) { // new or restarted instance
		s = newProcSampler(pid)
		r.samplers[key] = s
	}
	smp, err := s.sample(ctx)
	if err != nil {
		delete(r.samplers, key)
		return provider.ResourceSample{}, false
	}
	return smp, true
}

// at returns the sample of an instance for the interval ending at window.
func (r *History) at(service, version string, window time.Time) (provider.ResourceSample, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := r.history[resourceKey(service, version)]
	if n := len(h); n > 0 && h[n-1].window.Equal(window) {
		return h[n-1].ResourceSample, true
	}
	return provider.ResourceSample{}, false
}

// meanBefore averages an instance's samples of intervals that ended before
// the first sample of another version (the canary) of the same service:
// the baseline's usage while it served all traffic, which is what a 100%
// canary step is compared with (no live baseline traffic is left then).
func (r *History) meanBefore(service, version, other string) (cpu float64, cpuOK bool, rss float64, rssOK bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var until time.Time
	if oh := r.history[resourceKey(service, other)]; len(oh) > 0 {
		until = oh[0].window
	}
	var nc, nr int
	for _, s := range r.history[resourceKey(service, version)] {
		if !until.IsZero() && !s.window.Before(until) {
			break
		}
		if s.CPUOK {
			cpu += s.CPU
			nc++
		}
		rss += s.RSS
		nr++
	}
	if nc > 0 {
		cpu /= float64(nc)
	}
	if nr > 0 {
		rss /= float64(nr)
	}
	return cpu, nc > 0, rss, nr > 0
}

// Extra builds the cpu and rss sides of an interval for the rollout
// service: baseline and canary instance samples of the interval ending at
// window. With fromSteady the baseline side is the baseline's mean before
// the canary started (see meanBefore).
func (r *History) Extra(service, base, canary string, window time.Time, fromSteady bool) map[string]judge.SidePair {
	if r == nil { // no tick has sampled yet
		return nil
	}
	b, bok := r.at(service, base, window)
	c, cok := r.at(service, canary, window)
	cpu := judge.SidePair{Baseline: b.CPU, BaselineOK: bok && b.CPUOK, Canary: c.CPU, CanaryOK: cok && c.CPUOK}
	rss := judge.SidePair{Baseline: b.RSS, BaselineOK: bok, Canary: c.RSS, CanaryOK: cok}
	if fromSteady {
		cpu.Baseline, cpu.BaselineOK, rss.Baseline, rss.BaselineOK = r.meanBefore(service, base, canary)
	}
	return map[string]judge.SidePair{scenarios.MetricCPU: cpu, scenarios.MetricRSS: rss}
}
