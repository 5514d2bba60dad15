package reports

// promotedReport is a clean drill that promoted as expected: a steady
// state, three canary steps with a harmless fault, no rollback, and a full
// journal and series, so that the markdown renderer splits metrics by step.
func promotedReport() *Report {
	ev := event
	pt := func(sec float64, req, failed int64, p99 float64) SeriesPoint {
		return SeriesPoint{Start: at(sec), Requests: req, Failed: failed, ErrorRate: float64(failed) / float64(req),
			Throughput: float64(req) / 5, P50Ms: p99 / 3, P90Ms: p99 / 2, P95Ms: p99 * 0.8, P99Ms: p99, MaxMs: p99 * 1.2}
	}
	r := &Report{
		SchemaVersion: SchemaVersion,
		Scenario:      "checkout-canary-promote",
		Description:   "checkout v2 with a mild pricing delay; it should promote through three steps.",
		RunID:         "checkout-canary-promote-20261101T120000Z",
		Provider:      "process",
		Seed:          11,
		StartedAt:     t0,
		EndedAt:       at(50),
		Outcome:       OutcomePromoted,
		Expect:        Expect{Outcome: OutcomePromoted, DetectWithinSeconds: f64(10), MinScore: intp(90)},
		ExposureAt:    atp(10),
		Requests: Requests{Total: 9000, Failed: 9, ExcessFailed: 0, BaselineFailureRate: 0.001,
			ExposedTotal: 6000, ExposedFailed: 6, ExcludedTotal: 3000, ExcludedFailed: 3, ExcludedReason: "warm-up and steady state"},
		Data: Data{
			Ledger:     Ledger{Acknowledged: 6000, Checked: true},
			Invariants: []Invariant{{Name: "totals-match", Value: 0, Expect: 0, OK: true}},
		},
		Faults: []Fault{
			{Name: "mild-delay", Kind: "latency", Target: "pricing", AppliedAt: atp(10), RevertedAt: atp(40),
				Effective: boolp(true), Measured: "p99 +20ms"},
		},
		Decision: &Decision{At: at(40), Verdict: "promote", Reason: "every check passed for 3 steps",
			Evidence: map[string]any{"failed_checks": 0, "checks": map[string]any{
				"latency_p99": map[string]any{"ratio": 1.1234567, "max_ratio": 1.5, "ok": true},
				"error_rate":  map[string]any{"canary": 0.001, "max": 0.01, "ok": true}}}},
		SteadyState: SteadyState{OK: true, Detail: "error_rate 0.10% <= 1%",
			Baseline: map[string]float64{"error_rate": 0.001, "latency_p99": 38}},
		Leftovers: []string{},
		Timeline: []Event{
			ev(0, "run.start", "seed", 11),
			ev(1, "steady_state.start"),
			ev(4, "steady_state.attempt", "attempt", 1, "ok", true, "detail", "error_rate 0.10% <= 1%"),
			ev(4.5, "migrate.baseline.done", "version", 1, "changed", false),
			ev(10, "step.start", "step", 1, "weight", 0.1, "hold", "10s"),
			ev(10, "exposure", "note", "T0: first bad-release or fault exposure"),
			ev(10, "fault.apply", "fault", "mild-delay", "kind", "latency", "target", "pricing"),
			ev(10.1, "fault.applied", "fault", "mild-delay"),
			ev(15, "analysis", "verdict", "continue", "reason", "all checks pass"),
			ev(20, "step.end", "step", 1),
			ev(20, "step.start", "step", 2, "weight", 0.5, "hold", "10s"),
			ev(20.2, "migrate.canary.start", "service", "checkout", "database", "checkoutdb", "to", 2),
			ev(20.9, "migrate.canary.done", "version", 2, "changed", true),
			ev(30, "step.end", "step", 2),
			ev(30, "step.start", "step", 3, "weight", 1.0, "hold", "10s"),
			ev(40, "decision.promote", "reason", "every check passed for 3 steps"),
			ev(40, "fault.revert", "fault", "mild-delay", "reason", "drill over"),
			ev(40.1, "fault.reverted", "fault", "mild-delay"),
			ev(40.3, "fault.effect", "fault", "mild-delay", "effective", true, "measured", "p99 +20ms"),
			ev(41, "schema.check", "skipped", "promoted: the schema is the new version's by design"),
			ev(42, "invariant.check", "invariant", "totals-match", "value", 0.0, "expect", 0.0, "ok", true, "error", ""),
			ev(43, "ledger.check.done", "acknowledged", 6000, "lost", 0, "changed", 0, "duplicated", 0,
				"indeterminate", 0, "examples", []string{}),
		},
		Series: map[string]map[string][]SeriesPoint{
			"checkout": {
				"baseline": {pt(0, 500, 0, 38), pt(5, 500, 1, 40), pt(10, 450, 0, 58), pt(15, 450, 1, 60),
					pt(20, 250, 0, 59), pt(25, 250, 0, 61), pt(30, 10, 0, 40)},
				"canary": {pt(10, 50, 0, 60), pt(15, 50, 0, 62), pt(20, 250, 1, 63), pt(25, 250, 0, 65),
					pt(30, 500, 1, 64), pt(35, 500, 0, 66)},
			},
			"resources:checkout": {
				"v2": {{Start: at(10), CPU: 0.4, RSS: 52e6}},
			},
		},
		RunDir: ".drill/runs/checkout-canary-promote-20261101T120000Z",
	}
	Evaluate(r)
	return r
}
