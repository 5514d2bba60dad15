package reports

import (
	"strings"
	"time"
)

// t0 is the fixed clock of every test report, so golden files never change
// with the time of day.
var t0 = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

func at(sec float64) time.Time { return t0.Add(time.Duration(sec * float64(time.Second))) }
func atp(sec float64) *time.Time {
	t := at(sec)
	return &t
}
func f64(v float64) *float64 { return &v }
func intp(v int) *int        { return &v }
func boolp(v bool) *bool     { return &v }

// rolledBackReport is a complete report of a drill that went as planned:
// a slow canary detected in 2.4 s and rolled back, with a little excess
// failure and a clean rollback.
func rolledBackReport() *Report {
	r := &Report{
		SchemaVersion: SchemaVersion,
		Scenario:      "orders-canary-latency",
		Description:   "orders v2 slows down when pricing is slow; roll back at 10%.",
		RunID:         "orders-canary-latency-20261101T120000Z",
		Provider:      "process",
		Seed:          42,
		StartedAt:     t0,
		EndedAt:       at(65.25),
		Outcome:       OutcomeRolledBack,
		Expect: Expect{
			Outcome:              OutcomeRolledBack,
			DetectWithinSeconds:  f64(10),
			RecoverWithinSeconds: f64(30),
			MinScore:             intp(80),
		},
		ExposureAt:       atp(20),
		DetectedAt:       atp(22.4),
		RecoveredAt:      atp(34.7),
		DetectionSeconds: f64(2.4),
		RecoverySeconds:  f64(12.3),
		Requests: Requests{Total: 12000, Failed: 36, ExcessFailed: 12, BaselineFailureRate: 0.002,
			ExposedTotal: 8000, ExposedFailed: 28, ExcludedTotal: 4000, ExcludedFailed: 8, ExcludedReason: "warm-up and steady state"},
		Data: Data{
			Ledger:         Ledger{Acknowledged: 8950, Indeterminate: 3, Checked: true},
			SchemaRestored: boolp(true),
			Invariants:     []Invariant{{Name: "totals-match", Value: 0, OK: true}},
		},
		Faults: []Fault{
			{Name: "slow-pricing", Kind: "latency", Target: "pricing", AppliedAt: atp(20), RevertedAt: atp(22.6),
				Effective: boolp(true), Measured: "p99 +212ms"},
			{Name: "pricing-errors", Kind: "error", Target: "pricing.v2", AppliedAt: nil, RevertedAt: nil},
		},
		Rollback: Rollback{
			Steps: []Step{
				{Name: "route-baseline", OK: true, Changed: true, Detail: "canary weight 10% -> 0%", At: at(22.5)},
				{Name: "revert-faults", OK: true, Changed: true, Detail: "reverted slow-pricing", At: at(22.6)},
				{Name: "stop-canary", OK: true, Changed: true, Detail: "stopped orders-v2-0", At: at(22.9)},
				{Name: "migrate-down", OK: true, Changed: true, Detail: "ordersdb 2 -> 1", At: at(23.3)},
				{Name: "restore-flags", OK: true, Changed: false, Detail: "no flags changed", At: at(23.3)},
				{Name: "verify", OK: true, Changed: false, Detail: "recovery window passed; ledger, schema, invariants hold", At: at(34.7)},
			},
			Idempotent: true,
			Rerun: []Step{
				{Name: "route-baseline", OK: true, Detail: "already 0%", At: at(35)},
			},
		},
		Decision: &Decision{
			At: at(22.4), Verdict: "rollback",
			Reason:   "latency_p99 canary/baseline 2.1 > max_ratio 1.5 (SPRT, 24 windows)",
			Evidence: map[string]any{"metric": "latency_p99", "ratio": 2.1, "llr": 4.7},
		},
		SteadyState: SteadyState{OK: true, Detail: "error_rate 0.20% <= 1%, latency_p99 41ms <= 250ms",
			Baseline: map[string]float64{"error_rate": 0.002, "latency_p99": 41}},
		Leftovers: []string{},
		Artifacts: []Artifact{
			{Service: "orders", Version: "v1", Kind: "binary", Ref: "/tmp/drill-x/bin/fixtures_orders", Digest: "sha256:" + strings.Repeat("ab", 32)},
			{Service: "orders", Version: "v2", Kind: "binary", Ref: "/tmp/drill-x/bin/fixtures_orders", Digest: "sha256:" + strings.Repeat("ab", 32)},
		},
		Contracts: []ContractResult{
			{Contract: "orders-reads-price", ProviderVersion: "v1", ConsumerVersion: "v1", Phase: PhaseBefore, OK: true, Checked: 1},
			{Contract: "orders-reads-price", ProviderVersion: "v1", ConsumerVersion: "v2", Phase: PhaseDuring, Checked: 840, Failed: 20,
				Detail: "GET /price?sku=SKU-9&qty=1: status 500, want 200 (body \"{\\\"error\\\":\\\"injected\\\"}\")"},
			{Contract: "orders-reads-price", ProviderVersion: "v1", ConsumerVersion: "v1", Phase: PhaseAfter, OK: true, Checked: 1},
		},
		Compatibility: []Compatibility{
			NewCompatibility("orders", "v1", "pricing", "v1", 7160, 8),
			NewCompatibility("orders", "v2", "pricing", "v1", 840, 20),
		},
		Timeline: []Event{
			{T: at(0), ElapsedSeconds: 0, Event: "run.start", Fields: map[string]any{"seed": float64(42)}},
			{T: at(20), ElapsedSeconds: 20, Event: "fault.applied", Fields: map[string]any{"fault": "slow-pricing"}},
			{T: at(22.4), ElapsedSeconds: 22.4, Event: "decision.rollback", Fields: map[string]any{"metric": "latency_p99"}},
		},
		Series: map[string]map[string][]SeriesPoint{
			"orders": {
				"baseline": {{Start: at(20), Requests: 180, Failed: 0, ErrorRate: 0, Throughput: 180,
					P50Ms: 12, P90Ms: 25, P95Ms: 31, P99Ms: 40, MaxMs: 52}},
				"canary": {{Start: at(20), Requests: 20, Failed: 1, ErrorRate: 0.05, Throughput: 20,
					P50Ms: 210, P90Ms: 240, P95Ms: 251, P99Ms: 268, MaxMs: 270}},
			},
		},
		RunDir: ".drill/runs/orders-canary-latency-20261101T120000Z",
		// A game day: the judge advised, alice noted, bob rolled back
		// (and a second rollback was refused).
		GameDay: &GameDay{Judge: "advisory", HiddenFaults: true, Operators: []string{"alice", "bob"},
			Actions: []OperatorAction{
				{At: at(21), ElapsedSeconds: 21, As: "alice", Command: "note", Arg: "v2 p99 | climbing", Via: "dashboard", Applied: true, Effect: "noted"},
				{At: at(22.5), ElapsedSeconds: 22.5, As: "bob", Command: "rollback", Via: "ctl", Applied: true, Effect: "rollback ordered"},
				{At: at(23), ElapsedSeconds: 23, As: "bob", Command: "rollback", Via: "ctl", Applied: false, Effect: "rollback was ordered already by bob"},
			},
			Human:         ResponseTimes{AcknowledgeSeconds: f64(3), DetectSeconds: f64(4.5), RecoverSeconds: f64(10.5)},
			JudgeTimes:    ResponseTimes{AcknowledgeSeconds: f64(2), DetectSeconds: f64(2), RecoverSeconds: f64(8), Estimated: true},
			JudgeDecision: &Decision{At: at(20), Verdict: "rollback", Reason: "latency_p99 ratio 6.7 > 1.5"},
		},
	}
	Evaluate(r)
	return r
}

