package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/drillhq/drill/reports"
)

// The end-to-end tests run the real drill binary on the shipped scenarios:
// real builds, real processes, real SQLite, real HTTP load. They are the
// slowest tests; `go test -short` skips them.

var drillBin string

func TestMain(m *testing.M) {
	code := func() int {
		flag.Parse()
		if testing.Short() {
			return m.Run()
		}
		dir, err := os.MkdirTemp("", "drill-e2e-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		drillBin = filepath.Join(dir, "drill")
		// Built without -race on purpose: the race detector's CPU cost would
		// distort the latencies the drills judge. The harness's concurrency
		// is covered by the -race unit tests.
		out, err := exec.Command("go", "build", "-o", drillBin, ".").CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "build drill: %v\n%s", err, out)
			return 1
		}
		return m.Run()
	}()
	os.Exit(code)
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// drillCmd prepares `drill run FILE --auto-approve --out OUT`.
func drillCmd(t *testing.T, scenario string, extra ...string) (*exec.Cmd, string) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end drill; skipped with -short")
	}
	out := t.TempDir()
	args := append([]string{"run", scenario, "--auto-approve", "--out", out,
		"--cache", filepath.Join(repoRoot(t), ".drill", "cache")}, extra...)
	cmd := exec.Command(drillBin, args...)
	cmd.Dir = repoRoot(t)
	return cmd, out
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// runDir finds the single run directory under out.
func runDir(t *testing.T, out string) string {
	t.Helper()
	dirs, _ := filepath.Glob(filepath.Join(out, "*"))
	if len(dirs) != 1 {
		t.Fatalf("want one run directory in %s, got %v", out, dirs)
	}
	return dirs[0]
}

// journalEvents reads journal.jsonl.
func journalEvents(t *testing.T, dir string) []map[string]any {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "journal.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var evs []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<22)
	for sc.Scan() {
		var e map[string]any
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("journal line %q: %v", sc.Text(), err)
		}
		evs = append(evs, e)
	}
	return evs
}

// assertNothingLeft checks, independently of the report, that every
// process the drill started is gone and its temp dir removed.
func assertNothingLeft(t *testing.T, dir string) {
	t.Helper()
	pids := 0
	for _, e := range journalEvents(t, dir) {
		fields, _ := e["fields"].(map[string]any)
		switch e["event"] {
		case "instance.ready":
			pid := int(fields["pid"].(float64))
			pids++
			if running(pid) {
				t.Errorf("process %v (pid %d) is still alive after the drill", fields["service"], pid)
			}
		case "run.start":
			tmp := fields["temp_dir"].(string)
			if _, err := os.Stat(tmp); !os.IsNotExist(err) {
				t.Errorf("temp dir %s still exists", tmp)
			}
		}
	}
	if pids == 0 {
		t.Errorf("journal records no started instance")
	}
}

