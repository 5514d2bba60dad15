package dbcheck

import (
	"slices"
	"strings"
	"testing"
)

// sameLines compares two line lists, nil and empty alike.
func sameLines(got, want []string) bool { return slices.Equal(got, want) || len(got)+len(want) == 0 }

// TestSchemaSQLiteChecks: CHECK constraints are found in CREATE TABLE text
// whatever its formatting, and parentheses, commas and the word CHECK in
// strings, quoted names, types and comments do not confuse the tokenizer.
func TestSchemaSQLiteChecks(t *testing.T) {
	for _, c := range []struct{ sql, want string }{
		{`CREATE TABLE t (a INT)`, ""},
		{`CREATE TABLE t (a INT CHECK(a>0))`, "check (a>0) on t"},
		{"CREATE TABLE t (\n  a INT\n    check (\n a   >  0 ) ,\n b TEXT)", "check (a > 0) on t"},
		{`CREATE TABLE t (a NUMERIC(10, 2), b TEXT DEFAULT 'CHECK (x)', CONSTRAINT "b ok" CHECK (b <> ')' AND length(b) < 5))`,
			`constraint "b ok" check (b <> ')' AND length(b) < 5) on t`},
		{"CREATE TABLE t (a INT, -- CHECK (a < 0)\n /* check (a) */ [check] INT, CHECK (a IN (1, 2)), CHECK ([check] > a))",
			"check (a IN (1, 2)) on t|check ([check] > a) on t"},
		{`CREATE TABLE "we""ird (" (a TEXT CHECK (a = 'it''s'))`, `check (a = 'it''s') on t`},
	} {
		if got := strings.Join(sqliteChecks("t", c.sql), "|"); got != c.want {
			t.Errorf("sqliteChecks(%q) = %q, want %q", c.sql, got, c.want)
		}
	}
}

// TestSchemaDiff: Diff's order and multiset semantics, without a
// database.
func TestSchemaDiff(t *testing.T) {
	s := func(l ...string) Schema { return Schema{Lines: l} }
	for _, c := range []struct {
		before, after Schema
		want          []string
	}{
		{s(), s(), nil},
		{s("table a", "column a.x int null"), s("column a.x int null", "table a"), nil},
		{s("table a"), s(), []string{"- table a"}},
		{s("column a.x int null", "table a"), s("column a.x int not null", "table a", "table b"),
			[]string{"+ column a.x int not null", "- column a.x int null", "+ table b"}},
		{s("check (x > 0) on t", "check (x > 0) on t"), s("check (x > 0) on t"), []string{"- check (x > 0) on t"}},
	} {
		if got := Diff(c.before, c.after); !sameLines(got, c.want) {
			t.Errorf("Diff(%q, %q) = %q, want %q", c.before.Lines, c.after.Lines, got, c.want)
		}
	}
}
