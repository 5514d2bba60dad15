package reports

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Points available for each part of the score; they add up to 100.
const (
	MaxDetection     = 25
	MaxRecovery      = 25
	MaxBlastRadius   = 20
	MaxDataIntegrity = 20
	MaxHygiene       = 10
)

// Defaults used when the scenario sets no detect_within or recover_within:
// a drill is still scored on time, against what a fast pipeline achieves.
const (
	DefaultDetectWithinSeconds  = 10
	DefaultRecoverWithinSeconds = 30
)

// ExcessFailedZero is the share of all requests at which excess failures
// cost the whole blast-radius part.
const ExcessFailedZero = 0.01

// Formula is the score formula in words, printed in every report so that a
// reader can check a score by hand. Score implements exactly this text.
const Formula = `score 0-100 = detection 25 + recovery 25 + blast radius 20 + data integrity 20 + hygiene 10
detection: 25 if Td-T0 <= detect_within (default 10s); 0 at >= 4x that or never; linear between
recovery: 25 if Tr-Td <= recover_within (default 30s); 0 at >= 4x that or never; linear between;
  0 if any rollback step failed, whatever the times
  both full when promotion (or no outcome) was expected and nothing was rolled back;
  both 0 when a rollback or abort was expected but the drill promoted;
  both full when the release was blocked (a contract failed before the rollout: no traffic
  moved, nothing was exposed); the outcome expectation says whether a block was expected
blast radius: 20 at no excess failed requests (above the baseline rate) among those sent at or
  after T0; 0 at >= 1% of all requests; linear between
data integrity: 20 if ledger, schema and invariants all hold; 0 if an acknowledged write was lost
  or changed or the schema was not restored; 10 if only duplicates or invariants failed
hygiene: 10 if every applied fault was reverted, nothing was left behind and the rollback is
  idempotent (or none ran); 5 if the rollback is not idempotent; 0 if anything was left behind
a drill that sent no traffic scores 0: nothing was exercised (unless it was blocked: the
  contract check before the rollout is what it exercised)
grade: A >= 90, B >= 80, C >= 70, D >= 60, else F`

// Scorecard is a drill's score. (It is not called Score because Score is the
// function that computes it.)
type Scorecard struct {
	Total   int         `json:"total"` // 0–100, the rounded sum of Parts
	Grade   string      `json:"grade"` // A–F
	Parts   Parts       `json:"parts"`
	Details PartDetails `json:"details"` // why each part got its points
	Formula string      `json:"formula"`
}

// Parts holds the points of each part of the score, rounded to 0.1.
type Parts struct {
	Detection     float64 `json:"detection"`
	Recovery      float64 `json:"recovery"`
	BlastRadius   float64 `json:"blast_radius"`
	DataIntegrity float64 `json:"data_integrity"`
	Hygiene       float64 `json:"hygiene"`
}

// PartDetails explains each part's points in a short sentence.
type PartDetails struct {
	Detection     string `json:"detection"`
	Recovery      string `json:"recovery"`
	BlastRadius   string `json:"blast_radius"`
	DataIntegrity string `json:"data_integrity"`
	Hygiene       string `json:"hygiene"`
}

// Part is one row of a score breakdown.
type Part struct {
	Name   string // as in report.json: detection, blast_radius, …
	Points float64
	Max    float64
	Detail string
}

// Breakdown lists the parts in the formula's order, for renderers.
func (s Scorecard) Breakdown() []Part {
	return []Part{
		{"detection", s.Parts.Detection, MaxDetection, s.Details.Detection},
		{"recovery", s.Parts.Recovery, MaxRecovery, s.Details.Recovery},
		{"blast_radius", s.Parts.BlastRadius, MaxBlastRadius, s.Details.BlastRadius},
		{"data_integrity", s.Parts.DataIntegrity, MaxDataIntegrity, s.Details.DataIntegrity},
		{"hygiene", s.Parts.Hygiene, MaxHygiene, s.Details.Hygiene},
	}
}

