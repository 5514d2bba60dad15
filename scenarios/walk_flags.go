package scenarios

import (
	"fmt"
	"slices"

	"go.yaml.in/yaml/v3"

	"github.com/drillhq/drill/harness/flags"
)

// flags walks the top-level `flags:` section: flag definitions in flagd's
// flag-definition format (package harness/flags owns the format and its
// checks), by key. Each of the flag's own problems is reported at the node
// it is about.
func (p *parser) flagDefs(o *object) (map[string]*flags.Flag, []string) {
	entries := o.entries("flags")
	if len(entries) == 0 {
		return nil, nil
	}
	defs := map[string]*flags.Flag{}
	var keys []string
	for _, e := range entries {
		key := e.k.Value
		if !entityNameRE.MatchString(key) {
			p.add(e.k, "use letters, digits, - and _", "flags: %q is not a valid flag key", key)
			continue
		}
		where := "flags." + key
		f := &flags.Flag{}
		if probs := p.decodeStrict(e.v, where, f); len(probs) > 0 {
			p.probs = append(p.probs, probs...)
			continue
		}
		for _, fp := range f.Problems() {
			p.add(nodeAt(e.v, fp.Path), fp.Hint, "%s%s: %s", where, pathText(fp.Path), fp.Msg)
		}
		defs[key] = f
		keys = append(keys, key)
	}
	slices.Sort(keys)
	return defs, keys
}

// nodeAt follows path (mapping keys and sequence indexes) down from n, as
// far as it goes: a problem about a missing field lands on its parent.
func nodeAt(n *yaml.Node, path []any) *yaml.Node {
	for _, step := range path {
		n = deref(n)
		if n == nil {
			return nil
		}
		var next *yaml.Node
		switch s := step.(type) {
		case string:
			if n.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(n.Content); i += 2 {
					if n.Content[i].Value == s {
						next = n.Content[i+1]
					}
				}
			}
		case int:
			if n.Kind == yaml.SequenceNode && s >= 0 && s < len(n.Content) {
				next = n.Content[s]
			}
		}
		if next == nil {
			return n
		}
		n = next
	}
	return n
}

func pathText(path []any) string {
	s := ""
	for _, step := range path {
		switch v := step.(type) {
		case int:
			s += fmt.Sprintf("[%d]", v)
		default:
			s += fmt.Sprintf(".%v", v)
		}
	}
	return s
}
