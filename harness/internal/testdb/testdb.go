// Package testdb starts the databases the harness's tests run against —
// real SQLite files and a real PostgreSQL cluster, through the process
// provider exactly as a drill starts them — so that the packages testing
// migrations, schema checks and the ledger share one way of getting them
// instead of each copying the provider's DSNs.
package testdb

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	_ "modernc.org/sqlite" // the sqlite database/sql driver

	"github.com/drillhq/drill/harness/provider"
	"github.com/drillhq/drill/harness/provider/process"
	"github.com/drillhq/drill/scenarios"
)

// The orders fixture's real migrations, per engine, as absolute paths.
var (
	OrdersSQLite   = fixture("orders/migrations/sqlite")
	OrdersPostgres = fixture("orders/migrations/postgres")
)

func fixture(rel string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "fixtures", filepath.FromSlash(rel))
}

// SQLite is an empty SQLite database "ordersdb" in a temp dir, as the
// process provider hands a drill's.
func SQLite(t *testing.T) *provider.DatabaseHandle {
	t.Helper()
	return start(t, t.TempDir(), scenarios.EngineSQLite)
}

// Postgres is an empty PostgreSQL database "ordersdb" in a cluster of its
// own, started as the process provider starts a drill's and stopped at
// cleanup; tempDir holds the cluster. It skips only when the PostgreSQL
// binaries are missing (saying how to get them).
func Postgres(t *testing.T) (tempDir string, h *provider.DatabaseHandle) {
	t.Helper()
	if _, err := process.FindPostgres(); err != nil {
		var env *provider.EnvError
		errors.As(err, &env)
		t.Skipf("no PostgreSQL: %v (%s)", err, env.Hint)
	}
	// Not t.TempDir(): its parent is private to root, and the server runs
	// as the postgres user, which must be able to enter the run's temp dir
	// (a drill's is directly under TMPDIR).
	tmp, err := os.MkdirTemp("", "drill-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(tmp) })
	return tmp, start(t, tmp, scenarios.EnginePostgres)
}

func start(t *testing.T, tmp, engine string) *provider.DatabaseHandle {
	t.Helper()
	p, err := provider.New("process", provider.Config{TempDir: tmp, RunDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close(context.Background()) })
	h, err := p.StartDatabase(t.Context(), &scenarios.Database{Name: "ordersdb", Engine: engine})
	if err != nil {
		t.Fatalf("StartDatabase: %v", err)
	}
	return h
}

// Open opens h for the test, as the harness's checks do (straight to the
// server, one connection for SQLite), and closes it at cleanup.
func Open(t *testing.T, h *provider.DatabaseHandle) *sql.DB {
	t.Helper()
	db, err := sql.Open(h.DriverName, h.DSN)
	if err != nil {
		t.Fatalf("open %s: %v", h.Name, err)
	}
	if h.Engine == scenarios.EngineSQLite {
		db.SetMaxOpenConns(1)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// Columns lists the columns of table in order, or nil when it does not
// exist.
func Columns(t *testing.T, h *provider.DatabaseHandle, table string) []string {
	t.Helper()
	q := `SELECT name FROM pragma_table_info(?) ORDER BY cid`
	if h.Engine == scenarios.EnginePostgres {
		q = `SELECT column_name FROM information_schema.columns WHERE table_name = $1 ORDER BY ordinal_position`
	}
	rows, err := Open(t, h).Query(q, table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// Exec runs q on db, failing the test on an error.
func Exec(t *testing.T, db *sql.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}
