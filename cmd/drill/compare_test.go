package main

import (
	"github.com/drillhq/drill/reports"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCompareRealRuns is the nightly gate on two real runs of one
// scenario with different defects: the shipped 5%-error canary (rolled
// back, as expected) and the same scenario whose v2 has no defect at all
// (promoted: the outcome expectation fails). Last night good, tonight bad is a
// regression (exit 1); the other way round is none (exit 0).
func TestCompareRealRuns(t *testing.T) {
	t.Parallel()
	src := filepath.Join(repoRoot(t), "scenarios", "orders-canary-errors-sequential.yaml")
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	harmless := strings.Replace(string(b), `ORDERS_DEFECT: "errors=5%"`, `ORDERS_DEFECT: ""`, 1)
	if harmless == string(b) {
		t.Fatal("the scenario no longer sets ORDERS_DEFECT errors=5%; update this test")
	}
	// The harmless copy promotes through every step: shorter holds keep
	// the nightly gate's minutes for drills (compare reads outcomes and
	// scores, not durations).
	harmless = strings.NewReplacer("hold: 20s", "hold: 3s", "hold: 10s", "hold: 2s").Replace(harmless)
	// Build paths resolve from the drill's working directory, the
	// repository, so the copy can live in a temp dir.
	alt := filepath.Join(t.TempDir(), filepath.Base(src))
	if err := os.WriteFile(alt, []byte(harmless), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(file string, want int) string {
		cmd, out := drillCmd(t, file, "--quiet")
		output, err := cmd.CombinedOutput()
		if code := exitCode(err); code != want {
			t.Fatalf("%s: exit %d, want %d\n%s", file, code, want, output)
		}
		return runDir(t, out)
	}
	// The shipped drill with all its checks (it is not run again in
	// TestShippedScenarios).
	good := shippedScenario(t, "process", src, reports.OutcomeRolledBack, checkSequential)
	bad := run(alt, ExitFailed) // promoted, but rolled_back was expected
	compare := func(old, cur string) (int, string) {
		out, err := exec.Command(drillBin, "compare", old, cur).CombinedOutput()
		return exitCode(err), string(out)
	}
	if code, out := compare(good, bad); code != ExitFailed || !strings.Contains(out, "REGRESSION: expectation outcome held and now fails") {
		t.Errorf("compare good bad: exit %d, want 1 with the outcome regression\n%s", code, out)
	}
	if code, out := compare(bad, good); code != ExitOK || !strings.Contains(out, "no regression") {
		t.Errorf("compare bad good: exit %d, want 0\n%s", code, out)
	}
	if code, _ := compare(good, filepath.Join(t.TempDir(), "missing")); code != ExitInvalid {
		t.Errorf("compare with a missing run: exit %d, want %d", code, ExitInvalid)
	}
}
