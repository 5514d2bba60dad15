package reports

import (
	"fmt"
	"strings"
)

// Host is what the machine gave the drill: the evidence that decides
// whether its verdict measures the system under test or the machine. A
// drill shares its cores with its load generator, its services, its
// databases and, in a suite run with --parallel, other drills; when they
// were starved, latencies and error rates measure the starvation and the
// verdict, pass or fail, cannot be trusted either way. Such a drill is
// inconclusive (Report.Inconclusive), never a pass or a fail.
type Host struct {
	// CPUs is the number of logical CPUs the machine had.
	CPUs int `json:"cpus"`
	// Windows is the number of analysis intervals the drill cut, and
	// StalledWindows those cut across a machine stall: the harness's own
	// timer was late by WorstStallMs or more (package harness/stall).
	Windows        int   `json:"windows"`
	StalledWindows int   `json:"stalled_windows"`
	WorstStallMs   int64 `json:"worst_stall_ms"`
	// StealPercent is the CPU time the hypervisor took from this machine
	// while the load ran, as a percentage of all CPU time (0 where the
	// kernel reports none).
	StealPercent float64 `json:"steal_percent"`
	// LoadExpected is how many requests the load's rate asked for while
	// the load ran, LoadSent how many the generator sent: a generator
	// that fell behind its rate was not given the CPU to keep it.
	LoadExpected int64 `json:"load_expected"`
	LoadSent     int64 `json:"load_sent"`
	// Starved is true when any of the evidence passed its limit; Evidence
	// says which, one line each, with the limit.
	Starved  bool     `json:"starved"`
	Evidence []string `json:"evidence"`
}

// Limits past which a drill counts as starved. They are generous on
// purpose: a lone drill on an idle machine sees the odd stall (that is why
// the harness leaves stalled windows out of its SLO checks), and calling
// it inconclusive would make a good suite flaky.
const (
	// StarvedStalledFraction: more than this share of the windows stalled.
	StarvedStalledFraction = 0.10
	// StarvedStallMs: any single stall this long.
	StarvedStallMs = 1000
	// StarvedStealPercent: the hypervisor took more than this.
	StarvedStealPercent = 10.0
	// StarvedLoadShortfall: the load sent less than this share of what
	// its rate asked for.
	StarvedLoadShortfall = 0.90
)

// Judge fills Starved and Evidence from the measurements.
func (h *Host) Judge() {
	h.Evidence = []string{}
	if h.Windows > 0 && float64(h.StalledWindows) > StarvedStalledFraction*float64(h.Windows) {
		h.Evidence = append(h.Evidence, fmt.Sprintf("%d of %d windows were cut across a machine stall (limit %.0f%%)",
			h.StalledWindows, h.Windows, 100*StarvedStalledFraction))
	}
	if h.WorstStallMs >= StarvedStallMs {
		h.Evidence = append(h.Evidence, fmt.Sprintf("the harness was not scheduled for %d ms at once (limit %d ms)", h.WorstStallMs, StarvedStallMs))
	}
	if h.StealPercent > StarvedStealPercent {
		h.Evidence = append(h.Evidence, fmt.Sprintf("the hypervisor stole %.1f%% of the CPU time (limit %.0f%%)", h.StealPercent, StarvedStealPercent))
	}
	if h.LoadExpected > 0 && float64(h.LoadSent) < StarvedLoadShortfall*float64(h.LoadExpected) {
		h.Evidence = append(h.Evidence, fmt.Sprintf("the load generator sent %d of the %d requests its rate asked for (%.0f%%, limit %.0f%%)",
			h.LoadSent, h.LoadExpected, 100*float64(h.LoadSent)/float64(h.LoadExpected), 100*StarvedLoadShortfall))
	}
	h.Starved = len(h.Evidence) > 0
}

// Inconclusive reports whether the machine starved the drill: its
// verdict is then neither a pass nor a fail (see Host).
func (r *Report) Inconclusive() bool { return r.Host != nil && r.Host.Starved }

// Verdict is the drill's verdict in one word: PASS, FAIL or INCONCLUSIVE.
func (r *Report) Verdict() string {
	switch {
	case r.Inconclusive():
		return "INCONCLUSIVE"
	case r.Passed:
		return "PASS"
	}
	return "FAIL"
}

// starvedText is the one-line reason an inconclusive drill gives.
func (r *Report) starvedText() string {
	if !r.Inconclusive() {
		return ""
	}
	return "inconclusive: the machine starved the drill: " + strings.Join(r.Host.Evidence, "; ")
}
