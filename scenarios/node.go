package scenarios

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"go.yaml.in/yaml/v3"
)

// parser walks a YAML node tree and collects problems as it goes, so that
// one pass reports everything wrong with a file.
type parser struct {
	file  string
	probs Problems
	// warns are the scenario's warnings (see Scenario.Warnings), kept
	// apart from probs: they never make a file invalid.
	warns Problems
	lim   *limits // see limits; nil until first used
	// side, when set, takes the problems that do not stop a decode
	// (see checkDurationParam).
	side *parser
	// hasFlags says the scenario defines flags (${flags.url} is valid).
	hasFlags bool
	// seen, when set, is told of every mapping the walk reads as an
	// object of the format and the keys it accepts there. Only the JSON
	// Schema's drift test sets it, to compare those keys with the
	// schema's; it does not change what the walk does.
	seen func(n *yaml.Node, known []string)
}

func (p *parser) pos(n *yaml.Node) Pos {
	if n == nil {
		return Pos{File: p.file}
	}
	return Pos{File: p.file, Line: n.Line, Col: n.Column}
}

// add records a problem at n.
func (p *parser) add(n *yaml.Node, hint, format string, args ...any) {
	p.probs = append(p.probs, Problem{Pos: p.pos(n), Msg: fmt.Sprintf(format, args...), Hint: hint})
}

// warn records a warning at n: the scenario runs, but not as it seems to.
func (p *parser) warn(n *yaml.Node, hint, format string, args ...any) {
	p.warns = append(p.warns, Problem{Pos: p.pos(n), Msg: fmt.Sprintf(format, args...), Hint: hint, Warning: true})
}

// addErr records a value error at n, prefixed with the field's name.
func (p *parser) addErr(n *yaml.Node, name string, err error) {
	var ve *valueError
	if errors.As(err, &ve) {
		p.add(n, ve.hint, "%s: %s", name, ve.msg)
		return
	}
	p.add(n, "", "%s: %v", name, err)
}

// deref follows aliases to the node they stand for.
func deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe names what a node is, for "expected X, got Y".
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.DocumentNode:
		return "a document"
	}
	switch n.ShortTag() {
	case "!!null":
		return "nothing"
	case "!!str":
		return strconv.Quote(n.Value)
	}
	if _, bad := badRune(n.Value, ""); bad {
		// An explicit tag (!!int "\e[2J") makes any text a non-string.
		return quote(n.Value)
	}
	return n.Value
}

// kv is one key: value pair of a mapping; the value is dereferenced.
type kv struct{ k, v *yaml.Node }

// Bounds on what one file may make the walk do. YAML aliases let a small
// file stand for a huge tree: each level of nested merge keys (<<: [*a,
// *a, …]) multiplies the pairs a naive expansion produces, so a 2 KB file
// could keep validate busy for ever. The walk therefore computes each
// mapping's pairs once, counts what the merges would expand to, and
// refuses a file that goes over these bounds instead of working through
// it. Real scenarios stay far below them.
const (
	// maxMergeDepth bounds the nesting of merge keys (a merged mapping
	// that itself merges, and so on).
	maxMergeDepth = 16
	// maxMergedPairs bounds the pairs all the merge keys of a file stand
	// for, counted as if every merge were expanded in full.
	maxMergedPairs = 10_000
	// maxNodes bounds the YAML nodes of a file, and, on their own, the
	// nodes the walk of fault params visits (aliases repeat them).
	maxNodes = 100_000
)

// limits is the walk's budget for one file, shared by the parsers that
// read parts of it (a fault's params are decoded by a parser of their
// own).
type limits struct {
	memo   map[*yaml.Node][]kv // each mapping's pairs, merges expanded
	size   map[*yaml.Node]int  // what each mapping stands for when merges are expanded in full, capped
	busy   map[*yaml.Node]bool // mappings whose pairs are being computed: reaching one again is a cycle
	merged int                 // pairs stood for by the merge keys read so far
	nodes  int                 // nodes of the file counted so far
	params int                 // nodes visited by the walks of fault params so far
	over   bool                // a bound was exceeded and reported: expand nothing more
}

// limits returns the parser's budget, creating it on first use.
func (p *parser) limits() *limits {
	if p.lim == nil {
		p.lim = &limits{memo: map[*yaml.Node][]kv{}, size: map[*yaml.Node]int{}, busy: map[*yaml.Node]bool{}}
	}
	return p.lim
}

// tooBig reports, once per file, that it went over one of the bounds.
func (p *parser) tooBig(n *yaml.Node, hint, format string, args ...any) {
	lim := p.limits()
	if lim.over {
		return
	}
	lim.over = true
	p.add(n, hint, format, args...)
}

// countNodes counts the nodes of the tree under n (aliases are counted,
// not followed) and reports the file when there are more than maxNodes.
// It runs before the walk so that a huge file is refused before anything
// else is done with it.
func (p *parser) countNodes(n *yaml.Node) bool {
	lim := p.limits()
	stack := []*yaml.Node{n}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if lim.nodes++; lim.nodes > maxNodes {
			p.tooBig(n, "a scenario is a few hundred nodes: this is not one, or it should be split",
				"the file has more than %d YAML nodes", maxNodes)
			return false
		}
		if n.Kind != yaml.AliasNode {
			stack = append(stack, n.Content...)
		}
	}
	return true
}

