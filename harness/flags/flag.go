// Package flags is drill's feature-flag service: flag definitions in flagd's
// flag-definition format (plus drill's `defects`), an evaluator that answers
// exactly as flagd's core evaluator does for the JSON-logic subset drill
// accepts, fractional shares for `strategy: flag`, and an OFREP server with
// the faults a drill injects (down, stale).
//
// It matches flagd rather than inventing its own semantics so that a drill's
// result transfers: a key that gets variant "on" at a 5% share here gets "on"
// from a real flagd given the same definition. See docs/flags.md.
package flags

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Flag states, as flagd spells them.
const (
	Enabled  = "ENABLED"
	Disabled = "DISABLED"
)

// Flag is one flag in flagd's flag-definition format plus drill's
// extension, Defects. The YAML and JSON field names are flagd's, so a flagd
// flag file's entry can be pasted under a scenario's `flags:`.
type Flag struct {
	// State is ENABLED or DISABLED. A disabled flag evaluates to no value
	// (reason DISABLED), so the SDK uses the application's code default.
	State string `yaml:"state" json:"state"`
	// Variants maps a variant name to its value (bool, string, number or
	// object).
	Variants map[string]any `yaml:"variants" json:"variants"`
	// DefaultVariant names the variant served when targeting does not pick
	// one. drill requires it (Problems) because a fractional share splits
	// between a variant and the default.
	DefaultVariant string `yaml:"defaultVariant" json:"defaultVariant"`
	// Targeting is a JSON-logic rule in the subset Operators lists.
	Targeting map[string]any `yaml:"targeting,omitempty" json:"targeting,omitempty"`
	// Defects maps a variant to a defect spec in the fixtures' syntax
	// ("errors=5%,latency=300ms") that a service applies to requests served
	// that variant, so a drill can model a flag whose new code path is bad.
	// It is drill-only: never part of flagd's JSON (json:"-").
	Defects map[string]string `yaml:"defects,omitempty" json:"-"`
}

// Clone returns a deep copy, so a caller may change the copy (Share does)
// while the server keeps serving the original.
func (f *Flag) Clone() *Flag {
	if f == nil {
		return nil
	}
	c := &Flag{State: f.State, DefaultVariant: f.DefaultVariant}
	if f.Variants != nil {
		c.Variants = deepCopy(f.Variants).(map[string]any)
	}
	if f.Targeting != nil {
		c.Targeting = deepCopy(f.Targeting).(map[string]any)
	}
	if f.Defects != nil {
		c.Defects = maps.Clone(f.Defects)
	}
	return c
}

func deepCopy(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = deepCopy(e)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = deepCopy(e)
		}
		return out
	default:
		return v
	}
}

// Problem is one thing wrong with a flag definition. Path is the field path
// under the flag (map keys as strings, array indexes as ints), e.g.
// []any{"targeting", "fractional", 2} or []any{"defaultVariant"}, so the
// scenario loader can point at the YAML node's file:line:col.
type Problem struct {
	Path []any
	Msg  string
	Hint string
}

func (p Problem) String() string {
	parts := make([]string, len(p.Path))
	for i, e := range p.Path {
		parts[i] = fmt.Sprint(e)
	}
	s := strings.Join(parts, ".") + ": " + p.Msg
	if p.Hint != "" {
		s += " (" + p.Hint + ")"
	}
	return s
}

// Operators is the JSON-logic subset drill accepts in targeting. It is what
// a drill needs (fractional shares, conditions on context attributes) and
// no more, because every operator accepted must be evaluated exactly as
// flagd's JSON-logic library does; anything else is refused at load rather
// than evaluated differently at run time.
var Operators = []string{"fractional", "if", "==", "!=", "in", "var", "and", "or", "!", "cat"}

var operatorHint = "supported operators: " + strings.Join(Operators, ", ")

// Problems checks the definition: the state, that defaultVariant and every
// defect name a variant, that targeting uses only Operators with the right
// arguments, and that fractional entries are [variant, weight] with known
// variants and non-negative integer weights. nil means valid.
func (f *Flag) Problems() []Problem {
	var ps []Problem
	add := func(msg, hint string, path ...any) {
		ps = append(ps, Problem{Path: path, Msg: msg, Hint: hint})
	}
	if f.State != Enabled && f.State != Disabled {
		add(fmt.Sprintf("state %q is not ENABLED or DISABLED", f.State), "", "state")
	}
	if len(f.Variants) == 0 {
		add("no variants", "variants: {on: true, off: false}", "variants")
	}
	known := "variants: " + strings.Join(slices.Sorted(maps.Keys(f.Variants)), ", ")
	switch _, ok := f.Variants[f.DefaultVariant]; {
	case f.DefaultVariant == "":
		add("defaultVariant is missing", known, "defaultVariant")
	case !ok:
		add(fmt.Sprintf("defaultVariant %q is not a variant", f.DefaultVariant), known, "defaultVariant")
	}
	for _, v := range slices.Sorted(maps.Keys(f.Defects)) {
		if _, ok := f.Variants[v]; !ok {
			add(fmt.Sprintf("defect for %q, which is not a variant", v), known, "defects", v)
		}
	}
	if len(f.Targeting) > 0 {
		c := checker{variants: f.Variants, known: known}
		c.rule(f.Targeting, []any{"targeting"}, true)
		ps = append(ps, c.problems...)
	}
	return ps
}

