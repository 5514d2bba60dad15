package scenarios

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Scalar readers. Each reports a problem at n and returns false when n is
// not what the field needs; name is the field's key, for messages.

func (p *parser) scalar(n *yaml.Node, name, want string) bool {
	if n.Kind == yaml.ScalarNode && !isNull(n) {
		return true
	}
	p.add(n, "", "%s: expected %s, got %s", name, want, describe(n))
	return false
}

func (p *parser) str(n *yaml.Node, name string) (string, bool) {
	// Any scalar reads as its text: a version called 2 is the string "2".
	if !p.scalar(n, name, "a string") {
		return "", false
	}
	return n.Value, true
}

func (p *parser) int64(n *yaml.Node, name string) (int64, bool) {
	var v int64
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&v) != nil {
		p.add(n, "", "%s: expected an integer, got %s", name, describe(n))
		return 0, false
	}
	return v, true
}

func (p *parser) int(n *yaml.Node, name string) (int, bool) {
	v, ok := p.int64(n, name)
	if ok && (v > math.MaxInt32 || v < math.MinInt32) {
		p.add(n, "", "%s: %d is out of range", name, v)
		return 0, false
	}
	return int(v), ok
}

func (p *parser) number(n *yaml.Node, name string) (float64, bool) {
	if n.Kind == yaml.ScalarNode && (n.ShortTag() == "!!int" || n.ShortTag() == "!!float") {
		if v, err := parseNumber(n.Value); err == nil {
			return v, true
		}
		var v float64
		if n.Decode(&v) == nil && !math.IsInf(v, 0) && !math.IsNaN(v) {
			return v, true // YAML spellings such as 1_000 or 0x10
		}
	}
	p.add(n, "", "%s: expected a number, got %s", name, describe(n))
	return 0, false
}

func (p *parser) duration(n *yaml.Node, name string) (time.Duration, bool) {
	if !p.scalar(n, name, "a duration like 10s") {
		return 0, false
	}
	d, err := parseDuration(n.Value)
	if err != nil {
		p.addErr(n, name, err)
		return 0, false
	}
	return d, true
}

func (p *parser) percent(n *yaml.Node, name string) (float64, bool) {
	if !p.scalar(n, name, "a percentage like 10%") {
		return 0, false
	}
	v, err := parsePercent(n.Value)
	if err != nil {
		var ve *valueError
		if errors.As(err, &ve) && n.ShortTag() != "!!str" {
			ve.hint = fmt.Sprintf("write it as a percentage: %s%%", n.Value)
		}
		p.addErr(n, name, err)
		return 0, false
	}
	return v, true
}

func (p *parser) rate(n *yaml.Node, name string) (Rate, bool) {
	if !p.scalar(n, name, "a rate like 200/s") {
		return Rate{}, false
	}
	r, err := parseRate(n.Value)
	if err != nil {
		p.addErr(n, name, err)
		return Rate{}, false
	}
	return r, true
}

// The setters below leave *dst alone (keeping its default) when the
// field is absent or invalid, and report whether they set it.

func (o *object) str(k string, dst *string) bool {
	n := o.vals[k]
	if n == nil {
		return false
	}
	v, ok := o.p.str(n, k)
	if ok {
		*dst = v
	}
	return ok
}

func (o *object) int(k string, dst *int) bool {
	n := o.vals[k]
	if n == nil {
		return false
	}
	v, ok := o.p.int(n, k)
	if ok {
		*dst = v
	}
	return ok
}

func (o *object) int64(k string, dst *int64) bool {
	n := o.vals[k]
	if n == nil {
		return false
	}
	v, ok := o.p.int64(n, k)
	if ok {
		*dst = v
	}
	return ok
}

func (o *object) number(k string, dst *float64) bool {
	n := o.vals[k]
	if n == nil {
		return false
	}
	v, ok := o.p.number(n, k)
	if ok {
		*dst = v
	}
	return ok
}

