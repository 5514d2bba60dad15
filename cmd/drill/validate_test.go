package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// editedScenario writes a copy of a shipped scenario, each old string
// replaced by the new one after it, as dir/name, and returns its path.
func editedScenario(t *testing.T, dir, name, shipped string, pairs ...string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("scenarios", shipped)) // from the root: see chdirRoot
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for i := 0; i+1 < len(pairs); i += 2 {
		if !strings.Contains(s, pairs[i]) {
			t.Fatalf("%q not in %s", pairs[i], shipped)
		}
		s = strings.Replace(s, pairs[i], pairs[i+1], 1)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// badKind has one loader problem at 80:11, with a hint.
func badKind(t *testing.T, dir, name string) string {
	return editedScenario(t, dir, name, "orders-canary-latency.yaml", "kind: latency", "kind: latncy")
}

// chdirRoot runs the test from the repository root, where the shipped
// scenarios' build: paths resolve (validate looks them up from the
// working directory, as a run does), and returns the root.
func chdirRoot(t *testing.T) string {
	t.Helper()
	root := repoRoot(t) // relative to the package's folder: before Chdir
	t.Chdir(root)
	return root
}

// TestValidateTextOutput: the text output is what it always was,
// file:line:col: message and the hint on stderr, exit 2.
func TestValidateTextOutput(t *testing.T) {
	chdirRoot(t)
	f := badKind(t, t.TempDir(), "k.yaml")
	code, stdout, stderr := runCLI(t, "validate", f)
	if code != ExitInvalid || stdout != "" {
		t.Errorf("exit %d stdout %q, want 2 and nothing on stdout", code, stdout)
	}
	want := f + `:80:11: unknown fault kind "latncy" (known: `
	if !strings.HasPrefix(stderr, want) || !strings.Contains(stderr, "\n    hint: did you mean \"latency\"?\n") {
		t.Errorf("stderr:\n%s\nwant it to start %q with the hint on the next line", stderr, want)
	}
	if code, stdout, _ := runCLI(t, "validate", "scenarios/orders-canary-latency.yaml", "--format", "text"); code != ExitOK || stdout != "ok scenarios/orders-canary-latency.yaml\n" {
		t.Errorf("a shipped scenario: exit %d, stdout %q", code, stdout)
	}
}

// TestValidateReportsFileProblems: validate says at once, with their
// positions, what a run would only find when it builds and migrates.
func TestValidateReportsFileProblems(t *testing.T) {
	root := chdirRoot(t)
	dir := t.TempDir()
	f := editedScenario(t, dir, "files.yaml", "orders-canary-latency.yaml",
		"build: fixtures/pricing", "build: fixtures/pricng",
		"v2: {migration: 2,", "v2: {migration: 9,")
	code, _, stderr := runCLI(t, "validate", f)
	if code != ExitInvalid {
		t.Errorf("exit %d, want 2", code)
	}
	for _, want := range []string{
		f + `:19:14: service "pricing": build directory "fixtures/pricng" not found`,
		f + `:33:25: service "orders" version "v2": no migration 9 in ` + filepath.Join(root, "fixtures/orders/migrations/sqlite"),
		"    hint: migrations there: 1, 2, 3;",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	// drill plan stays what it was: the loader and the provider only.
	if code, _, stderr := runCLI(t, "plan", f); code != ExitOK {
		t.Errorf("plan: exit %d, want 0\n%s", code, stderr)
	}
}

type validateJSON struct {
	Files []struct {
		File string `json:"file"`
		OK   bool   `json:"ok"`
	} `json:"files"`
	Problems []map[string]any `json:"problems"`
}

func TestValidateJSON(t *testing.T) {
	chdirRoot(t)
	dir := t.TempDir()
	bad := badKind(t, dir, "k.yaml")
	good := "scenarios/orders-canary-killed.yaml" // no warning either
	missing := filepath.Join(dir, "missing.yaml")
	code, stdout, stderr := runCLI(t, "validate", "--format", "json", good, bad, missing)
	if code != ExitInvalid || stderr != "" {
		t.Errorf("exit %d, stderr %q: want 2 and nothing on stderr", code, stderr)
	}
	var doc validateJSON
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, stdout)
	}
	if len(doc.Files) != 3 || !doc.Files[0].OK || doc.Files[1].OK || doc.Files[2].OK || doc.Files[1].File != bad {
		t.Errorf("files %+v: want good ok, bad and missing not", doc.Files)
	}
	if len(doc.Problems) != 2 {
		t.Fatalf("problems %v: want 2", doc.Problems)
	}
	p := doc.Problems[0]
	if p["file"] != bad || p["line"] != 80.0 || p["col"] != 11.0 || p["severity"] != "error" ||
		!strings.HasPrefix(p["message"].(string), `unknown fault kind "latncy"`) || p["hint"] != `did you mean "latency"?` {
		t.Errorf("problem %v", p)
	}
	// A file that cannot be read has no place in it: line and col 0.
	if p := doc.Problems[1]; p["file"] != missing || p["line"] != 0.0 || p["col"] != 0.0 || !strings.Contains(p["message"].(string), "no such file") {
		t.Errorf("problem %v", p)
	}
	for _, k := range []string{"file", "line", "col", "message", "hint", "severity"} {
		if _, ok := doc.Problems[1][k]; !ok {
			t.Errorf("problem %v lacks %q: every key is always there", doc.Problems[1], k)
		}
	}

	// Nothing wrong: exit 0, problems is [] (not null), no "ok" lines.
	code, stdout, _ = runCLI(t, "validate", good, "--format=json")
	if code != ExitOK || !strings.Contains(stdout, `"problems": []`) {
		t.Errorf("exit %d, stdout:\n%s\nwant 0 and an empty problems list", code, stdout)
	}
}

