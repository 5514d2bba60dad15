package flags

import (
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
)

func boolFlag() *Flag {
	return &Flag{State: Enabled, Variants: map[string]any{"on": true, "off": false}, DefaultVariant: "off",
		Defects: map[string]string{"on": "errors=5%"}}
}

// Reference sums of MurmurHash3 x86_32, seed 0 (SMHasher's test values).
func TestHash32IsMurmur3(t *testing.T) {
	for s, want := range map[string]uint32{
		"":      0,
		"hello": 0x248bfa47,
		"The quick brown fox jumps over the lazy dog": 0x2e4ff723,
	} {
		if got := hash32(s); got != want {
			t.Errorf("hash32(%q) = %#x, want %#x", s, got, want)
		}
	}
}

func TestEvaluateReasons(t *testing.T) {
	f := boolFlag()
	if r := Evaluate("x", nil, nil); r.ErrorCode != ErrFlagNotFound || r.Reason != ReasonError {
		t.Errorf("missing flag: %+v", r)
	}
	if r := Evaluate("x", f, nil); r != (Result{Value: false, Variant: "off", Reason: ReasonStatic}) {
		t.Errorf("static: %+v", r)
	}
	d := f.Clone()
	d.State = Disabled
	if r := Evaluate("x", d, nil); r != (Result{Reason: ReasonDisabled}) {
		t.Errorf("disabled: %+v", r)
	}
	noDefault := f.Clone()
	noDefault.DefaultVariant = ""
	if r := Evaluate("x", noDefault, nil); r != (Result{Reason: ReasonDefault}) {
		t.Errorf("no defaultVariant: %+v", r)
	}
	cases := []struct {
		rule    string
		ctx     map[string]any
		want    Result
		errCode string
	}{
		{`{"if": [{"==": [{"var": "plan"}, "gold"]}, "on", null]}`, map[string]any{"plan": "gold"}, Result{Value: true, Variant: "on", Reason: ReasonTargetingMatch}, ""},
		{`{"if": [{"==": [{"var": "plan"}, "gold"]}, "on", null]}`, map[string]any{"plan": "tin"}, Result{Value: false, Variant: "off", Reason: ReasonDefault}, ""},
		{`{"if": [{"!=": [{"var": "n"}, "5"]}, "on", "off"]}`, map[string]any{"n": 5.0}, Result{Value: false, Variant: "off", Reason: ReasonTargetingMatch}, ""},
		{`{"if": [{"and": [{"in": [{"var": "c"}, ["de", "fr"]]}, {"!": {"var": "beta"}}]}, "on", "off"]}`, map[string]any{"c": "fr"}, Result{Value: true, Variant: "on", Reason: ReasonTargetingMatch}, ""},
		{`{"if": [{"or": [false, {"==": [{"cat": [" a", "b "]}, "ab"]}]}, "on", "off"]}`, nil, Result{Value: true, Variant: "on", Reason: ReasonTargetingMatch}, ""},
		{`{"if": [{"==": [{"var": "$flagd.flagKey"}, "x"]}, "on", "off"]}`, map[string]any{"$flagd": map[string]any{"flagKey": "spoofed"}}, Result{Value: true, Variant: "on", Reason: ReasonTargetingMatch}, ""},
		{`{"if": [{"in": [{"var": "n"}, "abc"]}, "on", "off"]}`, map[string]any{"n": 5.0}, Result{}, ErrParse},
		{`{"var": "v"}`, map[string]any{"v": "purple"}, Result{}, ErrGeneral},
		{`{"var": "v"}`, map[string]any{"v": true}, Result{}, ErrGeneral}, // "true" is not a variant of f
	}
	for _, c := range cases {
		g := f.Clone()
		g.Targeting = rule(t, c.rule)
		r := Evaluate("x", g, c.ctx)
		if c.errCode != "" {
			if r.ErrorCode != c.errCode || r.Reason != ReasonError || r.Value != nil {
				t.Errorf("%s: got %+v, want error %s", c.rule, r, c.errCode)
			}
			continue
		}
		if r != c.want {
			t.Errorf("%s %v: got %+v, want %+v", c.rule, c.ctx, r, c.want)
		}
	}
	// true and false name the variants "true" and "false" (flagd's
	// boolean shorthand).
	b := &Flag{State: Enabled, Variants: map[string]any{"true": 1, "false": 0}, DefaultVariant: "false",
		Targeting: rule(t, `{"==": [{"var": "a"}, 1]}`)}
	if r := Evaluate("b", b, map[string]any{"a": "1"}); r.Variant != "true" || r.Value != 1 {
		t.Errorf("boolean shorthand: %+v", r)
	}
}

