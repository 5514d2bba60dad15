// Package reports holds the result of a drill run (the Report, written as
// report.json), the score formula, and the renderers that turn a report into
// the formats a user reads.
//
// A Report is self-contained: everything a renderer or the scorer needs is in
// report.json, so `drill report` re-renders an old run without
// the scenario file or any other drill package. That is why this package
// imports no other drill package and why the scenario's expectations are
// copied into Report.Expect.
package reports

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// SchemaVersion is the version of the report.json layout this package writes
// and the newest one it reads. Adding a field keeps the version; renaming,
// removing or changing the meaning of one bumps it.
const SchemaVersion = 1

// FileName is the name of the report inside a run directory.
const FileName = "report.json"

// Outcome is how a drill's rollout ended.
type Outcome string

// Outcomes of a drill.
const (
	OutcomePromoted   Outcome = "promoted"
	OutcomeRolledBack Outcome = "rolled_back"
	OutcomeAborted    Outcome = "aborted"
)

// Report is the result of one drill run, the source of every other format.
// Its JSON form (report.json) is a contract documented in docs/report-json.md (schema: report.schema.json): fields
// are only ever added within a SchemaVersion.
//
// Times are absolute; durations are float64 seconds. A pointer field is null
// when the value does not apply (nothing was detected, the schema was not
// checked, …), which is different from zero.
type Report struct {
	SchemaVersion int    `json:"schema_version"`
	Scenario      string `json:"scenario"`
	Description   string `json:"description"`
	// Tags are the scenario's tags (suites select drills by them).
	Tags      []string  `json:"tags,omitempty"`
	RunID     string    `json:"run_id"`
	Provider  string    `json:"provider"`
	Seed      int64     `json:"seed"`
	StartedAt time.Time `json:"started_at"`
	EndedAt   time.Time `json:"ended_at"`
	Outcome   Outcome   `json:"outcome"`
	// Interrupted is set when the run was stopped by a signal and went
	// through the safe abort.
	Interrupted bool `json:"interrupted"`
	// Passed is true when every expectation is met; Evaluate sets it.
	Passed bool `json:"passed"`

	// Expect is a copy of the scenario's expectations.
	Expect Expect `json:"expect"`
	// Expectations is the verdict on each of Expect; Evaluate sets it.
	Expectations []Expectation `json:"expectations"`
	// Score is set by Evaluate.
	Score Scorecard `json:"score"`

	// ExposureAt is T0: the first fault applied or the first canary
	// traffic, whichever the harness counts as exposure.
	ExposureAt *time.Time `json:"exposure_at"`
	// DetectedAt is Td: the judge said rollback, or an operator acted.
	DetectedAt *time.Time `json:"detected_at"`
	// RecoveredAt is Tr: the recovery window passed.
	RecoveredAt *time.Time `json:"recovered_at"`
	// DetectionSeconds is Td−T0, null when nothing was detected.
	DetectionSeconds *float64 `json:"detection_seconds"`
	// RecoverySeconds is Tr−Td, null when there was nothing to recover
	// from or recovery never came.
	RecoverySeconds *float64 `json:"recovery_seconds"`

	Requests Requests  `json:"requests"`
	Data     Data      `json:"data"`
	Faults   []Fault   `json:"faults"`
	Rollback Rollback  `json:"rollback"`
	Decision *Decision `json:"decision"` // null when analysis never decided
	// Release is what the rollout moved and how (strategy, switch, flags);
	// null when the drill ended before the rollout.
	Release *Release `json:"release"`
	// Artifacts are what each service version ran, by content digest;
	// empty when the drill ended before its build.
	Artifacts []Artifact `json:"artifacts"`
	// Stages is each stage the release was promoted through, in order
	// (the scenario's stages:); absent without stages. The report's other
	// fields are the last stage's that ran.
	Stages []Stage `json:"stages,omitempty"`
	// Contracts are the consumer contracts' results per phase and
	// (consumer version, provider version); empty without contracts.
	Contracts []ContractResult `json:"contracts"`
	// Compatibility is the release's compatibility matrix: the traffic
	// between services per (consumer version, provider version) pair;
	// empty when no service called another through drill's routers.
	Compatibility []Compatibility `json:"compatibility"`
	SteadyState   SteadyState     `json:"steady_state"`
	// GameDay is the operators' actions and times beside the judge's;
	// absent when nobody was in the loop (see GameDay).
	GameDay *GameDay `json:"game_day,omitempty"`
	// Host is what the machine gave the drill: the evidence that it was
	// starved, which makes the verdict inconclusive. Absent in reports
	// written before it existed.
	Host *Host `json:"host,omitempty"`
	// Leftovers names whatever the run left behind (processes, containers,
	// files, active faults). Empty, never null, when the run was clean.
	Leftovers []string `json:"leftovers"`
	// Timeline is the run's journal, one entry per event.
	Timeline []Event `json:"timeline"`
	// Series holds the window metrics: source (a service, or a service's
	// router) → label (baseline, canary, …) → one point per window.
	Series map[string]map[string][]SeriesPoint `json:"series"`

	// RunDir is the directory the run wrote to.
	RunDir string `json:"run_dir"`
	// Error is the setup or abort error, if any.
	Error string `json:"error"`
}

