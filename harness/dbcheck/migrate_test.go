package dbcheck

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/drillhq/drill/harness/internal/testdb"
	"github.com/drillhq/drill/harness/provider"
)

func hasColumn(t *testing.T, h *provider.DatabaseHandle, table, col string) bool {
	t.Helper()
	for _, c := range testdb.Columns(t, h, table) {
		if c == col {
			return true
		}
	}
	return false
}

func execOn(t *testing.T, h *provider.DatabaseHandle, q string) {
	t.Helper()
	db, err := OpenDB(h)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	testdb.Exec(t, db, q)
}

func TestMigratorUpAndDown(t *testing.T) {
	h := testdb.SQLite(t)
	m := Migrator{DB: h, Dir: testdb.OrdersSQLite}
	if st, err := m.State(); err != nil || st != (MigrationState{None: true}) {
		t.Fatalf("state of a new database = %+v, %v; want none", st, err)
	}
	steps := []struct {
		name        string
		to          uint
		wantChanged bool
		wantState   MigrationState
		wantOrders  bool
		wantChannel bool
	}{
		{"up to 2", 2, true, MigrationState{Version: 2}, true, true},
		{"2 again changes nothing", 2, false, MigrationState{Version: 2}, true, true},
		{"down to 1 drops the channel", 1, true, MigrationState{Version: 1}, true, false},
		{"1 again changes nothing", 1, false, MigrationState{Version: 1}, true, false},
		{"back up to 2", 2, true, MigrationState{Version: 2}, true, true},
		{"down to nothing", 0, true, MigrationState{None: true}, false, false},
		{"nothing again changes nothing", 0, false, MigrationState{None: true}, false, false},
		{"straight to 1", 1, true, MigrationState{Version: 1}, true, false},
	}
	for _, st := range steps {
		changed, err := m.To(st.to)
		if err != nil {
			t.Fatalf("%s: to(%d): %v", st.name, st.to, err)
		}
		if changed != st.wantChanged {
			t.Errorf("%s: to(%d) changed = %v, want %v", st.name, st.to, changed, st.wantChanged)
		}
		got, err := m.State()
		if err != nil || got != st.wantState {
			t.Errorf("%s: state = %+v, %v; want %+v", st.name, got, err, st.wantState)
		}
		if cols := testdb.Columns(t, h, "orders"); (len(cols) > 0) != st.wantOrders {
			t.Errorf("%s: orders columns %v, want the table: %v", st.name, cols, st.wantOrders)
		}
		if got := hasColumn(t, h, "orders", "channel"); got != st.wantChannel {
			t.Errorf("%s: orders.channel exists = %v, want %v", st.name, got, st.wantChannel)
		}
	}
}

// TestMigratorDownKeepsRows: the orders schema's down migration drops
// only the new column; rows written meanwhile survive.
func TestMigratorDownKeepsRows(t *testing.T) {
	h := testdb.SQLite(t)
	m := Migrator{DB: h, Dir: testdb.OrdersSQLite}
	if _, err := m.To(2); err != nil {
		t.Fatal(err)
	}
	execOn(t, h, `INSERT INTO orders (client_ref, sku, qty, unit_price_cents, total_cents, channel) VALUES ('r1', 'A', 1, 100, 100, 'web')`)
	if _, err := m.To(1); err != nil {
		t.Fatal(err)
	}
	db := testdb.Open(t, h)
	var ref string
	if err := db.QueryRow(`SELECT client_ref FROM orders`).Scan(&ref); err != nil || ref != "r1" {
		t.Errorf("row after down migration: %q, %v; want r1", ref, err)
	}
}

func TestMigratorDirty(t *testing.T) {
	tests := []struct {
		name string
		// setup migrates, then leaves the database dirty by hand as a
		// failed migration would.
		setup       func(t *testing.T, m Migrator)
		to          uint
		wantState   MigrationState
		wantChannel bool
	}{
		{
			// Migration 2 failed in its transaction: nothing of it was
			// applied, golang-migrate left version 2 dirty.
			name: "failed up to 2 is retried",
			setup: func(t *testing.T, m Migrator) {
				mustTo(t, m, 1)
				execOn(t, m.DB, `UPDATE schema_migrations SET version = 2, dirty = 1`)
			},
			to:          2,
			wantState:   MigrationState{Version: 2},
			wantChannel: true,
		},
		{
			name: "dirty 2 is forced back to 1",
			setup: func(t *testing.T, m Migrator) {
				mustTo(t, m, 1)
				execOn(t, m.DB, `UPDATE schema_migrations SET version = 2, dirty = 1`)
			},
			to:        1,
			wantState: MigrationState{Version: 1},
		},
		{
			// Migration 1 failed: no version at all, then 1 again.
			name: "dirty first migration is forced to no version",
			setup: func(t *testing.T, m Migrator) {
				mustTo(t, m, 1)
				execOn(t, m.DB, `DROP TABLE orders`)
				execOn(t, m.DB, `UPDATE schema_migrations SET dirty = 1`)
			},
			to:        1,
			wantState: MigrationState{Version: 1},
		},
		{
			name: "dirty at the target",
			setup: func(t *testing.T, m Migrator) {
				mustTo(t, m, 2)
				execOn(t, m.DB, `UPDATE schema_migrations SET dirty = 1`)
			},
			to:          1,
			wantState:   MigrationState{Version: 1},
			wantChannel: true, // forced, not migrated: 2's column stays
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := Migrator{DB: testdb.SQLite(t), Dir: testdb.OrdersSQLite}
			tt.setup(t, m)
			if st, err := m.State(); err != nil || !st.Dirty {
				t.Fatalf("state after setup = %+v, %v; want dirty", st, err)
			}
			changed, err := m.To(tt.to)
			if err != nil {
				t.Fatalf("to(%d) on a dirty database: %v", tt.to, err)
			}
			if !changed {
				t.Errorf("to(%d) on a dirty database reported no change", tt.to)
			}
			if st, err := m.State(); err != nil || st != tt.wantState {
				t.Errorf("state = %+v, %v; want %+v", st, err, tt.wantState)
			}
			if got := hasColumn(t, m.DB, "orders", "channel"); got != tt.wantChannel {
				t.Errorf("orders.channel exists = %v, want %v", got, tt.wantChannel)
			}
		})
	}
}