// visitParam counts one node the walk of fault params visits against
// maxNodes, reporting it when the count goes over; it returns false once
// the file is over any bound. Params are walked as a tree, so an alias
// repeats what it stands for; this bounds a list of many aliases of big
// params.
func (p *parser) visitParam(n *yaml.Node) bool {
	lim := p.limits()
	if lim.over {
		return false
	}
	if lim.params++; lim.params > maxNodes {
		p.tooBig(n, "write the params of each fault out rather than through aliases of aliases",
			"fault params stand for more than %d YAML nodes (each alias repeats what it names)", maxNodes)
		return false
	}
	return true
}

// pairs returns the pairs of mapping n in file order, with merge keys
// (<<: *anchor) expanded — keys written in n win over merged ones — and
// reports duplicate and non-scalar keys. Each mapping is expanded once per
// file, however many aliases reach it.
func (p *parser) pairs(n *yaml.Node) []kv {
	return p.pairsDepth(n, 0)
}

func (p *parser) pairsDepth(n *yaml.Node, depth int) []kv {
	lim := p.limits()
	if out, done := lim.memo[n]; done {
		return out
	}
	lim.busy[n] = true
	var out, merged []kv
	size := 0
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), deref(n.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			p.add(k, "", "a key must be a plain name, got %s", describe(k))
			continue
		}
		if k.ShortTag() == "!!merge" {
			m, msize := p.merge(k, v, depth)
			merged = append(merged, m...)
			size = min(size+msize, maxMergedPairs+1)
			continue
		}
		if first, dup := seen[k.Value]; dup {
			p.add(k, "", "duplicate key %q (first at line %d)", k.Value, first.Line)
			continue
		}
		seen[k.Value] = k
		out = append(out, kv{k, v})
		size = min(size+1, maxMergedPairs+1)
	}
	for _, e := range merged {
		if _, ok := seen[e.k.Value]; !ok {
			seen[e.k.Value] = e.k
			out = append(out, e)
		}
	}
	delete(lim.busy, n)
	lim.memo[n], lim.size[n] = out, size
	return out
}

// merge expands the value of a merge key: a mapping or a list of them,
// earlier ones winning. It also returns how many pairs the merge stands
// for when expanded in full (duplicates included), which is what the
// file is charged against maxMergedPairs.
func (p *parser) merge(k, v *yaml.Node, depth int) ([]kv, int) {
	if depth >= maxMergeDepth {
		p.add(k, "merge a mapping that holds no << of its own", "merge keys nest too deeply (more than %d levels)", maxMergeDepth)
		return nil, 0
	}
	var sources []*yaml.Node
	switch v.Kind {
	case yaml.MappingNode:
		sources = []*yaml.Node{v}
	case yaml.SequenceNode:
		for _, m := range v.Content {
			m = deref(m)
			if m.Kind != yaml.MappingNode {
				p.add(m, "", "<< merges mappings, got %s", describe(m))
				continue
			}
			sources = append(sources, m)
		}
	default:
		p.add(v, "", "<< merges mappings, got %s", describe(v))
		return nil, 0
	}
	lim := p.limits()
	var out []kv
	size := 0
	seen := map[string]bool{}
	for _, m := range sources {
		if lim.over {
			return nil, 0
		}
		if lim.busy[m] {
			p.add(k, "an anchor cannot merge itself, directly or through other anchors",
				"<< merges a mapping that includes this merge (line %d)", m.Line)
			continue
		}
		pairs := p.pairsDepth(m, depth+1)
		// Charge the merge before reading what it brings in, so that
		// a list of many aliases of one big mapping stops at once.
		size = min(size+lim.size[m], maxMergedPairs+1)
		lim.merged = min(lim.merged+lim.size[m], maxMergedPairs+1)
		if lim.merged > maxMergedPairs {
			p.tooBig(k, "merge each anchor once, and do not nest merges of merges: write the fields out instead",
				"merge keys expand to more than %d pairs (each level of << over merged anchors multiplies them)", maxMergedPairs)
			return nil, 0
		}
		for _, e := range pairs {
			if !seen[e.k.Value] {
				seen[e.k.Value] = true
				out = append(out, e)
			}
		}
	}
	return out, size
}

// unprintable are the invisible characters a name must not hold besides
// the control characters (unicode.IsControl: C0, DEL, C1): those that
// reorder or break the text around them on a terminal or in a browser.
var unprintable = []rune{
	'\u061c', '\u200e', '\u200f', // bidi marks
	'\u2028', '\u2029', // line and paragraph separators
	'\u202a', '\u202b', '\u202c', '\u202d', '\u202e', // bidi embeddings and overrides
	'\u2066', '\u2067', '\u2068', '\u2069', // bidi isolates
	'\ufeff', // zero-width no-break space
}