func TestValidateGitHub(t *testing.T) {
	chdirRoot(t)
	dir := t.TempDir()
	// "," and ":" in a file name would end the property or its value.
	bad := badKind(t, dir, "a,b:c%.yaml")
	missing := filepath.Join(dir, "gone.yaml")
	code, stdout, stderr := runCLI(t, "validate", "--format", "github", bad, missing)
	if code != ExitInvalid || stderr != "" {
		t.Errorf("exit %d, stderr %q: want 2 and nothing on stderr", code, stderr)
	}
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("want one command per problem, 2, got:\n%s", stdout)
	}
	escDir := strings.NewReplacer("%", "%25", ":", "%3A", ",", "%2C").Replace(dir)
	want := "::error file=" + escDir + "/a%2Cb%3Ac%25.yaml,line=80,col=11::unknown fault kind \"latncy\" (known: abort, "
	if !strings.HasPrefix(lines[0], want) || !strings.HasSuffix(lines[0], "%0Ahint: did you mean \"latency\"?") {
		t.Errorf("got  %s\nwant %s… ending in the hint after an escaped newline", lines[0], want)
	}
	// No line, no line property.
	if want := "::error file=" + escDir + "/gone.yaml::load scenario: "; !strings.HasPrefix(lines[1], want) {
		t.Errorf("got  %s\nwant %s…", lines[1], want)
	}
	// Nothing wrong: nothing printed, exit 0.
	if code, stdout, _ := runCLI(t, "validate", "--format", "github", "scenarios/orders-canary-killed.yaml"); code != ExitOK || stdout != "" {
		t.Errorf("a good scenario: exit %d, stdout %q; want 0 and nothing", code, stdout)
	}
}

