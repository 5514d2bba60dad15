package reports

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// Suite is the result of one `drill run` over many scenarios (a nightly
// suite, or one shard of it): one entry per scenario file, its verdict and
// every attempt's run directory. It is written as suite.json beside the
// suite index and read back by a later suite's --baseline.
type Suite struct {
	SchemaVersion int       `json:"schema_version"`
	StartedAt     time.Time `json:"started_at"`
	EndedAt       time.Time `json:"ended_at"`
	// Args are the directories, globs and files the suite was given.
	Args []string `json:"args"`
	// Tags, Shard ("1/3", "" for all), Parallel, Retries and Timeout are
	// the options that chose and ran the drills.
	Tags     []string `json:"tags"`
	Shard    string   `json:"shard,omitempty"`
	Parallel int      `json:"parallel"`
	Retries  int      `json:"retries"`
	Timeout  string   `json:"timeout,omitempty"`
	// Baseline is the earlier suite the drills were compared with.
	Baseline string `json:"baseline,omitempty"`
	// CPUs and Capacity are the machine's logical CPUs and the CPU the
	// scheduler let drills running side by side need in all (see
	// harness/suite).
	CPUs     int     `json:"cpus"`
	Capacity float64 `json:"capacity"`
	// Passed is true when every drill passed or was skipped (a game day
	// found by a directory scan): none failed, was flaky, inconclusive,
	// invalid or regressed.
	Passed bool           `json:"passed"`
	Counts map[string]int `json:"counts"`
	Drills []SuiteDrill   `json:"drills"`
}

// Suite verdicts, one per drill.
const (
	VerdictPassed       = "passed"
	VerdictFailed       = "failed"
	VerdictFlaky        = "flaky"        // failed, then passed on a retry (or the other way): never a pass
	VerdictInconclusive = "inconclusive" // every attempt was starved by the machine
	VerdictInvalid      = "invalid"      // the file did not load: it never ran
	VerdictRegressed    = "regressed"    // passed, but worse than the baseline's same drill
	VerdictError        = "error"        // the environment could not be set up
	VerdictInterrupted  = "interrupted"  // Ctrl-C: the suite stopped
	VerdictSkipped      = "skipped"      // not run: the suite was interrupted first
)

// SuiteVerdicts lists every verdict, best first.
var SuiteVerdicts = []string{VerdictPassed, VerdictRegressed, VerdictFlaky, VerdictInconclusive, VerdictFailed,
	VerdictInvalid, VerdictError, VerdictInterrupted, VerdictSkipped}

// SuiteDrill is one scenario file of a suite.
type SuiteDrill struct {
	File     string   `json:"file"`
	Scenario string   `json:"scenario"` // empty when the file did not load
	Tags     []string `json:"tags"`
	Verdict  string   `json:"verdict"`
	// Reason says why in one line (the failed expectation, the timeout,
	// the starvation evidence, the first problem).
	Reason string `json:"reason,omitempty"`
	// Problems are an invalid file's problems, file:line:col: message.
	Problems []string `json:"problems,omitempty"`
	// Need is the CPU (in cores) the scheduler estimated the drill needs.
	Need     float64        `json:"need"`
	Attempts []SuiteAttempt `json:"attempts"`
	// Baseline is the comparison with the baseline suite's same drill;
	// null without --baseline or when the baseline has no such drill.
	Baseline *SuiteBaseline `json:"baseline"`
}

// SuiteAttempt is one run of a drill.
type SuiteAttempt struct {
	// RunDir is the run directory, relative to the suite directory.
	RunDir       string  `json:"run_dir"`
	Passed       bool    `json:"passed"`
	Inconclusive bool    `json:"inconclusive"`
	TimedOut     bool    `json:"timed_out"`
	Outcome      Outcome `json:"outcome"`
	Score        int     `json:"score"`
	Grade        string  `json:"grade"`
	Seconds      float64 `json:"seconds"`
	Error        string  `json:"error,omitempty"`
	// Failed lists the expectations that failed, with their detail.
	Failed []string `json:"failed,omitempty"`
	// Evidence is the starvation evidence of an inconclusive attempt.
	Evidence []string `json:"evidence,omitempty"`
}

// SuiteBaseline compares a drill with the same drill of an earlier suite.
type SuiteBaseline struct {
	RunDir      string   `json:"run_dir"`
	Score       int      `json:"score"`
	Delta       int      `json:"delta"`
	Regressions []string `json:"regressions"`
}

// SuiteSchemaVersion is suite.json's format version.
const SuiteSchemaVersion = 1

// Final is the drill's last attempt, or nil when it never ran.
func (d *SuiteDrill) Final() *SuiteAttempt {
	if len(d.Attempts) == 0 {
		return nil
	}
	return &d.Attempts[len(d.Attempts)-1]
}

// Seconds is the time every attempt of the drill took together.
func (d *SuiteDrill) Seconds() float64 {
	var s float64
	for _, a := range d.Attempts {
		s += a.Seconds
	}
	return s
}

// Tally sets Counts and Passed from the drills' verdicts.
func (s *Suite) Tally() {
	s.Counts = map[string]int{}
	for _, v := range SuiteVerdicts {
		s.Counts[v] = 0
	}
	s.Passed = true
	for _, d := range s.Drills {
		s.Counts[d.Verdict]++
		if d.Verdict != VerdictPassed && d.Verdict != VerdictSkipped {
			s.Passed = false
		}
	}
}

// SuiteFile is the name of the suite's JSON file in its directory.
const SuiteFile = "suite.json"

// WriteSuite writes s as DIR/suite.json.
func WriteSuite(dir string, s *Suite) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, SuiteFile), append(b, '\n'), 0o644)
}

// ReadSuite reads DIR/suite.json.
func ReadSuite(dir string) (*Suite, error) {
	b, err := os.ReadFile(filepath.Join(dir, SuiteFile))
	if err != nil {
		return nil, err
	}
	var s Suite
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, SuiteFile), err)
	}
	return &s, nil
}

// Slowest returns up to n drills that ran, the slowest first.
func (s *Suite) Slowest(n int) []SuiteDrill {
	var ran []SuiteDrill
	for _, d := range s.Drills {
		if len(d.Attempts) > 0 {
			ran = append(ran, d)
		}
	}
	slices.SortStableFunc(ran, func(a, b SuiteDrill) int {
		switch {
		case a.Seconds() > b.Seconds():
			return -1
		case a.Seconds() < b.Seconds():
			return 1
		}
		return 0
	})
	return ran[:min(n, len(ran))]
}

// worstFirst orders verdicts for the index's "worst drills": what a
// reader must act on first.
var worstFirst = []string{VerdictFailed, VerdictError, VerdictInvalid, VerdictFlaky, VerdictRegressed,
	VerdictInconclusive, VerdictInterrupted, VerdictSkipped, VerdictPassed}

// Worst returns up to n drills, the worst first: by verdict, then by
// their last attempt's score, lowest first.
func (s *Suite) Worst(n int) []SuiteDrill {
	score := func(d SuiteDrill) int {
		if a := d.Final(); a != nil {
			return a.Score
		}
		return -1
	}
	all := slices.Clone(s.Drills)
	slices.SortStableFunc(all, func(a, b SuiteDrill) int {
		if ra, rb := slices.Index(worstFirst, a.Verdict), slices.Index(worstFirst, b.Verdict); ra != rb {
			return ra - rb
		}
		return score(a) - score(b)
	})
	return all[:min(n, len(all))]
}
