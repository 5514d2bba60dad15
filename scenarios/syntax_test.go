package scenarios

import (
	"strings"
	"testing"
)

// TestSyntaxErrorPositions: YAML syntax errors point at the character
// where the file goes wrong, and bad bytes at their line. Before, every
// one was at column 1, parser errors at the line an unclosed list starts,
// an unknown anchor and every encoding error at 1:1.
func TestSyntaxErrorPositions(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       want
	}{
		{"tab indentation", "version: 1\nenvironment:\n  services:\n  \tapi: {}\n",
			want{"4:3", "invalid YAML: found character that cannot start any token", "never tabs"}},
		{"unquoted @", "version: 1\nname: @x\n", want{"2:7", "found character that cannot start any token", "must be quoted"}},
		{"second colon", "version: 1\nname: a: b\n", want{"2:8", "mapping values are not allowed in this context", `quote a value`}},
		{"over-indented key", "version: 1\n  name: x\n", want{"2:7", "mapping values are not allowed in this context", ""}},
		{"under-indented key", "load:\n  target: a\n rate: 1/s\n", want{"3:2", "did not find expected key", "indentation"}},
		{"unclosed quote", "version: 1\nname: \"x\nenvironment: {}\n", want{"2:7", "found unexpected end of stream", ""}},
		{"unclosed list", "version: 1\ntags: [a, b\nname: x\n", want{"2:7", "did not find expected ',' or ']'", "not closed"}},
		{"unclosed mapping", "version: 1\nload: {target: a\nname: x\n", want{"2:7", "did not find expected ',' or '}'", "not closed"}},
		{"bad escape", "version: 1\nname: \"a\\qb\"\n", want{"2:9", "found unknown escape character", ""}},
		{"empty anchor after a good one", "x-a: &a {}\nname: &\n", want{"2:7", "did not find expected alphabetic or numeric character", ""}},
		{"unknown anchor", "version: 1\nname: *nope\n", want{"2:7", "unknown anchor 'nope' referenced", "define the anchor"}},
		{"invalid UTF-8", "version: 1\nname: \"caf\xe9\"\n", want{"2:11", "invalid UTF-8: byte 0xe9", "save the file as UTF-8"}},
		{"NUL byte", "version: 1\ndescription: a\x00b\nname: x\n", want{"2:15", "NUL byte", ""}},
		{"control character", "version: 1\n\nname: x\x1b[2J\n", want{"3:8", "control character U+001B", "escape in a double-quoted string"}},
		{"after multi-byte characters", "description: ééé\nname: x\x7f\n", want{"2:8", "control character U+007F", ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			y := []byte(tc.yaml)
			checkProblems(t, y, problemsOf(t, y), []want{tc.want})
		})
	}

	// Every bad line is reported, each once.
	y := []byte("a: \xff\xfe\nb: ok\nc: \x00\x01\n")
	checkProblems(t, y, problemsOf(t, y), []want{
		{"1:4", "invalid UTF-8: byte 0xff", ""},
		{"3:4", "NUL byte", ""},
	})
	// A binary file stops at a few problems.
	if ps := problemsOf(t, []byte(strings.Repeat("\x00\n", 1000))); len(ps) != maxEncodingProblems {
		t.Errorf("%d problems for 1000 bad lines, want %d", len(ps), maxEncodingProblems)
	}
	// A UTF-8 byte order mark is fine, and positions count after it.
	mustParse(t, append([]byte("\ufeff"), minimal...))
}
