package reports

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// RenderSuiteJUnit writes the suite as one JUnit document, the one file a
// CI system reads for the whole suite: a test suite per drill, named
// drill.<scenario> (drill.<file> for a file that did not load), whose
// first test case, "verdict", is the drill's suite verdict, followed by
// its last attempt's expectations and phases as `drill report --format
// junit` writes them. last holds each drill's last report, in s.Drills'
// order (nil where the drill never ran or its report could not be read).
//
// A flaky drill's verdict is a failure of type "flaky", an inconclusive
// one an error of type "inconclusive": neither is ever a pass.
func RenderSuiteJUnit(w io.Writer, s *Suite, last []*Report) error {
	doc := junitSuites{Name: "drill suite", Time: junitTime(s.EndedAt.Sub(s.StartedAt).Seconds())}
	for i, d := range s.Drills {
		var r *Report
		if i < len(last) {
			r = last[i]
		}
		suite := suiteDrillJUnit(d, r)
		doc.Tests += suite.Tests
		doc.Failures += suite.Failures
		doc.Errors += suite.Errors
		doc.Skipped += suite.Skipped
		doc.Suites = append(doc.Suites, suite)
	}
	return writeJUnit(w, doc)
}

// suiteDrillJUnit is one drill's test suite.
func suiteDrillJUnit(d SuiteDrill, r *Report) junitSuite {
	var suite junitSuite
	if r != nil {
		suite = junitSuiteOf(r)
	} else {
		name := "drill." + d.Scenario
		if d.Scenario == "" {
			name = "drill." + d.File
		}
		suite = junitSuite{Name: name, Time: "0"}
	}
	suite.Time = junitTime(d.Seconds())
	verdict := junitCaseOf(suite.Name, "verdict", d.Seconds(), suiteVerdictResult(d))
	suite.Cases = append([]junitCase{verdict}, suite.Cases...)
	props := []junitProperty{
		{"file", d.File},
		{"verdict", d.Verdict},
		{"attempts", strconv.Itoa(len(d.Attempts))},
	}
	if r == nil {
		// A drill that ran has its report's tags among its properties.
		props = append(props, junitProperty{"tags", strings.Join(d.Tags, ",")})
	}
	if b := d.Baseline; b != nil {
		props = append(props, junitProperty{"baseline_score", strconv.Itoa(b.Score)}, junitProperty{"score_delta", strconv.Itoa(b.Delta)})
	}
	for i := range props {
		props[i].Value = xmlSafe(props[i].Value)
	}
	suite.Properties = append(props, suite.Properties...)
	suite.Tests, suite.Failures, suite.Errors, suite.Skipped = len(suite.Cases), 0, 0, 0
	for _, c := range suite.Cases {
		switch {
		case c.Error != nil:
			suite.Errors++
		case c.Failure != nil:
			suite.Failures++
		case c.Skipped != nil:
			suite.Skipped++
		}
	}
	return suite
}

// suiteVerdictResult is the "verdict" case's result: nil for a pass.
func suiteVerdictResult(d SuiteDrill) *junitResult {
	msg := d.Verdict
	if d.Reason != "" {
		msg += ": " + d.Reason
	}
	var text []string
	text = append(text, d.Problems...)
	for i, a := range d.Attempts {
		text = append(text, fmt.Sprintf("attempt %d: %s in %s, %s", i+1, attemptWord(a), secs(a.Seconds), a.RunDir))
		for _, f := range a.Failed {
			text = append(text, "  "+f)
		}
		for _, e := range a.Evidence {
			text = append(text, "  starved: "+e)
		}
		if a.Error != "" {
			text = append(text, "  error: "+a.Error)
		}
	}
	if b := d.Baseline; b != nil {
		for _, reg := range b.Regressions {
			text = append(text, "regression against "+b.RunDir+": "+reg)
		}
	}
	res := &junitResult{Message: msg, Type: d.Verdict, Text: strings.Join(text, "\n")}
	switch d.Verdict {
	case VerdictPassed:
		return nil
	case VerdictInconclusive, VerdictError, VerdictInterrupted:
		res.kind = "error"
	case VerdictSkipped:
		res.kind = "skipped"
	}
	return res
}

// attemptWord is an attempt's verdict in one word.
func attemptWord(a SuiteAttempt) string {
	switch {
	case a.TimedOut:
		return "timed out"
	case a.Inconclusive:
		return "inconclusive"
	case a.Passed:
		return "passed"
	case a.Error != "" && a.Outcome == "":
		return "error"
	}
	return "failed"
}

// suiteStamp formats a suite time for humans.
func suiteStamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}
