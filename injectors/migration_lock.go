package injectors

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

func init() { Register("migration-lock", migrationLockKind{}) }

// MigrationLockParams configures the migration-lock kind.
type MigrationLockParams struct {
	// Table is the table another session locks.
	Table string `yaml:"table"`
	// Mode is the PostgreSQL lock mode. The default, ACCESS SHARE, is what
	// any long SELECT or pg_dump holds: it blocks nothing but DDL, which
	// is why it is the classic way a migration queues, and every query
	// queues behind the migration.
	Mode string `yaml:"mode"`
	// Hold is how long the other session holds the lock, from the moment
	// the migration is about to start.
	Hold Duration `yaml:"hold"`
	// LockTimeout is the migration's own lock_timeout (busy_timeout on
	// SQLite), set as teams set it at the top of a migration; 0 leaves the
	// database's default (PostgreSQL: wait forever; the harness's SQLite
	// connections: 5s).
	LockTimeout Duration `yaml:"lock_timeout"`
	Version     uint     `yaml:"version"`
}

var pgLockModes = []string{"ACCESS SHARE", "ROW SHARE", "ROW EXCLUSIVE", "SHARE UPDATE EXCLUSIVE",
	"SHARE", "SHARE ROW EXCLUSIVE", "EXCLUSIVE", "ACCESS EXCLUSIVE"}

var tableRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

type migrationLockKind struct{}

func (migrationLockKind) Describe() Description {
	return Description{
		Name: "migration-lock",
		Summary: "another session holds a conflicting lock when the canary's migration starts, for `hold`: the migration " +
			"waits (and on PostgreSQL every query on the table queues behind it) or, with lock_timeout, fails",
		Targets: "database",
		Params: []Param{
			{Name: "table", Default: "(required)", Description: "the table the other session locks"},
			{Name: "mode", Default: "ACCESS SHARE", Description: "PostgreSQL lock mode; SQLite always takes the write lock (BEGIN IMMEDIATE)"},
			{Name: "hold", Default: "(required)", Description: "how long the lock is held from the migration's start, e.g. 8s"},
			{Name: "lock_timeout", Default: "0 (database default)", Description: "the migration's lock_timeout (SQLite: busy_timeout); past it the migration fails"},
			{Name: "version", Default: "the canary's", Description: "migration version that meets the lock"},
		},
	}
}

func (migrationLockKind) MigrationDirection() string { return "up" }

func (migrationLockKind) Parse(decode func(any) error) (any, error) {
	var p MigrationLockParams
	if err := decode(&p); err != nil {
		return nil, err
	}
	var errs []error
	if !tableRE.MatchString(p.Table) {
		errs = append(errs, fmt.Errorf("migration-lock needs params.table, a plain table name (got %q)", p.Table))
	}
	if p.Mode == "" {
		p.Mode = "ACCESS SHARE"
	}
	p.Mode = strings.ToUpper(strings.Join(strings.Fields(p.Mode), " "))
	if !slices.Contains(pgLockModes, p.Mode) {
		errs = append(errs, fmt.Errorf("migration-lock params.mode %q is not a PostgreSQL lock mode (%s)", p.Mode, strings.Join(pgLockModes, ", ")))
	}
	if p.Hold <= 0 {
		errs = append(errs, errors.New("migration-lock needs params.hold > 0 (e.g. hold: 8s)"))
	}
	if p.LockTimeout < 0 {
		errs = append(errs, errors.New("migration-lock params.lock_timeout must not be negative"))
	}
	return p, errors.Join(errs...)
}

func (migrationLockKind) New(s Spec) Injector {
	p := s.Params.(MigrationLockParams)
	a := &armed{target: s.Target}
	f := &lockFault{a: a, p: p}
	a.fault, a.undo = f, f.release
	return a
}

// lockFault takes the lock in a session of its own just before the
// migration file runs, and releases it after Hold or on revert.
type lockFault struct {
	a *armed
	p MigrationLockParams

	mu    sync.Mutex
	db    *sql.DB
	conn  *sql.Conn
	timer *time.Timer
}

func (f *lockFault) Migration(ctx context.Context, m *Migration) error {
	if !(migrationParams{Version: f.p.Version}).matches(m, true) {
		return nil
	}
	if err := f.lock(ctx, m); err != nil {
		return fmt.Errorf("migration-lock: take the lock on %s: %w", f.p.Table, err)
	}
	if f.p.LockTimeout > 0 {
		m.LockTimeout = time.Duration(f.p.LockTimeout)
		if m.Engine == "postgres" {
			// On PostgreSQL the lock is on the migration's table, first
			// wanted by the file itself: SET in the file is in time.
			set := fmt.Sprintf("SET lock_timeout = '%dms'", m.LockTimeout.Milliseconds())
			m.SQL = joinStatements(append([]string{set}, Statements(m.SQL)...))
		}
	}
	f.a.record("another session held %s on %s for %s when %s started (lock_timeout %s)",
		f.lockName(m.Engine), f.p.Table, time.Duration(f.p.Hold), m.Name, time.Duration(f.p.LockTimeout))
	return nil
}

func (f *lockFault) lockName(engine string) string {
	if engine == "postgres" {
		return f.p.Mode
	}
	return "the write lock"
}

func (f *lockFault) lock(ctx context.Context, m *Migration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.conn != nil {
		return nil
	}
	db, err := m.Session(ctx)
	if err != nil {
		return err
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		db.Close()
		return err
	}
	stmts := []string{"BEGIN IMMEDIATE"}
	if m.Engine == "postgres" {
		stmts = []string{"BEGIN", fmt.Sprintf(`LOCK TABLE "%s" IN %s MODE`, f.p.Table, f.p.Mode)}
	}
	for _, s := range stmts {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			conn.Close()
			db.Close()
			return err
		}
	}
	f.db, f.conn = db, conn
	f.timer = time.AfterFunc(time.Duration(f.p.Hold), f.release)
	return nil
}

// release ends the other session's transaction; idempotent.
func (f *lockFault) release() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.timer != nil {
		f.timer.Stop()
		f.timer = nil
	}
	if f.conn == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _ = f.conn.ExecContext(ctx, "ROLLBACK")
	_ = f.conn.Close()
	_ = f.db.Close()
	f.db, f.conn = nil, nil
}
