package reports

import (
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const junitSchema = "testdata/junit-schema/junit.xsd"

// steppedReport is rolledBackReport with a journal that shows two rollout
// steps, the rollback decision falling during the second.
func steppedReport() *Report {
	r := rolledBackReport()
	r.Timeline = []Event{
		{T: at(0), Event: "run.start"},
		{T: at(10), Event: "step.start", Fields: map[string]any{"step": 1, "weight": 0.05, "hold": "10s"}},
		{T: at(20), Event: "step.end", Fields: map[string]any{"step": 1}},
		{T: at(20), Event: "step.start", Fields: map[string]any{"step": float64(2), "weight": 0.1, "hold": "30s"}},
		{T: at(22.4), Event: "decision.rollback"},
	}
	return r
}

// notIdempotentReport has a rollback whose second run changed something and
// that never recovered.
func notIdempotentReport() *Report {
	r := rolledBackReport()
	r.Rollback.Idempotent = false
	r.Rollback.Steps[3].OK = false
	r.Rollback.Steps[3].Detail = "migrate down 2 -> 1: lock timeout after 5s"
	r.Rollback.Rerun = []Step{
		{Name: "route-baseline", OK: true, Detail: "already 0%", At: at(35)},
		{Name: "migrate-down", OK: true, Changed: true, Detail: "ordersdb 2 -> 1", At: at(35.4)},
	}
	r.RecoveredAt, r.RecoverySeconds = nil, nil
	Evaluate(r)
	return r
}

// junitReports are the golden reports and two that only the JUnit
// renderer treats apart: a rollout of several steps and a rollback that is
// not idempotent.
func junitReports() []goldenReport {
	return append(goldenReports(),
		goldenReport{"stepped", steppedReport()},
		goldenReport{"not_idempotent", notIdempotentReport()})
}

// TestJUnitGolden checks the two JUnit-only reports (TestGolden checks the
// others).
func TestJUnitGolden(t *testing.T) {
	for _, tt := range junitReports()[len(goldenReports()):] {
		t.Run(tt.name, func(t *testing.T) {
			got := render(t, "junit", tt.report)
			checkGolden(t, "junit_"+tt.name+".golden", got)
		})
	}
}

// xmllint validates a document against the schema. Its absence fails the
// test rather than skipping it: the schema check is the point.
func xmllint(t *testing.T, doc string) (string, error) {
	t.Helper()
	bin, err := exec.LookPath("xmllint")
	if err != nil {
		t.Fatalf("xmllint not found in PATH: it validates the JUnit output against %s; "+
			"install Debian's libxml2-utils package (apt-get install libxml2-utils)", junitSchema)
	}
	f := filepath.Join(t.TempDir(), "junit.xml")
	if err := os.WriteFile(f, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "--noout", "--schema", junitSchema, f).CombinedOutput()
	return string(out), err
}

func TestJUnitValidatesAgainstSchema(t *testing.T) {
	reports := junitReports()
	reports = append(reports, goldenReport{"escaping", escapingReport()})
	for _, tt := range reports {
		t.Run(tt.name, func(t *testing.T) {
			if out, err := xmllint(t, render(t, "junit", tt.report)); err != nil {
				t.Errorf("output does not validate against %s: %v\n%s", junitSchema, err, out)
			}
		})
	}
}

// TestJUnitSchemaRejects makes sure the validation above can fail: the
// schema rejects a test case without a name and a negative count.
func TestJUnitSchemaRejects(t *testing.T) {
	for name, doc := range map[string]string{
		"testcase without name": `<testsuites><testsuite name="s" tests="1"><testcase classname="c"/></testsuite></testsuites>`,
		"negative count":        `<testsuites><testsuite name="s" tests="-1"/></testsuites>`,
		"unknown element":       `<testsuites><testsuite name="s" tests="0"><bogus/></testsuite></testsuites>`,
		"bad time":              `<testsuites><testsuite name="s" tests="0" time="1.5s"/></testsuites>`,
	} {
		t.Run(name, func(t *testing.T) {
			if out, err := xmllint(t, doc); err == nil {
				t.Errorf("schema accepted an invalid document:\n%s\n%s", doc, out)
			}
		})
	}
}

// escapingReport puts XML's special characters, and a control character
// XML cannot hold, in names and messages.
func escapingReport() *Report {
	r := failedReport()
	r.Scenario = `a<b & "c" 'd'>`
	r.RunID = `run "1" <&>`
	r.Error = "proxy said <html> & \"bye\"\x01"
	r.Expectations = append(r.Expectations, Expectation{Name: `x<y & "z"`, OK: false, Detail: `got <1> & "2" ]]> end`})
	r.Leftovers = []string{`file "/tmp/a&b<c>"`}
	return r
}

type parsedResult struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

type parsedCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *parsedResult `xml:"failure"`
	Error     *parsedResult `xml:"error"`
	Skipped   *parsedResult `xml:"skipped"`
}

