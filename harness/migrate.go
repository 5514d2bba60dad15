package harness

import (
	"database/sql"
	"errors"
	"fmt"
	"os"

	"github.com/golang-migrate/migrate/v4"
	"github.com/golang-migrate/migrate/v4/database"
	migratepgx "github.com/golang-migrate/migrate/v4/database/pgx/v5"
	"github.com/golang-migrate/migrate/v4/database/sqlite"
	"github.com/golang-migrate/migrate/v4/source"
	"github.com/golang-migrate/migrate/v4/source/iofs"
	_ "modernc.org/sqlite" // database/sql driver "sqlite", pure Go
)

// openDB opens a database for the harness's own use (migrations, ledger and
// invariant checks).
func openDB(h *DatabaseHandle) (*sql.DB, error) {
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

// migrator applies a service's golang-migrate files to its database.
type migrator struct {
	db  *DatabaseHandle
	dir string
}

// MigrationState is a database's schema version as golang-migrate sees it.
type MigrationState struct {
	Version uint
	Dirty   bool
	None    bool // no migration applied yet
}

func (m migrator) open() (*migrate.Migrate, *sql.DB, error) {
	mg, db, _, err := m.openWithSource()
	return mg, db, err
}

// openWithSource also returns the migration source, whose Prev tells the
// version before a failed one (versions need not be consecutive).
func (m migrator) openWithSource() (*migrate.Migrate, *sql.DB, source.Driver, error) {
	if _, err := os.Stat(m.dir); err != nil {
		return nil, nil, nil, &EnvError{What: fmt.Sprintf("migrations directory %s", m.dir), Err: err,
			Hint: "set the service's `migrations:` or put golang-migrate files in <build>/migrations"}
	}
	src, err := iofs.New(os.DirFS(m.dir), ".")
	if err != nil {
		return nil, nil, nil, fmt.Errorf("read migrations in %s: %w", m.dir, err)
	}
	db, err := openDB(m.db)
	if err != nil {
		return nil, nil, nil, err
	}
	var drv database.Driver
	switch m.db.Engine {
	case "sqlite":
		drv, err = sqlite.WithInstance(db, &sqlite.Config{})
	case "postgres":
		// One Exec per file (multi-statement off, the default): a file
		// is then atomic on PostgreSQL, so a failed migration leaves no
		// half-applied DDL, only the dirty flag.
		drv, err = migratepgx.WithInstance(db, &migratepgx.Config{})
	default:
		err = fmt.Errorf("engine %q has no migration driver yet", m.db.Engine)
	}
	if err != nil {
		db.Close()
		return nil, nil, nil, fmt.Errorf("migration driver for %q: %w", m.db.Name, err)
	}
	mg, err := migrate.NewWithInstance("iofs", src, m.db.Engine, drv)
	if err != nil {
		db.Close()
		return nil, nil, nil, fmt.Errorf("migrate %q: %w", m.db.Name, err)
	}
	return mg, db, src, nil
}

// state reads the current version.
func (m migrator) state() (MigrationState, error) {
	mg, db, err := m.open()
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

// to migrates up or down to version (0 = no migration at all). A dirty
// database is first forced back to the version before the failed one (the
// source's previous version, or none), as
// golang-migrate refuses to move otherwise. It reports whether anything
// changed.
func (m migrator) to(version uint) (changed bool, err error) {
	mg, db, src, err := m.openWithSource()
	if err != nil {
		return false, err
	}
	defer db.Close()
	defer mg.Close()
	cur, dirty, verr := mg.Version()
	if verr != nil && !errors.Is(verr, migrate.ErrNilVersion) {
		return false, fmt.Errorf("read schema version: %w", verr)
	}
	if dirty {
		prev := -1 // golang-migrate's "no version"
		if p, err := src.Prev(cur); err == nil {
			prev = int(p)
		}
		if err := mg.Force(prev); err != nil {
			return false, fmt.Errorf("force dirty version %d to %d: %w", cur, prev, err)
		}
		changed = true
	}
	if version == 0 {
		err = mg.Down()
	} else {
		err = mg.Migrate(version)
	}
	if errors.Is(err, migrate.ErrNoChange) {
		return changed, nil
	}
	if err != nil {
		return changed, fmt.Errorf("migrate to %d: %w", version, err)
	}
	return true, nil
}
