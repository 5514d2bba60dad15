package load

import (
	crand "crypto/rand"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/drillhq/drill/scenarios"
)

// template is a request path, body or header value with its placeholders
// parsed once, so rendering per request is a few appends.
type template struct {
	parts []tpart
}

type tpart struct {
	lit      string
	kind     scenarios.SegmentKind // SegLiteral, or one of the request placeholders
	min, max int64                 // a SegRand's bounds
}

// parseTemplate compiles s from its segments (scenarios.Segments owns the
// syntax). The loader has already rejected unknown placeholders and bad
// rand bounds, so anything unexpected here is kept literally rather than
// rendered as something the scenario did not ask for.
func parseTemplate(s string) template {
	var t template
	for _, seg := range scenarios.Segments(s) {
		p := tpart{lit: seg.Text}
		switch seg.Kind {
		case scenarios.SegSeq, scenarios.SegUUID, scenarios.SegLedgerLast:
			p = tpart{kind: seg.Kind}
		case scenarios.SegRand:
			if seg.Err == nil {
				p = tpart{kind: seg.Kind, min: seg.Min, max: seg.Max}
			}
		}
		t.parts = append(t.parts, p)
	}
	return t
}

// uses reports whether the template needs the given placeholder.
func (t template) uses(kind scenarios.SegmentKind) bool {
	for _, p := range t.parts {
		if p.kind == kind {
			return true
		}
	}
	return false
}

// renderCtx is the per-request state placeholders draw from.
type renderCtx struct {
	seq        uint64
	rng        *rand.Rand // seeded; the caller serialises access
	ledgerLast string
}

func (t template) render(c *renderCtx) string {
	if len(t.parts) == 1 && t.parts[0].kind == scenarios.SegLiteral {
		return t.parts[0].lit
	}
	var b strings.Builder
	for _, p := range t.parts {
		switch p.kind {
		case scenarios.SegLiteral:
			b.WriteString(p.lit)
		case scenarios.SegSeq:
			b.WriteString(strconv.FormatUint(c.seq, 10))
		case scenarios.SegUUID:
			b.WriteString(uuid4(c.rng))
		case scenarios.SegRand:
			b.WriteString(strconv.FormatInt(p.min+c.rng.Int64N(p.max-p.min+1), 10))
		case scenarios.SegLedgerLast:
			b.WriteString(c.ledgerLast)
		}
	}
	return b.String()
}

// uuid4 draws a version-4 UUID from the seeded stream so a run's request
// bodies are reproducible from its seed; crypto/rand is only a fallback.
func uuid4(r *rand.Rand) string {
	var u [16]byte
	if r != nil {
		for i := 0; i < 16; i += 8 {
			v := r.Uint64()
			for j := 0; j < 8; j++ {
				u[i+j] = byte(v >> (8 * j))
			}
		}
	} else {
		_, _ = crand.Read(u[:])
	}
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}
