package injectors

import (
	"context"
	"errors"
	"fmt"
)

func init() { Register("migration-failure", migrationFailureKind{}) }

// MigrationFailureParams configures the migration-failure kind.
type MigrationFailureParams struct {
	// Statement is the 1-based statement of the file that fails; the ones
	// before it run.
	Statement int `yaml:"statement"`
	// Version picks the migration file; 0 is the canary version's own.
	Version uint `yaml:"version"`
	// MultiStatement runs the file statement by statement, as
	// golang-migrate's x-multi-statement does, so the statements before
	// the failure stay applied (half-applied DDL). False runs it as one
	// unit, which PostgreSQL rolls back whole.
	MultiStatement *bool `yaml:"multi_statement"`
}

type migrationFailureKind struct{}

func (migrationFailureKind) Describe() Description {
	return Description{
		Name: "migration-failure",
		Summary: "the canary's up migration fails at statement N: the statements before it run (multi-statement), " +
			"golang-migrate marks the database dirty, and the rollout rolls back through the dirty state",
		Targets: "database",
		Params: []Param{
			{Name: "statement", Default: "(required)", Description: "1-based statement of the file that fails"},
			{Name: "version", Default: "the canary's", Description: "migration version whose up file fails"},
			{Name: "multi_statement", Default: "true", Description: "run the file statement by statement (x-multi-statement), leaving the statements before N applied; false: one transaction"},
		},
	}
}

func (migrationFailureKind) MigrationDirection() string { return "up" }

func (migrationFailureKind) Parse(decode func(any) error) (any, error) {
	var p MigrationFailureParams
	if err := decode(&p); err != nil {
		return nil, err
	}
	if p.Statement < 1 {
		return nil, errors.New("migration-failure needs params.statement >= 1 (the statement that fails)")
	}
	return p, nil
}

func (migrationFailureKind) New(s Spec) Injector {
	p := s.Params.(MigrationFailureParams)
	a := &armed{target: s.Target}
	a.fault = &statementFailure{a: a, up: true, statement: p.Statement, version: p.Version, multi: p.MultiStatement == nil || *p.MultiStatement}
	return a
}

// statementFailure makes statement N of a migration file fail; it is the
// fault of migration-failure (up) and down-failure (down).
type statementFailure struct {
	a         *armed
	up        bool
	statement int
	version   uint
	multi     bool
}

func (f *statementFailure) Migration(_ context.Context, m *Migration) error {
	if !(migrationParams{Version: f.version}).matches(m, f.up) {
		return nil
	}
	stmts := Statements(m.SQL)
	n := min(f.statement, len(stmts)+1)
	out := append([]string{}, stmts[:n-1]...)
	out = append(out, failingStatement(fmt.Sprintf("at_statement_%d", f.statement)))
	out = append(out, stmts[n-1:]...)
	m.SQL = joinStatements(out)
	m.StatementByStatement = f.multi
	mode := "as one transaction"
	if f.multi {
		mode = "statement by statement"
	}
	f.a.record("%s fails at statement %d of %d (%s)", m.Name, n, len(stmts), mode)
	return nil
}