// TestGitHubEscaping: GitHub's own rules (@actions/core escapeData and
// escapeProperty); a raw newline in a message would start a new command.
func TestGitHubEscaping(t *testing.T) {
	if got, want := escapeGitHubData("50% of a\r\nb: c, d"), "50%25 of a%0D%0Ab: c, d"; got != want {
		t.Errorf("data: got %q, want %q", got, want)
	}
	if got, want := escapeGitHubProperty("x%y\r\nz:w,v"), "x%25y%0D%0Az%3Aw%2Cv"; got != want {
		t.Errorf("property: got %q, want %q", got, want)
	}
	var b strings.Builder
	err := renderValidateGitHub(&b, nil, []diagnostic{{File: "f.yaml", Line: 3, Col: 1, Message: "two\nlines ::error::injected", Severity: "error"}})
	if err != nil || b.String() != "::error file=f.yaml,line=3,col=1::two%0Alines ::error::injected\n" {
		t.Errorf("got %q, %v", b.String(), err)
	}
}

// thinCanary writes a copy of the latency canary (the demo, judged by the
// sequential judge) under the threshold judge, with Flagger's bounds,
// whose p99 check (74:18) gets about 25 canary requests an interval at
// its 10% step, each old string of pairs then replaced by the new one
// after it.
func thinCanary(t *testing.T, dir, name string, pairs ...string) string {
	return editedScenario(t, dir, name, "orders-canary-latency.yaml", append([]string{
		"rate: 200/s", "rate: 250/s",
		"judge: sequential", "judge: threshold",
		"{metric: error_rate}", "{metric: error_rate, max_increase: 1%}",
	}, pairs...)...)
}

// thinWarning is the start of thinCanary's warning after its position.
const thinWarning = ":74:18: warning: latency_p99 under judge threshold: about 25 canary requests an interval at step 1 (250/s × 10% × 1s), fewer than the 100 it needs"

// TestValidateWarnings: a threshold p99 check from too few requests an
// interval is a warning in all three formats, at the check's metric, and
// the file is valid (exit 0); enough requests, or the sequential judge,
// and there is none.
func TestValidateWarnings(t *testing.T) {
	chdirRoot(t)
	dir := t.TempDir()
	thin := thinCanary(t, dir, "thin.yaml")

	code, stdout, stderr := runCLI(t, "validate", thin)
	if code != ExitOK || stdout != "ok "+thin+"\n" {
		t.Errorf("text: exit %d, stdout %q; want 0 and the file ok", code, stdout)
	}
	if !strings.HasPrefix(stderr, thin+thinWarning) || !strings.Contains(stderr, "\n    hint: use interval: 4s, a higher load rate or step weight, latency_p95 (needs 20) or judge: sequential") {
		t.Errorf("text: stderr\n%s\nwant it to start %q, the hint on the next line", stderr, thin+thinWarning)
	}

	code, stdout, _ = runCLI(t, "validate", "--format", "json", thin)
	var doc validateJSON
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil || code != ExitOK {
		t.Fatalf("json: exit %d, %v\n%s", code, err, stdout)
	}
	if len(doc.Files) != 1 || !doc.Files[0].OK || len(doc.Problems) != 1 {
		t.Fatalf("json: %+v; want the file ok and one warning", doc)
	}
	if p := doc.Problems[0]; p["severity"] != "warning" || p["line"] != 74.0 || p["col"] != 18.0 ||
		!strings.HasPrefix(p["message"].(string), "latency_p99 under judge threshold: about 25") || !strings.Contains(p["hint"].(string), "judge: sequential") {
		t.Errorf("json: %v", p)
	}

	code, stdout, _ = runCLI(t, "validate", "--format", "github", thin)
	want := "::warning file=" + strings.NewReplacer(":", "%3A", ",", "%2C").Replace(thin) + ",line=74,col=18::latency_p99 under judge threshold: about 25 canary requests an interval at step 1 (250/s × 10%25 × 1s)"
	if code != ExitOK || !strings.HasPrefix(stdout, want) || strings.Count(stdout, "\n") != 1 || !strings.Contains(stdout, "%0Ahint: use interval: 4s") {
		t.Errorf("github: exit %d\n got %s\nwant %s…", code, stdout, want)
	}

	// A warning beside an error: both reported, the exit is the error's.
	bad := badKind(t, dir, "bad.yaml")
	if code, _, stderr := runCLI(t, "validate", thin, bad); code != ExitInvalid || !strings.Contains(stderr, thin+thinWarning) || !strings.Contains(stderr, bad+":80:11: unknown fault kind") {
		t.Errorf("warning and error: exit %d\n%s", code, stderr)
	}

	for _, quiet := range []string{
		thinCanary(t, dir, "rate.yaml", "rate: 250/s", "rate: 1000/s"),                                      // 100 an interval
		thinCanary(t, dir, "seq.yaml", "judge: threshold", "judge: sequential", ", max_increase: 1%}", "}"), // counts slow requests itself
		thinCanary(t, dir, "p95.yaml", "metric: latency_p99, max_ratio", "metric: latency_p95, max_ratio"),
	} {
		if code, stdout, stderr := runCLI(t, "validate", quiet); code != ExitOK || stdout != "ok "+quiet+"\n" || stderr != "" {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want ok and no warning", filepath.Base(quiet), code, stdout, stderr)
		}
	}
}