// badRune returns the first rune of s that a name must not hold, other
// than those in allowed.
func badRune(s, allowed string) (rune, bool) {
	for _, r := range s {
		if strings.ContainsRune(allowed, r) {
			continue
		}
		if unicode.IsControl(r) || slices.Contains(unprintable, r) {
			return r, true
		}
	}
	return 0, false
}

// printable reports a name holding a control character (ESC, CR, LF, …)
// or an invisible formatting one, besides those in allowed, and says
// whether v is clean. Names are printed by drill plan and in every
// report: ESC could clear a terminal, a CR or LF fake a line.
func (p *parser) printable(n *yaml.Node, what, v, allowed string) bool {
	r, bad := badRune(v, allowed)
	if bad {
		p.add(n, "names are printed in plans and reports: use visible characters only",
			"%s %s holds the control character %U", what, quote(v), r)
	}
	return !bad
}

// quote renders a value for a message, escaping what a terminal would
// act on.
func quote(s string) string { return strconv.QuoteToGraphic(s) }

// in renders " in WHERE" for messages, or nothing at the top level.
func in(where string) string {
	if where == "" {
		return ""
	}
	return " in " + where
}

func join(where, key string) string {
	if where == "" {
		return key
	}
	return where + "." + key
}

// unknownField reports a key that is not one of known, suggesting the
// nearest known one.
func (p *parser) unknownField(k *yaml.Node, where string, known []string) {
	hint := didYouMean(k.Value, known)
	if hint == "" {
		hint = "known fields: " + strings.Join(known, ", ")
	}
	p.add(k, hint, "unknown field %q%s", k.Value, in(where))
}

func (p *parser) list(n *yaml.Node, name string) []*yaml.Node {
	if n == nil || isNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		p.add(n, "", "%s: expected a list, got %s", name, describe(n))
		return nil
	}
	out := make([]*yaml.Node, len(n.Content))
	for i, c := range n.Content {
		out[i] = deref(c)
	}
	return out
}

func (p *parser) entries(n *yaml.Node, name string) []kv {
	if n == nil || isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		p.add(n, "", "%s: expected a mapping, got %s", name, describe(n))
		return nil
	}
	return p.pairs(n)
}

// choice checks that v is one of supported. A value in planned is refused
// as not supported yet; anything else is unknown, with a did-you-mean
// hint.
func (p *parser) choice(n *yaml.Node, noun, v string, supported, planned []string) bool {
	if slices.Contains(supported, v) {
		return true
	}
	if slices.Contains(planned, v) {
		p.add(n, "", "%s %q is not supported yet (supported: %s)", noun, v, strings.Join(supported, ", "))
		return false
	}
	known := append(slices.Clip(supported), planned...)
	p.add(n, didYouMean(v, known), "unknown %s %q (known: %s)", noun, v, strings.Join(known, ", "))
	return false
}

// object is one mapping being walked: its known fields are looked up by
// name, and whatever else it holds has been reported as unknown.
type object struct {
	p       *parser
	at      *yaml.Node // where problems about the object as a whole point
	where   string     // dotted path for messages; "" for the document
	present bool       // the field was written (possibly empty)
	ok      bool       // it is a mapping (or empty); false after a type problem
	keys    map[string]*yaml.Node
	vals    map[string]*yaml.Node
}

// object starts walking n, which should be a mapping holding only the
// known fields. at is the key naming it (nil for list items and the
// document); an absent or empty n reads as an empty mapping.
func (p *parser) object(at, n *yaml.Node, where string, known ...string) *object {
	n = deref(n)
	if at == nil {
		at = n
	}
	o := &object{p: p, at: at, where: where, present: n != nil, ok: true,
		keys: map[string]*yaml.Node{}, vals: map[string]*yaml.Node{}}
	if n == nil || isNull(n) {
		return o
	}
	if n.Kind != yaml.MappingNode {
		name := where
		if name == "" {
			name = "the scenario"
		}
		p.add(n, "", "%s: expected a mapping, got %s", name, describe(n))
		o.ok = false
		return o
	}
	if p.seen != nil {
		p.seen(n, known)
	}
	for _, e := range p.pairs(n) {
		if where == "" && strings.HasPrefix(e.k.Value, "x-") {
			continue // an extension key holding anchors; see topLevelFields
		}
		if !slices.Contains(known, e.k.Value) {
			p.unknownField(e.k, where, known)
			continue
		}
		o.keys[e.k.Value], o.vals[e.k.Value] = e.k, e.v
	}
	return o
}

// require reports each of keys the object lacks. Absent objects report
// nothing: whoever requires them reports them missing.
func (o *object) require(keys ...string) {
	if !o.present || !o.ok {
		return
	}
	for _, k := range keys {
		if _, ok := o.vals[k]; !ok {
			o.p.add(o.at, "", "missing required field %q%s", k, in(o.where))
		}
	}
}

func (o *object) has(k string) bool       { return o.vals[k] != nil }
func (o *object) get(k string) *yaml.Node { return o.vals[k] }
func (o *object) key(k string) *yaml.Node { return o.keys[k] }

// child starts walking the mapping under key k.
func (o *object) child(k string, known ...string) *object {
	return o.p.object(o.keys[k], o.vals[k], join(o.where, k), known...)
}
