package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/drillhq/drill/reports"
)

// checkBlueGreenPreview: green failed its preview and was never switched
// to: no live request reached it, and the preview's writes are in the
// ledger like any other acknowledged write.
func checkBlueGreenPreview(t *testing.T, rep *reports.Report, dir string) {
	ledgerIntact(t, rep, dir)
	r := rep.Release
	if r == nil || r.Strategy != "blue-green" || r.SwitchSeconds != nil || r.SwitchBack != "" {
		t.Fatalf("release %+v: want blue-green, never switched", r)
	}
	if rep.Decision == nil || !strings.Contains(rep.Decision.Reason, "error_rate") {
		t.Errorf("decision %+v: want green's preview error rate as the reason", rep.Decision)
	}
	if rep.Requests.ExposedFailed != 0 {
		t.Errorf("%d live requests failed after T0: the preview must keep users off green", rep.Requests.ExposedFailed)
	}
	events := journalEvents(t, dir)
	var preview map[string]any
	for _, e := range events {
		if e["event"] == "preview.stop" {
			preview, _ = e["fields"].(map[string]any)
		}
	}
	if n, _ := preview["requests"].(float64); n == 0 {
		t.Errorf("preview.stop %v: want the preview's synthetic requests counted", preview)
	}
}

// checkBlueGreenPostSwitch: switched with nothing failed, judged against
// the reference, switched back to the warm blue.
func checkBlueGreenPostSwitch(t *testing.T, rep *reports.Report, dir string) {
	ledgerIntact(t, rep, dir)
	r := rep.Release
	if r == nil || r.SwitchSeconds == nil || r.SwitchFailed == nil {
		t.Fatalf("release %+v: want switch_seconds and switch_failed measured", r)
	}
	if *r.SwitchFailed != 0 {
		t.Errorf("switch_failed %d, want 0: the switch drains, it cuts nothing", *r.SwitchFailed)
	}
	if r.SwitchBack != "warm" || r.RouteBackSeconds == nil || r.RedeploySeconds != nil {
		t.Errorf("release %+v: want a warm switch back inside scale_down_delay", r)
	}
	if rep.Decision == nil || !strings.Contains(rep.Decision.Reason, "latency_p95") {
		t.Errorf("decision %+v: want green's p95 against the reference", rep.Decision)
	}
}

// checkFlagKillSwitch: the invariant caught the bad variant, the kill
// switch restored the flag (late by the stale pipeline's 2s), and step 5
// proved it on the flag service and on every instance.
func checkFlagKillSwitch(t *testing.T, rep *reports.Report, dir string) {
	checkWrongTotal(t, rep, dir)
	r := rep.Release
	if r == nil || r.Flag != "new-pricing" || len(r.Flags) != 1 {
		t.Fatalf("release %+v: want the flag new-pricing proven", r)
	}
	p := r.Flags[0]
	if !p.OK || !p.Published || !p.Served || len(p.Instances) != 2 {
		t.Errorf("flag proof %+v: want restored on the service and on both instances", p)
	}
	for _, e := range p.Instances {
		if e.Variant != "off" || e.Revision < p.Revision {
			t.Errorf("%s last served %s at revision %d, want off at >= %d", e.Instance, e.Variant, e.Revision, p.Revision)
		}
	}
	// The flag service holds the kill switch back for the stale pipeline's
	// 2s: a lower bound by construction, not a timing guess. (How much
	// more it took is measured, not asserted.)
	if s := r.FlagsRestoredSeconds; s == nil || *s < 2 {
		t.Errorf("flags_restored_seconds %v: want the 2s staleness in it", s)
	}
	variantSeries(t, rep, "pricing", "new-pricing")
}

// checkFlagOutage: while the flag service was down every request got the
// default variant and none failed; the flag was promoted.
func checkFlagOutage(t *testing.T, rep *reports.Report, dir string) {
	ledgerIntact(t, rep, dir)
	if rep.Requests.Failed != 0 {
		t.Errorf("%d requests failed: a flag service outage must fall back to the default, not fail", rep.Requests.Failed)
	}
	if len(rep.Faults) != 1 || rep.Faults[0].AppliedAt == nil || rep.Faults[0].RevertedAt == nil {
		t.Errorf("faults %+v: want the outage applied and reverted", rep.Faults)
	}
	variantSeries(t, rep, "orders", "fast-checkout")
}

