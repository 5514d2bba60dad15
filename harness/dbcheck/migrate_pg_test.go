package dbcheck

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/drillhq/drill/harness/internal/testdb"
)

func TestMigratorOnPostgres(t *testing.T) {
	_, h := testdb.Postgres(t)
	m := Migrator{DB: h, Dir: testdb.OrdersPostgres}
	steps := []struct {
		name        string
		to          uint
		wantChanged bool
		wantState   MigrationState
		wantCols    int // columns of orders; 0: no table
	}{
		{"up to 1", 1, true, MigrationState{Version: 1}, 7},
		{"up to 2 adds channel", 2, true, MigrationState{Version: 2}, 8},
		{"2 again changes nothing", 2, false, MigrationState{Version: 2}, 8},
		{"down to 1 drops channel", 1, true, MigrationState{Version: 1}, 7},
		{"down to nothing", 0, true, MigrationState{None: true}, 0},
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
		if cols := testdb.Columns(t, h, "orders"); len(cols) != st.wantCols {
			t.Errorf("%s: orders columns %v, want %d", st.name, cols, st.wantCols)
		}
	}
}

// TestMigratorOnPostgresFailedFileIsAtomic: a failing file is one Exec,
// so PostgreSQL rolls all of it back; golang-migrate marks the version
// dirty, and to() forces back and carries on.
func TestMigratorOnPostgresFailedFileIsAtomic(t *testing.T) {
	_, h := testdb.Postgres(t)
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
	m := Migrator{DB: h, Dir: dir}
	if _, err := m.To(2); err == nil {
		t.Fatal("to(2) with a broken migration succeeded")
	}
	if st, err := m.State(); err != nil || st != (MigrationState{Version: 2, Dirty: true}) {
		t.Fatalf("state after the failure = %+v, %v; want 2 dirty", st, err)
	}
	if cols := testdb.Columns(t, h, "a"); len(cols) != 1 {
		t.Errorf("columns of a = %v: the failed file left part of its DDL behind", cols)
	}
	if changed, err := m.To(1); err != nil || !changed {
		t.Fatalf("to(1) from dirty 2: changed %v, %v", changed, err)
	}
	if st, err := m.State(); err != nil || st != (MigrationState{Version: 1}) {
		t.Errorf("state = %+v, %v; want 1 clean", st, err)
	}
}
