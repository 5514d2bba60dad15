package reports

import (
	"bytes"
	"encoding/xml"
	"strings"
	"testing"
	"time"
)

// testSuite is a suite with one drill of every kind of verdict.
func testSuite() (*Suite, []*Report) {
	pass := rolledBackReport()
	fail := failedReport()
	s := &Suite{SchemaVersion: SuiteSchemaVersion, StartedAt: t0, EndedAt: t0.Add(95 * time.Second),
		Args: []string{"scenarios/"}, Tags: []string{"nightly"}, Shard: "2/3", Parallel: 2, Retries: 1, CPUs: 2, Capacity: 1.4,
		Baseline: "last-night",
		Drills: []SuiteDrill{
			{File: "scenarios/a.yaml", Scenario: "orders-canary-latency", Tags: []string{"canary"}, Verdict: VerdictPassed,
				Attempts: []SuiteAttempt{{RunDir: "orders-canary-latency-1", Passed: true, Outcome: OutcomeRolledBack, Score: 92, Grade: "A", Seconds: 20}},
				Baseline: &SuiteBaseline{RunDir: "last-night/x", Score: 90, Delta: 2, Regressions: []string{}}},
			{File: "scenarios/b.yaml", Scenario: "b-flaky", Verdict: VerdictFlaky, Reason: "1 of 2 conclusive attempts passed",
				Attempts: []SuiteAttempt{{RunDir: "b-1", Failed: []string{"outcome: want rolled_back"}, Score: 40, Seconds: 30},
					{RunDir: "b-2", Passed: true, Score: 95, Seconds: 31}}},
			{File: "scenarios/c.yaml", Scenario: "c-starved", Verdict: VerdictInconclusive, Reason: "starved",
				Attempts: []SuiteAttempt{{RunDir: "c 1 (x)", Inconclusive: true, Evidence: []string{"3 of 10 windows stalled"}, Seconds: 12}}},
			{File: "scenarios/bad.yaml", Verdict: VerdictInvalid, Reason: "scenarios/bad.yaml:2:7: name",
				Problems: []string{"scenarios/bad.yaml:2:7: name \"Bad Name\" may only hold a-z, 0-9 and -"}},
			{File: "scenarios/gd.yaml", Scenario: "gameday", Verdict: VerdictSkipped, Reason: "needs people"},
		},
	}
	s.Tally()
	return s, []*Report{pass, fail, nil, nil, nil}
}

// TestSuiteJUnit: one document for the suite validates against the JUnit
// schema, with a test suite per drill whose first case is its verdict: a
// flaky drill is a failure, an inconclusive one an error, never a pass.
func TestSuiteJUnit(t *testing.T) {
	s, last := testSuite()
	var b bytes.Buffer
	if err := RenderSuiteJUnit(&b, s, last); err != nil {
		t.Fatal(err)
	}
	if out, err := xmllint(t, b.String()); err != nil {
		t.Fatalf("suite JUnit does not validate: %v\n%s\n%s", err, out, b.String())
	}
	var doc junitSuites
	if err := xml.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Suites) != len(s.Drills) {
		t.Fatalf("%d test suites for %d drills", len(doc.Suites), len(s.Drills))
	}
	want := []string{"pass", "failure:flaky", "error:inconclusive", "failure:invalid", "skipped"}
	for i, suite := range doc.Suites {
		v := suite.Cases[0]
		got := "pass"
		switch {
		case v.Failure != nil:
			got = "failure:" + v.Failure.Type
		case v.Error != nil:
			got = "error:" + v.Error.Type
		case v.Skipped != nil:
			got = "skipped"
		}
		if v.Name != "verdict" || got != want[i] {
			t.Errorf("%s: first case %q is %s, want verdict %s", suite.Name, v.Name, got, want[i])
		}
	}
	// The drills that ran carry their expectations and phases too.
	if len(doc.Suites[0].Cases) < 5 || doc.Suites[3].Name != "drill.scenarios/bad.yaml" {
		t.Errorf("suites %q with %d cases", doc.Suites[3].Name, len(doc.Suites[0].Cases))
	}
	if !strings.Contains(b.String(), "attempt 1: failed") || !strings.Contains(b.String(), "attempt 2: passed") {
		t.Errorf("the flaky drill's attempts are not told:\n%s", b.String())
	}
	total := 0
	for _, suite := range doc.Suites {
		total += suite.Tests
	}
	if doc.Tests != total || doc.Failures < 2 || doc.Errors < 1 {
		t.Errorf("totals tests %d (suites %d) failures %d errors %d", doc.Tests, total, doc.Failures, doc.Errors)
	}
}