// variantSeries: the router recorded the flag's variants apart, and the
// HTML report charts them.
func variantSeries(t *testing.T, rep *reports.Report, svc, flag string) {
	t.Helper()
	s := rep.Series["router:"+svc]
	for _, v := range []string{"on", "off"} {
		n := int64(0)
		for _, p := range s[flag+"="+v] {
			n += p.Requests
		}
		if n == 0 {
			t.Errorf("router:%s has no requests under %s=%s", svc, flag, v)
		}
	}
	page, err := os.ReadFile(filepath.Join(rep.RunDir, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(page), flag+"=on (canary)") {
		t.Errorf("report.html does not chart %s=on as the new side", flag)
	}
}

// TestShippedBlueGreenColdSwitchBack runs the post-switch drill with a
// scale_down_delay shorter than the time to detect: blue is stopped before
// the rollback, which must start it again (cold) before routing back, and
// the report shows what that costs against the warm switch back.
func TestShippedBlueGreenColdSwitchBack(t *testing.T) {
	root := repoRoot(t)
	src, err := os.ReadFile(filepath.Join(root, "scenarios/orders-blue-green-post-switch.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	y := strings.Replace(string(src), "scale_down_delay: 60s", "scale_down_delay: 500ms", 1)
	y = strings.Replace(y, "name: orders-blue-green-post-switch", "name: orders-blue-green-cold", 1)
	if y == string(src) {
		t.Fatal("the shipped scenario no longer has the fields this test edits")
	}
	cmd, out := drillCmd(t, writeScenario(t, "cold.yaml", y), "--provider", "process")
	output, err := cmd.CombinedOutput()
	dir := runDir(t, out)
	rep, rerr := reports.Read(dir)
	if rerr != nil {
		t.Fatalf("%v\n%s", rerr, output)
	}
	r := rep.Release
	if rep.Outcome != reports.OutcomeRolledBack || r == nil {
		t.Fatalf("outcome %s, release %+v (exit %d)\n%s", rep.Outcome, r, exitCode(err), output)
	}
	if r.ScaledDownAt == nil || r.SwitchBack != "cold" || r.RedeploySeconds == nil || r.RouteBackSeconds == nil {
		t.Fatalf("release %+v: want blue scaled down, then a cold switch back with its redeploy timed", r)
	}
	// The cold route back includes starting blue; a warm one (the shipped
	// drill) is a router update, microseconds.
	if *r.RouteBackSeconds < *r.RedeploySeconds || *r.RedeploySeconds <= 0 {
		t.Errorf("route back %.3fs, redeploy %.3fs: the route back must include the redeploy", *r.RouteBackSeconds, *r.RedeploySeconds)
	}
	if len(rep.Leftovers) != 0 || !rep.Rollback.Idempotent {
		t.Errorf("leftovers %v, idempotent %v", rep.Leftovers, rep.Rollback.Idempotent)
	}
	// The baseline came back as the very build recorded at the start.
	var recorded string
	for _, a := range rep.Artifacts {
		if a.Service == "orders" && a.Version == "v1" {
			recorded = a.Digest
		}
	}
	if recorded == "" || r.RedeployDigest != recorded || r.RedeployDigestMatches == nil || !*r.RedeployDigestMatches {
		t.Errorf("redeployed digest %q (matches %v), recorded %q: want the same build proven", r.RedeployDigest, r.RedeployDigestMatches, recorded)
	}
	ledgerIntact(t, rep, dir)
}

// TestShippedBlueGreenMigrations runs the migration trap as a blue-green
// release: both colours share the database, so green's
// non-backward-compatible migration does the same damage as a canary's
// (the channel its preview wrote is dropped by the rollback's down
// migration), and the ledger and schema checks, unchanged, say so. (Its
// expand/contract counterpart loses nothing as a blue-green release too;
// it is left out of CI, whose minutes the canary drill of it already
// spends on the same checks.)
func TestShippedBlueGreenMigrations(t *testing.T) {
	file := asBlueGreen(t, "scenarios/orders-migration-trap.yaml")
	cmd, out := drillCmd(t, file, "--provider", "process")
	output, err := cmd.CombinedOutput()
	dir := runDir(t, out)
	rep, rerr := reports.Read(dir)
	if rerr != nil {
		t.Fatalf("%v\n%s", rerr, output)
	}
	if rep.Outcome != reports.OutcomeRolledBack || rep.Release == nil || rep.Release.Strategy != "blue-green" || rep.Release.SwitchSeconds != nil {
		t.Fatalf("outcome %s release %+v (exit %d): want green rolled back in its preview\n%s", rep.Outcome, rep.Release, exitCode(err), output)
	}
	checkTrap(t, rep, dir)
}

// asBlueGreen writes a copy of a shipped canary scenario whose rollout is
// a blue-green release (a 10s preview at 60/s), and returns its path.
func asBlueGreen(t *testing.T, file string) string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(repoRoot(t), file))
	if err != nil {
		t.Fatal(err)
	}
	y := string(src)
	i, j := strings.Index(y, "  steps:\n"), strings.Index(y, "  analysis:\n")
	if i < 0 || j < i {
		t.Fatalf("%s: no steps before analysis to replace", file)
	}
	y = y[:i] + "  strategy: blue-green\n  blue_green: {preview: {hold: 10s, rate: 60/s}, post_switch: {hold: 5s}}\n" + y[j:]
	y = strings.Replace(y, "\nname: orders-migration-", "\nname: bg-orders-migration-", 1)
	return writeScenario(t, filepath.Base(file), y)
}

// writeScenario writes an edited scenario to the test's temp dir and
// returns its path.
func writeScenario(t *testing.T, name, y string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(out, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

// artifactsRecorded: every version of every service has its artifact
// named by content (the schema checks the digest's form), one digest per
// build, and the journal has the same.
func artifactsRecorded(t *testing.T, rep *reports.Report, provider string) {
	t.Helper()
	kind := map[string]string{"process": "binary", "docker": "image"}[provider]
	byRef := map[string]string{}
	for _, a := range rep.Artifacts {
		if a.Kind != kind {
			t.Errorf("artifact %+v: want kind %s on %s", a, kind, provider)
		}
		if d, ok := byRef[a.Ref]; ok && d != a.Digest {
			t.Errorf("%s has two digests: %s and %s", a.Ref, d, a.Digest)
		}
		byRef[a.Ref] = a.Digest
	}
	if len(rep.Artifacts) < 2 {
		t.Errorf("artifacts %+v: want one per service version", rep.Artifacts)
	}
	n := 0
	for _, e := range rep.Timeline {
		if e.Event == "artifact.built" {
			n++
		}
	}
	// Each stage builds and records its own (see checkStages for the
	// digests being one).
	if n != len(rep.Artifacts)*max(len(rep.Stages), 1) {
		t.Errorf("%d artifact.built events for %d artifacts", n, len(rep.Artifacts))
	}
}
