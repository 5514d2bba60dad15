package injectors

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The migration kinds act on the schema migrations the harness runs for a
// rollout (the canary's up migration before it takes traffic, the
// rollback's down migration after). Applying one arms it: it installs a
// MigrationFault at the database's MigrationPoint, and the harness calls it
// for every migration file it runs while the fault is in place. The file
// is changed only in what is executed — golang-migrate still reads,
// versions and marks dirty exactly as it does in production.

// MigrationPoint is the fault point of a database's migrations.
type MigrationPoint interface {
	// Install adds f to every migration the harness runs on the database
	// from now on, and returns the function that removes it.
	Install(f MigrationFault) (remove func())
}

// MigrationFault acts on one migration file before the harness runs it.
type MigrationFault interface {
	// Migration may rewrite m.SQL, switch m to statement-by-statement
	// execution, or act on the database through m.Session (take a lock as
	// another client would). It returns an error only when it could not
	// do what it was configured to do.
	Migration(ctx context.Context, m *Migration) error
}

// Migration is one migration file about to run.
type Migration struct {
	Engine  string // "sqlite" or "postgres"
	Version uint   // the file's version
	Target  uint   // the version this run migrates to (0: none)
	Up      bool   // false for a down migration
	Name    string // the file name, e.g. 3_add_status.up.sql
	SQL     string // what will be executed; a fault may rewrite it
	// StatementByStatement runs the file as golang-migrate's
	// x-multi-statement does (PostgreSQL) or without its transaction
	// (SQLite's x-no-tx-wrap): each statement on its own, so the ones
	// before a failure stay applied.
	StatementByStatement bool
	// LockTimeout, when set, bounds how long the migration's own
	// connection waits for a lock. On SQLite the harness sets it on that
	// connection (busy_timeout) before golang-migrate takes the write lock
	// to mark the version dirty, which happens before the file runs: a
	// PRAGMA in the file would come too late.
	LockTimeout time.Duration
	// Session opens a pool of one connection to the database, of its own,
	// as another client would have; the caller closes it.
	Session func(ctx context.Context) (*sql.DB, error)
}

// migrationKind marks the kinds that act on migrations, so the scenario
// loader can check their target runs one.
type migrationKind interface {
	// MigrationDirection is "up" or "down": which migration of the
	// rollout the kind acts on.
	MigrationDirection() string
}

// MigrationDirection returns "up" or "down" for a kind that acts on
// migrations, and "" for any other kind.
func MigrationDirection(k Kind) string {
	if m, ok := k.(migrationKind); ok {
		return m.MigrationDirection()
	}
	return ""
}

// migrationParams selects which migration file a kind acts on.
type migrationParams struct {
	// Version picks the file; 0 picks the rollout's own: the up migration
	// to the target version, or the first down migration the rollback runs
	// (the canary version's).
	Version uint `param:"version"`
}

// armed is the Injector of every migration kind: Apply installs the
// MigrationFault, Revert removes it and undoes whatever it holds.
type armed struct {
	target string
	fault  MigrationFault
	undo   func() // releases what the fault holds (a lock); may be nil

	mu     sync.Mutex
	remove func()
	fired  atomic.Int64 // migration files the fault acted on
	detail atomic.Value // string: what it did the last time
}

// ArmedFault is implemented by an injector whose Apply only arms it: the
// fault takes effect later (at a migration), so its exposure starts there,
// not at Apply.
type ArmedFault interface {
	Armed() bool
}

func (a *armed) Armed() bool { return true }

func (a *armed) Apply(ctx context.Context, env Env) error {
	pt, err := env.Migrations(a.target)
	if err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.remove == nil {
		a.remove = pt.Install(a.fault)
	}
	return nil
}

func (a *armed) Revert(context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.remove != nil {
		a.remove()
		a.remove = nil
	}
	if a.undo != nil {
		a.undo()
	}
	return nil
}

// record notes that the fault acted on a file.
func (a *armed) record(format string, args ...any) {
	a.fired.Add(1)
	a.detail.Store(fmt.Sprintf(format, args...))
}

// Verify: a migration fault took effect when a migration file it was
// meant for ran while it was armed.
func (a *armed) Verify(Observation) Effect {
	if a.fired.Load() == 0 {
		return Effect{Effective: false, Measured: "no matching migration ran while the fault was armed"}
	}
	d, _ := a.detail.Load().(string)
	return Effect{Effective: true, Measured: d}
}

// matches reports whether m is the file the fault acts on.
func (p migrationParams) matches(m *Migration, up bool) bool {
	if m.Up != up {
		return false
	}
	if p.Version != 0 {
		return m.Version == p.Version
	}
	if up {
		return m.Version == m.Target
	}
	return true // the first down file of a run; it stops the run when it fails
}

// Statements splits migration SQL into statements the way golang-migrate's
// multi-statement mode does (on ";"), after dropping "--" comments, which
// may hold semicolons of their own. Empty statements are dropped.
func Statements(sql string) []string {
	var b strings.Builder
	for _, line := range strings.Split(sql, "\n") {
		if i := strings.Index(line, "--"); i >= 0 {
			line = line[:i]
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	var out []string
	for _, s := range strings.Split(b.String(), ";") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// joinStatements renders statements as one migration file.
func joinStatements(stmts []string) string {
	return strings.Join(stmts, ";\n") + ";\n"
}

// failingStatement is a statement that fails on every engine: it reads a
// table that does not exist, named so that the error says who did it.
func failingStatement(where string) string {
	return "SELECT 1 FROM drill_injected_failure_" + where
}
