package reports

import (
	"reflect"
	"strings"
	"testing"
)

// base returns a report with every part at full marks: a rolled-back drill
// detected and recovered within its limits, with clean data and hygiene.
// Each test case changes one thing.
func base() *Report {
	return &Report{
		Outcome:          OutcomeRolledBack,
		Expect:           Expect{Outcome: OutcomeRolledBack, DetectWithinSeconds: f64(10), RecoverWithinSeconds: f64(30)},
		DetectionSeconds: f64(2),
		RecoverySeconds:  f64(5),
		Requests:         Requests{Total: 10000},
		Data:             Data{Ledger: Ledger{Acknowledged: 100, Checked: true}, SchemaRestored: boolp(true)},
		Rollback:         Rollback{Steps: []Step{{Name: "route-baseline", OK: true, Changed: true}}, Idempotent: true},
	}
}

// failedRedeploy is the rollback step of a redeploy whose baseline
// artifact fault artifact-missing removed from the store.
var failedRedeploy = Step{Name: "redeploy-baseline", OK: false, Detail: missingDetail}

const missingDetail = "start orders v1 from the artifact store: sha256:ab12 is not in the store (removed by fault artifact-missing)"

func TestScoreParts(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(r *Report)
		part   string // as in Breakdown
		want   float64
		detail string // a substring of the part's detail
	}{
		// Detection: limit 10 s, zero from 40 s.
		{"detection zero seconds", func(r *Report) { r.DetectionSeconds = f64(0) }, "detection", 25, "detected in 0s (limit 10s)"},
		{"detection at limit", func(r *Report) { r.DetectionSeconds = f64(10) }, "detection", 25, "detected in 10s"},
		{"detection midpoint", func(r *Report) { r.DetectionSeconds = f64(25) }, "detection", 12.5, "15s over the limit 10s; 0 at 40s"},
		{"detection linear", func(r *Report) { r.DetectionSeconds = f64(13) }, "detection", 22.5, "3s over"},
		{"detection at 4x", func(r *Report) { r.DetectionSeconds = f64(40) }, "detection", 0, "4x or more"},
		{"detection past 4x", func(r *Report) { r.DetectionSeconds = f64(400) }, "detection", 0, "4x or more"},
		{"detection never", func(r *Report) { r.DetectionSeconds = nil }, "detection", 0, "never detected"},
		{"detection default limit", func(r *Report) {
			r.Expect.DetectWithinSeconds, r.DetectionSeconds = nil, f64(10)
		}, "detection", 25, "limit 10s, the default"},
		{"detection default limit midpoint", func(r *Report) {
			r.Expect.DetectWithinSeconds, r.DetectionSeconds = nil, f64(25)
		}, "detection", 12.5, ""},
		{"detection zero limit met", func(r *Report) {
			r.Expect.DetectWithinSeconds, r.DetectionSeconds = f64(0), f64(0)
		}, "detection", 25, ""},
		{"detection zero limit missed", func(r *Report) {
			r.Expect.DetectWithinSeconds, r.DetectionSeconds = f64(0), f64(0.5)
		}, "detection", 0, "4x or more"},

		// Recovery: limit 30 s, zero from 120 s.
		{"recovery at limit", func(r *Report) { r.RecoverySeconds = f64(30) }, "recovery", 25, "recovered in 30s (limit 30s)"},
		{"recovery midpoint", func(r *Report) { r.RecoverySeconds = f64(75) }, "recovery", 12.5, "45s over"},
		{"recovery at 4x", func(r *Report) { r.RecoverySeconds = f64(120) }, "recovery", 0, ""},
		{"recovery never", func(r *Report) { r.RecoverySeconds = nil }, "recovery", 0, "never recovered"},
		{"recovery with a failed rollback step", func(r *Report) {
			r.Rollback.Steps = append(r.Rollback.Steps, failedRedeploy)
		}, "recovery", 0, "rollback failed: step redeploy-baseline failed: " + missingDetail},
		{"recovery with a failed rollback step, failure expected", func(r *Report) {
			r.Expect.Rollback = RollbackFailed
			r.Rollback.Steps = append(r.Rollback.Steps, failedRedeploy)
		}, "recovery", 0, "rollback failed"},
		{"recovery default limit", func(r *Report) {
			r.Expect.RecoverWithinSeconds, r.RecoverySeconds = nil, f64(75)
		}, "recovery", 12.5, "the default"},

		// Promotion expected and got: nothing to detect, whatever the values.
		{"promoted as expected detection", promotedAsExpected, "detection", 25, "promoted as expected"},
		{"promoted as expected recovery", promotedAsExpected, "recovery", 25, "promoted as expected"},
		{"promoted with no expectation", func(r *Report) {
			promotedAsExpected(r)
			r.Expect.Outcome = ""
		}, "detection", 25, ""},
		// A rollback was expected, the bad canary went through.
		{"wrongly promoted detection", wronglyPromotedEdit, "detection", 0, "promoted, but rolled_back was expected"},
		{"wrongly promoted recovery", wronglyPromotedEdit, "recovery", 0, "promoted, but rolled_back was expected"},
		{"abort expected, promoted", func(r *Report) {
			wronglyPromotedEdit(r)
			r.Expect.Outcome = OutcomeAborted
		}, "detection", 0, "aborted was expected"},
		// Promotion expected but the drill rolled back: scored on the values.
		{"false rollback measured", func(r *Report) { r.Expect.Outcome = OutcomePromoted }, "detection", 25, "detected in 2s"},
		{"false rollback unmeasured", func(r *Report) {
			r.Expect.Outcome, r.DetectionSeconds = OutcomePromoted, nil
		}, "detection", 0, "never detected"},

		// Blast radius: 10000 requests, zero from 100 excess.
		{"blast none", func(r *Report) {}, "blast_radius", 20, "no excess failed requests among 10000"},
		{"blast one", func(r *Report) { r.Requests.ExcessFailed = 1 }, "blast_radius", 19.8, "1 excess failed of 10000 requests (0.01%; 0 at 1%)"},
		{"blast midpoint", func(r *Report) { r.Requests.ExcessFailed = 50 }, "blast_radius", 10, "(0.50%; 0 at 1%)"},
		{"blast at 1%", func(r *Report) { r.Requests.ExcessFailed = 100 }, "blast_radius", 0, ""},
		{"blast past 1%", func(r *Report) { r.Requests.ExcessFailed = 5000 }, "blast_radius", 0, ""},
		{"blast negative excess", func(r *Report) { r.Requests.ExcessFailed = -3 }, "blast_radius", 20, ""},
		{"no requests scores nothing", func(r *Report) { r.Requests = Requests{} }, "blast_radius", 0, "sent no traffic"},

		// Data integrity.
		{"data clean", func(r *Report) {
			r.Data.Invariants = []Invariant{{Name: "totals-match", OK: true}}
		}, "data_integrity", 20, "all 100 acknowledged writes intact, schema restored, 1 invariant holds"},
		{"data lost", func(r *Report) { r.Data.Ledger.Lost = 1 }, "data_integrity", 0, "1 acknowledged write lost"},
		{"data changed", func(r *Report) { r.Data.Ledger.Changed = 2 }, "data_integrity", 0, "2 acknowledged writes changed"},
		{"data schema not restored", func(r *Report) { r.Data.SchemaRestored = boolp(false) }, "data_integrity", 0, "schema not restored"},
		{"data schema not checked", func(r *Report) { r.Data.SchemaRestored = nil }, "data_integrity", 20, "schema not checked"},
		{"data ledger not checked", func(r *Report) { r.Data.Ledger = Ledger{} }, "data_integrity", 20, "ledger not checked"},
		{"data duplicated only", func(r *Report) { r.Data.Ledger.Duplicated = 3 }, "data_integrity", 10, "3 writes duplicated"},
		{"data invariant only", func(r *Report) {
			r.Data.Invariants = []Invariant{{Name: "totals-match", Value: 4}}
		}, "data_integrity", 10, "invariant totals-match failed (value 4, expected 0)"},
		{"data duplicated and lost", func(r *Report) {
			r.Data.Ledger.Duplicated, r.Data.Ledger.Lost = 1, 1
		}, "data_integrity", 0, "lost; 1 write duplicated"},
		{"data indeterminate only", func(r *Report) { r.Data.Ledger.Indeterminate = 9 }, "data_integrity", 20, ""},

		// Hygiene.
		{"hygiene clean", func(r *Report) {
			r.Faults = []Fault{{Name: "f", AppliedAt: atp(1), RevertedAt: atp(2)}}
		}, "hygiene", 10, "rollback idempotent"},
		{"hygiene no rollback", func(r *Report) {
			r.Rollback = Rollback{} // Idempotent false does not matter without a rollback
		}, "hygiene", 10, "no rollback ran"},
		{"hygiene not idempotent", func(r *Report) { r.Rollback.Idempotent = false }, "hygiene", 5, "not idempotent"},
		{"hygiene leftover", func(r *Report) { r.Leftovers = []string{"pid 1"} }, "hygiene", 0, "1 thing left behind"},
		{"hygiene unreverted", func(r *Report) {
			r.Faults = []Fault{{Name: "slow", AppliedAt: atp(1)}}
		}, "hygiene", 0, "fault not reverted: slow"},
		{"hygiene never applied", func(r *Report) {
			r.Faults = []Fault{{Name: "late"}}
		}, "hygiene", 10, ""},
		{"hygiene leftover and not idempotent", func(r *Report) {
			r.Leftovers, r.Rollback.Idempotent = []string{"x"}, false
		}, "hygiene", 0, "not idempotent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := base()
			tt.edit(r)
			var got *Part
			for _, p := range Score(r).Breakdown() {
				if p.Name == tt.part {
					got = &p
				}
			}
			if got == nil {
				t.Fatalf("no part %q in the breakdown", tt.part)
			}
			if got.Points != tt.want {
				t.Errorf("points = %v, want %v (%s)", got.Points, tt.want, got.Detail)
			}
			if !strings.Contains(got.Detail, tt.detail) {
				t.Errorf("detail = %q, want it to contain %q", got.Detail, tt.detail)
			}
		})
	}
}