type parsedSuite struct {
	Name       string `xml:"name,attr"`
	Tests      string `xml:"tests,attr"`
	Failures   string `xml:"failures,attr"`
	Errors     string `xml:"errors,attr"`
	Skipped    string `xml:"skipped,attr"`
	Time       string `xml:"time,attr"`
	Timestamp  string `xml:"timestamp,attr"`
	Properties []struct {
		Name  string `xml:"name,attr"`
		Value string `xml:"value,attr"`
	} `xml:"properties>property"`
	Cases     []parsedCase `xml:"testcase"`
	SystemOut string       `xml:"system-out"`
}

type parsedSuites struct {
	XMLName  xml.Name      `xml:"testsuites"`
	Tests    string        `xml:"tests,attr"`
	Failures string        `xml:"failures,attr"`
	Errors   string        `xml:"errors,attr"`
	Skipped  string        `xml:"skipped,attr"`
	Suites   []parsedSuite `xml:"testsuite"`
}

func parseJUnit(t *testing.T, doc string) parsedSuites {
	t.Helper()
	var s parsedSuites
	if err := xml.Unmarshal([]byte(doc), &s); err != nil {
		t.Fatalf("output is not well-formed XML: %v\n%s", err, doc)
	}
	if len(s.Suites) != 1 {
		t.Fatalf("%d test suites, want 1", len(s.Suites))
	}
	return s
}

func TestJUnitEscaping(t *testing.T) {
	r := escapingReport()
	doc := render(t, "junit", r)
	s := parseJUnit(t, doc)
	suite := s.Suites[0]
	if want := "drill." + r.Scenario; suite.Name != want {
		t.Errorf("suite name %q, want %q", suite.Name, want)
	}
	if suite.Properties[0].Value != r.RunID {
		t.Errorf("run_id property %q, want %q", suite.Properties[0].Value, r.RunID)
	}
	byName := map[string]parsedCase{}
	for _, c := range suite.Cases {
		byName[c.Name] = c
		if c.Classname != "drill."+r.Scenario {
			t.Errorf("case %q classname %q", c.Name, c.Classname)
		}
	}
	x, ok := byName[`expect x<y & "z"`]
	if !ok || x.Failure == nil || x.Failure.Message != `got <1> & "2" ]]> end` {
		t.Errorf("escaped expectation did not round-trip: %+v", x)
	}
	run := byName["run"]
	if run.Error == nil || !strings.Contains(run.Error.Message, "proxy said <html> & \"bye\"\uFFFD") {
		t.Errorf("run error did not round-trip (control character replaced): %+v", run.Error)
	}
	h := byName["hygiene"]
	if h.Failure == nil || !strings.Contains(h.Failure.Message, `file "/tmp/a&b<c>"`) ||
		!strings.Contains(h.Failure.Text, `left behind: file "/tmp/a&b<c>"`) {
		t.Errorf("hygiene failure did not round-trip: %+v", h.Failure)
	}
	if !strings.Contains(suite.SystemOut, `error: proxy said <html> & "bye"`) {
		t.Errorf("system-out lacks the escaped error:\n%s", suite.SystemOut)
	}
	// Outside CDATA sections nothing special may appear unescaped.
	outside := doc
	for {
		i := strings.Index(outside, "<![CDATA[")
		if i < 0 {
			break
		}
		j := strings.Index(outside[i:], "]]>")
		outside = outside[:i] + outside[i+j+3:]
	}
	for _, raw := range []string{`<b`, `<html>`, `<y`, `<1>`, "& ", "\x01"} {
		if strings.Contains(outside, raw) {
			t.Errorf("unescaped %q outside CDATA", raw)
		}
	}
}

func TestJUnitCounts(t *testing.T) {
	reports := junitReports()
	reports = append(reports, goldenReport{"escaping", escapingReport()})
	for _, tt := range reports {
		t.Run(tt.name, func(t *testing.T) {
			s := parseJUnit(t, render(t, "junit", tt.report))
			suite := s.Suites[0]
			var failures, errs, skipped int
			for _, c := range suite.Cases {
				n := 0
				for _, res := range []*parsedResult{c.Failure, c.Error, c.Skipped} {
					if res != nil {
						n++
					}
				}
				if n > 1 {
					t.Errorf("case %q has %d results, want at most 1", c.Name, n)
				}
				switch {
				case c.Failure != nil:
					failures++
					if c.Failure.Message == "" {
						t.Errorf("case %q: failure without a message", c.Name)
					}
				case c.Error != nil:
					errs++
				case c.Skipped != nil:
					skipped++
				}
			}
			for _, check := range []struct {
				attr, suite, suites string
				want                int
			}{
				{"tests", suite.Tests, s.Tests, len(suite.Cases)},
				{"failures", suite.Failures, s.Failures, failures},
				{"errors", suite.Errors, s.Errors, errs},
				{"skipped", suite.Skipped, s.Skipped, skipped},
			} {
				w := strconv.Itoa(check.want)
				if check.suite != w || check.suites != w {
					t.Errorf("%s: testsuite %q, testsuites %q, but the test cases count %s", check.attr, check.suite, check.suites, w)
				}
			}
		})
	}
}