func mustTo(t *testing.T, m Migrator, v uint) {
	t.Helper()
	if _, err := m.To(v); err != nil {
		t.Fatalf("to(%d): %v", v, err)
	}
}

// TestMigratorDirtyWithGappedVersions: golang-migrate versions are often
// timestamps, so the version before a failed one is rarely its number
// minus one. The fixture's migrations renumbered 10 and 20 stand for
// that.
func TestMigratorDirtyWithGappedVersions(t *testing.T) {
	m := Migrator{DB: testdb.SQLite(t), Dir: gappedMigrations(t)}
	mustTo(t, m, 10)
	execOn(t, m.DB, `UPDATE schema_migrations SET version = 20, dirty = 1`)
	if _, err := m.To(20); err != nil {
		t.Fatalf("to(20) on dirty 20: %v", err)
	}
	if st, err := m.State(); err != nil || st != (MigrationState{Version: 20}) {
		t.Errorf("state = %+v, %v; want 20", st, err)
	}
}

// TestMigratorRunRefusesAVersionWithoutAFile: stepping towards 15 between
// files 10 and 20 would go up to 20, down to 10 and so on forever; run
// refuses it before touching the schema. A cancelled context stops it
// between two files.
func TestMigratorRunRefusesAVersionWithoutAFile(t *testing.T) {
	m := Migrator{DB: testdb.SQLite(t), Dir: gappedMigrations(t)}
	mustTo(t, m, 10)
	changed, err := m.Run(context.Background(), 15)
	if err == nil || changed || !strings.Contains(err.Error(), "no migration version 15") {
		t.Fatalf("run(15) = %v, %v; want a refusal naming version 15 and no change", changed, err)
	}
	if st, err := m.State(); err != nil || st != (MigrationState{Version: 10}) {
		t.Errorf("state after the refusal = %+v, %v; want 10", st, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := m.Run(ctx, 20); !errors.Is(err, context.Canceled) {
		t.Errorf("run(20) with a cancelled context = %v, want context.Canceled", err)
	}
	if st, err := m.State(); err != nil || st != (MigrationState{Version: 10}) {
		t.Errorf("state after the cancelled run = %+v, %v; want 10", st, err)
	}
}

// gappedMigrations is the fixture's migrations 1 and 2 renumbered 10 and
// 20.
func gappedMigrations(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for from, to := range map[string]string{
		"1_create_orders.up.sql": "10_create_orders.up.sql", "1_create_orders.down.sql": "10_create_orders.down.sql",
		"2_add_channel.up.sql": "20_add_channel.up.sql", "2_add_channel.down.sql": "20_add_channel.down.sql",
	} {
		b, err := os.ReadFile(filepath.Join(testdb.OrdersSQLite, from))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, to), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestMigratorErrors(t *testing.T) {
	t.Run("missing directory is an environment error", func(t *testing.T) {
		m := Migrator{DB: testdb.SQLite(t), Dir: filepath.Join(t.TempDir(), "nope")}
		_, err := m.To(1)
		var env *provider.EnvError
		if !errors.As(err, &env) {
			t.Fatalf("to err = %v, want an *provider.EnvError", err)
		}
		if _, err := m.State(); !errors.As(err, &env) {
			t.Errorf("state err = %v, want an *provider.EnvError", err)
		}
	})
	t.Run("unknown version", func(t *testing.T) {
		m := Migrator{DB: testdb.SQLite(t), Dir: testdb.OrdersSQLite}
		if _, err := m.To(99); err == nil {
			t.Errorf("to(99) with migrations 1 to 3 succeeded")
		}
	})
	t.Run("engine without a migration driver", func(t *testing.T) {
		h := testdb.SQLite(t)
		h.Engine = "oracle"
		if _, err := (Migrator{DB: h, Dir: testdb.OrdersSQLite}).To(1); err == nil {
			t.Errorf("to(1) on engine oracle succeeded")
		}
	})
	t.Run("failing migration leaves the database dirty and reports it", func(t *testing.T) {
		dir := t.TempDir()
		for name, body := range map[string]string{
			"1_ok.up.sql": "CREATE TABLE a (x INTEGER);", "1_ok.down.sql": "DROP TABLE a;",
			"2_bad.up.sql": "ALTER TABLE no_such_table ADD COLUMN y TEXT;", "2_bad.down.sql": "SELECT 1;",
		} {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		m := Migrator{DB: testdb.SQLite(t), Dir: dir}
		if _, err := m.To(2); err == nil {
			t.Fatalf("to(2) with a broken migration succeeded")
		}
		if st, err := m.State(); err != nil || st != (MigrationState{Version: 2, Dirty: true}) {
			t.Errorf("state = %+v, %v; want 2 dirty", st, err)
		}
		// Retrying the broken migration fails again, after the force.
		if changed, err := m.To(2); err == nil || !changed {
			t.Errorf("retry: changed %v, err %v; want the force reported and the error", changed, err)
		}
		mustTo(t, m, 1)
		if st, err := m.State(); err != nil || st != (MigrationState{Version: 1}) {
			t.Errorf("state after going back = %+v, %v; want 1 clean", st, err)
		}
	})
}