// Expect is the scenario's `expect` block, copied into the report so that
// it can be scored from report.json alone. A nil pointer means the scenario
// did not set that expectation.
type Expect struct {
	Outcome              Outcome  `json:"outcome"`
	DetectWithinSeconds  *float64 `json:"detect_within_seconds"`
	RecoverWithinSeconds *float64 `json:"recover_within_seconds"`
	MinScore             *int     `json:"min_score"`
	// Rollback is expect.rollback: "ok" or "failed" (a drill showing a
	// rollback failing loudly); empty when the scenario did not say, which
	// checks that every step of a rollback that ran succeeded.
	Rollback string `json:"rollback,omitempty"`
}

// Expectation is the verdict on one expectation.
type Expectation struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"` // what was measured against what, and by how much
}

// Requests counts the load's requests over the whole drill, and which of
// them the blast radius is measured over.
type Requests struct {
	Total  int64 `json:"total"`
	Failed int64 `json:"failed"`
	// ExcessFailed is the failures above what the baseline failure rate
	// predicts among the requests sent at or after T0: the blast radius of
	// the drill.
	ExcessFailed int64 `json:"excess_failed"`
	// BaselineFailureRate is a fraction (0.002 is 0.2%) measured in the
	// steady state.
	BaselineFailureRate float64 `json:"baseline_failure_rate"`
	// ExposedTotal and ExposedFailed count the requests sent at or after
	// T0 (exposure): the only ones the release or a fault can have caused,
	// and the ones ExcessFailed is computed over.
	ExposedTotal  int64 `json:"exposed_total"`
	ExposedFailed int64 `json:"exposed_failed"`
	// ExcludedTotal and ExcludedFailed count the requests sent before T0
	// (warm-up, every steady-state attempt): left out of the blast radius,
	// for ExcludedReason.
	ExcludedTotal  int64  `json:"excluded_total"`
	ExcludedFailed int64  `json:"excluded_failed"`
	ExcludedReason string `json:"excluded_reason,omitempty"`
}

// Data is the result of the data checks after rollback.
type Data struct {
	Ledger Ledger `json:"ledger"`
	// SchemaRestored is null when the schema was not checked.
	SchemaRestored *bool `json:"schema_restored"`
	// SchemaVersion is the migration version after the rollback as
	// golang-migrate records it, e.g. "2" or "3 (dirty)".
	SchemaVersion string `json:"schema_version,omitempty"`
	// SchemaDiff lists what differs from the schema before the rollout:
	// "- fact" was there and is gone, "+ fact" is new. Empty when restored.
	SchemaDiff []string    `json:"schema_diff,omitempty"`
	Invariants []Invariant `json:"invariants"`
}

// Ledger compares every acknowledged write with what the database holds.
type Ledger struct {
	Acknowledged int64 `json:"acknowledged"`
	Lost         int64 `json:"lost"`       // acknowledged, no longer there
	Changed      int64 `json:"changed"`    // there, with other column values
	Duplicated   int64 `json:"duplicated"` // there more than once
	// Indeterminate writes got no answer (timeout, reset): whether they
	// exist is not an error either way, so they are only counted.
	Indeterminate int64 `json:"indeterminate"`
	// Checked is false when the scenario tracks no ledger.
	Checked bool `json:"checked"`
}

// Invariant is the value of one SQL invariant probe at the end of the
// drill.
type Invariant struct {
	Name   string  `json:"name"`
	Value  float64 `json:"value"`
	Expect float64 `json:"expect"`
	OK     bool    `json:"ok"`
	// Error is why the probe could not be read; such an invariant fails.
	Error string `json:"error,omitempty"`
}

// Fault is one injected fault.
type Fault struct {
	Name   string `json:"name"`
	Kind   string `json:"kind"`
	Target string `json:"target"`
	// AppliedAt is null when the fault was never applied (the drill ended
	// before its time came).
	AppliedAt *time.Time `json:"applied_at"`
	// RevertedAt is null while the fault is still in place.
	RevertedAt *time.Time `json:"reverted_at"`
	// Effective says whether the fault was observed to take effect, null
	// when it could not be measured.
	Effective *bool `json:"effective"`
	// Measured says what was observed, e.g. "p99 +212ms".
	Measured string `json:"measured"`
}

// Rollback is the journal of the rollback, if one ran.
type Rollback struct {
	Steps []Step `json:"steps"`
	// Idempotent is true when running the rollback a second time changed
	// nothing.
	Idempotent bool `json:"idempotent"`
	// Rerun holds the steps of that second run.
	Rerun []Step `json:"rerun"`
}

// Step is one rollback step.
type Step struct {
	Name string `json:"name"`
	// Service is the service the step acted on, in a release of several
	// services (each service's step is its own, in reverse release order);
	// empty for a step that acts on the whole drill (revert-faults).
	Service string    `json:"service,omitempty"`
	OK      bool      `json:"ok"`
	Changed bool      `json:"changed"` // false when there was nothing to undo
	Detail  string    `json:"detail"`
	At      time.Time `json:"at"`
}

