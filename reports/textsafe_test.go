package reports

import (
	"strings"
	"testing"
)

// TestTextRenderersEscapeControl: a report whose names carry ESC, CR and
// LF (read by `drill report` from any file) cannot clear the terminal or
// forge a line in the table, and the Markdown carries no raw tag, link or
// script scheme. Before, the table printed them raw.
func TestTextRenderersEscapeControl(t *testing.T) {
	r := rolledBackReport()
	r.Scenario = "evil\x1b[2J\x1b]0;pwned\x07"
	r.Faults[0].Name = "slow\r\nPASS, grade A (100/100)\x9b31m"
	r.Description = "line one\nline two \x1b[31mred"
	r.Timeline = append(r.Timeline, Event{T: at(23), ElapsedSeconds: 23, Event: "fault.effect",
		Fields: map[string]any{"fault\x1b": "x\x1by"}})
	table := render(t, "table", r)
	for _, bad := range []string{"\x1b", "\r", "\x07", "\x9b"} {
		if strings.Contains(table, bad) {
			t.Errorf("table output carries %q", bad)
		}
	}
	for _, line := range strings.Split(table, "\n") {
		if strings.HasPrefix(strings.TrimLeft(line, " │|"), "PASS, grade A") {
			t.Errorf("a fault name forged a line: %q", line)
		}
	}
	if !strings.Contains(table, `evil\x1b[2J\x1b]0;pwned\a`) {
		t.Errorf("the scenario name is not shown escaped:\n%s", table)
	}
	if !strings.Contains(table, "line one\nline two \\x1b[31mred") {
		t.Errorf("the description lost its lines or its ESC was not escaped:\n%s", table)
	}

	h := hostileReport()
	h.Faults[0].Name = "[click](javascript:alert(1)) <script>x</script>"
	md := render(t, "markdown", h)
	for _, bad := range []string{"<script", "<img", "<iframe", "<div", "<b ", "javascript:", "](", "\x1b"} {
		if strings.Contains(strings.ToLower(md), bad) {
			t.Errorf("markdown carries %q", bad)
		}
	}
	if !strings.Contains(md, "&lt;script>alert") {
		t.Errorf("the scenario name's markup is not shown as text:\n%s", md)
	}
}

// TestMdEscapeKeepsComparisons: the checks' "<=" and "< 5" stay readable.
func TestMdEscapeKeepsComparisons(t *testing.T) {
	for in, want := range map[string]string{
		"p99 3ms <= 250ms":         "p99 3ms <= 250ms",
		"a < 5 and b > 4":          "a < 5 and b > 4",
		"<b>bold</b>":              "&lt;b>bold&lt;/b>",
		"[x](JavaScript:alert(1))": "&#91;x&#93;(JavaScript&#58;alert(1))",
	} {
		if got := mdEscape(in); got != want {
			t.Errorf("mdEscape(%q) = %q, want %q", in, got, want)
		}
	}
}
