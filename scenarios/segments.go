package scenarios

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// The ${…} placeholder syntax is read here and nowhere else: the loader
// checks placeholders against the segments, the load generator compiles
// its request templates from them and the harness substitutes service and
// database URLs into a service's env through them. One reading means a
// text the loader accepted is the text the harness substitutes.

// SegmentKind says what a segment of a text is: literal text, an
// unterminated "${", or a placeholder of one of the forms.
type SegmentKind int

// The kinds of segment. Which placeholder kinds are valid depends on
// where the text is (env values take the URLs, requests the rest): the
// loader reports the others as unknown placeholders there, and whoever
// substitutes keeps them as written.
const (
	// SegLiteral is text outside any placeholder.
	SegLiteral SegmentKind = iota
	// SegUnterminated is a "${" without its "}", with the rest of the
	// text after it. The loader reports it; substitution keeps it as
	// written.
	SegUnterminated
	// SegUnknown is a placeholder whose expression is none of the forms
	// below.
	SegUnknown
	// SegSeq is ${seq}, the request's sequence number.
	SegSeq
	// SegUUID is ${uuid}, a version-4 UUID drawn from the run's seed.
	SegUUID
	// SegRand is ${rand:MIN:MAX}, a whole number in [MIN, MAX]. Any
	// expression starting "rand:" is one, so that a wrong one is reported
	// as a bad rand rather than an unknown placeholder: Segment.Err says
	// what is wrong with it.
	SegRand
	// SegLedgerLast is ${ledger.last}, the key of the last ledger record.
	SegLedgerLast
	// SegServiceURL is ${services.NAME.url}, the router in front of NAME.
	SegServiceURL
	// SegDatabaseURL is ${databases.NAME.url}, the URL of database NAME.
	SegDatabaseURL
	// SegFlagsURL is ${flags.url}, the base URL of drill's flag service
	// (OFREP), when the scenario defines flags.
	SegFlagsURL
)

var segmentKindNames = [...]string{
	SegLiteral:      "literal",
	SegUnterminated: "unterminated",
	SegUnknown:      "unknown",
	SegSeq:          "seq",
	SegUUID:         "uuid",
	SegRand:         "rand",
	SegLedgerLast:   "ledger.last",
	SegServiceURL:   "services.url",
	SegDatabaseURL:  "databases.url",
	SegFlagsURL:     "flags.url",
}

// String names the kind, for messages and test failures.
func (k SegmentKind) String() string {
	if k >= 0 && int(k) < len(segmentKindNames) {
		return segmentKindNames[k]
	}
	return fmt.Sprintf("SegmentKind(%d)", int(k))
}

// Segment is one piece of a text with placeholders: literal text, an
// unterminated "${…", or one placeholder with its expression parsed.
type Segment struct {
	Kind SegmentKind
	// Start and End are the segment's byte span in the text; Text is
	// text[Start:End], braces included, which is what a substitution
	// that does not act on the segment writes back.
	Start, End int
	Text       string
	// Expr is a placeholder's expression, between the braces: "seq",
	// "rand:1:5", "services.pricing.url". It is empty for a literal or an
	// unterminated segment.
	Expr string
	// Name is the service of a SegServiceURL or the database of a
	// SegDatabaseURL. It may be empty (${services..url}) or name nothing:
	// the loader checks it against the environment.
	Name string
	// Min and Max bound a SegRand whose Err is nil.
	Min, Max int64
	// Err says what is wrong with a SegRand; substitution keeps such a
	// segment as written.
	Err error
}

// Placeholder reports whether the segment is a complete ${…}, of a known
// form or not.
func (s Segment) Placeholder() bool {
	return s.Kind != SegLiteral && s.Kind != SegUnterminated
}

// Segments splits s into literal text and placeholders, in order; the
// segments' texts joined are s. A placeholder runs from "${" to the first
// "}" after it, so "${a${b}" is one placeholder with expression "a${b". A
// "${" without a "}" after it makes the rest of s one SegUnterminated
// segment. A text without "${" is one literal segment; "" is none.
func Segments(s string) []Segment {
	var out []Segment
	literal := func(start, end int) {
		if end > start {
			out = append(out, Segment{Kind: SegLiteral, Start: start, End: end, Text: s[start:end]})
		}
	}
	at := 0
	for {
		i := strings.Index(s[at:], "${")
		if i < 0 {
			literal(at, len(s))
			return out
		}
		open := at + i
		j := strings.IndexByte(s[open+2:], '}')
		if j < 0 {
			literal(at, open)
			out = append(out, Segment{Kind: SegUnterminated, Start: open, End: len(s), Text: s[open:]})
			return out
		}
		literal(at, open)
		end := open + 2 + j + 1
		seg := parsePlaceholder(s[open+2 : end-1])
		seg.Start, seg.End, seg.Text = open, end, s[open:end]
		out = append(out, seg)
		at = end
	}
}

// parsePlaceholder reads the expression of a placeholder into its kind
// and parsed form.
func parsePlaceholder(expr string) Segment {
	seg := Segment{Kind: SegUnknown, Expr: expr}
	switch expr {
	case "seq":
		seg.Kind = SegSeq
		return seg
	case "uuid":
		seg.Kind = SegUUID
		return seg
	case "ledger.last":
		seg.Kind = SegLedgerLast
		return seg
	case "flags.url":
		seg.Kind = SegFlagsURL
		return seg
	}
	if lo, hi, isRand, err := parseRand(expr); isRand {
		seg.Kind, seg.Min, seg.Max, seg.Err = SegRand, lo, hi, err
		return seg
	}
	if parts := strings.Split(expr, "."); len(parts) == 3 && parts[2] == "url" {
		switch parts[0] {
		case "services":
			seg.Kind, seg.Name = SegServiceURL, parts[1]
		case "databases":
			seg.Kind, seg.Name = SegDatabaseURL, parts[1]
		}
	}
	return seg
}

// parseRand parses "rand:MIN:MAX". ok is false when expr is not a rand
// placeholder at all; err says what is wrong with one.
func parseRand(expr string) (lo, hi int64, ok bool, err error) {
	rest, found := strings.CutPrefix(expr, "rand:")
	if !found {
		return 0, 0, false, nil
	}
	a, b, two := strings.Cut(rest, ":")
	if !two {
		return 0, 0, true, fmt.Errorf("needs MIN and MAX")
	}
	lo, err1 := strconv.ParseInt(a, 10, 64)
	hi, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, true, fmt.Errorf("MIN and MAX must be whole numbers")
	}
	if lo > hi {
		return 0, 0, true, fmt.Errorf("MIN %d is greater than MAX %d", lo, hi)
	}
	// The harness draws lo + IntN(hi-lo+1): the count of values must
	// fit an int64, or the load generator panics mid-run.
	if uint64(hi)-uint64(lo) >= math.MaxInt64 {
		return 0, 0, true, fmt.Errorf("MIN %d to MAX %d is too wide a range (at most %d values)", lo, hi, int64(math.MaxInt64))
	}
	return lo, hi, true, nil
}