type checker struct {
	variants map[string]any
	known    string
	problems []Problem
}

func (c *checker) add(path []any, hint, format string, args ...any) {
	c.problems = append(c.problems, Problem{Path: slices.Clone(path), Msg: fmt.Sprintf(format, args...), Hint: hint})
}

func at(path []any, more ...any) []any {
	return append(slices.Clone(path), more...)
}

// value checks an operand: an operation (a one-key object), an array of
// operands, or a literal. result says the value is what the targeting
// returns (a variant name), so a string literal there must name a variant.
func (c *checker) value(v any, path []any, result bool) {
	switch t := v.(type) {
	case map[string]any:
		c.rule(t, path, result)
	case []any:
		for i, e := range t {
			c.value(e, at(path, i), false)
		}
	case string:
		if result {
			if _, ok := c.variants[t]; !ok {
				c.add(path, c.known, "targeting returns %q, which is not a variant", t)
			}
		}
	}
}

// rule checks one operation. An object with several keys is a literal in
// JSON logic, which drill refuses: it is almost always a typo.
func (c *checker) rule(m map[string]any, path []any, result bool) {
	if len(m) != 1 {
		c.add(path, operatorHint, "an operation is an object with exactly one key, this one has %d", len(m))
		return
	}
	for op, args := range m {
		p := at(path, op)
		switch op {
		case "var":
			c.varArgs(args, p)
		case "if":
			c.ifArgs(args, p, result)
		case "==", "!=", "in":
			c.nArgs(op, args, p, 2, 2)
		case "and", "or":
			c.nArgs(op, args, p, 1, -1)
		case "!", "cat":
			c.value(args, p, false)
		case "fractional":
			c.fractional(args, p)
		default:
			c.add(p, operatorHint, "operator %q is not supported", op)
		}
	}
}

func (c *checker) nArgs(op string, args any, path []any, lo, hi int) {
	a, ok := args.([]any)
	if !ok || len(a) < lo || (hi >= 0 && len(a) > hi) {
		want := fmt.Sprintf("an array of %d", lo)
		if hi < 0 {
			want = fmt.Sprintf("an array of at least %d", lo)
		}
		c.add(path, "", "%s takes %s arguments", op, want)
		return
	}
	c.value(a, path, false)
}

func (c *checker) varArgs(args any, path []any) {
	switch t := args.(type) {
	case string:
		return
	case []any:
		if len(t) >= 1 && len(t) <= 2 {
			if _, ok := t[0].(string); ok {
				return
			}
		}
	}
	c.add(path, `{"var": "email"} or {"var": ["email", "default"]}`, "var takes a name or [name, default]")
}

func (c *checker) ifArgs(args any, path []any, result bool) {
	a, ok := args.([]any)
	if !ok || len(a) < 2 {
		c.add(path, `{"if": [condition, then, else]}`, "if takes an array of at least 2 arguments")
		return
	}
	for i, e := range a {
		// Odd positions and a trailing else are what the if returns.
		returned := i%2 == 1 || i == len(a)-1
		c.value(e, at(path, i), result && returned)
	}
}

// fractional checks [bucketing expression?, [variant, weight]...]. The
// first argument is the bucketing expression when it is not an array, as
// flagd reads it (a non-string result falls back to flagKey+targetingKey).
func (c *checker) fractional(args any, path []any) {
	a, ok := args.([]any)
	hint := `{"fractional": [["on", 5], ["off", 95]]}`
	if !ok || len(a) == 0 {
		c.add(path, hint, "fractional takes an array of [variant, weight] entries")
		return
	}
	start := 0
	if _, isArray := a[0].([]any); !isArray {
		c.value(a[0], at(path, 0), false)
		start = 1
	}
	if start == len(a) {
		c.add(path, hint, "fractional has no [variant, weight] entries")
	}
	var total int64
	for i := start; i < len(a); i++ {
		total += c.fractionalEntry(a[i], at(path, i), hint)
	}
	if total > maxWeightSum {
		c.add(path, "", "the weights sum to %d, more than %d", total, maxWeightSum)
	}
}

func (c *checker) fractionalEntry(e any, path []any, hint string) int64 {
	entry, ok := e.([]any)
	if !ok || len(entry) < 1 || len(entry) > 2 {
		c.add(path, hint, "a fractional entry is [variant, weight]")
		return 0
	}
	switch v := entry[0].(type) {
	case string:
		c.value(v, at(path, 0), true)
	case bool:
		c.value(fmt.Sprint(v), at(path, 0), true)
	case map[string]any:
		c.rule(v, at(path, 0), true)
	default:
		c.add(at(path, 0), c.known, "a fractional entry's variant must be a variant name")
	}
	if len(entry) < 2 {
		return 1 // flagd's default weight
	}
	if m, isRule := entry[1].(map[string]any); isRule {
		c.rule(m, at(path, 1), false)
		return 0
	}
	w, ok := toFloat(entry[1])
	switch {
	case !ok:
		c.add(at(path, 1), "", "weight must be a number")
	case w < 0:
		c.add(at(path, 1), "flagd clamps a negative weight to 0", "weight %v is negative", w)
	case w != float64(int64(w)):
		c.add(at(path, 1), "flagd ignores a rule with fractional weights", "weight %v is not an integer", w)
	case w > maxWeightSum:
		c.add(at(path, 1), "", "weight %v is more than %d", w, maxWeightSum)
	default:
		return int64(w)
	}
	return 0
}
