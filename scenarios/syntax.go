package scenarios

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// maxEncodingProblems bounds how many bad bytes one file reports: the
// first few say what is wrong (a binary file, a Latin-1 one), hundreds
// more would bury it.
const maxEncodingProblems = 20

// yamlChar reports whether YAML allows r in a document (YAML 1.2 §5.1,
// as yaml.v3's reader checks it).
func yamlChar(r rune) bool {
	switch {
	case r == '\t', r == '\n', r == '\r', r >= 0x20 && r <= 0x7e, r == 0x85,
		r >= 0xa0 && r <= 0xd7ff, r >= 0xe000 && r <= 0xfffd, r >= 0x10000 && r <= 0x10ffff:
		return true
	}
	return false
}

// checkEncoding reports invalid UTF-8 and characters YAML refuses (NUL,
// other control characters) at their line and column, the first one of
// each line. yaml.v3 stops at the first with a message but no position.
// A file with a UTF-16 byte order mark is left to yaml.v3, which reads
// it. It returns false when it reported something.
func (p *parser) checkEncoding(data []byte) bool {
	if bytes.HasPrefix(data, []byte{0xfe, 0xff}) || bytes.HasPrefix(data, []byte{0xff, 0xfe}) {
		return true
	}
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	found := 0
	line, col := 1, 1
	badLine := 0 // the last line reported
	for i := 0; i < len(data) && found < maxEncodingProblems; {
		r, size := utf8.DecodeRune(data[i:])
		var msg, hint string
		switch {
		case r == utf8.RuneError && size <= 1:
			msg = fmt.Sprintf("invalid UTF-8: byte 0x%02x", data[i])
			hint = "a scenario is UTF-8 text: save the file as UTF-8"
		case r == 0:
			msg = "NUL byte: YAML does not allow it"
			hint = "a scenario is text; if this is one, remove the NUL"
		case !yamlChar(r):
			msg = fmt.Sprintf("control character %U: YAML does not allow it in a file", r)
			hint = `write it as an escape in a double-quoted string, e.g. "\t"`
		}
		if msg != "" && badLine != line {
			badLine = line
			found++
			p.probs = append(p.probs, Problem{Pos: Pos{File: p.file, Line: line, Col: col}, Msg: msg, Hint: hint})
		}
		i += max(size, 1)
		col++
		if r == '\n' {
			line, col = line+1, 1
		}
	}
	return found == 0
}

// maxLocateSize bounds the files whose syntax errors are located by
// re-parsing (see locate): beyond it, each re-parse costs too much, and
// the line yaml.v3 gives is used.
const maxLocateSize = 256 << 10

// syntaxError records a YAML syntax error, which ends the parse: there is
// no tree to walk. yaml.v3 gives a line but no column, and not always
// the line of the problem: for a parser error it counts from 0 and names
// where the unclosed construct starts, and an unknown anchor has no line
// at all. So the error is located by re-parsing: the problem is where the
// shortest prefix of the file that fails with the same message ends.
func (p *parser) syntaxError(data []byte, err error) {
	msg := yamlMessage(err)
	pos, ok := Pos{}, false
	if len(data) <= maxLocateSize {
		pos, ok = locate(data, msg, yamlLine(err))
	}
	if !ok {
		pos = Pos{Line: yamlLine(err), Col: 1}
		if parserError(msg) {
			pos.Line++ // yaml.v3 counts lines from 0 for parser errors
		}
	}
	pos.File = p.file
	pr := Problem{Pos: pos, Msg: "invalid YAML: " + msg}
	switch {
	case strings.Contains(msg, "cannot start any token") || strings.Contains(msg, "tab character"):
		pr.Hint = "YAML indents with spaces, never tabs; a value starting with @ or ` must be quoted"
	case strings.HasPrefix(msg, "did not find expected ',' or"):
		pr.Hint = "this list or mapping is not closed"
	case parserError(msg):
		pr.Hint = "check the indentation of this line against the lines above"
	case strings.Contains(msg, "mapping values are not allowed"):
		pr.Hint = "quote a value that holds \": \", and check the indentation"
	case strings.HasPrefix(msg, "unknown anchor"):
		pr.Hint = "define the anchor (&NAME) before its alias (*NAME)"
	}
	p.probs = append(p.probs, pr)
}