// Grade returns the letter grade of a total score.
func Grade(total int) string {
	switch {
	case total >= 90:
		return "A"
	case total >= 80:
		return "B"
	case total >= 70:
		return "C"
	case total >= 60:
		return "D"
	default:
		return "F"
	}
}

// Score computes the score of r from its measurements and r.Expect, as
// Formula describes. It reads nothing but r, so an old report.json can be
// re-scored, and it does not modify r (Evaluate stores the result).
func Score(r *Report) Scorecard {
	var s Scorecard
	if r.Requests.Total == 0 && r.Outcome != OutcomeBlocked {
		// A drill that never sent traffic (it failed to set up, or was
		// stopped before the load began) proved nothing: it scores 0 rather
		// than the full marks its empty measurements would otherwise earn.
		why := "the drill sent no traffic: nothing was exercised"
		s.Details = PartDetails{Detection: why, Recovery: why, BlastRadius: why, DataIntegrity: why, Hygiene: why}
		s.Grade, s.Formula = Grade(0), Formula
		return s
	}
	s.Parts.Detection, s.Details.Detection = detectionPart(r)
	s.Parts.Recovery, s.Details.Recovery = recoveryPart(r)
	s.Parts.BlastRadius, s.Details.BlastRadius = blastRadiusPart(r.Requests)
	s.Parts.DataIntegrity, s.Details.DataIntegrity = dataIntegrityPart(r.Data)
	s.Parts.Hygiene, s.Details.Hygiene = hygienePart(r)

	// Sum in tenths, as integers, so that the total is exactly the rounded
	// sum of the parts a reader sees, with no float residue deciding a
	// grade boundary.
	tenths := 0
	for _, p := range s.Breakdown() {
		tenths += int(math.Round(p.Points * 10))
	}
	s.Total = (tenths + 5) / 10
	s.Grade = Grade(s.Total)
	s.Formula = Formula
	return s
}

// rolledBack reports whether any rollback happened, including the one a
// safe abort runs.
func rolledBack(r *Report) bool {
	return r.Outcome == OutcomeRolledBack || len(r.Rollback.Steps) > 0
}

// blocked reports whether the release was blocked before the rollout by a
// failing contract: like a rollback with no exposure, nothing reached a
// user, so detection and recovery are full (the block is the earliest
// detection there is). Whether a block was expected is the outcome
// expectation's to say: a good release blocked fails the drill there.
func blocked(r *Report) bool {
	// The undo of a blocked release stops versions that never took
	// traffic: it is not a rollback of anything a user saw.
	return r.Outcome == OutcomeBlocked
}

// nothingToDetect reports whether the drill expected promotion (or expected
// nothing) and got it without a rollback: detection and recovery do not apply.
func nothingToDetect(r *Report) bool {
	exp := r.Expect.Outcome
	return (exp == OutcomePromoted || exp == "") && !rolledBack(r)
}

// wronglyPromoted reports whether a bad canary went through: a rollback or
// abort was expected, but the drill promoted.
func wronglyPromoted(r *Report) bool {
	exp := r.Expect.Outcome
	return exp != "" && exp != OutcomePromoted && r.Outcome == OutcomePromoted
}

func detectWithin(r *Report) (limit float64, isDefault bool) {
	if r.Expect.DetectWithinSeconds != nil {
		return *r.Expect.DetectWithinSeconds, false
	}
	return DefaultDetectWithinSeconds, true
}

func recoverWithin(r *Report) (limit float64, isDefault bool) {
	if r.Expect.RecoverWithinSeconds != nil {
		return *r.Expect.RecoverWithinSeconds, false
	}
	return DefaultRecoverWithinSeconds, true
}

func detectionPart(r *Report) (float64, string) {
	limit, def := detectWithin(r)
	return timedPart(r, MaxDetection, "detected", r.DetectionSeconds, limit, def)
}