func TestJUnitCases(t *testing.T) {
	cases := func(r *Report) map[string]parsedCase {
		s := parseJUnit(t, render(t, "junit", r))
		m := map[string]parsedCase{}
		for _, c := range s.Suites[0].Cases {
			m[c.Name] = c
		}
		return m
	}
	msg := func(res *parsedResult) string {
		if res == nil {
			return "<none>"
		}
		return res.Message
	}
	t.Run("rolled back", func(t *testing.T) {
		c := cases(rolledBackReport())
		for _, name := range []string{"expect outcome", "expect detect_within", "expect recover_within", "expect min_score",
			"steady state", "rollback", "recovery", "data", "hygiene"} {
			if got, ok := c[name]; !ok || got.Failure != nil || got.Error != nil || got.Skipped != nil {
				t.Errorf("%q: want a passing case, got %+v (present %v)", name, got, ok)
			}
		}
		if _, ok := c["run"]; ok {
			t.Error(`a "run" case for a run without error`)
		}
		// The rollback was expected: the rollout case passes.
		if got, ok := c["rollout"]; !ok || got.Failure != nil {
			t.Errorf("rollout: %+v (present %v), want a pass: the scenario expected the rollback", got, ok)
		}
		// The same rollback of a canary expected to be promoted fails it.
		unexpected := rolledBackReport()
		unexpected.Expect.Outcome = OutcomePromoted
		if got := msg(cases(unexpected)["rollout"].Failure); got != "rollback decided at +22.4s: latency_p99 canary/baseline 2.1 > max_ratio 1.5 (SPRT, 24 windows)" {
			t.Errorf("rollout failure %q", got)
		}
	})
	t.Run("stepped", func(t *testing.T) {
		r := steppedReport()
		r.Expect.Outcome = OutcomePromoted // the rollback fails the step it fell in
		c := cases(r)
		one, two := c["rollout step 1 (5% for 10s)"], c["rollout step 2 (10% for 30s)"]
		if one.Name == "" || one.Failure != nil || one.Time != "10" {
			t.Errorf("step 1: %+v", one)
		}
		if two.Failure == nil || !strings.Contains(two.Failure.Message, "latency_p99 canary/baseline 2.1") || two.Time != "2.4" {
			t.Errorf("step 2: %+v", two)
		}
	})
	t.Run("failed", func(t *testing.T) {
		c := cases(failedReport())
		if got := c["run"]; got.Error == nil || got.Error.Message !=
			`interrupted: the run went through the safe abort; error: revert fault "db-partition": proxy not reachable` {
			t.Errorf("run: %+v", got.Error)
		}
		if got := msg(c["expect detect_within"].Failure); got != "never detected (limit 5s)" {
			t.Errorf("detect_within failure %q", got)
		}
		for _, want := range []string{"4 of 2900 acknowledged writes lost", "1 of 2900 acknowledged write changed",
			"2 of 2900 acknowledged writes duplicated", "schema not restored: schema_version 3 (dirty)",
			"+ column orders.status text null", "invariant totals-match is 17, expected 0 (off by 17)",
			"invariant no-negative could not be read: SQL logic error"} {
			if got := msg(c["data"].Failure); !strings.Contains(got, want) {
				t.Errorf("data failure %q lacks %q", got, want)
			}
		}
		if got := msg(c["hygiene"].Failure); got != "1 fault not reverted: db-partition; 2 things left behind: process orders-v2-0 (pid 4242), fault db-partition" {
			t.Errorf("hygiene failure %q", got)
		}
		for _, name := range []string{"steady state", "rollout", "rollback", "recovery"} {
			if c[name].Skipped == nil {
				t.Errorf("%q: want skipped, got %+v", name, c[name])
			}
		}
	})
	t.Run("not idempotent", func(t *testing.T) {
		c := cases(notIdempotentReport())
		got := msg(c["rollback"].Failure)
		for _, want := range []string{"1 of 6 rollback steps failed: step 4 migrate-down failed at +23.3s: migrate down 2 -> 1: lock timeout after 5s",
			"not idempotent: 1 of 2 rerun steps changed something: rerun step 2 migrate-down changed: ordersdb 2 -> 1"} {
			if !strings.Contains(got, want) {
				t.Errorf("rollback failure %q lacks %q", got, want)
			}
		}
		if got := msg(c["recovery"].Failure); got != "never recovered after the rollback: not within 42.9s of the decision, when the run ended (limit 30s)" {
			t.Errorf("recovery failure %q", got)
		}
	})
}
