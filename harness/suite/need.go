package suite

import (
	"runtime"

	"github.com/shirou/gopsutil/v4/cpu"

	"github.com/drillhq/drill/scenarios"
)

// A drill shares the machine with its own load generator, routers,
// services and databases; two drills side by side also share it with
// each other. Measured here (2 cores, /usr/bin/time on shipped drills, see
// docs/ci.md): a shipped drill at 200 requests/s spends about 10 CPU
// seconds in 20 s of wall time — vegeta, the router, the Go or Rust
// service, SQLite and the ledger together about 3 ms of CPU a request —
// and every service instance adds a little for its health checks and the
// per-instance sampling.
const (
	// cpuPerRequest is the CPU, in core-seconds, one request of the load
	// costs end to end.
	cpuPerRequest = 0.0030
	// cpuPerInstance is what a running service instance or database
	// costs besides its requests.
	cpuPerInstance = 0.05
	// cpuPerDrill is the harness's own share: the interval clock, the
	// judge, the journal.
	cpuPerDrill = 0.05
	// dockerFactor: under the docker provider every request crosses the
	// engine's network and a container boundary.
	dockerFactor = 1.3
	// CapacityShare is the share of the machine's CPUs that drills
	// running side by side may need in all. Need overestimates a drill's
	// busiest seconds by about a fifth (measured: the shipped suite spent
	// 147 to 166 CPU seconds on about 52,000 requests, builds and
	// teardowns included), so 90% of the estimate leaves real headroom: a
	// CPU busy near 100% queues every request behind others, and the p99
	// a judge compares then measures the run queue, not the release.
	// Measured on 2 cores (docs/ci.md): two 200 requests/s drills side by
	// side gave the serial run's verdicts, three times out of three.
	CapacityShare = 0.9
)

// Need estimates the CPU, in cores, a drill needs to measure its system
// truthfully: its load's peak rate times the cost of a request, plus its
// service instances and databases. provider is the provider it runs on.
func Need(sc *scenarios.Scenario, provider string) float64 {
	rate := sc.Load.Rate.PerSecond()
	if r := sc.Load.Ramp; r != nil {
		rate = max(r.From.PerSecond(), r.To.PerSecond())
	}
	// Every service runs one instance, and each service the rollout moves
	// runs a second (canary, green) while the release is out.
	instances := len(sc.Environment.Services) + len(sc.Rollout.Moves()) + len(sc.Environment.Databases)
	need := cpuPerDrill + cpuPerInstance*float64(instances) + cpuPerRequest*rate
	if provider == "docker" {
		need *= dockerFactor
	}
	return need
}

// CPUs is the machine's logical CPUs.
func CPUs() int {
	if n, err := cpu.Counts(true); err == nil && n > 0 {
		return n
	}
	return runtime.NumCPU()
}

// Capacity is the CPU, in cores, drills side by side may need in all on
// this machine: CapacityShare of its CPUs.
func Capacity() float64 { return CapacityShare * float64(CPUs()) }
