package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/drillhq/drill/reports"
)

// checkReleaseRollback: pricing v2 broke its error bound, both services
// were rolled back in reverse release order (orders, the consumer, first),
// the matrix shows orders v1 calling pricing v2 and failing, and the
// contract held before (v1, v2: a 5xx is no contract answer) and after.
func checkReleaseRollback(t *testing.T, rep *reports.Report, dir string) {
	ledgerIntact(t, rep, dir)
	if rep.Decision == nil || !strings.HasPrefix(rep.Decision.Reason, "pricing: ") {
		t.Errorf("decision %+v: want pricing's judge to roll the release back", rep.Decision)
	}
	if r := rep.Release; r == nil || len(r.Services) != 2 || r.Services[0].Service != "pricing" || r.Services[1].Service != "orders" {
		t.Fatalf("release %+v: want pricing then orders", rep.Release)
	}
	reverseOrder(t, rep, "orders", "pricing")
	var v1v2 *reports.Compatibility
	for i, c := range rep.Compatibility {
		if c.Consumer == "orders" && c.ConsumerVersion == "v1" && c.Provider == "pricing" && c.ProviderVersion == "v2" {
			v1v2 = &rep.Compatibility[i]
		}
	}
	if v1v2 == nil || v1v2.Requests == 0 || v1v2.Failed == 0 {
		t.Errorf("compatibility %+v: want orders v1 -> pricing v2 carrying traffic and failing", rep.Compatibility)
	}
	phases := map[string]bool{}
	for _, c := range rep.Contracts {
		if c.Phase != reports.PhaseDuring && !c.OK {
			t.Errorf("contract result %+v: want the contract to hold before and after", c)
		}
		phases[c.Phase] = true
	}
	if !phases[reports.PhaseBefore] || !phases[reports.PhaseAfter] || !phases[reports.PhaseDuring] {
		t.Errorf("contract phases %v: want before, during and after", phases)
	}
}

// reverseOrder: every per-service rollback step ran for the services in
// the order given (the reverse of the release's), and every step was ok.
func reverseOrder(t *testing.T, rep *reports.Report, services ...string) {
	t.Helper()
	byStep := map[string][]string{}
	for _, s := range rep.Rollback.Steps {
		if !s.OK {
			t.Errorf("rollback step %s failed: %s", s.Label(), s.Detail)
		}
		if s.Service != "" {
			byStep[s.Name] = append(byStep[s.Name], s.Service)
		}
	}
	for _, name := range []string{"route-to-baseline", "stop-canary", "migrate-to-baseline"} {
		if got := strings.Join(byStep[name], ","); got != strings.Join(services, ",") {
			t.Errorf("%s ran for %q, want %q (reverse release order)", name, got, strings.Join(services, ","))
		}
	}
	for _, s := range rep.Rollback.Rerun {
		if s.Changed || !s.OK {
			t.Errorf("rerun step %s changed something: %s", s.Label(), s.Detail)
		}
	}
}

// checkContractBlocked: pricing v3 broke the contract before any traffic
// moved: blocked, no request reached a new version, v1 met the contract.
func checkContractBlocked(t *testing.T, rep *reports.Report, dir string) {
	ledgerIntact(t, rep, dir)
	var v1, v3 bool
	for _, c := range rep.Contracts {
		switch {
		case c.Phase == reports.PhaseBefore && c.ProviderVersion == "v1":
			v1 = c.OK
		case c.Phase == reports.PhaseBefore && c.ProviderVersion == "v3":
			v3 = !c.OK && strings.Contains(c.Detail, "total_cents")
		}
	}
	if !v1 || !v3 {
		t.Errorf("contracts %+v: want v1 holding and v3 failing on total_cents before the rollout", rep.Contracts)
	}
	for _, c := range rep.Compatibility {
		if c.ProviderVersion != "v1" || c.ConsumerVersion != "v1" {
			t.Errorf("compatibility cell %+v: no traffic may reach a new version of a blocked release", c)
		}
	}
	if rep.Requests.Failed != 0 || rep.ExposureAt != nil {
		t.Errorf("%d failed, exposure %v: a blocked release exposes nothing", rep.Requests.Failed, rep.ExposureAt)
	}
}

// checkStages: staging promoted and was left so, production rolled back,
// and both rolled out the one digest of orders v2.
func checkStages(t *testing.T, rep *reports.Report, dir string) {
	ledgerIntact(t, rep, dir)
	if len(rep.Stages) != 2 {
		t.Fatalf("stages %+v: want staging and production", rep.Stages)
	}
	st, prod := rep.Stages[0], rep.Stages[1]
	if st.Name != "staging" || st.Outcome != reports.OutcomePromoted || st.Left != "promoted" || st.Ledger.Lost != 0 || st.Ledger.Acknowledged == 0 {
		t.Errorf("staging %+v: want promoted, left promoted, its writes intact", st)
	}
	if prod.Name != "production" || prod.Outcome != reports.OutcomeRolledBack || prod.Left != "rolled back" {
		t.Errorf("production %+v: want rolled back", prod)
	}
	if len(st.Released) != 1 || len(prod.Released) != 1 || st.Released[0].Digest == "" || st.Released[0].Digest != prod.Released[0].Digest {
		t.Errorf("released %+v then %+v: want one orders v2 digest in both stages", st.Released, prod.Released)
	}
	if rep.Decision == nil || !strings.Contains(rep.Decision.Reason, "latency") {
		t.Errorf("decision %+v: want production's latency", rep.Decision)
	}
	// Each stage had its own environment: its own ledger.
	for _, s := range rep.Stages {
		if _, err := os.Stat(filepath.Join(dir, "stages", s.Name, "ledger.jsonl")); err != nil {
			t.Errorf("stage %s: %v", s.Name, err)
		}
	}
}