func TestProblems(t *testing.T) {
	ok := boolFlag()
	ok.Targeting = rule(t, `{"if": [{"in": ["@x.com", {"var": "email"}]}, {"fractional": [{"cat": [{"var": "$flagd.flagKey"}, {"var": "email"}]}, ["on", 5], ["off", 95]]}, null]}`)
	if ps := ok.Problems(); len(ps) != 0 {
		t.Fatalf("valid flag: %v", ps)
	}
	cases := []struct {
		mut  func(f *Flag)
		path []any
		msg  string
	}{
		{func(f *Flag) { f.State = "on" }, []any{"state"}, "not ENABLED or DISABLED"},
		{func(f *Flag) { f.DefaultVariant = "maybe" }, []any{"defaultVariant"}, "not a variant"},
		{func(f *Flag) { f.DefaultVariant = "" }, []any{"defaultVariant"}, "missing"},
		{func(f *Flag) { f.Defects = map[string]string{"of": "errors=1%"} }, []any{"defects", "of"}, "not a variant"},
		{func(f *Flag) { f.Targeting = rule(t, `{"fractional": [["on", 5], ["off", 95], ["mid", 1]]}`) }, []any{"targeting", "fractional", 2, 0}, "not a variant"},
		{func(f *Flag) { f.Targeting = rule(t, `{"fractional": [["on", -5], ["off", 95]]}`) }, []any{"targeting", "fractional", 0, 1}, "negative"},
		{func(f *Flag) { f.Targeting = rule(t, `{"fractional": [["on", 2.5], ["off", 95]]}`) }, []any{"targeting", "fractional", 0, 1}, "not an integer"},
		{func(f *Flag) { f.Targeting = rule(t, `{"fractional": [["on", 5, 1]]}`) }, []any{"targeting", "fractional", 0}, "[variant, weight]"},
		{func(f *Flag) { f.Targeting = rule(t, `{"fractional": ["email"]}`) }, []any{"targeting", "fractional"}, "no [variant, weight]"},
		{func(f *Flag) { f.Targeting = rule(t, `{"if": [{"sem_ver": ["1.0.0", ">", "0.9"]}, "on", "off"]}`) }, []any{"targeting", "if", 0, "sem_ver"}, "not supported"},
		{func(f *Flag) { f.Targeting = rule(t, `{"if": [true, "yes", "off"]}`) }, []any{"targeting", "if", 1}, "not a variant"},
		{func(f *Flag) { f.Targeting = rule(t, `{"==": [1]}`) }, []any{"targeting", "=="}, "array of 2"},
		{func(f *Flag) { f.Targeting = rule(t, `{"var": 5}`) }, []any{"targeting", "var"}, "name"},
		{func(f *Flag) { f.Targeting = rule(t, `{"if": 1, "==": 2}`) }, []any{"targeting"}, "exactly one key"},
	}
	for _, c := range cases {
		f := boolFlag()
		c.mut(f)
		ps := f.Problems()
		found := false
		for _, p := range ps {
			if reflect.DeepEqual(p.Path, c.path) && strings.Contains(p.Msg, c.msg) {
				found = true
			}
		}
		if !found {
			t.Errorf("want a problem at %v containing %q, got %v", c.path, c.msg, ps)
		}
	}
	bad := boolFlag()
	bad.Targeting = rule(t, `{"substr": ["abc", 1]}`)
	if ps := bad.Problems(); len(ps) != 1 || !strings.Contains(ps[0].Hint, "fractional, if, ==") {
		t.Errorf("an unsupported operator's hint lists the supported ones: %v", ps)
	}
}

func TestCloneIsDeep(t *testing.T) {
	f := boolFlag()
	f.Targeting = rule(t, `{"fractional": [["on", 5], ["off", 95]]}`)
	c := f.Clone()
	c.Targeting["fractional"].([]any)[0].([]any)[1] = 50.0
	c.Variants["on"] = "changed"
	c.Defects["on"] = "latency=1s"
	if !reflect.DeepEqual(f, func() *Flag {
		g := boolFlag()
		g.Targeting = rule(t, `{"fractional": [["on", 5], ["off", 95]]}`)
		return g
	}()) {
		t.Errorf("changing the clone changed the original: %+v", f)
	}
}

// Share is sticky: over 5,000 keys and shares 1%..100%, a key that got
// "on" keeps it at every larger share, and the fraction of keys on is the
// share within statistical tolerance.
func TestShareSticky(t *testing.T) {
	const keys = 5000
	f := boolFlag()
	on := make([]bool, keys)
	for pct := 0; pct <= 100; pct++ {
		share := float64(pct) / 100
		g := Share(f, "on", share)
		if ps := g.Problems(); len(ps) != 0 {
			t.Fatalf("Share(%v) is invalid: %v", share, ps)
		}
		n := 0
		for i := range keys {
			r := Evaluate("new-pricing", g, map[string]any{"targetingKey": fmt.Sprintf("user-%d", i)})
			if r.Reason != ReasonTargetingMatch {
				t.Fatalf("share %v key %d: %+v", share, i, r)
			}
			got := r.Variant == "on"
			if on[i] && !got {
				t.Fatalf("share %v: key user-%d went back from on to off", share, i)
			}
			on[i] = got
			if got {
				n++
			}
		}
		if frac := float64(n) / keys; math.Abs(frac-share) > 0.03 {
			t.Errorf("share %v: %v of keys on", share, frac)
		}
		if (pct == 0 && n != 0) || (pct == 100 && n != keys) {
			t.Errorf("share %v: %d keys on", share, n)
		}
	}
	if r := Evaluate("new-pricing", Share(f, "on", 0.5), nil); r.Variant != "off" || r.Reason != ReasonDefault {
		t.Errorf("no targetingKey: %+v, want the default variant", r)
	}
	if f.Targeting != nil {
		t.Errorf("Share changed its argument")
	}
}
