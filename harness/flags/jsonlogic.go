package flags

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
)

// This file evaluates the JSON-logic subset in Operators with the semantics
// of github.com/diegoholiveira/jsonlogic/v3 (v3.9.1), the library flagd's
// core evaluator uses: JavaScript-like truthiness and loose equality, `cat`
// trimming its result, `in` on strings and arrays, `var` with dotted paths
// and a default. Where that library panics (and flagd reports PARSE_ERROR)
// this returns an error.

// evalData is the evaluation context plus flagd's "$flagd" properties,
// which flagd adds to every targeting evaluation. They are looked up here
// instead of copying the context into a new map on every evaluation.
type evalData struct {
	ctx       map[string]any
	flagKey   string
	timestamp int64
}

var errParse = errors.New("targeting could not be evaluated")

func (d *evalData) eval(v any) (any, error) {
	switch t := v.(type) {
	case map[string]any:
		return d.apply(t)
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			r, err := d.eval(e)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	default:
		return v, nil
	}
}

func (d *evalData) apply(m map[string]any) (any, error) {
	if len(m) != 1 {
		return m, nil // JSON logic: an object with several keys is a literal
	}
	for op, args := range m {
		switch op {
		case "var":
			return d.getVar(args)
		case "if":
			return d.cond(args)
		case "and", "or":
			return d.andOr(op == "and", args)
		}
		// The remaining operators take their arguments evaluated.
		a, err := d.eval(args)
		if err != nil {
			return nil, err
		}
		switch op {
		case "==", "!=":
			x, y, err := two(op, a)
			if err != nil {
				return nil, err
			}
			return looseEquals(x, y) == (op == "=="), nil
		case "in":
			return in(a)
		case "!":
			if s, ok := a.([]any); ok && len(s) > 0 {
				return !truthy(s[0]), nil
			}
			return !truthy(a), nil
		case "cat":
			return cat(a)
		case "fractional":
			return d.fractional(a)
		}
		return nil, fmt.Errorf("%w: operator %q is not supported", errParse, op)
	}
	return nil, nil
}

func two(op string, a any) (any, any, error) {
	s, ok := a.([]any)
	if !ok {
		return nil, nil, fmt.Errorf("%w: %s takes an array", errParse, op)
	}
	if len(s) < 2 {
		// The library answers false for == with fewer than two arguments.
		return nil, struct{}{}, nil
	}
	return s[0], s[1], nil
}

func (d *evalData) cond(args any) (any, error) {
	clauses, ok := args.([]any)
	if !ok {
		return nil, fmt.Errorf("%w: if takes an array", errParse)
	}
	n := len(clauses)
	for i := 0; i < n-1; i += 2 {
		c, err := d.eval(clauses[i])
		if err != nil {
			return nil, err
		}
		if truthy(c) {
			return d.clause(clauses[i+1])
		}
	}
	if n%2 == 1 {
		return d.clause(clauses[n-1])
	}
	return nil, nil
}

// clause evaluates an if's branch; like the library, a branch whose value
// is itself a rule is applied once more.
func (d *evalData) clause(v any) (any, error) {
	r, err := d.eval(v)
	if err != nil {
		return nil, err
	}
	if m, ok := r.(map[string]any); ok {
		return d.apply(m)
	}
	return r, nil
}

func (d *evalData) andOr(and bool, args any) (any, error) {
	s, ok := args.([]any)
	if !ok {
		return nil, fmt.Errorf("%w: and/or take an array", errParse)
	}
	var last any
	for _, e := range s {
		r, err := d.eval(e)
		if err != nil {
			return nil, err
		}
		last = r
		if truthy(r) != and {
			return r, nil
		}
	}
	return last, nil
}

func (d *evalData) getVar(args any) (any, error) {
	a, err := d.eval(args)
	if err != nil {
		return nil, err
	}
	var def any
	switch t := a.(type) {
	case nil:
		return nil, nil // the whole data is not a primitive
	case []any:
		if len(t) == 0 {
			return d.ctx, nil
		}
		if len(t) == 2 {
			def = t[1]
		}
		name, ok := t[0].(string)
		if !ok {
			return nil, fmt.Errorf("%w: var name must be a string", errParse)
		}
		a = name
	case float64, int, int64:
		a = numString(t)
	}
	name, ok := a.(string)
	if !ok {
		return nil, fmt.Errorf("%w: var name must be a string", errParse)
	}
	if name == "" {
		return d.ctx, nil
	}
	return d.lookup(strings.Split(name, "."), def), nil
}

func (d *evalData) lookup(parts []string, def any) any {
	var cur any = d.ctx
	if parts[0] == "$flagd" {
		// flagd overwrites any "$flagd" the caller sent.
		cur = map[string]any{"flagKey": d.flagKey, "timestamp": float64(d.timestamp)}
		parts = parts[1:]
	}
	for _, p := range parts {
		if p == "" {
			continue
		}
		switch t := cur.(type) {
		case map[string]any:
			cur = t[p]
		case []any:
			i, err := strconv.ParseFloat(p, 64)
			if err != nil || int(i) < 0 || int(i) >= len(t) {
				return def
			}
			cur = t[int(i)]
		default:
			return def
		}
		if cur == nil {
			return def
		}
	}
	return cur
}