func recoveryPart(r *Report) (float64, string) {
	if failed := failedSteps(r); len(failed) > 0 {
		// A rollback that did not complete is no recovery, however soon
		// traffic looked healthy again: the system is not where the
		// rollback was meant to leave it.
		return 0, "rollback failed: " + strings.Join(failed, "; ")
	}
	limit, def := recoverWithin(r)
	return timedPart(r, MaxRecovery, "recovered", r.RecoverySeconds, limit, def)
}

// timedPart scores a duration against a limit: full up to the limit, zero
// from four times the limit, linear in between.
func timedPart(r *Report, full float64, verb string, seconds *float64, limit float64, isDefault bool) (float64, string) {
	switch {
	case blocked(r):
		return full, "blocked before the rollout by a failing contract: no traffic moved"
	case nothingToDetect(r):
		return full, "promoted as expected: nothing to detect or recover from"
	case wronglyPromoted(r):
		return 0, fmt.Sprintf("promoted, but %s was expected", r.Expect.Outcome)
	case seconds == nil:
		return 0, "never " + verb
	}
	s := *seconds
	lim := "limit " + secs(limit)
	if isDefault {
		lim += ", the default"
	}
	switch {
	case s <= limit:
		return full, fmt.Sprintf("%s in %s (%s)", verb, secs(s), lim)
	case s >= 4*limit:
		// Also covers limit <= 0, where any delay at all is too late.
		return 0, fmt.Sprintf("%s in %s, 4x or more the %s", verb, secs(s), lim)
	}
	p := round1(full * (4*limit - s) / (3 * limit))
	return p, fmt.Sprintf("%s in %s, %s over the %s; 0 at %s", verb, secs(s), secs(s-limit), lim, secs(4*limit))
}

func blastRadiusPart(q Requests) (float64, string) {
	switch {
	case q.ExcessFailed <= 0:
		return MaxBlastRadius, fmt.Sprintf("no excess failed requests among %d", q.Total)
	}
	share := float64(q.ExcessFailed) / float64(q.Total)
	p := 0.0
	if share < ExcessFailedZero {
		p = round1(MaxBlastRadius * (1 - share/ExcessFailedZero))
	}
	return p, fmt.Sprintf("%d excess failed of %d requests (%s; 0 at %s)",
		q.ExcessFailed, q.Total, percent(share), num(ExcessFailedZero*100)+"%")
}

// dataIntegrityPart gives half marks when only duplicates or invariants fail:
// nothing a client was promised is gone, but the data needs repair. A lost or
// changed acknowledged write, or a schema left behind, is the failure the
// drill exists to catch, and costs everything.
func dataIntegrityPart(d Data) (float64, string) {
	l := d.Ledger
	var fatal, repairable []string
	if l.Lost > 0 {
		fatal = append(fatal, fmt.Sprintf("%d acknowledged %s lost", l.Lost, plural(l.Lost, "write", "writes")))
	}
	if l.Changed > 0 {
		fatal = append(fatal, fmt.Sprintf("%d acknowledged %s changed", l.Changed, plural(l.Changed, "write", "writes")))
	}
	if d.SchemaRestored != nil && !*d.SchemaRestored {
		fatal = append(fatal, "schema not restored")
	}
	if l.Duplicated > 0 {
		repairable = append(repairable, fmt.Sprintf("%d %s duplicated", l.Duplicated, plural(l.Duplicated, "write", "writes")))
	}
	for _, inv := range d.Invariants {
		switch {
		case inv.Error != "":
			repairable = append(repairable, fmt.Sprintf("invariant %s could not be read", inv.Name))
		case !inv.OK:
			repairable = append(repairable, fmt.Sprintf("invariant %s failed (value %s, expected %s)", inv.Name, num(inv.Value), num(inv.Expect)))
		}
	}
	switch {
	case len(fatal) > 0:
		return 0, strings.Join(append(fatal, repairable...), "; ")
	case len(repairable) > 0:
		return MaxDataIntegrity / 2, strings.Join(repairable, "; ") + "; half marks: nothing acknowledged was lost"
	}
	var held []string
	if l.Checked {
		held = append(held, fmt.Sprintf("all %d acknowledged writes intact", l.Acknowledged))
	} else {
		held = append(held, "ledger not checked")
	}
	if d.SchemaRestored == nil {
		held = append(held, "schema not checked")
	} else {
		held = append(held, "schema restored")
	}
	if n := len(d.Invariants); n > 0 {
		held = append(held, fmt.Sprintf("%d %s", n, plural(int64(n), "invariant holds", "invariants hold")))
	}
	return MaxDataIntegrity, strings.Join(held, ", ")
}

