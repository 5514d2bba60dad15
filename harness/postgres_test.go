package harness

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/drillhq/drill/harness/dbcheck"
	"github.com/drillhq/drill/harness/ledger"
	"github.com/drillhq/drill/harness/provider"
	"github.com/drillhq/drill/harness/provider/process"
	"github.com/drillhq/drill/scenarios"
)

// ordersPGMigrations is the orders fixture's real PostgreSQL schema.
const ordersPGMigrations = "../fixtures/orders/migrations/postgres"

// newPostgres starts a PostgreSQL database in a temp dir it returns through the process provider,
// as a drill does, and stops it at cleanup. It skips only when the
// PostgreSQL binaries are missing.
func newPostgres(t *testing.T) (tempDir string, h *provider.DatabaseHandle) {
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
	p := newProcess(provider.Config{TempDir: tmp, RunDir: t.TempDir()})
	t.Cleanup(func() { p.Close(context.Background()) })
	h, err = p.StartDatabase(t.Context(), &scenarios.Database{Name: "ordersdb", Engine: scenarios.EnginePostgres})
	if err != nil {
		t.Fatalf("StartDatabase: %v", err)
	}
	return tmp, h
}

// pgColumns lists the columns of table, or nil when it does not exist.
func pgColumns(t *testing.T, h *provider.DatabaseHandle, table string) []string {
	t.Helper()
	db := openSQL(t, h)
	rows, err := db.Query(`SELECT column_name FROM information_schema.columns WHERE table_name = $1 ORDER BY ordinal_position`, table)
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
	return out
}

func TestMigratorOnPostgres(t *testing.T) {
	_, h := newPostgres(t)
	m := dbcheck.Migrator{DB: h, Dir: ordersPGMigrations}
	steps := []struct {
		name        string
		to          uint
		wantChanged bool
		wantState   dbcheck.MigrationState
		wantCols    int // columns of orders; 0: no table
	}{
		{"up to 1", 1, true, dbcheck.MigrationState{Version: 1}, 7},
		{"up to 2 adds channel", 2, true, dbcheck.MigrationState{Version: 2}, 8},
		{"2 again changes nothing", 2, false, dbcheck.MigrationState{Version: 2}, 8},
		{"down to 1 drops channel", 1, true, dbcheck.MigrationState{Version: 1}, 7},
		{"down to nothing", 0, true, dbcheck.MigrationState{None: true}, 0},
	}
	for _, st := range steps {
		changed, err := m.To(st.to)
		if err != nil {
			t.Fatalf("%s: to(%d): %v", st.name, st.to, err)
		}
		if changed != st.wantChanged {
			t.Errorf("%s: changed = %v, want %v", st.name, changed, st.wantChanged)
		}
		if got, err := m.State(); err != nil || got != st.wantState {
			t.Errorf("%s: state = %+v, %v; want %+v", st.name, got, err, st.wantState)
		}
		if cols := pgColumns(t, h, "orders"); len(cols) != st.wantCols {
			t.Errorf("%s: orders columns %v, want %d", st.name, cols, st.wantCols)
		}
	}
}

// TestMigratorOnPostgresFailedFileIsAtomic: a failing file is one Exec,
// so PostgreSQL rolls all of it back; golang-migrate marks the version
// dirty, and to() forces back and carries on.
func TestMigratorOnPostgresFailedFileIsAtomic(t *testing.T) {
	_, h := newPostgres(t)
	dir := t.TempDir()
	for name, body := range map[string]string{
		"1_ok.up.sql": "CREATE TABLE a (x INTEGER);", "1_ok.down.sql": "DROP TABLE a;",
		"2_bad.up.sql":   "ALTER TABLE a ADD COLUMN y TEXT; ALTER TABLE no_such_table ADD COLUMN z TEXT;",
		"2_bad.down.sql": "ALTER TABLE a DROP COLUMN y;",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	m := dbcheck.Migrator{DB: h, Dir: dir}
	if _, err := m.To(2); err == nil {
		t.Fatal("to(2) with a broken migration succeeded")
	}
	if st, err := m.State(); err != nil || st != (dbcheck.MigrationState{Version: 2, Dirty: true}) {
		t.Fatalf("state after the failure = %+v, %v; want 2 dirty", st, err)
	}
	if cols := pgColumns(t, h, "a"); len(cols) != 1 {
		t.Errorf("columns of a = %v: the failed file left part of its DDL behind", cols)
	}
	if changed, err := m.To(1); err != nil || !changed {
		t.Fatalf("to(1) from dirty 2: changed %v, %v", changed, err)
	}
	if st, err := m.State(); err != nil || st != (dbcheck.MigrationState{Version: 1}) {
		t.Errorf("state = %+v, %v; want 1 clean", st, err)
	}
}

func TestCheckLedgerOnPostgres(t *testing.T) {
	_, h := newPostgres(t)
	if _, err := (dbcheck.Migrator{DB: h, Dir: ordersPGMigrations}).To(1); err != nil {
		t.Fatal(err)
	}
	db := openSQL(t, h)
	// More rows than one batch, so placeholders $1…$500 are used in full.
	orders := makeOrders(ledgerBatch + 20)
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range orders {
		if _, err := tx.Exec(`INSERT INTO orders (client_ref, sku, qty, unit_price_cents, total_cents) VALUES ($1, $2, $3, 100, $4)`,
			o.ref, o.sku, o.qty, o.qty*100); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	mustExec(t, db, `DELETE FROM orders WHERE client_ref = 'ref-00007'`)
	mustExec(t, db, `UPDATE orders SET qty = 99 WHERE client_ref = 'ref-00510'`)
	path := writeLedgerFile(t, orders, []order{{"never-answered", "SKU-X", 1}})
	res, err := ledger.Check(context.Background(), db, ordersSpec("orders"), path)
	if err != nil {
		t.Fatalf("ledger.Check: %v", err)
	}
	want := ledgerCounts{Acknowledged: int64(len(orders)), Lost: 1, Changed: 1, Indeterminate: 1}
	if got := counts(res); got != want {
		t.Errorf("counts = %+v, want %+v (examples %v)", got, want, res.Examples)
	}
	wantEx := []string{"lost: ref-00007", `changed: ref-00510 qty="99", acknowledged "1"`}
	if strings.Join(res.Examples, "|") != strings.Join(wantEx, "|") {
		t.Errorf("examples %q, want %q", res.Examples, wantEx)
	}
}

// TestConnOfDatabases: a PostgreSQL database's fault point is its proxy;
// SQLite has none, and says why.
func TestConnOfDatabases(t *testing.T) {
	_, pg := newPostgres(t)
	d := &System{dbs: map[string]*provider.DatabaseHandle{"pg": pg, "lite": newSQLite(t)}}
	if p, err := d.Conn("pg"); err != nil || p != pg.Proxy {
		t.Errorf("Conn(pg) = %v, %v; want its proxy", p, err)
	}
	if _, err := d.Conn("lite"); err == nil || !strings.Contains(err.Error(), "need a PostgreSQL database") {
		t.Errorf("Conn(lite) err = %v", err)
	}
	if _, err := d.Conn("nope"); err == nil {
		t.Error("Conn(nope) succeeded")
	}
}
