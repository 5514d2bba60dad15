package dbcheck

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/golang-migrate/migrate/v4"
	"github.com/golang-migrate/migrate/v4/database"
	migratepgx "github.com/golang-migrate/migrate/v4/database/pgx/v5"
	sqlitemigrate "github.com/golang-migrate/migrate/v4/database/sqlite"
	"github.com/golang-migrate/migrate/v4/source"
	"github.com/golang-migrate/migrate/v4/source/iofs"
	"modernc.org/sqlite" // database/sql driver "sqlite", pure Go

	"github.com/drillhq/drill/harness/provider"
	"github.com/drillhq/drill/injectors"
)

// OpenDB opens a database for the harness's own use (migrations, ledger and
// invariant checks).
func OpenDB(h *provider.DatabaseHandle) (*sql.DB, error) {
	db, err := sql.Open(h.DriverName, h.DSN)
	if err != nil {
		return nil, fmt.Errorf("open database %q: %w", h.Name, err)
	}
	if h.Engine == "sqlite" {
		// One connection: SQLite serialises writers anyway, and a single
		// connection keeps PRAGMAs and locks predictable.
		db.SetMaxOpenConns(1)
	}
	return db, nil
}

// Migrator applies a service's golang-migrate files to its database.
type Migrator struct {
	DB  *provider.DatabaseHandle
	Dir string // the golang-migrate files
	// Faults returns the migration faults armed now (nil: none). They
	// see each file before it runs, and may rewrite it.
	Faults func() []injectors.MigrationFault
}

// MigrationState is a database's schema version as golang-migrate sees it.
type MigrationState struct {
	Version uint
	Dirty   bool
	None    bool // no migration applied yet
}

// String renders the state as golang-migrate reports it: "2", "3 (dirty)"
// or "none".
func (s MigrationState) String() string {
	switch {
	case s.None:
		return "none"
	case s.Dirty:
		return fmt.Sprintf("%d (dirty)", s.Version)
	}
	return fmt.Sprint(s.Version)
}

// migrationStatementTimeout bounds one statement of a migration on
// PostgreSQL (golang-migrate's x-statement-timeout): a migration waiting
// for a lock that is never released must not hang the drill.
const migrationStatementTimeout = 2 * time.Minute

// maxDrillSleep bounds drill_sleep, the SQLite sleep migration-slow uses.
const maxDrillSleep = 10 * time.Minute

func init() {
	// SQLite has no sleep function; migration-slow needs one inside the
	// migration's transaction, so that the migration's locks are held
	// while it sleeps. Registered with the driver, it exists only in the
	// harness's own connections.
	sqlite.MustRegisterScalarFunction("drill_sleep", 1, func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
		ms, ok := args[0].(int64)
		if !ok {
			return nil, fmt.Errorf("drill_sleep(ms): want an integer, got %T", args[0])
		}
		time.Sleep(min(time.Duration(ms)*time.Millisecond, maxDrillSleep))
		return ms, nil
	})
}

// openWithSource opens golang-migrate on the database and returns the
// migration source too, whose Prev tells the version before a failed one
// (versions need not be consecutive). stepwise runs each file statement by
// statement (PostgreSQL's x-multi-statement, SQLite's x-no-tx-wrap); src,
// when not nil, replaces the files on disk.
// A lockTimeout > 0 bounds, on SQLite, how long the migration's connection
// waits for the write lock (busy_timeout), from golang-migrate's first
// write on: it takes the lock to mark the version dirty before the file
// runs.
func (m Migrator) openWithSource(stepwise bool, src source.Driver, lockTimeout time.Duration) (*migrate.Migrate, *sql.DB, source.Driver, error) {
	if src == nil {
		var err error
		if src, err = m.source(); err != nil {
			return nil, nil, nil, err
		}
	}
	db, err := OpenDB(m.DB)
	if err != nil {
		return nil, nil, nil, err
	}
	if lockTimeout > 0 && m.DB.Engine == "sqlite" {
		// OpenDB keeps one connection: the PRAGMA holds for everything
		// golang-migrate does on it.
		if _, err := db.Exec(fmt.Sprintf("PRAGMA busy_timeout = %d", lockTimeout.Milliseconds())); err != nil {
			db.Close()
			return nil, nil, nil, fmt.Errorf("set the migration's lock timeout: %w", err)
		}
	}
	var drv database.Driver
	switch m.DB.Engine {
	case "sqlite":
		drv, err = sqlitemigrate.WithInstance(db, &sqlitemigrate.Config{NoTxWrap: stepwise})
	case "postgres":
		// By default one Exec per file: a file is then atomic on
		// PostgreSQL, so a failed migration leaves no half-applied DDL,
		// only the dirty flag. migration-failure turns multi-statement on
		// to show what teams that run with x-multi-statement get.
		drv, err = migratepgx.WithInstance(db, &migratepgx.Config{MultiStatementEnabled: stepwise, StatementTimeout: migrationStatementTimeout})
	default:
		err = fmt.Errorf("engine %q has no migration driver yet", m.DB.Engine)
	}
	if err != nil {
		db.Close()
		return nil, nil, nil, fmt.Errorf("migration driver for %q: %w", m.DB.Name, err)
	}
	mg, err := migrate.NewWithInstance("iofs", src, m.DB.Engine, drv)
	if err != nil {
		db.Close()
		return nil, nil, nil, fmt.Errorf("migrate %q: %w", m.DB.Name, err)
	}
	return mg, db, src, nil
}

