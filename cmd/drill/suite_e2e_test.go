package main

import (
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/drillhq/drill/harness/suite"
	"github.com/drillhq/drill/reports"
)

// TestSuiteShardsCoverTheShippedScenarios: --shard 1/3, 2/3 and 3/3
// together list every shipped scenario exactly once, and the same way
// every time (the CI matrix runs each shard on its own machine).
func TestSuiteShardsCoverTheShippedScenarios(t *testing.T) {
	found, err := suite.Find([]string{"../../scenarios"})
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for i := range 3 {
		shard := []string{"1/3", "2/3", "3/3"}[i]
		code, stdout, stderr := runCLI(t, "run", "../../scenarios", "--shard", shard, "--list")
		if code != ExitOK {
			t.Fatalf("--shard %s --list: exit %d\n%s", shard, code, stderr)
		}
		again, stdout2, _ := runCLI(t, "run", "../../scenarios/", "--shard", shard, "--list")
		if again != ExitOK || stdout2 != stdout {
			t.Errorf("--shard %s listed differently the second time:\n%s\n%s", shard, stdout, stdout2)
		}
		for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
			if line != "" {
				count[strings.SplitN(line, "\t", 2)[0]]++
			}
		}
	}
	if len(found) < 20 {
		t.Fatalf("found %d shipped scenarios", len(found))
	}
	for _, f := range found {
		if count[f.File] != 1 {
			t.Errorf("%s is in %d shards, want exactly 1", f.File, count[f.File])
		}
	}
	if len(count) != len(found) {
		t.Errorf("shards listed %d files, the directory holds %d", len(count), len(found))
	}
}

// TestShippedSuite runs a real suite: a scenario `drill init` wrote (the
// canary template, as written) and an invalid file side by side with
// --parallel 2. The invalid file is a failed case with its file:line:col
// problems and the drill still runs and passes; one JUnit file validates
// against the JUnit schema; the index links the run's report. Then the
// same drill with a --timeout far too short is aborted safely, counted
// failed, and compared with the first suite as its baseline. Nothing is
// left behind either time.
func TestShippedSuite(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end drill; skipped with -short")
	}
	root := repoRoot(t)
	dir := t.TempDir()
	if out, err := exec.Command(drillBin, "init", "template-canary", "--dir", dir).CombinedOutput(); err != nil {
		t.Fatalf("drill init: %v\n%s", err, out)
	}
	if err := os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte("version: 1\nname: Bad Name\nload:\n  rate: fast\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(want int, args ...string) (string, *reports.Suite) {
		t.Helper()
		out := t.TempDir()
		cmd := exec.Command(drillBin, append([]string{"run", "--auto-approve", "--out", out,
			"--cache", filepath.Join(root, ".drill", "cache")}, args...)...)
		cmd.Dir = root
		output, err := cmd.CombinedOutput()
		if code := exitCode(err); code != want {
			t.Fatalf("drill run %v: exit %d, want %d\n%s", args, code, want, output)
		}
		dirs, _ := filepath.Glob(filepath.Join(out, "suite-*"))
		if len(dirs) != 1 {
			t.Fatalf("want one suite directory in %s, got %v\n%s", out, dirs, output)
		}
		s, err := reports.ReadSuite(dirs[0])
		if err != nil {
			t.Fatal(err)
		}
		return dirs[0], s
	}

	junit := filepath.Join(t.TempDir(), "ci", "suite.xml")
	first, s := run(ExitInvalid, dir, "--parallel", "2", "--junit", junit)
	if len(s.Drills) != 2 || s.Passed {
		t.Fatalf("suite %+v", s)
	}
	bad, good := s.Drills[0], s.Drills[1]
	if bad.Verdict != reports.VerdictInvalid || !slices.ContainsFunc(bad.Problems, func(p string) bool { return strings.Contains(p, "bad.yaml:4:9: rate") }) {
		t.Errorf("bad.yaml: %s %q", bad.Verdict, bad.Problems)
	}
	if good.Verdict != reports.VerdictPassed || len(good.Attempts) != 1 || good.Scenario != "template-canary" {
		t.Fatalf("template-canary: %+v", good)
	}
	runDir := filepath.Join(first, good.Attempts[0].RunDir)
	rep, err := reports.Read(runDir)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Outcome != reports.OutcomeRolledBack || !rep.Passed || len(rep.Leftovers) != 0 || rep.Host == nil || rep.Host.Windows == 0 {
		t.Errorf("report: outcome %s passed %v leftovers %v host %+v", rep.Outcome, rep.Passed, rep.Leftovers, rep.Host)
	}
	assertNothingLeft(t, runDir)
	if out, err := exec.Command("xmllint", "--noout", "--schema", filepath.Join(root, "reports/testdata/junit-schema/junit.xsd"), junit).CombinedOutput(); err != nil {
		t.Errorf("the suite's JUnit does not validate: %v\n%s", err, out)
	}
	var doc struct {
		Suites []struct {
			Name  string `xml:"name,attr"`
			Cases []struct {
				Name    string    `xml:"name,attr"`
				Failure *struct{} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	b, err := os.ReadFile(junit)
	if err != nil {
		t.Fatal(err)
	}
	if err := xml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Suites) != 2 || doc.Suites[0].Cases[0].Failure == nil || doc.Suites[1].Cases[0].Failure != nil || len(doc.Suites[1].Cases) < 5 {
		t.Errorf("JUnit: want the invalid file failed and the drill passed with its expectations:\n%s", b)
	}
	index, err := os.ReadFile(filepath.Join(first, "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	link := good.Attempts[0].RunDir + "/report.html"
	if !strings.Contains(string(index), `href="`+link+`"`) {
		t.Errorf("index.html does not link %s", link)
	}
	if _, err := os.Stat(filepath.Join(first, link)); err != nil {
		t.Errorf("the index links a report that is not there: %v", err)
	}

	second, s2 := run(ExitFailed, filepath.Join(dir, "template-canary.yaml"), "--timeout", "4s", "--baseline", first)
	d := s2.Drills[0]
	if d.Verdict != reports.VerdictFailed || len(d.Attempts) != 1 || !d.Attempts[0].TimedOut || !strings.Contains(d.Reason, "--timeout 4s") {
		t.Errorf("timed-out drill: %+v", d)
	}
	if d.Baseline == nil || d.Baseline.Score != good.Attempts[0].Score || len(d.Baseline.Regressions) == 0 {
		t.Errorf("baseline comparison %+v, want the first suite's score %d and regressions", d.Baseline, good.Attempts[0].Score)
	}
	timedOut := filepath.Join(second, d.Attempts[0].RunDir)
	rep, err = reports.Read(timedOut)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Leftovers) != 0 || rep.Outcome != reports.OutcomeAborted {
		t.Errorf("timed-out drill: outcome %s leftovers %v, want a safe abort", rep.Outcome, rep.Leftovers)
	}
	assertNothingLeft(t, timedOut)
}