func TestShippedScenarios(t *testing.T) {
	cases := []struct {
		file    string
		outcome reports.Outcome
		// data replaces the default data check (every acknowledged write
		// intact) for a scenario whose point is what its data shows.
		data func(t *testing.T, rep *reports.Report, dir string)
		// processOnly marks a scenario whose subject (a judge, the
		// ledger's logic, the scenario format) does not depend on the
		// provider, and that runs on SQLite: the docker run would repeat
		// it in a container at the cost of CI minutes. Every scenario
		// touching PostgreSQL, a process fault, a migration fault, the
		// flag service (reached through the run network's forwarder), a
		// blue-green switch, a release of several services, contracts or
		// stages runs on both. The flag service on docker is the kill
		// switch's (the Rust service through the forwarder, step 5's
		// proof from inside containers); the outage drill's fault acts on
		// the flag service, which runs on the host either way. The
		// blue-green switch on docker is post-switch's; switch-back's
		// subject is the preview (router and harness). The promoted
		// orders drill on SQLite shared with containers is staging's, the
		// Rust service's drill there the release's. The latency drill
		// (the demo) is process-only: its fault and judge live in the
		// harness, and killed, half-applied and lock-timeout are
		// rolled-back orders drills on docker already.
		processOnly bool
	}{
		{"scenarios/orders-canary-latency.yaml", reports.OutcomeRolledBack, nil, true},
		{"scenarios/orders-canary-healthy.yaml", reports.OutcomePromoted, nil, true},
		{"scenarios/pricing-canary-errors.yaml", reports.OutcomeRolledBack, nil, true},
		{"scenarios/orders-canary-slow-dependency.yaml", reports.OutcomePromoted, nil, true},
		{"scenarios/orders-canary-killed.yaml", reports.OutcomeRolledBack, nil, false},
		{"scenarios/orders-db-blackhole.yaml", reports.OutcomePromoted, nil, false},
		{"scenarios/orders-migration-half-applied.yaml", reports.OutcomeRolledBack, checkHalfApplied, false},
		{"scenarios/orders-migration-lock-timeout.yaml", reports.OutcomeRolledBack, checkLockTimeout, false},
		{"scenarios/orders-migration-trap.yaml", reports.OutcomeRolledBack, checkTrap, true},
		{"scenarios/orders-migration-expand-contract.yaml", reports.OutcomeRolledBack, checkExpandContract, true},
		{"scenarios/pricing-canary-wrong-total.yaml", reports.OutcomeRolledBack, checkWrongTotal, true},
		// orders-canary-errors-sequential.yaml runs in TestCompareRealRuns,
		// which compares it with a harmless copy of itself.
		{"scenarios/orders-blue-green-switch-back.yaml", reports.OutcomeRolledBack, checkBlueGreenPreview, true},
		{"scenarios/orders-blue-green-post-switch.yaml", reports.OutcomeRolledBack, checkBlueGreenPostSwitch, false},
		{"scenarios/pricing-flag-ramp-kill-switch.yaml", reports.OutcomeRolledBack, checkFlagKillSwitch, false},
		{"scenarios/orders-flag-service-outage.yaml", reports.OutcomePromoted, checkFlagOutage, true},
		{"scenarios/release-pricing-orders-rollback.yaml", reports.OutcomeRolledBack, checkReleaseRollback, false},
		{"scenarios/release-contract-blocked.yaml", reports.OutcomeBlocked, checkContractBlocked, false},
		{"scenarios/release-staging-production.yaml", reports.OutcomeRolledBack, checkStages, false},
		{"scenarios/orders-rollback-artifact-missing.yaml", reports.OutcomeRolledBack, checkArtifactMissing, true},
		// Written by someone else from DESIGN.md alone.
		{"cmd/drill/testdata/design-written.yaml", reports.OutcomeRolledBack, nil, true},
	}
	for _, provider := range e2eProviders(t) {
		for _, tc := range cases {
			if tc.processOnly && provider != "process" {
				continue
			}
			t.Run(provider+"/"+filepath.Base(tc.file), func(t *testing.T) {
				t.Parallel()
				shippedScenario(t, provider, tc.file, tc.outcome, tc.data)
			})
		}
	}
}

// ledgerIntact is the default data check: every acknowledged write is
// there as acknowledged.
func ledgerIntact(t *testing.T, rep *reports.Report, _ string) {
	t.Helper()
	l := rep.Data.Ledger
	if !l.Checked || l.Acknowledged == 0 || l.Lost != 0 || l.Changed != 0 {
		t.Errorf("ledger %+v: want checked, acknowledged > 0, nothing lost or changed", l)
	}
}

// schemaRestored checks the schema check ran and passed.
func schemaRestored(t *testing.T, rep *reports.Report) {
	t.Helper()
	if r := rep.Data.SchemaRestored; r == nil || !*r || len(rep.Data.SchemaDiff) != 0 {
		t.Errorf("schema restored %v, diff %v: want restored with no diff", r, rep.Data.SchemaDiff)
	}
}

// eventFields returns the fields of the first journal event named name.
func eventFields(t *testing.T, dir, name string) map[string]any {
	t.Helper()
	for _, e := range journalEvents(t, dir) {
		if e["event"] == name {
			f, _ := e["fields"].(map[string]any)
			return f
		}
	}
	t.Errorf("no %s event in the journal", name)
	return nil
}

// checkHalfApplied: the failed statement-by-statement migration left
// order_events behind (seen at the dirty state), the rollback cleaned it
// through 3's down migration, and the schema is back.
func checkHalfApplied(t *testing.T, rep *reports.Report, dir string) {
	ledgerIntact(t, rep, dir)
	schemaRestored(t, rep)
	if rep.Decision == nil || !strings.Contains(rep.Decision.Reason, "drill_injected_failure_at_statement_2") {
		t.Errorf("decision %+v: want the injected failure at statement 2 as the reason", rep.Decision)
	}
	dirty := eventFields(t, dir, "migrate.dirty")
	if left := fmt.Sprint(dirty["left_behind"]); !strings.Contains(left, "+ table order_events") || strings.Contains(left, "status") {
		t.Errorf("left behind at the dirty state: %s; want order_events (statement 1) and nothing of statements 2 and 3", left)
	}
	eventFields(t, dir, "migrate.dirty.cleaned")
}