// yamlMessage is yaml.v3's message without its "yaml: line N: " prefix.
func yamlMessage(err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if m := yamlLineRE.FindStringSubmatch("yaml: " + msg); m != nil {
		return m[2]
	}
	return msg
}

// yamlLine is the line yaml.v3 names in err, or 1.
func yamlLine(err error) int {
	if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
		var n int
		if _, err := fmt.Sscan(m[1], &n); err == nil && n > 0 {
			return n
		}
	}
	return 1
}

// syntaxMessage parses data as Parse does (one document, and a look at
// whether another follows) and returns yaml.v3's message for the first
// syntax error, or "".
func syntaxMessage(data []byte) string {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for range 2 {
		var n yaml.Node
		if err := dec.Decode(&n); err != nil {
			if errors.Is(err, io.EOF) {
				return ""
			}
			return yamlMessage(err)
		}
	}
	return ""
}

// locate finds where the syntax error msg is: at the last character of
// the shortest prefix of data that fails with msg. yaml.v3 reads the
// file in one pass, so once a prefix holds the problem every longer one
// fails the same way, and a binary search finds it in a few re-parses.
// The search starts at line, the one yaml.v3 named (1 when it named
// none): the problem is never before it, and a prefix cut in the middle
// of an earlier token (an anchor's name) might fail with the same
// message.
func locate(data []byte, msg string, line int) (Pos, bool) {
	from := 0 // the offset where line starts
	for l := 1; l < line; l++ {
		i := bytes.IndexByte(data[from:], '\n')
		if i < 0 {
			break
		}
		from += i + 1
	}
	var starts []int // offsets of the characters
	first := 0       // the index in starts of the first one at or after from
	for i := 0; i < len(data); {
		if i < from {
			first++
		}
		starts = append(starts, i)
		_, size := utf8.DecodeRune(data[i:])
		i += size
	}
	// The shortest prefix of k characters, k in [1, len(starts)], that
	// fails with msg.
	prefix := func(k int) []byte {
		if k >= len(starts) {
			return data
		}
		return data[:starts[k]]
	}
	lo, hi := first+1, len(starts)
	if hi == 0 || syntaxMessage(data) != msg {
		return Pos{}, false
	}
	for lo < hi {
		mid := lo + (hi-lo)/2
		if syntaxMessage(prefix(mid)) == msg {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	at := starts[hi-1]
	if name, ok := strings.CutPrefix(msg, "unknown anchor '"); ok {
		// The prefix ends with the alias's name: point at its *.
		name = strings.TrimSuffix(name, "' referenced")
		if i := bytes.LastIndex(data[:at+1], []byte("*"+name)); i >= 0 {
			at = i
		}
	}
	if strings.HasPrefix(msg, "did not find expected ',' or") {
		at = opener(data, at)
	}
	return offsetPos(data, at), true
}

// opener returns the offset of the bracket that opens the flow list or
// mapping holding offset at, or at when none is found: an unclosed one is
// reported where it opens, not where the parser gave up on it.
func opener(data []byte, at int) int {
	depth := 0
	for i := at; i >= 0; i-- {
		switch data[i] {
		case ']', '}':
			depth++
		case '[', '{':
			if depth == 0 {
				return i
			}
			depth--
		}
	}
	return at
}

// offsetPos turns a byte offset into a 1-based line and column, counting
// columns in characters as yaml.v3 does.
func offsetPos(data []byte, at int) Pos {
	before := data[:at]
	line := bytes.Count(before, []byte("\n")) + 1
	start := bytes.LastIndexByte(before, '\n') + 1
	return Pos{Line: line, Col: utf8.RuneCount(data[start:at]) + 1}
}
