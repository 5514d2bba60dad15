package injectors

import (
	"context"
	"errors"
	"fmt"
	"time"
)

func init() { Register("migration-slow", migrationSlowKind{}) }

// MigrationSlowParams configures the migration-slow kind.
type MigrationSlowParams struct {
	Delay   Duration `yaml:"delay"`
	Version uint     `yaml:"version"`
}

type migrationSlowKind struct{}

func (migrationSlowKind) Describe() Description {
	return Description{
		Name: "migration-slow",
		Summary: "the canary's up migration takes `delay` longer while traffic runs: a sleep at the end of the file, " +
			"inside its transaction, so the locks its DDL took are held all that time (as a big table rewrite holds them)",
		Targets: "database",
		Params: []Param{
			{Name: "delay", Default: "(required)", Description: "how much longer the migration runs, e.g. 10s"},
			{Name: "version", Default: "the canary's", Description: "migration version that is slow"},
		},
	}
}

func (migrationSlowKind) MigrationDirection() string { return "up" }

func (migrationSlowKind) Parse(decode func(any) error) (any, error) {
	var p MigrationSlowParams
	if err := decode(&p); err != nil {
		return nil, err
	}
	if p.Delay <= 0 {
		return nil, errors.New("migration-slow needs params.delay > 0 (e.g. delay: 10s)")
	}
	return p, nil
}

func (migrationSlowKind) New(s Spec) Injector {
	p := s.Params.(MigrationSlowParams)
	a := &armed{target: s.Target}
	a.fault = &slowMigration{a: a, p: p}
	return a
}

type slowMigration struct {
	a *armed
	p MigrationSlowParams
}

func (f *slowMigration) Migration(_ context.Context, m *Migration) error {
	if !(migrationParams{Version: f.p.Version}).matches(m, true) {
		return nil
	}
	d := time.Duration(f.p.Delay)
	stmts := append(Statements(m.SQL), SleepStatement(m.Engine, d))
	m.SQL = joinStatements(stmts)
	f.a.record("%s holds its locks %s longer", m.Name, d)
	return nil
}

// SleepStatement is a statement that sleeps for d on engine. SQLite has no
// sleep function of its own; the harness registers drill_sleep(ms) with
// the SQLite driver it runs migrations with.
func SleepStatement(engine string, d time.Duration) string {
	if engine == "postgres" {
		return fmt.Sprintf("SELECT pg_sleep(%g)", d.Seconds())
	}
	return fmt.Sprintf("SELECT drill_sleep(%d)", d.Milliseconds())
}