// checkLockTimeout: the migration waited for the lock until its
// lock_timeout, failed, and the rollback restored everything.
func checkLockTimeout(t *testing.T, rep *reports.Report, dir string) {
	ledgerIntact(t, rep, dir)
	schemaRestored(t, rep)
	if rep.Decision == nil || !strings.Contains(rep.Decision.Reason, "lock timeout") {
		t.Errorf("decision %+v: want the migration's lock timeout as the reason", rep.Decision)
	}
	// A lock_timeout cannot fire before it elapses: detection is at least 2 s.
	if d := rep.DetectionSeconds; d == nil || *d < 1.9 {
		t.Errorf("detection %v s: want >= 2 s (the migration waited for lock_timeout)", d)
	}
}

// checkTrap: the down migration dropped channel, so every write v2
// acknowledged with a channel is reported changed, and data scores 0.
func checkTrap(t *testing.T, rep *reports.Report, dir string) {
	l := rep.Data.Ledger
	tracked := ledgerEntriesWith(t, dir, "channel")
	if !l.Checked || l.Lost != 0 || l.Changed == 0 || l.Changed != tracked {
		t.Errorf("ledger %+v: want channel lost on exactly the %d writes acknowledged with it", l, tracked)
	}
	if rep.Score.Parts.DataIntegrity != 0 {
		t.Errorf("data integrity %.1f, want 0", rep.Score.Parts.DataIntegrity)
	}
	schemaRestored(t, rep) // the schema is back; the data is not
}

// checkExpandContract: the same release, rolled back without a down
// migration, keeps every channel it acknowledged.
func checkExpandContract(t *testing.T, rep *reports.Report, dir string) {
	ledgerIntact(t, rep, dir)
	schemaRestored(t, rep)
	if n := ledgerEntriesWith(t, dir, "channel"); n == 0 {
		t.Errorf("no acknowledged write tracked channel: the check proved nothing")
	}
	if rep.Score.Parts.DataIntegrity != 20 {
		t.Errorf("data integrity %.1f, want 20", rep.Score.Parts.DataIntegrity)
	}
}

// checkWrongTotal: the invariant caught the corruption during analysis,
// and the end check counts the rows left corrupt.
func checkWrongTotal(t *testing.T, rep *reports.Report, dir string) {
	ledgerIntact(t, rep, dir)
	if rep.Decision == nil || !strings.Contains(rep.Decision.Reason, "invariant:totals-match") {
		t.Errorf("decision %+v: want the invariant as the reason", rep.Decision)
	}
	if len(rep.Data.Invariants) != 1 || rep.Data.Invariants[0].OK || rep.Data.Invariants[0].Value < 1 {
		t.Errorf("invariants %+v: want totals-match failed with the corrupt rows counted", rep.Data.Invariants)
	}
	if rep.Score.Parts.DataIntegrity != 10 {
		t.Errorf("data integrity %.1f, want 10 (invariant failed, nothing acknowledged lost)", rep.Score.Parts.DataIntegrity)
	}
}

// checkSequential: the sequential judge rolled the 5% canary back within
// 3 s of exposure, on its test (not a bound).
func checkSequential(t *testing.T, rep *reports.Report, dir string) {
	ledgerIntact(t, rep, dir)
	if rep.Decision == nil || !strings.Contains(rep.Decision.Reason, "sequential test rejected: error_rate") {
		t.Errorf("decision %+v: want the sequential error_rate test as the reason", rep.Decision)
	}
	if d := rep.DetectionSeconds; d == nil || *d > 3 {
		t.Errorf("detection %v s, want <= 3 s of exposure", d)
	}
}

// ledgerEntriesWith counts acknowledged ledger entries that recorded col.
func ledgerEntriesWith(t *testing.T, dir, col string) int64 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "ledger.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var e struct {
			C map[string]string `json:"c"`
			S string            `json:"s"`
		}
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("ledger line %q: %v", line, err)
		}
		if _, ok := e.C[col]; ok && e.S == "ack" {
			n++
		}
	}
	return n
}