func hygienePart(r *Report) (float64, string) {
	var unreverted []string
	for _, f := range r.Faults {
		// A fault whose time never came was never applied and needs no revert.
		if f.AppliedAt != nil && f.RevertedAt == nil {
			unreverted = append(unreverted, f.Name)
		}
	}
	var bad []string
	if len(unreverted) > 0 {
		bad = append(bad, fmt.Sprintf("%s not reverted: %s",
			plural(int64(len(unreverted)), "fault", "faults"), strings.Join(unreverted, ", ")))
	}
	if n := len(r.Leftovers); n > 0 {
		bad = append(bad, fmt.Sprintf("%d %s left behind", n, plural(int64(n), "thing", "things")))
	}
	ranRollback := len(r.Rollback.Steps) > 0
	if ranRollback && !r.Rollback.Idempotent {
		bad = append(bad, "rollback not idempotent: running it again changed something")
	}
	switch {
	case len(unreverted) > 0 || len(r.Leftovers) > 0:
		return 0, strings.Join(bad, "; ")
	case len(bad) > 0:
		return MaxHygiene - 5, bad[0]
	}
	msg := "every fault reverted, nothing left behind, "
	if ranRollback {
		return MaxHygiene, msg + "rollback idempotent"
	}
	return MaxHygiene, msg + "no rollback ran"
}

// failedSteps describes each rollback step that failed: its name and
// reason.
func failedSteps(r *Report) []string {
	var out []string
	for _, st := range r.Rollback.Steps {
		if !st.OK {
			d := "step " + st.Name + " failed"
			if st.Detail != "" {
				d += ": " + st.Detail
			}
			out = append(out, d)
		}
	}
	return out
}

// Expectation names, in the order Evaluate lists them.
const (
	ExpectOutcome       = "outcome"
	ExpectDetectWithin  = "detect_within"
	ExpectRecoverWithin = "recover_within"
	ExpectMinScore      = "min_score"
	ExpectRollback      = "rollback"
)

// Values of Expect.Rollback.
const (
	RollbackOK     = "ok"
	RollbackFailed = "failed"
)