// checkArtifactMissing: the redeploy from the store failed loudly (step
// not ok, the reason in it, recovery scored 0) and traffic still went
// back to the running baseline.
func checkArtifactMissing(t *testing.T, rep *reports.Report, dir string) {
	ledgerIntact(t, rep, dir)
	steps := rep.Rollback.Steps
	if len(steps) == 0 || steps[0].Name != "route-to-baseline" || steps[0].OK || !strings.Contains(steps[0].Detail, "removed by fault artifact-missing") {
		t.Fatalf("rollback steps %+v: want route-to-baseline failed, naming the removed artifact", steps)
	}
	if !strings.Contains(steps[0].Detail, "100% to v1") {
		t.Errorf("step %q: want traffic back on the running v1 all the same", steps[0].Detail)
	}
	if rep.Score.Parts.Recovery != 0 || !strings.Contains(rep.Score.Details.Recovery, "route-to-baseline") {
		t.Errorf("recovery part %v (%s): want 0 for the failed rollback", rep.Score.Parts.Recovery, rep.Score.Details.Recovery)
	}
	if len(rep.Faults) != 1 || rep.Faults[0].AppliedAt == nil || rep.Faults[0].RevertedAt == nil {
		t.Errorf("faults %+v: want the artifact removed and put back", rep.Faults)
	}
}

// TestShippedReleaseThreeServices releases three services at once (the
// shipped two-service release plus a second Rust service, tax, between
// them) with rollback mode redeploy: the rollback runs every step for
// orders, tax, pricing in that order, its second run changes nothing,
// and every baseline started again from the artifact store is the build
// recorded at start.
func TestShippedReleaseThreeServices(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(repoRoot(t), "scenarios/release-pricing-orders-rollback.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	y := string(src)
	for _, e := range [][2]string{
		{"name: release-pricing-orders-rollback", "name: release-three-services"},
		{"    orders:\n      language: go", "    tax:\n      language: rust\n      build: fixtures/pricing\n      versions:\n        v1: {}\n        v2: {}\n    orders:\n      language: go"},
		{"    - {service: orders, to: v2}", "    - {service: tax, to: v2}\n    - {service: orders, to: v2}"},
		// Nothing calls tax: its judge passes intervals without data.
		{"    failures: 2\n", "    failures: 2\n    on_no_data: pass\n"},
		{"verify:\n", "rollback: {mode: redeploy}\n\nverify:\n"},
	} {
		if !strings.Contains(y, e[0]) {
			t.Fatalf("the shipped scenario no longer has %q", e[0])
		}
		y = strings.Replace(y, e[0], e[1], 1)
	}
	cmd, out := drillCmd(t, writeScenario(t, "three.yaml", y), "--provider", "process")
	output, err := cmd.CombinedOutput()
	dir := runDir(t, out)
	rep, rerr := reports.Read(dir)
	if rerr != nil {
		t.Fatalf("%v\n%s", rerr, output)
	}
	if rep.Outcome != reports.OutcomeRolledBack || !rep.Passed || rep.Release == nil || len(rep.Release.Services) != 3 {
		t.Fatalf("outcome %s passed %v release %+v (exit %d)\n%s", rep.Outcome, rep.Passed, rep.Release, exitCode(err), output)
	}
	reverseOrder(t, rep, "orders", "tax", "pricing")
	if !rep.Rollback.Idempotent || len(rep.Rollback.Rerun) != len(rep.Rollback.Steps) {
		t.Errorf("rollback %+v: want a second run that changed nothing", rep.Rollback)
	}
	recorded := map[string]string{}
	for _, a := range rep.Artifacts {
		if a.Version == "v1" {
			recorded[a.Service] = a.Digest
		}
	}
	for _, s := range rep.Release.Services {
		if s.RedeploySeconds == nil || s.RedeployDigest == "" || s.RedeployDigest != recorded[s.Service] ||
			s.RedeployDigestMatches == nil || !*s.RedeployDigestMatches {
			t.Errorf("%s: redeployed %q (matches %v), recorded %q: want its baseline started again from the store as the recorded build",
				s.Service, s.RedeployDigest, s.RedeployDigestMatches, recorded[s.Service])
		}
	}
	if len(rep.Leftovers) != 0 {
		t.Errorf("leftovers %v", rep.Leftovers)
	}
	ledgerIntact(t, rep, dir)
}
