package resources

import (
	"context"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/drillhq/drill/harness/provider"
	"github.com/drillhq/drill/scenarios"
)

// startGroup starts sh -c script as the leader of its own process group
// and kills the whole group when the test ends.
func startGroup(t *testing.T, script string) int {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Skipf("cannot start /bin/sh: %v", err)
	}
	pid := cmd.Process.Pid
	t.Cleanup(func() {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		_ = cmd.Wait()
	})
	return pid
}

// sampleOver takes a first sample, lets one sampling interval pass and
// returns the second.
func sampleOver(t *testing.T, pid int, interval time.Duration) provider.ResourceSample {
	t.Helper()
	s := newProcSampler(pid)
	first, err := s.sample(context.Background())
	if err != nil {
		t.Fatalf("first sample: %v", err)
	}
	if first.CPUOK {
		t.Errorf("first sample has a CPU value (%v); it has nothing to delta against", first.CPU)
	}
	time.Sleep(interval) // the sampling interval itself
	second, err := s.sample(context.Background())
	if err != nil {
		t.Fatalf("second sample: %v", err)
	}
	if !second.CPUOK {
		t.Fatalf("second sample has no CPU value")
	}
	return second
}

const sampleInterval = time.Second

func TestSamplerBusyProcessUsesOneCore(t *testing.T) {
	pid := startGroup(t, "while :; do :; done")
	s := sampleOver(t, pid, sampleInterval)
	t.Logf("busy loop: cpu %.3f cores, rss %.0f bytes", s.CPU, s.RSS)
	// One spinning thread: about one core. The bounds are loose on
	// purpose: a loaded machine (or -race) may not give it a whole core.
	if s.CPU < 0.3 || s.CPU > 1.5 {
		t.Errorf("cpu = %.3f cores, want about 1", s.CPU)
	}
	if s.RSS <= 0 {
		t.Errorf("rss = %v, want > 0", s.RSS)
	}
}

func TestSamplerIdleProcessUsesNoCPU(t *testing.T) {
	pid := startGroup(t, "exec sleep 60")
	s := sampleOver(t, pid, sampleInterval)
	t.Logf("sleep: cpu %.3f cores, rss %.0f bytes", s.CPU, s.RSS)
	if s.CPU > 0.05 {
		t.Errorf("cpu = %.3f cores, want about 0", s.CPU)
	}
	if s.RSS <= 0 {
		t.Errorf("rss = %v, want > 0", s.RSS)
	}
}

// An instance's usage is its whole process tree: an idle shell whose
// child spins uses about one core.
func TestSamplerSumsTheProcessTree(t *testing.T) {
	pid := startGroup(t, `sh -c 'while :; do :; done' & wait`)
	s := sampleOver(t, pid, sampleInterval)
	t.Logf("idle parent, busy child: cpu %.3f cores, rss %.0f bytes", s.CPU, s.RSS)
	if s.CPU < 0.3 || s.CPU > 1.5 {
		t.Errorf("cpu = %.3f cores, want about 1 (the busy child counts)", s.CPU)
	}
}

func TestSamplerGoneProcess(t *testing.T) {
	cmd := exec.Command("/bin/sh", "-c", "exit 0")
	if err := cmd.Run(); err != nil {
		t.Skipf("cannot run /bin/sh: %v", err)
	}
	if _, err := newProcSampler(cmd.Process.Pid).sample(context.Background()); err == nil {
		t.Errorf("sampling a reaped process succeeded")
	}
}

// fakeInstance is an Instance backed by a pid only.
type fakeInstance struct {
	pid  int
	dead bool
}

func (f *fakeInstance) Name() string                   { return "fake" }
func (f *fakeInstance) URL() string                    { return "" }
func (f *fakeInstance) PID() int                       { return f.pid }
func (f *fakeInstance) Alive() bool                    { return !f.dead }
func (f *fakeInstance) Stop(ctx context.Context) error { return nil }
func (f *fakeInstance) Kill() error                    { return nil }
func (f *fakeInstance) Pause() error                   { return nil }
func (f *fakeInstance) Resume() error                  { return nil }