// TestRunAndPlanPrintWarnings: drill plan and drill run print the
// scenario's warnings first and go on: plan prints its timeline, run
// starts the drill (which stops at its missing build directory, so no
// process is started).
func TestRunAndPlanPrintWarnings(t *testing.T) {
	chdirRoot(t)
	dir := t.TempDir()
	thin := thinCanary(t, dir, "thin.yaml", "build: fixtures/pricing", "build: fixtures/no-such-dir")
	code, stdout, stderr := runCLI(t, "plan", thin)
	if code != ExitOK || !strings.HasPrefix(stderr, thin+thinWarning) || !strings.Contains(stdout, "timeline") {
		t.Errorf("plan: exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	code, _, stderr = runCLI(t, "run", thin, "--auto-approve", "--format", "none", "--out", filepath.Join(dir, "runs"), "--cache", filepath.Join(dir, "cache"))
	if code == ExitInvalid || code == ExitOK || !strings.HasPrefix(stderr, thin+thinWarning) ||
		!strings.Contains(stderr, `build directory "fixtures/no-such-dir" not found`) {
		t.Errorf("run: exit %d, want the warning first and a run that reached its build\n%s", code, stderr)
	}
	// In a suite a warning is printed and the drill is listed to run, not
	// an invalid case.
	suiteDir := filepath.Join(dir, "suite")
	if err := os.Mkdir(suiteDir, 0o755); err != nil {
		t.Fatal(err)
	}
	listed := thinCanary(t, suiteDir, "thin.yaml")
	code, stdout, stderr = runCLI(t, "run", suiteDir, "--list")
	if code != ExitOK || !strings.HasPrefix(stdout, listed+"\torders-canary-latency\t") || !strings.Contains(stderr, listed+thinWarning) {
		t.Errorf("suite --list: exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
}

func TestValidateUnknownFormat(t *testing.T) {
	code, _, stderr := runCLI(t, "validate", "--format", "xml", "x.yaml")
	if code != ExitInvalid || !strings.Contains(stderr, `unknown format "xml" (known: text, json, github)`) {
		t.Errorf("exit %d, stderr %s", code, stderr)
	}
}

// TestValidateOutputWriteFailure: json that cannot be written is the
// environment (3), as for drill report.
func TestValidateOutputWriteFailure(t *testing.T) {
	chdirRoot(t)
	var stderr strings.Builder
	c := &cli{stdout: failingWriter{}, stderr: &stderr}
	if code := runWith(t, c, "validate", "--format", "json", "scenarios/orders-canary-latency.yaml"); code != ExitEnvironment {
		t.Errorf("exit %d, want 3\n%s", code, stderr.String())
	}
}
