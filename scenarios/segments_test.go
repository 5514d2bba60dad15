package scenarios

import (
	"strings"
	"testing"
)

// TestSegments pins the placeholder syntax that the loader, the load
// generator and the harness's env substitution all read through Segments.
func TestSegments(t *testing.T) {
	// at builds the expected segment of kind k whose text starts at byte
	// start; a placeholder's Expr is its text without "${" and "}".
	at := func(k SegmentKind, start int, text string) Segment {
		s := Segment{Kind: k, Start: start, End: start + len(text), Text: text}
		if s.Placeholder() {
			s.Expr = text[2 : len(text)-1]
		}
		return s
	}
	lit := func(start int, text string) Segment { return at(SegLiteral, start, text) }
	named := func(s Segment, name string) Segment { s.Name = name; return s }
	bounds := func(s Segment, lo, hi int64) Segment { s.Min, s.Max = lo, hi; return s }

	tests := []struct {
		name string
		in   string
		want []Segment
		err  string // for a SegRand: what Err says, in part
	}{
		{"empty", "", nil, ""},
		{"literal only", "/orders", []Segment{lit(0, "/orders")}, ""},
		{"dollars without braces", "$seq costs $5, {x} $ {y}", []Segment{lit(0, "$seq costs $5, {x} $ {y}")}, ""},
		{"seq", "${seq}", []Segment{at(SegSeq, 0, "${seq}")}, ""},
		{"uuid in text", "/o/${uuid}/x", []Segment{lit(0, "/o/"), at(SegUUID, 3, "${uuid}"), lit(10, "/x")}, ""},
		{"ledger.last", "/orders/${ledger.last}", []Segment{lit(0, "/orders/"), at(SegLedgerLast, 8, "${ledger.last}")}, ""},
		{"rand", "${rand:1:5}", []Segment{bounds(at(SegRand, 0, "${rand:1:5}"), 1, 5)}, ""},
		{"rand around zero", "${rand:-3:+3}", []Segment{bounds(at(SegRand, 0, "${rand:-3:+3}"), -3, 3)}, ""},
		{"rand widest", "${rand:1:9223372036854775807}", []Segment{bounds(at(SegRand, 0, "${rand:1:9223372036854775807}"), 1, 9223372036854775807)}, ""},
		{"rand too wide", "${rand:0:9223372036854775807}", []Segment{at(SegRand, 0, "${rand:0:9223372036854775807}")}, "too wide"},
		{"rand reversed", "${rand:5:1}", []Segment{at(SegRand, 0, "${rand:5:1}")}, "greater than MAX"},
		{"rand one bound", "${rand:1}", []Segment{at(SegRand, 0, "${rand:1}")}, "needs MIN and MAX"},
		{"rand three bounds", "${rand:1:2:3}", []Segment{at(SegRand, 0, "${rand:1:2:3}")}, "whole numbers"},
		{"rand no bounds", "${rand:}", []Segment{at(SegRand, 0, "${rand:}")}, "needs MIN and MAX"},
		{"rand not a number", "${rand:a:b}", []Segment{at(SegRand, 0, "${rand:a:b}")}, "whole numbers"},
		{"rand without colon", "${rand}", []Segment{at(SegUnknown, 0, "${rand}")}, ""},
		{"service url", "http://${services.pricing.url}/x", []Segment{lit(0, "http://"), named(at(SegServiceURL, 7, "${services.pricing.url}"), "pricing"), lit(30, "/x")}, ""},
		{"database url", "${databases.main.url}", []Segment{named(at(SegDatabaseURL, 0, "${databases.main.url}"), "main")}, ""},
		{"service url without a name", "${services..url}", []Segment{at(SegServiceURL, 0, "${services..url}")}, ""},
		{"dotted service name", "${services.a.b.url}", []Segment{at(SegUnknown, 0, "${services.a.b.url}")}, ""},
		{"service without url", "${services.pricing.host}", []Segment{at(SegUnknown, 0, "${services.pricing.host}")}, ""},
		{"other url", "${queues.q.url}", []Segment{at(SegUnknown, 0, "${queues.q.url}")}, ""},
		{"case matters", "${SEQ}${Services.a.url}", []Segment{at(SegUnknown, 0, "${SEQ}"), at(SegUnknown, 6, "${Services.a.url}")}, ""},
		{"spaces matter", "${ seq }", []Segment{at(SegUnknown, 0, "${ seq }")}, ""},
		{"empty placeholder", "a${}b", []Segment{lit(0, "a"), at(SegUnknown, 1, "${}"), lit(4, "b")}, ""},
		{"adjacent", "${seq}${seq}-${ledger.last}", []Segment{at(SegSeq, 0, "${seq}"), at(SegSeq, 6, "${seq}"), lit(12, "-"), at(SegLedgerLast, 13, "${ledger.last}")}, ""},
		{"unterminated", "x ${seq", []Segment{lit(0, "x "), at(SegUnterminated, 2, "${seq")}, ""},
		{"unterminated alone", "${", []Segment{at(SegUnterminated, 0, "${")}, ""},
		{"unterminated after one", "${seq} and ${open", []Segment{at(SegSeq, 0, "${seq}"), lit(6, " and "), at(SegUnterminated, 11, "${open")}, ""},
		{"unterminated holds a later opening", "${a ${b", []Segment{at(SegUnterminated, 0, "${a ${b")}, ""},
		{"nested: the first closing brace ends it", "${a${b}}", []Segment{at(SegUnknown, 0, "${a${b}"), lit(7, "}")}, ""},
		{"nested known inside unknown", "${x${seq}}", []Segment{at(SegUnknown, 0, "${x${seq}"), lit(9, "}")}, ""},
		{"dollar before the opening", "$${x}}", []Segment{lit(0, "$"), at(SegUnknown, 1, "${x}"), lit(5, "}")}, ""},
		{"braces around", "{${seq}}", []Segment{lit(0, "{"), at(SegSeq, 1, "${seq}"), lit(7, "}")}, ""},
		{"closing before opening", "}{$}${seq}", []Segment{lit(0, "}{$}"), at(SegSeq, 4, "${seq}")}, ""},
		{"byte offsets", "é${uuid}", []Segment{lit(0, "é"), at(SegUUID, 2, "${uuid}")}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Segments(tt.in)
			if len(got) != len(tt.want) {
				t.Fatalf("Segments(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
			for i, g := range got {
				w := tt.want[i]
				gotErr := g.Err
				g.Err = nil
				if g != w {
					t.Errorf("Segments(%q)[%d] = %+v, want %+v", tt.in, i, g, w)
				}
				switch {
				case tt.err == "" && gotErr != nil:
					t.Errorf("Segments(%q)[%d].Err = %v, want none", tt.in, i, gotErr)
				case tt.err != "" && g.Kind == SegRand && (gotErr == nil || !strings.Contains(gotErr.Error(), tt.err)):
					t.Errorf("Segments(%q)[%d].Err = %v, want it to say %q", tt.in, i, gotErr, tt.err)
				}
			}
		})
	}
}

func TestSegmentKindString(t *testing.T) {
	for k, want := range map[SegmentKind]string{
		SegLiteral: "literal", SegUnterminated: "unterminated", SegUnknown: "unknown", SegSeq: "seq",
		SegUUID: "uuid", SegRand: "rand", SegLedgerLast: "ledger.last",
		SegServiceURL: "services.url", SegDatabaseURL: "databases.url", SegmentKind(99): "SegmentKind(99)",
	} {
		if got := k.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(k), got, want)
		}
	}
}