// failedReport is a drill that went wrong everywhere: the bad canary was
// promoted, data was lost, a fault stayed in place and a process was left
// running.
func failedReport() *Report {
	r := &Report{
		SchemaVersion: SchemaVersion,
		Scenario:      "orders-migration-failure",
		RunID:         "orders-migration-failure-20261101T120000Z",
		Provider:      "docker",
		Seed:          7,
		StartedAt:     t0,
		EndedAt:       at(40),
		Outcome:       OutcomePromoted,
		Interrupted:   true,
		Error:         "revert fault \"db-partition\": proxy not reachable",
		Expect:        Expect{Outcome: OutcomeRolledBack, DetectWithinSeconds: f64(5), MinScore: intp(80)},
		ExposureAt:    atp(10),
		Requests:      Requests{Total: 4000, Failed: 400, ExcessFailed: 392, BaselineFailureRate: 0.002, ExposedTotal: 4000, ExposedFailed: 400},
		Data: Data{
			Ledger:         Ledger{Acknowledged: 2900, Lost: 4, Changed: 1, Duplicated: 2, Checked: true},
			SchemaRestored: boolp(false),
			SchemaVersion:  "3 (dirty)",
			SchemaDiff:     []string{"+ column orders.status text null", "+ table order_events"},
			Invariants: []Invariant{{Name: "totals-match", Value: 17, OK: false},
				{Name: "no-negative", Error: "SQL logic error: no such table: ledger (1)", OK: false}},
		},
		Faults: []Fault{
			{Name: "db-partition", Kind: "partition", Target: "ordersdb", AppliedAt: atp(10), Effective: boolp(false)},
		},
		Leftovers: []string{"process orders-v2-0 (pid 4242)", "fault db-partition"},
	}
	Evaluate(r)
	return r
}