// e2eProviders are the providers the shipped scenarios run on: both, and
// the docker provider's absence is a failure, not a skip, unless the
// machine says outright that it has no Docker (DRILL_DOCKER=off).
func e2eProviders(t *testing.T) []string {
	if os.Getenv("DRILL_DOCKER") == "off" {
		t.Log("DRILL_DOCKER=off: the shipped scenarios run on the process provider only")
		return []string{"process"}
	}
	if out, err := exec.Command("docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput(); err != nil {
		t.Fatalf("the shipped scenarios also run on the docker provider, and no Docker engine answers (docker info: %v: %s); "+
			"start one (systemctl start docker) or set DRILL_DOCKER=off to run the process provider only", err, strings.TrimSpace(string(out)))
	}
	return []string{"process", "docker"}
}

// assertNoContainers checks with the docker CLI, independently of drill's
// own bookkeeping, that no container or network of the run is left.
func assertNoContainers(t *testing.T, runID string) {
	t.Helper()
	for _, what := range [][]string{{"ps", "-a"}, {"network", "ls"}} {
		args := append(what, "-q", "--filter", "label=drill.run="+runID)
		out, err := exec.Command("docker", args...).CombinedOutput()
		if err != nil {
			t.Errorf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
			continue
		}
		if ids := strings.Fields(string(out)); len(ids) > 0 {
			t.Errorf("docker %s: %d left behind by run %s: %v", what[0], len(ids), runID, ids)
		}
	}
}

// runIDOf reads the run id from a run directory's journal.
func runIDOf(t *testing.T, dir string) string {
	t.Helper()
	for _, e := range journalEvents(t, dir) {
		if e["event"] == "run.start" {
			return e["fields"].(map[string]any)["run_id"].(string)
		}
	}
	t.Fatalf("no run.start in %s", dir)
	return ""
}

// shippedScenario runs one scenario through the binary on one provider and
// checks its outcome, its data and that it left nothing behind.
func shippedScenario(t *testing.T, provider, file string, outcome reports.Outcome, data func(*testing.T, *reports.Report, string)) string {
	t.Helper()
	cmd, out := drillCmd(t, file, "--provider", provider)
	output, err := cmd.CombinedOutput()
	if code := exitCode(err); code != ExitOK {
		t.Fatalf("exit %d, want 0\n%s", code, output)
	}
	dir := runDir(t, out)
	if b, err := os.ReadFile(filepath.Join(dir, reports.FileName)); err != nil {
		t.Error(err)
	} else if err := reports.ValidateJSON(b); err != nil {
		t.Errorf("%s: %v", file, err)
	}
	rep, err := reports.Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Outcome != outcome || !rep.Passed {
		t.Errorf("outcome %s passed=%v, want %s passed", rep.Outcome, rep.Passed, outcome)
	}
	if rep.Provider != provider {
		t.Errorf("report provider %q, want %q", rep.Provider, provider)
	}
	artifactsRecorded(t, rep, provider)
	if data == nil {
		data = ledgerIntact
	}
	data(t, rep, dir)
	if len(rep.Leftovers) != 0 {
		t.Errorf("leftovers: %v", rep.Leftovers)
	}
	if outcome == reports.OutcomeRolledBack {
		if rep.DetectionSeconds == nil || rep.RecoverySeconds == nil {
			t.Errorf("detection %v recovery %v: want both measured", rep.DetectionSeconds, rep.RecoverySeconds)
		}
		// Route, stop and migrate for every released service, revert the
		// faults and restore the flags once.
		services := 1
		if rep.Release != nil && len(rep.Release.Services) > 0 {
			services = len(rep.Release.Services)
		}
		if !rep.Rollback.Idempotent || len(rep.Rollback.Steps) != 2+3*services {
			t.Errorf("rollback: %+v", rep.Rollback)
		}
	}
	if !strings.Contains(string(output), "report: ") {
		t.Errorf("no summary printed:\n%s", output)
	}
	for _, f := range []string{"report.md", "junit.xml", "report.html"} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || fi.Size() == 0 {
			t.Errorf("%s in the run directory: %v", f, err)
		}
	}
	// A real drill's HTML report charts its error rate, p99 and weight.
	if page, err := os.ReadFile(filepath.Join(dir, "report.html")); err == nil {
		if n := strings.Count(string(page), "<svg"); n != 3 {
			t.Errorf("report.html holds %d charts, want 3", n)
		}
	}
	// Every instance's output is kept, on both providers (the docker
	// provider kept none before): at least each baseline's, non-empty.
	logs, _ := filepath.Glob(filepath.Join(dir, "logs", "*-v1.log"))
	if len(rep.Stages) > 0 {
		// A stage's provider writes under stages/<name>.
		logs, _ = filepath.Glob(filepath.Join(dir, "stages", rep.Stages[0].Name, "logs", "*-v1.log"))
	}
	if len(logs) == 0 {
		t.Errorf("no logs/<service>-v1.log in %s", dir)
	}
	for _, l := range logs {
		if fi, err := os.Stat(l); err != nil || fi.Size() == 0 || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v (want a non-empty 0600 file)", l, err)
		}
	}
	assertNothingLeft(t, dir)
	if provider == "docker" {
		assertNoContainers(t, rep.RunID)
		for _, st := range rep.Stages {
			assertNoContainers(t, rep.RunID+"-"+st.Name)
		}
	}
	return dir
}