func promotedAsExpected(r *Report) {
	r.Outcome, r.Expect.Outcome = OutcomePromoted, OutcomePromoted
	r.DetectionSeconds, r.RecoverySeconds = nil, nil
	r.Rollback = Rollback{}
}

func wronglyPromotedEdit(r *Report) {
	r.Outcome = OutcomePromoted
	r.Rollback = Rollback{}
}

func TestScoreTotal(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(r *Report)
		total int
		grade string
	}{
		{"all full", func(r *Report) {}, 100, "A"},
		// 12.5 + 25 + 20 + 20 + 10 = 87.5, rounded half up.
		{"half point rounds up", func(r *Report) { r.DetectionSeconds = f64(25) }, 88, "B"},
		// 12.5 + 12.5 + 20 + 20 + 10 = 75.
		{"two halves", func(r *Report) {
			r.DetectionSeconds, r.RecoverySeconds = f64(25), f64(75)
		}, 75, "C"},
		// 0 + 0 + 20 + 10 + 5 = 35.
		{"mixed", func(r *Report) {
			r.DetectionSeconds, r.RecoverySeconds = nil, nil
			r.Data.Ledger.Duplicated = 1
			r.Rollback.Idempotent = false
		}, 35, "F"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := base()
			tt.edit(r)
			s := Score(r)
			if s.Total != tt.total || s.Grade != tt.grade {
				t.Errorf("total, grade = %d, %s; want %d, %s (parts %+v)", s.Total, s.Grade, tt.total, tt.grade, s.Parts)
			}
			if s.Formula != Formula {
				t.Error("Score did not set the formula")
			}
		})
	}
}