// TestSuiteIndex: the index says the suite failed and why, links every
// attempt's report relative to the suite's directory, shows the score
// trend against the baseline, the worst and slowest drills, and its HTML
// page fetches nothing.
func TestSuiteIndex(t *testing.T) {
	s, _ := testSuite()
	var md, page bytes.Buffer
	if err := RenderSuiteMarkdown(&md, s, "report.md"); err != nil {
		t.Fatal(err)
	}
	if err := RenderSuiteHTML(&page, s, "report.html"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"# drill suite: FAIL",
		"5 drills: 1 passed, 1 flaky, 1 inconclusive, 1 invalid, 1 skipped.",
		"shard 2/3",
		"[orders-canary-latency](<orders-canary-latency-1/report.md>)",
		"[b-1](<b-1/report.md>)", "[b-2](<b-2/report.md>)",
		"(<c 1 (x)/report.md>)",
		"90 → +2",
		"mean score 92.0 against 90.0 (+2.0); 0 regressed",
		"## Worst drills", "## Slowest drills",
		"- 61s [b-flaky](<b-2/report.md>) (2 attempts)",
		"`scenarios/bad.yaml:2:7: name \"Bad Name\" may only hold a-z, 0-9 and -`",
		"3 of 10 windows stalled",
	} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("index.md lacks %q:\n%s", want, md.String())
		}
	}
	html := page.String()
	for _, want := range []string{`<a href="orders-canary-latency-1/report.html">`, `<a href="c%201%20(x)/report.html">`, "<title>drill suite — FAIL</title>"} {
		if !strings.Contains(html, want) {
			t.Errorf("index.html lacks %q", want)
		}
	}
	for _, bad := range []string{"<script", "http://", "https://", "<link"} {
		if strings.Contains(html, bad) {
			t.Errorf("index.html holds %q: it must be self-contained", bad)
		}
	}
	worst := s.Worst(5)
	if worst[0].Verdict != VerdictInvalid && worst[0].Verdict != VerdictFlaky {
		t.Errorf("worst first: %s", worst[0].Verdict)
	}
	if slow := s.Slowest(1); len(slow) != 1 || slow[0].Scenario != "b-flaky" {
		t.Errorf("slowest %+v", slow)
	}
}

// TestHostJudge: each piece of evidence past its limit makes a drill
// inconclusive, with the limit said; below every limit it is not.
func TestHostJudge(t *testing.T) {
	for _, tt := range []struct {
		name string
		h    Host
		want string
	}{
		{"clean", Host{Windows: 20, StalledWindows: 2, WorstStallMs: 400, StealPercent: 3, LoadExpected: 1000, LoadSent: 950}, ""},
		{"stalls", Host{Windows: 20, StalledWindows: 3}, "3 of 20 windows"},
		{"long stall", Host{Windows: 20, StalledWindows: 1, WorstStallMs: 1500}, "1500 ms at once"},
		{"steal", Host{StealPercent: 25}, "stole 25.0%"},
		{"load", Host{LoadExpected: 1000, LoadSent: 800}, "sent 800 of the 1000"},
	} {
		h := tt.h
		h.Judge()
		r := &Report{Passed: true, Host: &h}
		if got := strings.Join(h.Evidence, "; "); h.Starved != (tt.want != "") || !strings.Contains(got, tt.want) {
			t.Errorf("%s: starved %v, evidence %q; want %q", tt.name, h.Starved, got, tt.want)
		}
		if wantVerdict := map[bool]string{true: "INCONCLUSIVE", false: "PASS"}[tt.want != ""]; r.Verdict() != wantVerdict {
			t.Errorf("%s: verdict %s, want %s", tt.name, r.Verdict(), wantVerdict)
		}
	}
}

// TestInconclusiveRendered: a starved drill says so, with its evidence,
// in the summary, the Markdown and the JUnit (as an error).
func TestInconclusiveRendered(t *testing.T) {
	r := rolledBackReport()
	r.Tags = []string{"canary", "nightly"}
	r.Host = &Host{Windows: 10, StalledWindows: 4, CPUs: 2}
	r.Host.Judge()
	for format, want := range map[string][]string{
		"table":    {"INCONCLUSIVE", "4 of 10 windows", "tags: canary, nightly"},
		"markdown": {"INCONCLUSIVE", "**Inconclusive:**", "Tags: `canary` `nightly`"},
		"junit":    {`<testcase name="machine"`, `type="inconclusive"`, `<property name="tags" value="canary,nightly">`},
	} {
		got := render(t, format, r)
		for _, w := range want {
			if !strings.Contains(got, w) {
				t.Errorf("%s lacks %q:\n%s", format, w, got)
			}
		}
	}
}