// The rollout's Extra: the baseline and canary instances of the same
// interval side by side; a missing instance is a side without data.
func TestResourcesExtra(t *testing.T) {
	busy := startGroup(t, "while :; do :; done")
	idle := startGroup(t, "exec sleep 60")
	r := New()
	insts := map[string]map[string]provider.Instance{"api": {
		"v1": &fakeInstance{pid: idle},
		"v2": &fakeInstance{pid: busy},
		"v3": &fakeInstance{pid: 0}, // not a local process
	}}
	w0 := t0
	w1 := w0.Add(sampleInterval)
	r.SampleAll(context.Background(), w0, insts)
	// First interval: rss on both sides, no cpu yet.
	x := r.Extra("api", "v1", "v2", w0, false)
	if cpu := x[scenarios.MetricCPU]; cpu.BaselineOK || cpu.CanaryOK {
		t.Errorf("cpu after one sample = %+v, want no data", cpu)
	}
	if rss := x[scenarios.MetricRSS]; !rss.BaselineOK || !rss.CanaryOK || rss.Baseline <= 0 || rss.Canary <= 0 {
		t.Errorf("rss = %+v, want both sides > 0", rss)
	}
	time.Sleep(sampleInterval) // the sampling interval itself
	got := r.SampleAll(context.Background(), w1, insts)
	if _, ok := got["api"]["v3"]; ok {
		t.Errorf("sampled an instance with pid 0")
	}
	x = r.Extra("api", "v1", "v2", w1, false)
	cpu := x[scenarios.MetricCPU]
	t.Logf("cpu baseline (sleep) %.3f, canary (busy) %.3f", cpu.Baseline, cpu.Canary)
	if !cpu.BaselineOK || !cpu.CanaryOK || cpu.Canary < 0.3 || cpu.Baseline > 0.05 {
		t.Errorf("cpu = %+v, want baseline about 0 and canary about 1", cpu)
	}
	// A version with no instance has no data; a stale interval neither.
	if p := r.Extra("api", "v1", "v9", w1, false)[scenarios.MetricCPU]; p.CanaryOK || !p.BaselineOK {
		t.Errorf("missing canary: %+v, want canary without data", p)
	}
	if p := r.Extra("api", "v1", "v2", w0, false)[scenarios.MetricRSS]; p.CanaryOK || p.BaselineOK {
		t.Errorf("interval without samples: %+v, want no data", p)
	}
	// A dead instance is not sampled.
	insts["api"]["v2"].(*fakeInstance).dead = true
	if got := r.SampleAll(context.Background(), w1.Add(sampleInterval), insts); len(got["api"]) != 1 {
		t.Errorf("sampled %v, want only v1", got["api"])
	}
}

// At 100% the baseline side is the baseline's usage before the canary
// started.
func TestResourcesMeanBeforeCanary(t *testing.T) {
	r := New()
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Second) }
	r.history["api/v1"] = []instanceSample{
		{at(0), provider.ResourceSample{RSS: 100}},
		{at(1), provider.ResourceSample{CPU: 0.2, CPUOK: true, RSS: 200}},
		{at(2), provider.ResourceSample{CPU: 0.4, CPUOK: true, RSS: 300}},
		{at(3), provider.ResourceSample{CPU: 0.0, CPUOK: true, RSS: 400}}, // canary serves everything
	}
	r.history["api/v2"] = []instanceSample{
		{at(3), provider.ResourceSample{CPU: 0.9, CPUOK: true, RSS: 1000}},
	}
	x := r.Extra("api", "v1", "v2", at(3), true)
	cpu, rss := x[scenarios.MetricCPU], x[scenarios.MetricRSS]
	if !cpu.BaselineOK || cpu.Baseline < 0.3-1e-9 || cpu.Baseline > 0.3+1e-9 || cpu.Canary != 0.9 {
		t.Errorf("cpu = %+v, want baseline 0.3 (mean before the canary), canary 0.9", cpu)
	}
	if !rss.BaselineOK || rss.Baseline != 200 || rss.Canary != 1000 {
		t.Errorf("rss = %+v, want baseline 200, canary 1000", rss)
	}
}

// t0 is when the tests' windows start.
var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
