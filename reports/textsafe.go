package reports

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"unicode"
)

// Reports are read from files anyone may hand to `drill report`, and their
// strings come from scenario authors. A text renderer must not let them
// drive the reader's terminal (ESC sequences that clear the screen or
// retitle the window, a CR or LF that forges a line) nor, in Markdown,
// smuggle raw HTML or a script link to whoever renders report.md.

// termEscape spells out every control character of s (C0, DEL and C1) as
// a Go escape such as \x1b, so it is shown and never acted on. keepLines
// leaves newlines and tabs alone (a description, a formula or a check's
// detail is several lines; the renderers lay those out themselves).
func termEscape(s string, keepLines bool) string {
	if !strings.ContainsFunc(s, isControl) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case keepLines && (r == '\n' || r == '\t'):
			b.WriteRune(r)
		case isControl(r):
			q := fmt.Sprintf("%+q", string(r))
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func isControl(r rune) bool { return unicode.IsControl(r) || r == '\u2028' || r == '\u2029' }

// htmlTagStart is the start of an HTML tag, comment or processing
// instruction: "<" before a letter, "/", "!" or "?". "<=" and "< 5" in a
// check's detail are not.
var htmlTagStart = regexp.MustCompile(`<([A-Za-z/!?])`)

// scriptScheme is a URL scheme that runs code when a link is followed.
var scriptScheme = regexp.MustCompile(`(?i)\b(javascript|vbscript|data)\s*:`)

// mdEscape keeps s from being read as raw HTML or a link by a Markdown
// renderer: a tag's "<" and every "[" and "]" become character
// references (they render as themselves), and a script scheme's colon too.
func mdEscape(s string) string {
	s = htmlTagStart.ReplaceAllString(s, "&lt;$1")
	s = strings.NewReplacer("[", "&#91;", "]", "&#93;").Replace(s)
	return scriptScheme.ReplaceAllString(s, "$1&#58;")
}

// safeCopy returns a copy of r whose every string (map keys too) went
// through esc. The copy is made through JSON, so no renderer can reach a
// string the walk missed: whatever report.json can carry is covered.
func safeCopy(r *Report, md bool) (*Report, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	var tree any
	if err := json.Unmarshal(b, &tree); err != nil {
		return nil, err
	}
	esc := func(key, s string) string {
		if md {
			// The Markdown renderer turns newlines into <br> in cells and
			// spaces in the title: only terminal control is spelled out.
			s = strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(s)
			return mdEscape(termEscape(s, true))
		}
		return termEscape(s, !nameKeys[key])
	}
	tree = walkStrings(tree, "", esc)
	if b, err = json.Marshal(tree); err != nil {
		return nil, err
	}
	out := new(Report)
	if err := json.Unmarshal(b, out); err != nil {
		return nil, err
	}
	return out, nil
}

// nameKeys are the report fields that hold a name: in the terminal a
// newline in one would forge a line of the summary, so it is spelled out.
var nameKeys = map[string]bool{"": true, "scenario": true, "name": true, "fault": true, "target": true, "kind": true,
	"step": true, "service": true, "version": true, "metric": true, "request": true, "database": true, "run_id": true,
	"contract": true, "consumer": true, "provider": true, "consumer_version": true, "provider_version": true}

// walkStrings applies esc to every string in a decoded JSON tree; key is
// the name of the field holding v.
func walkStrings(v any, key string, esc func(key, s string) string) any {
	switch x := v.(type) {
	case string:
		return esc(key, x)
	case []any:
		for i := range x {
			x[i] = walkStrings(x[i], key, esc)
		}
		return x
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[esc("", k)] = walkStrings(e, k, esc)
		}
		return out
	}
	return v
}