func TestScoreDoesNotModifyReport(t *testing.T) {
	r := base()
	want := base()
	Score(r)
	if !reflect.DeepEqual(r, want) {
		t.Error("Score modified its report")
	}
}

func TestGrade(t *testing.T) {
	tests := []struct {
		total int
		want  string
	}{
		{100, "A"}, {90, "A"}, {89, "B"}, {80, "B"}, {79, "C"}, {70, "C"},
		{69, "D"}, {60, "D"}, {59, "F"}, {0, "F"},
	}
	for _, tt := range tests {
		if got := Grade(tt.total); got != tt.want {
			t.Errorf("Grade(%d) = %s, want %s", tt.total, got, tt.want)
		}
	}
}

func TestEvaluate(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(r *Report)
		want   []Expectation
		passed bool
	}{
		{
			name: "all met",
			edit: func(r *Report) { r.Expect.MinScore = intp(80); r.DetectionSeconds = f64(2.4) },
			want: []Expectation{
				{"outcome", true, "rolled_back as expected"},
				{"detect_within", true, "detected in 2.4s (limit 10s)"},
				{"recover_within", true, "recovered in 5s (limit 30s)"},
				{"min_score", true, "score 100 (A), minimum 80"},
				{"rollback", true, "all 1 rollback step succeeded"},
			},
			passed: true,
		},
		{
			name: "late and low",
			edit: func(r *Report) {
				r.Expect.MinScore = intp(98)
				r.DetectionSeconds, r.RecoverySeconds = f64(14.2), f64(30.05)
			},
			want: []Expectation{
				{"outcome", true, "rolled_back as expected"},
				{"detect_within", false, "detected in 14.2s, 4.2s over the limit of 10s"},
				{"recover_within", false, "recovered in 30.1s, 0.05s over the limit of 30s"},
				{"min_score", false, "score 97 (A), 1 below the minimum 98"},
				{"rollback", true, "all 1 rollback step succeeded"},
			},
		},
		{
			name: "wrongly promoted",
			edit: wronglyPromotedEdit,
			want: []Expectation{
				{"outcome", false, "promoted, expected rolled_back"},
				{"detect_within", true, "detected in 2s (limit 10s)"},
				{"recover_within", true, "recovered in 5s (limit 30s)"},
			},
		},
		{
			name: "never detected",
			edit: func(r *Report) { r.DetectionSeconds, r.RecoverySeconds = nil, nil },
			want: []Expectation{
				{"outcome", true, "rolled_back as expected"},
				{"detect_within", false, "never detected (limit 10s)"},
				{"recover_within", false, "never recovered (limit 30s)"},
				{"rollback", true, "all 1 rollback step succeeded"},
			},
		},
		{
			name: "promoted as expected",
			edit: promotedAsExpected,
			want: []Expectation{
				{"outcome", true, "promoted as expected"},
				{"detect_within", true, "not applicable: promoted as expected"},
				{"recover_within", true, "not applicable: promoted as expected"},
			},
			passed: true,
		},
		{
			name: "no outcome at all",
			edit: func(r *Report) {
				r.Outcome = ""
				r.Expect.DetectWithinSeconds, r.Expect.RecoverWithinSeconds = nil, nil
			},
			want: []Expectation{{"outcome", false, "no outcome, expected rolled_back"}, {"rollback", true, "all 1 rollback step succeeded"}},
		},
		{
			name:   "nothing expected",
			edit:   func(r *Report) { r.Expect, r.Rollback = Expect{}, Rollback{} },
			want:   []Expectation{},
			passed: true,
		},
		{
			name: "rollback ran, nothing else expected",
			edit: func(r *Report) { r.Expect = Expect{} },
			want: []Expectation{
				{"rollback", true, "all 1 rollback step succeeded"},
			},
			passed: true,
		},
		{
			name: "a rollback step failed",
			edit: func(r *Report) { r.Expect = Expect{}; r.Rollback.Steps = append(r.Rollback.Steps, failedRedeploy) },
			want: []Expectation{
				{"rollback", false, "rollback failed: step redeploy-baseline failed: " + missingDetail},
			},
		},
		{
			name: "a rollback step failed, as expected",
			edit: func(r *Report) {
				r.Expect = Expect{Rollback: RollbackFailed}
				r.Rollback.Steps = append(r.Rollback.Steps, failedRedeploy)
			},
			want: []Expectation{
				{"rollback", true, "rollback failed as expected: step redeploy-baseline failed: " + missingDetail},
			},
			passed: true,
		},
		{
			name: "a failed rollback expected, every step ok",
			edit: func(r *Report) { r.Expect = Expect{Rollback: RollbackFailed} },
			want: []Expectation{
				{"rollback", false, "all 1 rollback step succeeded; a failed rollback was expected"},
			},
		},
		{
			name: "a failed rollback expected, none ran",
			edit: func(r *Report) { r.Expect, r.Rollback = Expect{Rollback: RollbackFailed}, Rollback{} },
			want: []Expectation{{"rollback", false, "no rollback ran; a failed rollback was expected"}},
		},
		{
			name:   "ok expected, none ran",
			edit:   func(r *Report) { r.Expect, r.Rollback = Expect{Rollback: RollbackOK}, Rollback{} },
			want:   []Expectation{{"rollback", true, "not applicable: no rollback ran"}},
			passed: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := base()
			tt.edit(r)
			Evaluate(r)
			if !reflect.DeepEqual(r.Expectations, tt.want) {
				t.Errorf("expectations:\n got %+v\nwant %+v", r.Expectations, tt.want)
			}
			if r.Passed != tt.passed {
				t.Errorf("passed = %v, want %v", r.Passed, tt.passed)
			}
			if !reflect.DeepEqual(r.Score, Score(r)) {
				t.Errorf("score not stored: %+v", r.Score)
			}
		})
	}
}