func (m Migrator) source() (source.Driver, error) {
	if _, err := os.Stat(m.Dir); err != nil {
		return nil, &provider.EnvError{What: fmt.Sprintf("migrations directory %s", m.Dir), Err: err,
			Hint: "set the service's `migrations:` or put golang-migrate files in <build>/migrations"}
	}
	src, err := iofs.New(os.DirFS(m.Dir), ".")
	if err != nil {
		return nil, fmt.Errorf("read migrations in %s: %w", m.Dir, err)
	}
	return src, nil
}

// State reads the current version.
func (m Migrator) State() (MigrationState, error) {
	mg, db, _, err := m.openWithSource(false, nil, 0)
	if err != nil {
		return MigrationState{}, err
	}
	defer db.Close()
	defer mg.Close()
	v, dirty, err := mg.Version()
	if errors.Is(err, migrate.ErrNilVersion) {
		return MigrationState{None: true}, nil
	}
	return MigrationState{Version: v, Dirty: dirty}, err
}

// DirtyError is returned by Run on a dirty database: golang-migrate refuses
// to move, and only the caller knows whether forcing is right.
type DirtyError struct{ Version uint }

func (e *DirtyError) Error() string {
	return fmt.Sprintf("schema is dirty at version %d (a migration failed part-way)", e.Version)
}

// To migrates up or down to version (0 = no migration at all). A dirty
// database is first forced back to the version before the failed one (the
// source's previous version, or none), as golang-migrate refuses to move
// otherwise. It reports whether anything changed.
func (m Migrator) To(version uint) (changed bool, err error) {
	st, err := m.State()
	if err != nil {
		return false, err
	}
	if st.Dirty {
		if err := m.Force(m.Prev(st.Version)); err != nil {
			return false, err
		}
		changed = true
	}
	c, err := m.Run(context.Background(), version)
	return changed || c, err
}

// Prev is the version before v in the source: golang-migrate's "last
// clean version" when v failed; -1 (none) when v is the first.
func (m Migrator) Prev(v uint) int {
	src, err := m.source()
	if err != nil {
		return -1
	}
	defer src.Close()
	if p, err := src.Prev(v); err == nil {
		return int(p)
	}
	return -1
}

// Force sets the recorded version without running anything (migrate
// force); -1 records no version.
func (m Migrator) Force(v int) error {
	mg, db, _, err := m.openWithSource(false, nil, 0)
	if err != nil {
		return err
	}
	defer db.Close()
	defer mg.Close()
	if err := mg.Force(v); err != nil {
		return fmt.Errorf("force version %d: %w", v, err)
	}
	return nil
}

// Run migrates to version one file at a time, so that each file can be
// shown to the armed migration faults and run in the mode they ask for. A
// dirty database is a *DirtyError.
func (m Migrator) Run(ctx context.Context, version uint) (changed bool, err error) {
	if version != 0 {
		// golang-migrate's Migrate(v) refuses a version without a file;
		// stepping towards one would go back and forth around it forever.
		if err := m.exists(version); err != nil {
			return false, err
		}
	}
	for {
		if err := ctx.Err(); err != nil {
			// Between two files: the database is at a clean version.
			return changed, fmt.Errorf("migrate to %d: %w", version, err)
		}
		st, err := m.State()
		if err != nil {
			return changed, err
		}
		if st.Dirty {
			return changed, &DirtyError{st.Version}
		}
		if (st.None && version == 0) || (!st.None && st.Version == version) {
			return changed, nil
		}
		if err := m.step(ctx, st, version); err != nil {
			return true, fmt.Errorf("migrate to %d: %w", version, err)
		}
		changed = true
	}
}