func (o *object) boolean(k string, dst *bool) bool {
	n := o.vals[k]
	if n == nil {
		return false
	}
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
		o.p.add(n, "write true or false", "%s: expected true or false, got %s", k, describe(n))
		return false
	}
	*dst = n.Value == "true"
	return true
}

func (o *object) duration(k string, dst *time.Duration) bool {
	n := o.vals[k]
	if n == nil {
		return false
	}
	v, ok := o.p.duration(n, k)
	if ok {
		*dst = v
	}
	return ok
}

func (o *object) percent(k string, dst *float64) bool {
	n := o.vals[k]
	if n == nil {
		return false
	}
	v, ok := o.p.percent(n, k)
	if ok {
		*dst = v
	}
	return ok
}

func (o *object) rate(k string, dst *Rate) bool {
	n := o.vals[k]
	if n == nil {
		return false
	}
	v, ok := o.p.rate(n, k)
	if ok {
		*dst = v
	}
	return ok
}

func (o *object) list(k string) []*yaml.Node { return o.p.list(o.vals[k], k) }
func (o *object) entries(k string) []kv      { return o.p.entries(o.vals[k], k) }

// strList reads a list of strings.
func (o *object) strList(k string, dst *[]string) bool {
	items := o.list(k)
	var out []string
	ok := true
	for _, n := range items {
		v, good := o.p.str(n, k)
		ok = ok && good
		out = append(out, v)
	}
	if ok && items != nil {
		*dst = out
	}
	return ok && items != nil
}

// strMap reads a mapping of strings and returns its pairs, for callers
// that check the values further.
func (o *object) strMap(k string, dst *map[string]string) []kv {
	var good []kv
	for _, e := range o.entries(k) {
		v, ok := o.p.str(e.v, e.k.Value)
		if !ok {
			continue
		}
		if *dst == nil {
			*dst = map[string]string{}
		}
		(*dst)[e.k.Value] = v
		good = append(good, e)
	}
	return good
}

// envMap reads an env mapping. A value is a string, or {value: S,
// secret: true} for one drill must never show: secret records its name.
// The kvs returned pair each name with its value's node, for the
// placeholder and loopback checks.
func (o *object) envMap(k string, dst *map[string]string, secret *map[string]bool) []kv {
	var good []kv
	for _, e := range o.entries(k) {
		vn, v := e.v, ""
		if n := deref(e.v); n != nil && n.Kind == yaml.MappingNode {
			eo := o.p.object(e.k, e.v, join(join(o.where, k), e.k.Value), envValueFields.known...)
			eo.require(envValueFields.required...)
			var sec bool
			if !eo.str("value", &v) {
				continue
			}
			vn = eo.get("value")
			if eo.boolean("secret", &sec) && sec {
				if *secret == nil {
					*secret = map[string]bool{}
				}
				(*secret)[e.k.Value] = true
			}
		} else {
			var ok bool
			if v, ok = o.p.str(e.v, e.k.Value); !ok {
				continue
			}
		}
		if *dst == nil {
			*dst = map[string]string{}
		}
		(*dst)[e.k.Value] = v
		good = append(good, kv{e.k, vn})
	}
	return good
}

// command reads an argv list.
func (o *object) command(k string, dst *[]string) bool {
	n := o.vals[k]
	if n == nil {
		return false
	}
	if n.Kind == yaml.ScalarNode && !isNull(n) {
		o.p.add(n, fmt.Sprintf("write the argv as a list: %s: [%s]", k, strings.Join(strings.Fields(n.Value), ", ")),
			"%s: expected a list of arguments, got %s", k, describe(n))
		return false
	}
	var argv []string
	if !o.strList(k, &argv) {
		if isNull(n) {
			o.p.add(n, "", "%s: needs at least the program to run", k)
		}
		return false
	}
	if len(argv) == 0 || argv[0] == "" {
		o.p.add(n, "", "%s: needs at least the program to run", k)
		return false
	}
	*dst = argv
	return true
}