// TestInterruptMidRollout sends SIGINT once the first rollout step has
// started and checks the safe abort: exit 130, a partial report, traffic
// back on baseline, nothing left running.
func TestInterruptMidRollout(t *testing.T) {
	t.Parallel()
	cmd, out := drillCmd(t, "scenarios/orders-canary-healthy.yaml")
	run := startUntil(t, cmd, out, "the first step", func(journal string) bool {
		return strings.Contains(journal, `"event":"step.start"`)
	})
	dir, done, output := run.dir, run.done, run.output
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	var err error
	select {
	case err = <-done:
	case <-time.After(2 * time.Minute):
		_ = cmd.Process.Kill()
		t.Fatalf("drill did not stop within 2 minutes of SIGINT\n%s", output.String())
	}
	if code := exitCode(err); code != ExitInterrupted {
		t.Fatalf("exit %d, want %d\n%s", code, ExitInterrupted, output.String())
	}
	rep, rerr := reports.Read(dir)
	if rerr != nil {
		t.Fatalf("partial report: %v", rerr)
	}
	if rep.Outcome != reports.OutcomeAborted || !rep.Interrupted {
		t.Errorf("outcome %s interrupted=%v, want aborted and interrupted", rep.Outcome, rep.Interrupted)
	}
	steps := map[string]bool{}
	for _, s := range rep.Rollback.Steps {
		steps[s.Name] = s.OK
	}
	for _, want := range []string{"route-to-baseline", "revert-faults", "stop-canary", "migrate-to-baseline"} {
		if ok, ran := steps[want]; !ran || !ok {
			t.Errorf("safe abort step %s: ran=%v ok=%v (steps %+v)", want, ran, ok, rep.Rollback.Steps)
		}
	}
	if len(rep.Leftovers) != 0 {
		t.Errorf("leftovers: %v", rep.Leftovers)
	}
	assertNothingLeft(t, dir)
}

