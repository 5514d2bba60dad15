package load

import (
	crand "crypto/rand"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"
)

// template is a request path, body or header value with its placeholders
// parsed once, so rendering per request is a few appends.
type template struct {
	parts []tpart
}

type tpart struct {
	lit      string
	kind     string // "", "seq", "uuid", "rand", "ledger.last"
	min, max int
}

var placeholderRE = regexp.MustCompile(`\$\{([^}]*)\}`)

// parseTemplate compiles s. The loader has already rejected unknown
// placeholders, so anything unexpected here is kept literally.
func parseTemplate(s string) template {
	var t template
	last := 0
	for _, m := range placeholderRE.FindAllStringSubmatchIndex(s, -1) {
		if m[0] > last {
			t.parts = append(t.parts, tpart{lit: s[last:m[0]]})
		}
		name := s[m[2]:m[3]]
		p := tpart{kind: name}
		switch {
		case name == "seq" || name == "uuid" || name == "ledger.last":
		case strings.HasPrefix(name, "rand:"):
			f := strings.Split(name, ":")
			lo, err1 := strconv.Atoi(f[min(1, len(f)-1)])
			hi, err2 := strconv.Atoi(f[len(f)-1])
			if len(f) != 3 || err1 != nil || err2 != nil || lo > hi {
				p = tpart{lit: s[m[0]:m[1]]}
				break
			}
			p.min, p.max, p.kind = lo, hi, "rand"
		default:
			p = tpart{lit: s[m[0]:m[1]]}
		}
		t.parts = append(t.parts, p)
		last = m[1]
	}
	if last < len(s) {
		t.parts = append(t.parts, tpart{lit: s[last:]})
	}
	return t
}

// uses reports whether the template needs the given placeholder.
func (t template) uses(kind string) bool {
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
	if len(t.parts) == 1 && t.parts[0].kind == "" {
		return t.parts[0].lit
	}
	var b strings.Builder
	for _, p := range t.parts {
		switch p.kind {
		case "":
			b.WriteString(p.lit)
		case "seq":
			b.WriteString(strconv.FormatUint(c.seq, 10))
		case "uuid":
			b.WriteString(uuid4(c.rng))
		case "rand":
			b.WriteString(strconv.Itoa(p.min + c.rng.IntN(p.max-p.min+1)))
		case "ledger.last":
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