// truthy is JSON logic's (JavaScript's) truthiness.
func truthy(v any) bool {
	switch t := v.(type) {
	case nil:
		return false
	case bool:
		return t
	case string:
		return t != ""
	case []any:
		return len(t) > 0
	case map[string]any:
		return len(t) > 0
	}
	if f, ok := toFloat(v); ok {
		return f != 0
	}
	return false
}

// looseEquals is the library's ==: nil equals only nil, two strings compare
// as strings, anything else compares as JavaScript numbers.
func looseEquals(a, b any) bool {
	if a == nil || b == nil {
		return a == b
	}
	if sa, ok := a.(string); ok {
		if sb, ok := b.(string); ok {
			return sa == sb
		}
	}
	return jsNumber(a) == jsNumber(b)
}

func jsNumber(v any) float64 {
	switch t := v.(type) {
	case nil:
		return 0
	case bool:
		if t {
			return 1
		}
		return 0
	case string:
		if strings.TrimSpace(t) == "" {
			return 0
		}
		f, err := strconv.ParseFloat(t, 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return math.NaN()
		}
		return f
	}
	if f, ok := toFloat(v); ok {
		return f
	}
	return math.NaN()
}

func in(a any) (any, error) {
	s, ok := a.([]any)
	if !ok || len(s) == 0 {
		return nil, fmt.Errorf("%w: in takes [needle, haystack]", errParse)
	}
	needle := s[0]
	var hay any
	if len(s) > 1 {
		hay = s[1]
	}
	switch h := hay.(type) {
	case string:
		n, ok := needle.(string)
		if !ok {
			return nil, fmt.Errorf("%w: in: looking for a %T in a string", errParse, needle)
		}
		return strings.Contains(h, n), nil
	case []any:
		return inArray(needle, h)
	}
	return false, nil
}

func inArray(needle any, hay []any) (any, error) {
	nf, needleIsNumber := toFloat(needle)
	for _, e := range hay {
		if r, ok := e.([]any); ok {
			// The library reads an array element as an inclusive range.
			if len(r) < 2 {
				return nil, fmt.Errorf("%w: in: a range needs two bounds", errParse)
			}
			lo, ok1 := strictNumber(r[0])
			hi, ok2 := strictNumber(r[1])
			v, ok3 := strictNumber(needle)
			if !ok1 || !ok2 || !ok3 {
				return nil, fmt.Errorf("%w: in: a range of non-numbers", errParse)
			}
			if v >= lo && hi >= v {
				return true, nil
			}
			continue
		}
		if needleIsNumber {
			ef, ok := strictNumber(e)
			if !ok {
				return nil, fmt.Errorf("%w: in: comparing a number with a %T", errParse, e)
			}
			if ef == nf {
				return true, nil
			}
			continue
		}
		if comparable(e) && comparable(needle) && e == needle {
			return true, nil
		}
	}
	return false, nil
}

func comparable(v any) bool {
	return v == nil || reflect.TypeOf(v).Comparable()
}

// strictNumber is the library's typing.ToNumber: numbers, and strings
// parsed as floats (0 when they do not parse); anything else is an error.
func strictNumber(v any) (float64, bool) {
	if s, ok := v.(string); ok {
		f, _ := strconv.ParseFloat(s, 64)
		return f, true
	}
	return toFloat(v)
}

func cat(a any) (any, error) {
	if s, ok := a.(string); ok {
		return s, nil
	}
	parts, ok := a.([]any)
	if !ok {
		return catString(a)
	}
	if len(parts) == 1 {
		return catString(parts[0])
	}
	var b strings.Builder
	for _, p := range parts {
		s, err := catString(p)
		if err != nil {
			return nil, err
		}
		b.WriteString(s)
	}
	// The library trims the concatenation (of two or more parts).
	return strings.TrimSpace(b.String()), nil
}

func catString(v any) (string, error) {
	switch t := v.(type) {
	case nil:
		return "", nil
	case string:
		return t, nil
	}
	if _, ok := toFloat(v); ok {
		return numString(v), nil
	}
	return "", fmt.Errorf("%w: cat of a %T", errParse, v)
}

func numString(v any) string {
	f, _ := toFloat(v)
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// toFloat reads any Go number: JSON gives float64, YAML gives int.
func toFloat(v any) (float64, bool) {
	switch t := v.(type) {
	case float64:
		return t, true
	case float32:
		return float64(t), true
	case int:
		return float64(t), true
	case int64:
		return float64(t), true
	case int32:
		return float64(t), true
	case uint64:
		return float64(t), true
	case uint32:
		return float64(t), true
	case uint:
		return float64(t), true
	}
	return 0, false
}