// TestInvalidScenarioExit2 checks that every problem is printed at once as
// file:line:col and that nothing runs.
func TestInvalidScenarioExit2(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("version: 1\nname: Bad Name\nload:\n  rate: fast\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr strings.Builder
	c := &cli{stdout: &stdout, stderr: &stderr}
	out := t.TempDir()
	code := c.main(t.Context(), []string{"run", bad, "--out", out})
	if code != ExitInvalid {
		t.Fatalf("exit %d, want 2; stderr:\n%s", code, stderr.String())
	}
	for _, want := range []string{bad + ":2:7:", bad + ":4:9:"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
	if entries, _ := os.ReadDir(out); len(entries) != 0 {
		t.Errorf("an invalid scenario must run nothing; found %v", entries)
	}
}

// TestEnvironmentProblemExit3 runs a scenario whose service cannot start:
// the environment error says what is missing, exit 3, nothing left behind.
func TestEnvironmentProblemExit3(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a drill; skipped with -short")
	}
	t.Parallel()
	sc := filepath.Join(t.TempDir(), "missing.yaml")
	body := `version: 1
name: missing-program
environment:
  services:
    web:
      command: ["/nonexistent/drill-test-program"]
      versions: {v1: {}, v2: {}}
load:
  target: web
  rate: 10/s
  requests: [{name: home, path: /}]
steady_state: {duration: 2s}
rollout:
  service: web
  to: v2
  steps: [{weight: 50%, hold: 2s}]
expect: {outcome: promoted}
`
	if err := os.WriteFile(sc, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	cmd := exec.Command(drillBin, "run", sc, "--out", out)
	output, err := cmd.CombinedOutput()
	if code := exitCode(err); code != ExitEnvironment {
		t.Fatalf("exit %d, want %d\n%s", code, ExitEnvironment, output)
	}
	if !strings.Contains(string(output), "/nonexistent/drill-test-program") {
		t.Errorf("the error does not name the missing program:\n%s", output)
	}
	rep, rerr := reports.Read(runDir(t, out))
	if rerr != nil {
		t.Fatal(rerr)
	}
	if rep.Error == "" || len(rep.Leftovers) != 0 {
		t.Errorf("report error %q leftovers %v", rep.Error, rep.Leftovers)
	}
}

// TestSIGKILLThenCleanup kills the harness with SIGKILL while a pause and a
// latency fault are active: nothing can run its teardown. `drill cleanup`
// must then leave no drill process and no temp dir, and a second cleanup
// must find nothing to do.
func TestSIGKILLThenCleanup(t *testing.T) {
	for _, provider := range e2eProviders(t) {
		t.Run(provider, func(t *testing.T) {
			t.Parallel()
			sigkillThenCleanup(t, provider)
		})
	}
}

func sigkillThenCleanup(t *testing.T, provider string) {
	cmd, out := drillCmd(t, "cmd/drill/testdata/kill-with-faults.yaml", "--provider", provider)
	run := startUntil(t, cmd, out, "both faults applied", func(journal string) bool {
		return strings.Count(journal, `"event":"fault.applied"`) == 2
	})
	dir, done := run.dir, run.done
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-done

	cleanup := func() string {
		c := exec.Command(drillBin, "cleanup", "--out", out)
		b, err := c.CombinedOutput()
		if code := exitCode(err); code != ExitOK {
			t.Fatalf("cleanup exit %d\n%s", code, b)
		}
		return string(b)
	}
	if provider == "docker" {
		// Containers have no Pdeathsig: they outlive the harness until
		// cleanup removes them.
		runID := runIDOf(t, dir)
		b, _ := exec.Command("docker", "ps", "-a", "-q", "--filter", "label=drill.run="+runID).CombinedOutput()
		t.Logf("containers of the killed run before cleanup: %q", strings.Fields(string(b)))
		defer assertNoContainers(t, runID)
	}
	first := cleanup()
	t.Logf("first cleanup:\n%s", first)
	if !strings.Contains(first, "removed temp dir") {
		t.Errorf("first cleanup did not remove the run's temp dir:\n%s", first)
	}
	if provider == "docker" && !strings.Contains(first, "removed container") {
		t.Errorf("first cleanup removed no container of the docker run:\n%s", first)
	}
	for _, e := range journalEvents(t, dir) {
		if e["event"] != "instance.ready" {
			continue
		}
		fields := e["fields"].(map[string]any)
		pid := int(fields["pid"].(float64))
		// Gone, or at least no longer stopped: a paused process must not
		// stay frozen after cleanup.
		if running(pid) {
			stat, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
			t.Errorf("%v-%v (pid %d) still exists after cleanup: %s", fields["service"], fields["version"], pid, stat)
		}
	}
	assertNothingLeft(t, dir)
	if second := cleanup(); strings.TrimSpace(second) != "nothing to do" {
		t.Errorf("second cleanup: %q, want \"nothing to do\"", second)
	}
}

// running reports whether pid is a live process. A zombie (state Z) is
// dead: it only waits to be reaped by whoever inherited it, which after a
// SIGKILLed harness is the machine's init, not drill.
func running(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// started is a drill started by startUntil.
type started struct {
	dir    string        // its run directory
	done   chan error    // receives cmd.Wait's result
	output *lockedBuffer // its stdout and stderr
}

// lockedBuffer collects a process's output while the test may read it.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startUntil starts a drill and polls its journal (readiness polling, no
// sleep-and-hope) until ready says the moment the test waits for has come.
func startUntil(t *testing.T, cmd *exec.Cmd, out, what string, ready func(journal string) bool) started {
	t.Helper()
	r := started{done: make(chan error, 1), output: &lockedBuffer{}}
	cmd.Stdout, cmd.Stderr = r.output, r.output
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { r.done <- cmd.Wait() }()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("%s: not in the journal within 3 minutes\n%s", what, r.output.String())
		}
		select {
		case err := <-r.done:
			t.Fatalf("drill ended before %s: %v\n%s", what, err, r.output.String())
		case <-time.After(100 * time.Millisecond):
		}
		dirs, _ := filepath.Glob(filepath.Join(out, "*"))
		if len(dirs) != 1 {
			continue
		}
		b, _ := os.ReadFile(filepath.Join(dirs[0], "journal.jsonl"))
		if ready(string(b)) {
			r.dir = dirs[0]
			return r
		}
	}
}
