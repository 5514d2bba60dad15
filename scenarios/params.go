package scenarios

import (
	"encoding"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/drillhq/drill/injectors"
)

var (
	yamlUnmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// decodeStrict decodes n into v, which must be a non-nil pointer, refusing
// what a plain yaml decode would let slip: fields v's type does not have
// (matched against its yaml tags, with a did-you-mean hint) and duplicate
// keys. Every problem carries the position of the node it is about; name
// prefixes field paths in messages ("params.delay"). An absent or empty n
// decodes to nothing and leaves v as it was, so v's defaults stand.
func decodeStrict(file string, n *yaml.Node, name string, v any) Problems {
	return decodeWith(&parser{file: file}, n, name, v)
}

// decodeStrict is decodeStrict for a part of p's file: the problems are
// returned, not added to p, but the walk's budget (see limits) is p's, so
// that aliases in params count against the same bounds as the rest of
// the file.
func (p *parser) decodeStrict(n *yaml.Node, name string, v any) Problems {
	return decodeWith(&parser{file: p.file, lim: p.limits(), side: p, seen: p.seen}, n, name, v)
}

// decodeWith is decodeStrict with a fresh parser p collecting the problems.
func decodeWith(p *parser, n *yaml.Node, name string, v any) Problems {
	rv := reflect.ValueOf(v)
	if !rv.IsValid() || rv.Kind() != reflect.Pointer || rv.IsNil() {
		p.add(n, "", "%s: cannot decode into %T, which is not a non-nil pointer (a bug in the fault kind)", name, v)
		return p.probs
	}
	n = deref(n)
	if n == nil || isNull(n) {
		return nil
	}
	p.check(n, rv.Type().Elem(), name, 0)
	if len(p.probs) > 0 {
		return p.probs
	}
	// Every leaf decoded on its own above, so this cannot fail in
	// practice; it fills v with the checked values.
	if err := n.Decode(v); err != nil {
		p.add(n, "", "%s: %v", name, err)
	}
	return p.probs
}

// maxCheckDepth guards against recursive parameter types.
const maxCheckDepth = 32

// check walks n against type t, reporting unknown fields and decoding
// each leaf on its own so that type errors point at their node.
func (p *parser) check(n *yaml.Node, t reflect.Type, path string, depth int) {
	n = deref(n)
	if n == nil || isNull(n) || depth > maxCheckDepth || !p.visitParam(n) {
		return
	}
	if customDecoded(t) {
		p.leaf(n, t, path)
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		p.check(n, t.Elem(), path, depth+1)
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			p.add(n, "", "%s: expected a mapping, got %s", path, describe(n))
			return
		}
		fields, names, rest := yamlFields(t)
		if p.seen != nil && rest == nil {
			p.seen(n, names)
		}
		for _, e := range p.pairs(n) {
			ft, ok := fields[e.k.Value]
			switch {
			case ok:
				p.check(e.v, ft, path+"."+e.k.Value, depth+1)
			case rest != nil:
				// An inline map takes every other key.
				p.leaf(e.k, rest.Key(), path)
				p.check(e.v, rest.Elem(), path+"."+e.k.Value, depth+1)
			default:
				p.unknownField(e.k, path, names)
			}
		}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 && n.Kind == yaml.ScalarNode {
			p.leaf(n, t, path) // []byte from a (binary) string
			return
		}
		if n.Kind != yaml.SequenceNode {
			p.add(n, "", "%s: expected a list, got %s", path, describe(n))
			return
		}
		for i, c := range n.Content {
			p.check(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i), depth+1)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			p.add(n, "", "%s: expected a mapping, got %s", path, describe(n))
			return
		}
		for _, e := range p.pairs(n) {
			p.leaf(e.k, t.Key(), path)
			p.check(e.v, t.Elem(), path+"."+e.k.Value, depth+1)
		}
	case reflect.Interface:
		// Anything goes into an interface; the kind validates it.
	default:
		p.leaf(n, t, path)
	}
}

// customDecoded reports whether values of t decode themselves.
func customDecoded(t reflect.Type) bool {
	pt := reflect.PointerTo(t)
	return t.Implements(yamlUnmarshalerType) || pt.Implements(yamlUnmarshalerType) ||
		t.Implements(textUnmarshalerType) || pt.Implements(textUnmarshalerType)
}

// durationTypes are the parameter types that hold a duration: each is
// bounded like the scenario's own durations (see MaxDuration).
var durationTypes = []reflect.Type{reflect.TypeFor[time.Duration](), reflect.TypeFor[injectors.Duration]()}

// leaf decodes n into a fresh value of type t to find out whether it fits.
func (p *parser) leaf(n *yaml.Node, t reflect.Type, path string) {
	v := reflect.New(t)
	err := n.Decode(v.Interface())
	if err == nil {
		p.checkDurationParam(n, v.Elem(), path)
		return
	}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		p.add(n, "", "%s: expected %s, got %s", path, typeName(t), describe(n))
		return
	}
	p.add(n, "", "%s: %v", path, err)
}

// checkDurationParam refuses a decoded duration parameter above
// MaxDuration: no kind bounds them, and a huge one would overflow what
// the harness adds up. (Every kind refuses a negative one itself, with
// its own message.) The problem goes to p.side when there is one, so
// that the decode goes on and the kind still reports its own problems:
// every problem at once.
func (p *parser) checkDurationParam(n *yaml.Node, v reflect.Value, path string) {
	for v.Kind() == reflect.Pointer && !v.IsNil() {
		v = v.Elem()
	}
	if !slices.Contains(durationTypes, v.Type()) || time.Duration(v.Int()) <= MaxDuration {
		return
	}
	to := p
	if p.side != nil {
		to = p.side
	}
	to.addErr(n, path, checkDuration(n.Value, time.Duration(v.Int())))
}

// typeName names a Go type the way a scenario author thinks of it.
func typeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return "a non-negative integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a mapping"
	case reflect.Pointer:
		return typeName(t.Elem())
	}
	return t.String()
}

// yamlFields returns the fields of struct type t by the key yaml.v3
// decodes them from: the yaml tag's name, else the lowercased field name;
// ",inline" structs contribute their own fields, and an ",inline" map
// (rest) takes any other key. names keeps declaration order, for hints.
func yamlFields(t reflect.Type) (fields map[string]reflect.Type, names []string, rest reflect.Type) {
	fields = map[string]reflect.Type{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for f := range t.Fields() {
			if !f.IsExported() && !f.Anonymous {
				continue // yaml.v3 skips private fields but not embedded ones
			}
			tag := f.Tag.Get("yaml")
			if tag == "-" {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			if slices.Contains(strings.Split(opts, ","), "inline") {
				ft := f.Type
				if ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				switch ft.Kind() {
				case reflect.Struct:
					walk(ft)
				case reflect.Map:
					rest = ft
				}
				continue
			}
			if name == "" {
				name = strings.ToLower(f.Name)
			}
			if _, dup := fields[name]; !dup {
				names = append(names, name)
			}
			fields[name] = f.Type
		}
	}
	walk(t)
	return fields, names, rest
}