// exists says whether the migrations hold an up file of version.
func (m Migrator) exists(version uint) error {
	src, err := m.source()
	if err != nil {
		return err
	}
	defer src.Close()
	r, _, err := src.ReadUp(version)
	if err != nil {
		return fmt.Errorf("no migration version %d in %s: %w", version, m.Dir, err)
	}
	return r.Close()
}

// step runs the next file from st towards target.
func (m Migrator) step(ctx context.Context, st MigrationState, target uint) error {
	src, err := m.source()
	if err != nil {
		return err
	}
	up := st.None || target > st.Version
	var v uint
	switch {
	case st.None:
		v, err = src.First()
	case up:
		v, err = src.Next(st.Version)
	default:
		v = st.Version
	}
	if err != nil {
		src.Close()
		return fmt.Errorf("no migration after version %s: %w", st, err)
	}
	var r io.ReadCloser
	var ident string
	dir := "up"
	if up {
		r, ident, err = src.ReadUp(v)
	} else {
		dir = "down"
		r, ident, err = src.ReadDown(v)
	}
	if err != nil {
		src.Close()
		return fmt.Errorf("read %s migration %d: %w", dir, v, err)
	}
	body, err := io.ReadAll(r)
	r.Close()
	if err != nil {
		src.Close()
		return err
	}
	mig := injectors.Migration{Engine: m.DB.Engine, Version: v, Target: target, Up: up,
		Name: fmt.Sprintf("%d_%s.%s.sql", v, ident, dir), SQL: string(body), Session: m.session}
	if m.Faults != nil {
		for _, f := range m.Faults() {
			if err := f.Migration(ctx, &mig); err != nil {
				src.Close()
				// The fault could not act (a lock on a table that is not
				// there): not the canary's failure, which a drill expecting
				// a rollback would count as its success.
				return &provider.EnvError{What: "migration fault on " + mig.Name, Err: err,
					Hint: "check the fault's params against the database (the table it locks must exist)"}
			}
		}
	}
	rewritten := &rewrittenSource{Driver: src, version: v, up: up, sql: mig.SQL}
	mg, db, _, err := m.openWithSource(mig.StatementByStatement, rewritten, mig.LockTimeout)
	if err != nil {
		src.Close()
		return err
	}

	defer db.Close()
	defer mg.Close() // closes src too
	n := 1
	if !up {
		n = -1
	}
	return mg.Steps(n)
}

// session opens a pool of one connection of its own to the database, as
// another client would have (migration-lock holds its lock on it).
func (m Migrator) session(context.Context) (*sql.DB, error) {
	db, err := OpenDB(m.DB)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

// rewrittenSource serves one migration file with the SQL the armed faults
// left it with; every other call goes to the files on disk.
type rewrittenSource struct {
	source.Driver
	version uint
	up      bool
	sql     string
}

func (s *rewrittenSource) ReadUp(v uint) (io.ReadCloser, string, error) {
	r, ident, err := s.Driver.ReadUp(v)
	if err == nil && v == s.version && s.up {
		r.Close()
		return io.NopCloser(strings.NewReader(s.sql)), ident, nil
	}
	return r, ident, err
}

func (s *rewrittenSource) ReadDown(v uint) (io.ReadCloser, string, error) {
	r, ident, err := s.Driver.ReadDown(v)
	if err == nil && v == s.version && !s.up {
		r.Close()
		return io.NopCloser(strings.NewReader(s.sql)), ident, nil
	}
	return r, ident, err
}

// MigrationCause is the one-line cause of a failed migration, for the
// decision's reason; the whole error, with the statement, stays in the
// journal.
func MigrationCause(err error) string {
	var de database.Error
	if errors.As(err, &de) && de.Err != "" {
		return strings.TrimPrefix(de.Err, "migration failed: ")
	}
	var dp *database.Error
	if errors.As(err, &dp) && dp.Err != "" {
		return strings.TrimPrefix(dp.Err, "migration failed: ")
	}
	return err.Error()
}
