package reports

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/drillhq/drill/harness/journal"
)

func init() {
	RegisterFile("junit", "junit.xml", "JUnit XML for CI: one test case per expectation and drill phase, failures say by how much",
		RendererFunc(renderJUnit))
}

// The JUnit document, as the Jenkins/Ant schema CI systems read it
// (testdata/junit-schema/junit.xsd). Attribute order is field order.

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Timestamp  string          `xml:"timestamp,attr,omitempty"`
	Properties []junitProperty `xml:"properties>property"`
	Cases      []junitCase     `xml:"testcase"`
	SystemOut  *junitText      `xml:"system-out,omitempty"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string       `xml:"name,attr"`
	Classname string       `xml:"classname,attr"`
	Time      string       `xml:"time,attr"`
	Skipped   *junitResult `xml:"skipped,omitempty"`
	Error     *junitResult `xml:"error,omitempty"`
	Failure   *junitResult `xml:"failure,omitempty"`
}

// junitResult is a failure, error or skipped element: a one-line message
// attribute, and a body with the details one per line.
type junitResult struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Text    string `xml:",cdata"`
	kind    string // failure (""), error or skipped
}

type junitText struct {
	Text string `xml:",cdata"`
}

// renderJUnit writes r as a JUnit XML document with one test suite,
// drill.<scenario>: a test case per expectation and one per phase of the
// drill (steady state, each rollout step, rollback, recovery, data,
// hygiene), so that a CI system shows which part of a drill failed and by
// how much. A phase that did not happen is skipped; an interrupted run or a
// run error is an error in a test case named "run".
func renderJUnit(w io.Writer, r *Report) error {
	suite := junitSuiteOf(r)
	doc := junitSuites{
		Name: "drill", Tests: suite.Tests, Failures: suite.Failures, Errors: suite.Errors,
		Skipped: suite.Skipped, Time: suite.Time, Suites: []junitSuite{suite},
	}
	return writeJUnit(w, doc)
}

// writeJUnit writes a JUnit document, indented, after the XML header;
// nothing is written when it cannot be encoded.
func writeJUnit(w io.Writer, doc junitSuites) error {
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	enc := xml.NewEncoder(&buf)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("junit: %w", err)
	}
	buf.WriteString("\n")
	_, err := w.Write(buf.Bytes())
	return err
}

// junitSuiteOf is the drill's one test suite: its cases with their
// counts, the run's identity as properties, and the terminal summary as
// system-out.
func junitSuiteOf(r *Report) junitSuite {
	class := "drill." + r.Scenario
	cases := junitCases(r, class)
	s := junitSuite{
		Name:  class,
		Tests: len(cases),
		Time:  "0",
		Properties: []junitProperty{
			{"run_id", r.RunID},
			{"provider", r.Provider},
			{"seed", strconv.FormatInt(r.Seed, 10)},
			{"outcome", string(r.Outcome)},
			{"score", strconv.Itoa(r.Score.Total)},
			{"grade", r.Score.Grade},
		},
		Cases: cases,
	}
	if len(r.Tags) > 0 {
		s.Properties = append(s.Properties, junitProperty{"tags", strings.Join(r.Tags, ",")})
	}
	for i := range s.Properties {
		s.Properties[i].Value = xmlSafe(s.Properties[i].Value)
	}
	for _, c := range cases {
		switch {
		case c.Error != nil:
			s.Errors++
		case c.Failure != nil:
			s.Failures++
		case c.Skipped != nil:
			s.Skipped++
		}
	}
	if !r.StartedAt.IsZero() {
		s.Timestamp = r.StartedAt.Format(time.RFC3339)
		if !r.EndedAt.IsZero() {
			s.Time = junitTime(r.EndedAt.Sub(r.StartedAt).Seconds())
		}
	}
	var table bytes.Buffer
	if err := renderTable(&table, r); err == nil {
		s.SystemOut = &junitText{xmlSafe(table.String())}
	}
	return s
}

// junitCases are the suite's test cases in the order of the drill: the
// run's error if any, the expectations, then one case per phase.
func junitCases(r *Report, class string) []junitCase {
	var cases []junitCase
	add := func(name string, seconds float64, res ...*junitResult) {
		cases = append(cases, junitCaseOf(class, name, seconds, res...))
	}
	if msg := runError(r); msg != "" {
		typ := "error"
		if r.Interrupted {
			typ = "interrupted"
		}
		add("run", 0, &junitResult{Message: msg, Type: typ, kind: "error"})
	}
	if msg := r.starvedText(); msg != "" {
		// Neither a pass nor a failure: an error, which CI shows as such.
		add("machine", 0, &junitResult{Message: msg, Type: "inconclusive", Text: strings.Join(r.Host.Evidence, "\n"), kind: "error"})
	}
	for _, e := range r.Expectations {
		var res *junitResult
		if !e.OK {
			res = fail("expectation", e.Detail)
		}
		add("expect "+e.Name, 0, res)
	}
	add("steady state", 0, steadyStateResult(r))
	for _, s := range rolloutSteps(r) {
		add(s.name, s.seconds, s.res)
	}
	rbSeconds, rb := rollbackResult(r)
	add("rollback", rbSeconds, rb)
	recSeconds, rec := recoveryResult(r)
	add("recovery", recSeconds, rec)
	add("data", 0, dataResult(r))
	add("hygiene", 0, hygieneResult(r))
	return cases
}

// junitCaseOf is one test case with its results (nil ones are passes),
// each put in the element its kind says, its text made safe for XML.
func junitCaseOf(class, name string, seconds float64, res ...*junitResult) junitCase {
	c := junitCase{Name: name, Classname: class, Time: junitTime(seconds)}
	for _, x := range res {
		if x == nil {
			continue
		}
		x.Message, x.Text = xmlSafe(x.Message), xmlSafe(x.Text)
		switch x.kind {
		case "skipped":
			c.Skipped = x
		case "error":
			c.Error = x
		default:
			c.Failure = x
		}
	}
	return c
}

func fail(typ, msg string, details ...string) *junitResult {
	return &junitResult{Message: msg, Type: typ, Text: junitBody(details)}
}

func skip(msg string) *junitResult { return &junitResult{Message: msg, kind: "skipped"} }

func junitBody(lines []string) string {
	if len(lines) == 0 {
		return ""
	}
	return strings.Join(lines, "\n")
}

// runError is the message of the "run" test case's error, "" when the run
// neither was interrupted nor ended in an error.
func runError(r *Report) string {
	var msg []string
	if r.Interrupted {
		msg = append(msg, "interrupted: the run went through the safe abort")
	}
	if r.Error != "" {
		msg = append(msg, "error: "+r.Error)
	}
	return strings.Join(msg, "; ")
}

func steadyStateResult(r *Report) *junitResult {
	ss := r.SteadyState
	switch {
	case !ss.OK && ss.Detail == "" && len(ss.Baseline) == 0:
		return skip("the steady state was not checked")
	case !ss.OK:
		return fail("steady_state", "steady state not met: "+ss.Detail)
	}
	return nil
}

type rolloutCase struct {
	name    string
	seconds float64
	res     *junitResult
}

// rolloutSteps returns a test case per rollout step that the Timeline shows
// starting (step.start events). The step during which the judge decided to
// roll back fails with the decision's reason; a decision that fell outside
// every step gets a test case of its own.
func rolloutSteps(r *Report) []rolloutCase {
	type span struct {
		no         int
		desc       string
		start, end time.Time
		ended      bool
	}
	var steps []*span
	byNo := map[int]*span{}
	for _, e := range r.Timeline {
		switch e.Event {
		case journal.StepStart:
			no, ok := intField(e.Fields["step"])
			if !ok {
				no = len(steps) + 1
			}
			sp := &span{no: no, desc: stepDesc(e.Fields), start: e.T}
			if n := len(steps); n > 0 && !steps[n-1].ended {
				steps[n-1].end, steps[n-1].ended = e.T, true
			}
			steps = append(steps, sp)
			byNo[no] = sp
		case journal.StepEnd:
			no, ok := intField(e.Fields["step"])
			sp := byNo[no]
			if !ok && len(steps) > 0 {
				sp = steps[len(steps)-1]
			}
			if sp != nil && !sp.ended {
				sp.end, sp.ended = e.T, true
			}
		}
	}
	d := r.Decision
	decided := d != nil && d.Verdict == "rollback"
	var decision *junitResult
	// A rollback the scenario expected is the drill working, not a failed
	// test: CI must stay green on it. Any other rollback fails the step
	// it fell in, with the reason.
	expected := r.Expect.Outcome == OutcomeRolledBack || r.Expect.Outcome == OutcomeAborted
	if decided && !expected {
		decision = fail("rollout", fmt.Sprintf("rollback decided at %s: %s", r.at(d.At), d.Reason))
	}
	if len(steps) == 0 {
		if decided {
			return []rolloutCase{{name: "rollout", res: decision}}
		}
		return []rolloutCase{{name: "rollout", res: skip("no rollout step started")}}
	}
	var out []rolloutCase
	placed := false
	for _, sp := range steps {
		c := rolloutCase{name: fmt.Sprintf("rollout step %d", sp.no)}
		if sp.desc != "" {
			c.name += " (" + sp.desc + ")"
		}
		end := sp.end
		inStep := decided && !d.At.Before(sp.start) && (!sp.ended || !sp.end.Before(d.At))
		if inStep && !placed {
			c.res, placed = decision, true
			if !sp.ended || d.At.Before(end) {
				end = d.At
			}
		}
		if !sp.ended && !inStep {
			end = r.EndedAt
		}
		if !end.IsZero() && !end.Before(sp.start) {
			c.seconds = end.Sub(sp.start).Seconds()
		}
		out = append(out, c)
	}
	if decided && !placed && !expected {
		out = append(out, rolloutCase{name: "rollout decision", res: decision})
	}
	return out
}

func stepDesc(f map[string]any) string {
	if a, ok := f["approval"]; ok && a != nil && fmt.Sprint(a) != "" {
		return "approval gate " + fmt.Sprint(a)
	}
	var parts []string
	if w, ok := f["weight"].(float64); ok {
		parts = append(parts, num(math.Round(w*1000)/10)+"%")
	}
	if h, ok := f["hold"].(string); ok && h != "" {
		parts = append(parts, "for "+h)
	}
	return strings.Join(parts, " ")
}

// intField reads a journal number, which is an int in the harness and a
// float64 once read back from report.json.
func intField(v any) (int, bool) {
	switch n := v.(type) {
	case int:
		return n, true
	case int64:
		return int(n), true
	case float64:
		return int(n), true
	}
	return 0, false
}

func rollbackResult(r *Report) (float64, *junitResult) {
	rb := r.Rollback
	if len(rb.Steps) == 0 {
		return 0, skip("no rollback ran")
	}
	seconds := 0.0
	if first, last := rb.Steps[0].At, rb.Steps[len(rb.Steps)-1].At; !first.IsZero() && last.After(first) {
		seconds = last.Sub(first).Seconds()
	}
	var msg, body []string
	failed := 0
	for i, s := range rb.Steps {
		if !s.OK {
			failed++
			body = append(body, fmt.Sprintf("step %d %s failed at %s: %s", i+1, s.Label(), r.at(s.At), s.Detail))
		}
	}
	if failed > 0 {
		msg = append(msg, fmt.Sprintf("%d of %d rollback steps failed: %s", failed, len(rb.Steps), strings.Join(body, "; ")))
	}
	if !rb.Idempotent {
		var changed []string
		for i, s := range rb.Rerun {
			if s.Changed {
				changed = append(changed, fmt.Sprintf("rerun step %d %s changed: %s", i+1, s.Label(), s.Detail))
			}
		}
		switch {
		case len(changed) > 0:
			msg = append(msg, fmt.Sprintf("not idempotent: %d of %d rerun steps changed something: %s",
				len(changed), len(rb.Rerun), strings.Join(changed, "; ")))
		default:
			msg = append(msg, "not idempotent: a second run changed something")
		}
		body = append(body, changed...)
	}
	if len(msg) == 0 {
		return seconds, nil
	}
	return seconds, fail("rollback", strings.Join(msg, "; "), body...)
}

func recoveryResult(r *Report) (float64, *junitResult) {
	if !rolledBack(r) {
		return 0, skip("no rollback: nothing to recover from")
	}
	if r.RecoveredAt != nil {
		if r.RecoverySeconds != nil {
			return *r.RecoverySeconds, nil
		}
		return 0, nil
	}
	msg := "never recovered after the rollback"
	if r.DetectedAt != nil && !r.EndedAt.IsZero() {
		msg += fmt.Sprintf(": not within %s of the decision, when the run ended", secs(r.EndedAt.Sub(*r.DetectedAt).Seconds()))
	}
	if l := r.Expect.RecoverWithinSeconds; l != nil {
		msg += fmt.Sprintf(" (limit %s)", secs(*l))
	}
	return 0, fail("recovery", msg)
}

func dataResult(r *Report) *junitResult {
	d, l := r.Data, r.Data.Ledger
	if !l.Checked && d.SchemaRestored == nil && len(d.Invariants) == 0 {
		return skip("no data check ran: no ledger, schema or invariant was checked")
	}
	// bad goes into the one-line message, body into the failure's text,
	// where the schema diff gets a line per difference.
	var bad, body []string
	note := func(msg string) {
		bad = append(bad, msg)
		body = append(body, msg)
	}
	writes := func(n int64, what string) {
		if n > 0 {
			note(fmt.Sprintf("%d of %d acknowledged %s %s", n, l.Acknowledged, plural(n, "write", "writes"), what))
		}
	}
	writes(l.Lost, "lost")
	writes(l.Changed, "changed")
	writes(l.Duplicated, "duplicated")
	if s := d.SchemaRestored; s != nil && !*s {
		m := "schema not restored"
		if d.SchemaVersion != "" {
			m += ": schema_version " + d.SchemaVersion
		}
		line := m
		if n := len(d.SchemaDiff); n > 0 {
			diffs := fmt.Sprintf(", %d %s from before the rollout", n, plural(int64(n), "difference", "differences"))
			m += diffs + ": " + strings.Join(d.SchemaDiff, "; ")
			line += diffs + ":"
		}
		bad = append(bad, m)
		body = append(body, line)
		for _, diff := range d.SchemaDiff {
			body = append(body, "  "+diff)
		}
	}
	for _, inv := range d.Invariants {
		switch {
		case inv.Error != "":
			note(fmt.Sprintf("invariant %s could not be read: %s", inv.Name, inv.Error))
		case !inv.OK:
			note(fmt.Sprintf("invariant %s is %s, expected %s (off by %s)",
				inv.Name, num(inv.Value), num(inv.Expect), num(math.Abs(inv.Value-inv.Expect))))
		}
	}
	if len(bad) == 0 {
		return nil
	}
	return fail("data", strings.Join(bad, "; "), body...)
}

func hygieneResult(r *Report) *junitResult {
	var unreverted []string
	for _, f := range r.Faults {
		if f.AppliedAt != nil && f.RevertedAt == nil {
			unreverted = append(unreverted, f.Name)
		}
	}
	var bad, body []string
	if n := len(unreverted); n > 0 {
		bad = append(bad, fmt.Sprintf("%d %s not reverted: %s", n, plural(int64(n), "fault", "faults"), strings.Join(unreverted, ", ")))
	}
	if n := len(r.Leftovers); n > 0 {
		bad = append(bad, fmt.Sprintf("%d %s left behind: %s", n, plural(int64(n), "thing", "things"), strings.Join(r.Leftovers, ", ")))
		for _, l := range r.Leftovers {
			body = append(body, "left behind: "+l)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	return fail("hygiene", strings.Join(bad, "; "), body...)
}

// junitTime formats seconds as the schema's time: a plain decimal with at
// most three fraction digits, never negative.
func junitTime(seconds float64) string {
	if seconds < 0 || math.IsNaN(seconds) || math.IsInf(seconds, 0) {
		seconds = 0
	}
	return strconv.FormatFloat(math.Round(seconds*1000)/1000, 'f', -1, 64)
}

// xmlSafe replaces what XML 1.0 cannot hold at all (control characters
// other than tab, newline and carriage return, invalid UTF-8) with U+FFFD.
// encoding/xml escapes <, & and quotes itself, but writes CDATA as is.
func xmlSafe(s string) string {
	ok := func(r rune) bool {
		return r == '\t' || r == '\n' || r == '\r' ||
			(r >= 0x20 && r <= 0xD7FF) || (r >= 0xE000 && r <= 0xFFFD) || (r >= 0x10000 && r <= 0x10FFFF)
	}
	clean := true
	for i, r := range s {
		if (r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD")) || !ok(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i, r := range s {
		if (r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD")) || !ok(r) {
			r = '\uFFFD'
		}
		b.WriteRune(r)
	}
	return b.String()
}
