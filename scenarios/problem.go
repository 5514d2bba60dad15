package scenarios

import (
	"cmp"
	"slices"
	"strings"
)

// Problem is one diagnostic about a scenario file: where it is, what is
// wrong, and, when one helps, how to fix it.
type Problem struct {
	Pos  Pos
	Msg  string
	Hint string
	// Warning marks a scenario that runs but does not do what it seems to
	// (Scenario.Warnings): it is reported and never refused.
	Warning bool
}

// Error formats the problem as file:line:col: message (file:line:col:
// warning: message for a warning), followed by the hint on its own
// indented line when there is one.
func (p Problem) Error() string {
	s := p.Pos.String() + ": "
	if p.Warning {
		s += "warning: "
	}
	s += p.Msg
	if p.Hint != "" {
		s += "\n    hint: " + p.Hint
	}
	return s
}

// Problems is every problem found in one scenario file, sorted by
// position. Parse and Load return it as their error, so a caller gets all
// of them at once; use errors.As to get at the list.
type Problems []Problem

// Error formats the problems one per line (a hint adds an indented line).
func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

// sorted returns the problems ordered by position, keeping the order of
// discovery for problems at the same place, without exact duplicates
// (a node reached twice through a YAML alias is reported once).
func (ps Problems) sorted() Problems {
	out := slices.Clone(ps)
	slices.SortStableFunc(out, func(a, b Problem) int {
		return cmp.Or(cmp.Compare(a.Pos.File, b.Pos.File), cmp.Compare(a.Pos.Line, b.Pos.Line), cmp.Compare(a.Pos.Col, b.Pos.Col))
	})
	seen := make(map[Problem]bool, len(out))
	return slices.DeleteFunc(out, func(p Problem) bool {
		dup := seen[p]
		seen[p] = true
		return dup
	})
}
