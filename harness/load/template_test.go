package load

import (
	"math/rand/v2"
	"regexp"
	"strconv"
	"testing"

	"github.com/drillhq/drill/scenarios"
)

func seeded(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x10ad)) }

func TestTemplateRender(t *testing.T) {
	tests := []struct {
		name string
		in   string
		ctx  renderCtx
		want string
	}{
		{"literal only", "/orders", renderCtx{}, "/orders"},
		{"empty", "", renderCtx{}, ""},
		{"seq alone", "${seq}", renderCtx{seq: 42}, "42"},
		{"seq in text", `{"sku":"SKU-${seq}","n":${seq}}`, renderCtx{seq: 7}, `{"sku":"SKU-7","n":7}`},
		{"seq zero", "${seq}", renderCtx{}, "0"},
		{"ledger.last", "/orders/${ledger.last}", renderCtx{ledgerLast: "ref-9"}, "/orders/ref-9"},
		{"ledger.last empty", "/orders/${ledger.last}", renderCtx{}, "/orders/"},
		{"adjacent placeholders", "${seq}${seq}-${ledger.last}", renderCtx{seq: 3, ledgerLast: "x"}, "33-x"},
		{"unknown placeholder kept", "/a/${uid}/b", renderCtx{seq: 1}, "/a/${uid}/b"},
		{"empty placeholder kept", "a${}b", renderCtx{}, "a${}b"},
		{"environment-style placeholder kept", "${services.pricing.url}/x", renderCtx{}, "${services.pricing.url}/x"},
		{"unclosed placeholder kept", "x ${seq", renderCtx{seq: 1}, "x ${seq"},
		{"dollar without braces kept", "$seq costs $5", renderCtx{seq: 1}, "$seq costs $5"},
		{"case matters", "${SEQ}", renderCtx{seq: 1}, "${SEQ}"},
		{"rand with one bound equal", "${rand:7:7}", renderCtx{rng: seeded(1)}, "7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := tt.ctx
			if got := parseTemplate(tt.in).render(&ctx); got != tt.want {
				t.Errorf("render(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestTemplateUses(t *testing.T) {
	tm := parseTemplate(`{"qty":${rand:1:5},"ref":"${uuid}","x":"${nope}"}`)
	for kind, want := range map[scenarios.SegmentKind]bool{
		scenarios.SegRand: true, scenarios.SegUUID: true, scenarios.SegSeq: false, scenarios.SegLedgerLast: false, scenarios.SegUnknown: false,
	} {
		if got := tm.uses(kind); got != want {
			t.Errorf("uses(%v) = %v, want %v", kind, got, want)
		}
	}
}

var uuidV4RE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestTemplateUUID(t *testing.T) {
	tm := parseTemplate("${uuid}")
	draw := func(seed uint64, n int) []string {
		ctx := renderCtx{rng: seeded(seed)}
		out := make([]string, n)
		for i := range out {
			out[i] = tm.render(&ctx)
		}
		return out
	}
	a, b, other := draw(1, 1000), draw(1, 1000), draw(2, 1000)
	seen := map[string]bool{}
	for i, u := range a {
		if !uuidV4RE.MatchString(u) {
			t.Fatalf("uuid %q is not a lowercase version-4, RFC 4122 variant UUID", u)
		}
		if u != b[i] {
			t.Fatalf("draw %d: %q then %q from the same seed", i, u, b[i])
		}
		if u == other[i] {
			t.Errorf("draw %d: seeds 1 and 2 both gave %q", i, u)
		}
		if seen[u] {
			t.Errorf("uuid %q drawn twice", u)
		}
		seen[u] = true
	}
	for range 100 {
		if u := uuid4(nil); !uuidV4RE.MatchString(u) {
			t.Fatalf("uuid4(nil) = %q, not a version-4 UUID", u)
		}
	}
}

func TestTemplateRand(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		min, max int
	}{
		{"1 to 5", "${rand:1:5}", 1, 5},
		{"around zero", "${rand:-3:3}", -3, 3},
		{"single value", "${rand:9:9}", 9, 9},
		{"wide", "${rand:0:99}", 0, 99},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tm := parseTemplate(tt.in)
			ctx := renderCtx{rng: seeded(3)}
			hits := map[int]int{}
			for range 100 * (tt.max - tt.min + 1) {
				s := tm.render(&ctx)
				n, err := strconv.Atoi(s)
				if err != nil {
					t.Fatalf("render = %q, not an integer", s)
				}
				if n < tt.min || n > tt.max {
					t.Fatalf("render = %d, outside [%d, %d]", n, tt.min, tt.max)
				}
				hits[n]++
			}
			for v := tt.min; v <= tt.max; v++ {
				if hits[v] == 0 {
					t.Errorf("%d never drawn in %v", v, hits)
				}
			}
		})
	}
}

// TestTemplateReproducible renders a realistic body twice from one seed:
// a run's requests must be the same from the same seed.
func TestTemplateReproducible(t *testing.T) {
	tm := parseTemplate(`{"sku":"SKU-${seq}","qty":${rand:1:5},"client_ref":"${uuid}"}`)
	render := func() []string {
		ctx := renderCtx{rng: seeded(42)}
		var out []string
		for i := range 50 {
			ctx.seq = uint64(i + 1)
			out = append(out, tm.render(&ctx))
		}
		return out
	}
	a, b := render(), render()
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("body %d differs between runs of one seed:\n%s\n%s", i, a[i], b[i])
		}
	}
}

// TestTemplateMalformedRandKeptLiterally: parseTemplate keeps "anything
// unexpected" literally, a rand placeholder without two valid bounds too
// (unreachable through the loader, which rejects them). A range of more
// than MaxInt64 values would make the draw panic.
func TestTemplateMalformedRandKeptLiterally(t *testing.T) {
	for _, in := range []string{"${rand:1}", "${rand:1:2:3}", "${rand:}", "${rand:5:1}", "${rand:0:9223372036854775807}"} {
		ctx := renderCtx{rng: seeded(1)}
		if got := parseTemplate(in).render(&ctx); got != in {
			t.Errorf("render(%q) = %q, want it kept literally", in, got)
		}
	}
}