// Evaluate scores r and checks it against r.Expect: it sets r.Score,
// r.Expectations (one per expectation the scenario set, in the order
// outcome, detect_within, recover_within, min_score, then rollback, which
// is also checked whenever a rollback ran) and r.Passed (every
// expectation met; true when none was set). The harness calls it once all
// measurements are in; `drill report` may call it again on an old report.
func Evaluate(r *Report) {
	r.Score = Score(r)
	var ex []Expectation
	e := r.Expect
	if e.Outcome != "" {
		ok := r.Outcome == e.Outcome
		d := fmt.Sprintf("%s as expected", r.Outcome)
		if !ok {
			got := string(r.Outcome)
			if got == "" {
				got = "no outcome"
			}
			d = fmt.Sprintf("%s, expected %s", got, e.Outcome)
		}
		ex = append(ex, Expectation{ExpectOutcome, ok, d})
	}
	if e.DetectWithinSeconds != nil {
		ex = append(ex, withinExpectation(r, ExpectDetectWithin, "detected", r.DetectionSeconds, *e.DetectWithinSeconds))
	}
	if e.RecoverWithinSeconds != nil {
		ex = append(ex, withinExpectation(r, ExpectRecoverWithin, "recovered", r.RecoverySeconds, *e.RecoverWithinSeconds))
	}
	if e.MinScore != nil {
		want, got := *e.MinScore, r.Score.Total
		ok := got >= want
		d := fmt.Sprintf("score %d (%s), minimum %d", got, r.Score.Grade, want)
		if !ok {
			d = fmt.Sprintf("score %d (%s), %d below the minimum %d", got, r.Score.Grade, want-got, want)
		}
		ex = append(ex, Expectation{ExpectMinScore, ok, d})
	}
	if len(r.Rollback.Steps) > 0 || e.Rollback != "" {
		ex = append(ex, rollbackExpectation(r))
	}
	r.Expectations = nonNil(ex)
	r.Passed = true
	for _, x := range ex {
		r.Passed = r.Passed && x.OK
	}
}

// rollbackExpectation checks the rollback's steps: all ok, unless the
// scenario expects one to fail (expect.rollback: failed), so that a
// rollback that fails is never a pass by accident, and one meant to fail
// must fail loudly.
func rollbackExpectation(r *Report) Expectation {
	failed := failedSteps(r)
	n := len(r.Rollback.Steps)
	wantFailed := r.Expect.Rollback == RollbackFailed
	switch {
	case n == 0 && wantFailed:
		return Expectation{ExpectRollback, false, "no rollback ran; a failed rollback was expected"}
	case n == 0:
		return Expectation{ExpectRollback, true, "not applicable: no rollback ran"}
	case len(failed) > 0 && wantFailed:
		return Expectation{ExpectRollback, true, "rollback failed as expected: " + strings.Join(failed, "; ")}
	case len(failed) > 0:
		return Expectation{ExpectRollback, false, "rollback failed: " + strings.Join(failed, "; ")}
	case wantFailed:
		return Expectation{ExpectRollback, false, fmt.Sprintf("all %d rollback %s succeeded; a failed rollback was expected",
			n, plural(int64(n), "step", "steps"))}
	}
	return Expectation{ExpectRollback, true, fmt.Sprintf("all %d rollback %s succeeded", n, plural(int64(n), "step", "steps"))}
}

func withinExpectation(r *Report, name, verb string, seconds *float64, limit float64) Expectation {
	switch {
	case blocked(r):
		// Nothing was exposed; whether the block was right is the outcome
		// expectation's verdict.
		return Expectation{name, true, "not applicable: blocked before the rollout"}
	case nothingToDetect(r):
		return Expectation{name, true, "not applicable: promoted as expected"}
	case seconds == nil:
		return Expectation{name, false, fmt.Sprintf("never %s (limit %s)", verb, secs(limit))}
	case *seconds <= limit:
		return Expectation{name, true, fmt.Sprintf("%s in %s (limit %s)", verb, secs(*seconds), secs(limit))}
	}
	return Expectation{name, false, fmt.Sprintf("%s in %s, %s over the limit of %s",
		verb, secs(*seconds), secs(*seconds-limit), secs(limit))}
}

func round1(v float64) float64 { return math.Round(v*10) / 10 }

// secs formats seconds briefly: 0.1 s resolution from one second up,
// milliseconds below, so that small overruns do not print as "0s".
func secs(v float64) string {
	if math.Abs(v) >= 1 {
		v = round1(v)
	} else {
		v = math.Round(v*1000) / 1000
	}
	return strconv.FormatFloat(v, 'f', -1, 64) + "s"
}

// percent formats a fraction as a percentage with two decimals.
func percent(f float64) string { return strconv.FormatFloat(f*100, 'f', 2, 64) + "%" }

// num formats a float without trailing zeros.
func num(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

func plural(n int64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
