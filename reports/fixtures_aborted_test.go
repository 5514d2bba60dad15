package reports

// abortedReport is a drill an operator stopped with Ctrl-C during the
// canary's first step: the safe abort put the traffic back on the baseline,
// reverted the fault and stopped the canary, and the report says the
// expected rollback was never decided.
func abortedReport() *Report {
	ev := event
	pt := func(sec float64, req, failed int64, p99 float64) SeriesPoint {
		return SeriesPoint{Start: at(sec), Requests: req, Failed: failed, ErrorRate: float64(failed) / float64(req),
			Throughput: float64(req), P50Ms: p99 / 4, P90Ms: p99 / 2, P95Ms: p99 * 0.7, P99Ms: p99, MaxMs: p99 * 1.3}
	}
	var v1, v2 []SeriesPoint
	for s := 2; s < 30; s++ {
		req := int64(200)
		if s >= 14 && s < 21 {
			req = 180 // 10% to the canary
			v2 = append(v2, pt(float64(s), 20, int64(s%3), 35+float64(s)))
		}
		v1 = append(v1, pt(float64(s), req, 0, 2+float64(s%4)))
	}
	r := &Report{
		SchemaVersion: SchemaVersion,
		Scenario:      "orders-canary-errors",
		Description:   "orders v2 fails 5% of its requests; the canary must be rolled back at 10%.",
		RunID:         "orders-canary-errors-20261101T120000Z",
		Provider:      "docker",
		Seed:          3,
		StartedAt:     t0,
		EndedAt:       at(30),
		Outcome:       OutcomeAborted,
		Interrupted:   true,
		Error:         "interrupted",
		Expect:        Expect{Outcome: OutcomeRolledBack, DetectWithinSeconds: f64(10), MinScore: intp(80)},
		ExposureAt:    atp(14),
		Requests: Requests{Total: 5600, Failed: 7, ExcessFailed: 5, BaselineFailureRate: 0.0004,
			ExposedTotal: 1600, ExposedFailed: 6, ExcludedTotal: 4000, ExcludedFailed: 1, ExcludedReason: "warm-up and steady state"},
		Data: Data{
			Ledger:         Ledger{Acknowledged: 4100, Indeterminate: 1, Checked: true},
			SchemaRestored: boolp(true),
			SchemaVersion:  "1",
			Invariants:     []Invariant{},
		},
		Faults: []Fault{
			{Name: "db-latency", Kind: "latency", Target: "ordersdb", AppliedAt: atp(15), RevertedAt: atp(21.1),
				Effective: boolp(true), Measured: "added 30ms mean (configured 30ms ±10%)"},
		},
		Rollback: Rollback{
			Steps: []Step{
				{Name: "route-to-baseline", OK: true, Changed: true, Detail: "100% to v1 (was 10% to v2)", At: at(21)},
				{Name: "revert-faults", OK: true, Changed: true, Detail: "reverted db-latency", At: at(21.1)},
				{Name: "stop-canary", OK: true, Changed: true, Detail: "stopped orders-v2", At: at(21.4)},
				{Name: "migrate-to-baseline", OK: true, Changed: true, Detail: "schema 2 -> 1", At: at(21.5)},
				{Name: "restore-flags", OK: true, Changed: false, Detail: "no feature flags in this scenario", At: at(21.5)},
			},
			Idempotent: true,
			Rerun: []Step{
				{Name: "route-to-baseline", OK: true, Detail: "already 100% to v1", At: at(21.6)},
			},
		},
		SteadyState: SteadyState{OK: true, Detail: "error_rate 0.04% <= 1%, latency_p99 4.1ms <= 250ms",
			Baseline: map[string]float64{"error_rate": 0.0004, "latency_p99": 0.0041}},
		Leftovers: []string{},
		Timeline: []Event{
			ev(0, "run.start", "seed", 3),
			ev(4, "steady_state.start", "attempt", 1, "attempts", 3, "duration", "10s"),
			ev(14, "steady_state.attempt", "attempt", 1, "ok", true, "detail", "error_rate 0.04% <= 1%, latency_p99 4.1ms <= 250ms"),
			ev(14, "rollout.start", "service", "orders", "from", "v1", "to", "v2", "strategy", "canary"),
			ev(14, "exposure", "note", "T0: first bad-release or fault exposure"),
			ev(14, "migrate.canary.done", "version", 2, "changed", true),
			ev(14.1, "step.start", "step", 1, "weight", 0.1, "hold", "30s"),
			ev(15, "fault.applied", "fault", "db-latency"),
			ev(16, "analysis", "verdict", "continue", "reason", "no test has enough evidence against the canary"),
			ev(21, "interrupted", "signal", "interrupt"),
			ev(21, "abort.start", "reason", "interrupted"),
			ev(21, "rollback.step", "step", "route-to-baseline", "ok", true, "changed", true, "detail", "100% to v1 (was 10% to v2)"),
			ev(21.1, "fault.reverted", "fault", "db-latency"),
			ev(21.1, "fault.effect", "fault", "db-latency", "effective", true, "measured", "added 30ms mean (configured 30ms ±10%)"),
			ev(21.5, "abort.done"),
			ev(29.5, "ledger.check.done", "acknowledged", 4100, "lost", 0, "changed", 0, "duplicated", 0, "indeterminate", 1),
			ev(29.6, "schema.check", "restored", true, "version", "1"),
		},
		Series: map[string]map[string][]SeriesPoint{
			"router:orders": {"v1": v1, "v2": v2},
			"resources:orders": {
				"v1": {{Start: at(14), CPU: 0.2, RSS: 31e6}},
				"v2": {{Start: at(14), CPU: 0.3, RSS: 33e6}},
			},
		},
		RunDir: ".drill/runs/orders-canary-errors-20261101T120000Z",
	}
	Evaluate(r)
	return r
}
