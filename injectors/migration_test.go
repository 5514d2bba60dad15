package injectors_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/drillhq/drill/injectors"
)

// yamlDecoder decodes params into a kind's parameter struct through YAML,
// strictly, as the scenario loader does.
func yamlDecoder(t *testing.T, params map[string]any) func(any) error {
	t.Helper()
	b, err := yaml.Marshal(params)
	if err != nil {
		t.Fatal(err)
	}
	return func(v any) error {
		if params == nil {
			return nil
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		return dec.Decode(v)
	}
}

func TestStatementsDropsCommentsAndBlanks(t *testing.T) {
	sql := "-- adds a column; and an index\nALTER TABLE t ADD COLUMN c TEXT;\n\n  CREATE INDEX i ON t (c) ; -- trailing; comment\n;\n"
	got := injectors.Statements(sql)
	want := []string{"ALTER TABLE t ADD COLUMN c TEXT", "CREATE INDEX i ON t (c)"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("Statements = %q, want %q", got, want)
	}
}

// newMigrationFault builds a kind's fault from params decoded the way the
// loader decodes them, and arms it at a recording Env.
func newMigrationFault(t *testing.T, kind string, params map[string]any) (injectors.Injector, injectors.MigrationFault) {
	t.Helper()
	k, ok := injectors.Lookup(kind)
	if !ok {
		t.Fatalf("kind %s not registered", kind)
	}
	p, err := k.Parse(yamlDecoder(t, params))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	inj := k.New(injectors.Spec{Name: "f", Target: "db", Probability: 1, Params: p})
	env := &migEnv{}
	if err := inj.Apply(context.Background(), env); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if env.point.f == nil {
		t.Fatal("Apply installed no migration fault")
	}
	return inj, env.point.f
}

func TestMigrationFailureRewritesOnlyItsFile(t *testing.T) {
	inj, f := newMigrationFault(t, "migration-failure", map[string]any{"statement": 2})
	body := "CREATE TABLE a (x INT);\nALTER TABLE orders ADD COLUMN s TEXT;\nCREATE INDEX i ON orders (s);\n"
	other := &injectors.Migration{Engine: "postgres", Version: 2, Target: 3, Up: true, Name: "2_x.up.sql", SQL: body}
	if err := f.Migration(context.Background(), other); err != nil || other.SQL != body || other.StatementByStatement {
		t.Errorf("an intermediate file was changed: %q stepwise=%v err=%v", other.SQL, other.StatementByStatement, err)
	}
	down := &injectors.Migration{Engine: "postgres", Version: 3, Target: 2, Up: false, SQL: body}
	if _ = f.Migration(context.Background(), down); down.SQL != body {
		t.Errorf("a down file was changed by an up fault: %q", down.SQL)
	}
	m := &injectors.Migration{Engine: "postgres", Version: 3, Target: 3, Up: true, Name: "3_add.up.sql", SQL: body}
	if err := f.Migration(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	got := injectors.Statements(m.SQL)
	want := []string{"CREATE TABLE a (x INT)", "SELECT 1 FROM drill_injected_failure_at_statement_2",
		"ALTER TABLE orders ADD COLUMN s TEXT", "CREATE INDEX i ON orders (s)"}
	if strings.Join(got, "|") != strings.Join(want, "|") || !m.StatementByStatement {
		t.Errorf("rewritten = %q stepwise=%v, want %q stepwise", got, m.StatementByStatement, want)
	}
	e := inj.(injectors.Verifier).Verify(injectors.Observation{})
	if !e.Effective || !strings.Contains(e.Measured, "3_add.up.sql fails at statement 2 of 3") {
		t.Errorf("effect %+v", e)
	}
	if err := inj.Revert(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestMigrationFailureAtomicAndPastTheEnd(t *testing.T) {
	_, f := newMigrationFault(t, "migration-failure", map[string]any{"statement": 9, "multi_statement": false})
	m := &injectors.Migration{Engine: "sqlite", Version: 2, Target: 2, Up: true, SQL: "ALTER TABLE t ADD COLUMN c TEXT;"}
	if err := f.Migration(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	got := injectors.Statements(m.SQL)
	if len(got) != 2 || !strings.HasPrefix(got[1], "SELECT 1 FROM drill_injected_failure") || m.StatementByStatement {
		t.Errorf("rewritten = %q stepwise=%v: want the failure after the last statement, one transaction", got, m.StatementByStatement)
	}
}

func TestDownFailureActsOnTheFirstDownFile(t *testing.T) {
	inj, f := newMigrationFault(t, "down-failure", nil)
	up := &injectors.Migration{Engine: "postgres", Version: 3, Target: 3, Up: true, SQL: "CREATE TABLE a (x INT);"}
	_ = f.Migration(context.Background(), up)
	if len(injectors.Statements(up.SQL)) != 1 {
		t.Errorf("an up file was changed by down-failure: %q", up.SQL)
	}
	if e := inj.(injectors.Verifier).Verify(injectors.Observation{}); e.Effective {
		t.Errorf("effective before any down ran: %+v", e)
	}
	down := &injectors.Migration{Engine: "postgres", Version: 3, Target: 2, Up: false, SQL: "DROP TABLE a;"}
	_ = f.Migration(context.Background(), down)
	if got := injectors.Statements(down.SQL); len(got) != 2 || !strings.Contains(got[0], "drill_injected_failure_at_statement_1") {
		t.Errorf("down rewritten = %q", got)
	}
}

func TestMigrationSlowAppendsASleep(t *testing.T) {
	_, f := newMigrationFault(t, "migration-slow", map[string]any{"delay": "1500ms"})
	for engine, want := range map[string]string{"postgres": "SELECT pg_sleep(1.5)", "sqlite": "SELECT drill_sleep(1500)"} {
		m := &injectors.Migration{Engine: engine, Version: 2, Target: 2, Up: true, SQL: "ALTER TABLE t ADD COLUMN c TEXT;"}
		_ = f.Migration(context.Background(), m)
		got := injectors.Statements(m.SQL)
		if len(got) != 2 || got[1] != want || m.StatementByStatement {
			t.Errorf("%s: %q, want the DDL then %q in one transaction", engine, got, want)
		}
	}
	if got := injectors.SleepStatement("postgres", 2*time.Second); got != "SELECT pg_sleep(2)" {
		t.Errorf("SleepStatement = %q", got)
	}
}

func TestMigrationKindsParams(t *testing.T) {
	tests := []struct {
		kind   string
		params map[string]any
		err    string
	}{
		{"migration-failure", nil, "needs params.statement >= 1"},
		{"down-failure", map[string]any{"statement": 0}, "statement must be >= 1"},
		{"migration-slow", nil, "needs params.delay > 0"},
		{"migration-lock", map[string]any{"table": "orders"}, "needs params.hold > 0"},
		{"migration-lock", map[string]any{"table": "orders; drop", "hold": "1s"}, "a plain table name"},
		{"migration-lock", map[string]any{"table": "orders", "hold": "1s", "mode": "row lock"}, "not a PostgreSQL lock mode"},
		{"migration-lock", map[string]any{"table": "orders", "hold": "1s", "mode": "access  exclusive"}, ""},
	}
	for _, tt := range tests {
		k, _ := injectors.Lookup(tt.kind)
		_, err := k.Parse(yamlDecoder(t, tt.params))
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("%s %v: %v", tt.kind, tt.params, err)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("%s %v: err %v, want %q", tt.kind, tt.params, err, tt.err)
		}
		if d := injectors.MigrationDirection(k); d == "" {
			t.Errorf("%s has no migration direction", tt.kind)
		}
	}
	if k, _ := injectors.Lookup("latency"); injectors.MigrationDirection(k) != "" {
		t.Error("latency reports a migration direction")
	}
}

// migEnv is an Env with only a migration point.
type migEnv struct {
	env
	point migPoint
}

func (e *migEnv) Migrations(string) (injectors.MigrationPoint, error) { return &e.point, nil }

type migPoint struct{ f injectors.MigrationFault }

func (p *migPoint) Install(f injectors.MigrationFault) func() {
	p.f = f
	return func() { p.f = nil }
}