// Label is the step's name with its service, when it has one.
func (s Step) Label() string {
	if s.Service == "" {
		return s.Name
	}
	return s.Name + " " + s.Service
}

// Decision is the judge decision that ended the analysis.
type Decision struct {
	At      time.Time `json:"at"`
	Verdict string    `json:"verdict"` // continue | promote | rollback | block
	Reason  string    `json:"reason"`
	// Evidence holds the judge's numbers (metric values, statistics) as
	// it reported them.
	Evidence map[string]any `json:"evidence"`
}

// SteadyState is the steady-state hypothesis check before rollout.
type SteadyState struct {
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
	// Baseline holds the metric values the recovery window is compared
	// with, by metric name.
	Baseline map[string]float64 `json:"baseline"`
}

// Event is one journal entry.
type Event struct {
	T              time.Time      `json:"t"` // RFC 3339 with nanoseconds
	ElapsedSeconds float64        `json:"elapsed_seconds"`
	Event          string         `json:"event"`
	Fields         map[string]any `json:"fields"`
}

// SeriesPoint is one metrics window of one source and label.
type SeriesPoint struct {
	Start      time.Time `json:"start"`
	Requests   int64     `json:"requests"`
	Failed     int64     `json:"failed"`
	ErrorRate  float64   `json:"error_rate"` // a fraction, not a percentage
	Throughput float64   `json:"throughput"` // requests per second
	P50Ms      float64   `json:"p50_ms"`
	P90Ms      float64   `json:"p90_ms"`
	P95Ms      float64   `json:"p95_ms"`
	P99Ms      float64   `json:"p99_ms"`
	MaxMs      float64   `json:"max_ms"`
	// CPU and RSS are set on the points of "resources:<service>" sources
	// (one per instance, labelled by version): cores in use over the
	// window (1.0 is one core busy) and resident memory in bytes.
	CPU float64 `json:"cpu,omitempty"`
	RSS float64 `json:"rss_bytes,omitempty"`
}

// reportJSON has Report's fields without its methods, so that MarshalJSON
// can encode it without recursing.
type reportJSON Report

// MarshalJSON encodes the report with lists as [] and maps as {} rather than
// null, so that consumers (jq, the HTML report's script) need no null
// checks, and with schema_version filled in when it was left zero.
func (r Report) MarshalJSON() ([]byte, error) {
	n := r.normalized()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	// SQL, errors and reasons read better unescaped; nothing here is
	// embedded in HTML without escaping.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(reportJSON(n)); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// normalized returns a shallow copy with nil lists and maps made empty.
func (r Report) normalized() Report {
	if r.SchemaVersion == 0 {
		r.SchemaVersion = SchemaVersion
	}
	r.Expectations = nonNil(r.Expectations)
	r.Faults = nonNil(r.Faults)
	r.Leftovers = nonNil(r.Leftovers)
	r.Artifacts = nonNil(r.Artifacts)
	r.Contracts = nonNil(r.Contracts)
	r.Compatibility = nonNil(r.Compatibility)
	r.Timeline = nonNil(r.Timeline)
	r.Data.Invariants = nonNil(r.Data.Invariants)
	r.Rollback.Steps = nonNil(r.Rollback.Steps)
	r.Rollback.Rerun = nonNil(r.Rollback.Rerun)
	if r.Series == nil {
		r.Series = map[string]map[string][]SeriesPoint{}
	}
	if r.SteadyState.Baseline == nil {
		r.SteadyState.Baseline = map[string]float64{}
	}
	return r
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// Encode writes r as indented JSON, the exact bytes of report.json.
func Encode(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// Write writes r as dir/report.json. It writes a temporary file and renames
// it, so that a run killed while writing leaves the previous report (or
// none) rather than a truncated one.
func Write(dir string, r *Report) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	var buf bytes.Buffer
	if err := Encode(&buf, r); err != nil {
		return fmt.Errorf("write report: encode: %w", err)
	}
	if err := writeAtomic(filepath.Join(dir, FileName), buf.Bytes()); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// Read reads a report from path, which is either a run directory or a
// report.json file. It refuses a report written by a newer drill
// (a higher schema_version) instead of misreading it, and a report.json
// that is not a regular file or is larger than MaxReportSize (a link to
// /dev/zero must not fill memory).
func Read(path string) (*Report, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("read report: %w", err)
	}
	if fi.IsDir() {
		path = filepath.Join(path, FileName)
	}
	b, err := readRegular(path, MaxReportSize)
	if errors.Is(err, fs.ErrNotExist) && fi.IsDir() {
		return nil, fmt.Errorf("read report: %s has no %s (did the run get as far as writing one?)", filepath.Dir(path), FileName)
	}
	if err != nil {
		return nil, fmt.Errorf("read report: %w", err)
	}
	r, err := Decode(b)
	if err != nil {
		return nil, fmt.Errorf("read report %s: %w", path, err)
	}
	return r, nil
}
