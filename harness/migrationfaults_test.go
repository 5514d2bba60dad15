package harness

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drillhq/drill/harness/dbcheck"
	"github.com/drillhq/drill/harness/faultset"
	"github.com/drillhq/drill/harness/internal/testdb"
	"github.com/drillhq/drill/harness/journal"
	"github.com/drillhq/drill/harness/provider"
	"github.com/drillhq/drill/injectors"
	"github.com/drillhq/drill/reports"
	"github.com/drillhq/drill/scenarios"
)

// migrationRig is the part of a drill the migration steps use: the
// orders service on database h, baseline v1 at migration base, canary v2
// at migration to, a journal, the fault set, the System and the release.
type migrationRig struct {
	*drill
	sys *System
	rel *release
}

func migrationDrill(t *testing.T, h *provider.DatabaseHandle, dir string, base, to uint) *migrationRig {
	t.Helper()
	svc := &scenarios.Service{Name: "orders", Database: "ordersdb", Migrations: dir, Baseline: "v1",
		Versions: []*scenarios.Version{{Name: "v1", Migration: base}, {Name: "v2", Migration: to}}}
	sc := &scenarios.Scenario{Name: "t",
		Environment: scenarios.Environment{Services: []*scenarios.Service{svc},
			Databases: []*scenarios.Database{{Name: "ordersdb", Engine: h.Engine}}},
		Rollout: scenarios.Rollout{Service: "orders", To: "v2", Strategy: "canary"},
		Verify:  scenarios.Verify{Data: scenarios.Data{Schema: scenarios.SchemaBaseline}}}
	j, err := journal.Open(filepath.Join(t.TempDir(), "journal.jsonl"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	d := &migrationRig{drill: &drill{sc: sc, j: j, started: time.Now(), log: testLog{t}}}
	d.exp = &exposure{j: j}
	d.sys = newSystem(sc, j, d.say, 0)
	d.sys.dbs["ordersdb"] = h
	d.newFaults()
	if d.rel, err = newRelease(sc, sc.Rollout.Moves()[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := d.sys.migrator(svc).To(base); err != nil {
		t.Fatalf("migrate to the baseline %d: %v", base, err)
	}
	if err := d.sys.snapshotBaseline(context.Background()); err != nil {
		t.Fatal(err)
	}
	return d
}

// newFaults makes the fault set of the scenario's faults, bound to the
// rig's system.
func (d *migrationRig) newFaults() {
	d.faults = faultset.New(d.sc, 0, faultset.Host{J: d.j, Say: d.say, Expose: d.exp.mark})
	d.faults.Bind(d.sys, nil)
}

// upFailedAt is the release's failed up migration, 0 for none.
func (d *migrationRig) upFailedAt() uint {
	_, _, v := d.rel.state()
	return v
}

// rolledBackSchema checks the schema as a drill does after a rollback.
func (d *migrationRig) rolledBackSchema() schemaVerdict {
	d.rel.set(func(r *release) { r.migratedUp = true })
	return d.checkSchema(context.Background(), d.sys, group{d.rel})
}

type testLog struct{ t *testing.T }

func (l testLog) Write(b []byte) (int, error) {
	l.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

// arm applies a fault of kind with params at the drill, as the fault set
// does, and reverts it at cleanup.
func arm(t *testing.T, d *migrationRig, kind string, params any) injectors.Injector {
	t.Helper()
	k, ok := injectors.Lookup(kind)
	if !ok {
		t.Fatalf("no kind %s", kind)
	}
	inj := k.New(injectors.Spec{Name: kind, Target: "ordersdb", Probability: 1, Params: params})
	if err := inj.Apply(context.Background(), d.sys); err != nil {
		t.Fatalf("apply %s: %v", kind, err)
	}
	t.Cleanup(func() { inj.Revert(context.Background()) })
	return inj
}

// canaryMigration runs the rollout's up migration as the rollout does,
// recording the dirty version it leaves.
func canaryMigration(t *testing.T, d *migrationRig) error {
	t.Helper()
	svc := d.sc.Environment.Services[0]
	err := d.sys.migrate(context.Background(), svc, svc.Version("v2"), "migrate.canary")
	if st, serr := d.sys.migrator(svc).State(); serr == nil && st.Dirty {
		d.rel.set(func(r *release) { r.upFailedAt = st.Version })
	}
	return err
}

func pgOrDie(t *testing.T) *provider.DatabaseHandle {
	_, h := testdb.Postgres(t)
	return h
}

func yes() *bool { b := true; return &b }

// TestHalfAppliedPostgresMigrationIsRolledBackThroughDirtyState: the
// statements before the failure stay applied, the version is dirty, and
// the rollback step undoes them with the version's idempotent down.
func TestHalfAppliedPostgresMigrationIsRolledBackThroughDirtyState(t *testing.T) {
	h := pgOrDie(t)
	d := migrationDrill(t, h, testdb.OrdersPostgres, 2, 3)
	arm(t, d, "migration-failure", injectors.MigrationFailureParams{Statement: 2, MultiStatement: yes()})
	err := canaryMigration(t, d)
	if err == nil || !strings.Contains(err.Error(), "drill_injected_failure_at_statement_2") {
		t.Fatalf("canary migration: %v, want the injected failure", err)
	}
	if d.upFailedAt() != 3 {
		t.Fatalf("dirty version %d, want 3", d.upFailedAt())
	}
	if cols := testdb.Columns(t, h, "order_events"); len(cols) == 0 {
		t.Fatal("statement 1 (CREATE TABLE order_events) was not left applied")
	}
	if cols := testdb.Columns(t, h, "orders"); strings.Contains(strings.Join(cols, ","), "status") {
		t.Fatal("statement 2 ran although it was the failing one")
	}
	changed, detail, err := migrateToBaseline(context.Background(), d.sys, d.rel, d.faults)
	if err != nil || !changed || !strings.Contains(detail, "ran its down migration over the half-applied schema") {
		t.Fatalf("migrateToBaseline: changed=%v %q %v", changed, detail, err)
	}
	schema := d.rolledBackSchema()
	if r := schema.restored; r == nil || !*r || schema.version != "2" {
		t.Errorf("schema restored %v at %q, diff %v", r, schema.version, schema.diff)
	}
	if changed, detail, err := migrateToBaseline(context.Background(), d.sys, d.rel, d.faults); err != nil || changed {
		t.Errorf("second run: changed=%v %q %v, want a no-op", changed, detail, err)
	}
}

// TestNonIdempotentDownLeavesWhatTheFailedMigrationApplied: on SQLite the
// down migration cannot drop a column the half-applied up never added, so
// the rollback forces the last clean version and the schema check shows
// what is left.
func TestNonIdempotentDownLeavesWhatTheFailedMigrationApplied(t *testing.T) {
	h := testdb.SQLite(t)
	d := migrationDrill(t, h, testdb.OrdersSQLite, 2, 3)
	arm(t, d, "migration-failure", injectors.MigrationFailureParams{Statement: 2, MultiStatement: yes()})
	if err := canaryMigration(t, d); err == nil {
		t.Fatal("the canary migration succeeded")
	}
	changed, detail, err := migrateToBaseline(context.Background(), d.sys, d.rel, d.faults)
	if err != nil || !changed || !strings.Contains(detail, "forced to 2, the last clean version") {
		t.Fatalf("migrateToBaseline: changed=%v %q %v", changed, detail, err)
	}
	schema := d.rolledBackSchema()
	if r := schema.restored; r == nil || *r {
		t.Fatalf("schema restored %v, want not restored", r)
	}
	want := []string{"+ column order_events.client_ref text not null", "+ column order_events.event text not null",
		"+ column order_events.id integer null primary key", "+ primary key (id) on order_events", "+ table order_events"}
	if strings.Join(schema.diff, "\n") != strings.Join(want, "\n") {
		t.Errorf("diff:\n%s\nwant:\n%s", strings.Join(schema.diff, "\n"), strings.Join(want, "\n"))
	}
}

// TestDownFailureStopsTheRollbackAndSaysWhere: a failed down migration is
// not forced past; the step fails, naming the dirty version, and running
// it again changes nothing.
func TestDownFailureStopsTheRollbackAndSaysWhere(t *testing.T) {
	h := pgOrDie(t)
	d := migrationDrill(t, h, testdb.OrdersPostgres, 2, 3)
	if err := canaryMigration(t, d); err != nil {
		t.Fatal(err)
	}
	// Through the drill's fault set and the whole rollback plan, as a
	// drill runs it: the revert-faults step comes before
	// migrate-to-baseline and must leave the down-failure armed for it.
	d.sc.Faults = []*scenarios.Fault{{Name: "down-fails", Kind: "down-failure", Target: "ordersdb", Probability: 1,
		Params: injectors.DownFailureParams{Statement: 2, MultiStatement: yes()}}}
	d.newFaults()
	run := d.faults.Runs()[0]
	if !d.faults.Apply(context.Background(), run) {
		t.Fatalf("apply down-failure: %s", run.Err())
	}
	steps := map[string]reports.Step{}
	for _, st := range d.runRollbackPlan(context.Background(), d.rollbackPlan(d.sys, group{d.rel}, d.faults, time.Now()), "rollback.step") {
		steps[st.Name] = st
	}
	if st := steps["revert-faults"]; !st.OK || st.Changed {
		t.Errorf("revert-faults step %+v: want nothing reverted, the down-failure still armed", st)
	}
	if st := steps["migrate-to-baseline"]; st.OK || !st.Changed || !strings.Contains(st.Detail, "schema stuck at version 2 (dirty)") {
		t.Fatalf("migrate-to-baseline step %+v, want stuck at 2 (dirty)", st)
	}
	f := d.faults.Report()[0]
	if f.RevertedAt == nil {
		t.Error("the down-failure is still applied after migrate-to-baseline ran")
	}
	if f.Effective == nil || !*f.Effective {
		t.Errorf("down-failure effect %v (%s), want effective", f.Effective, f.Measured)
	}
	changed, detail, err := migrateToBaseline(context.Background(), d.sys, d.rel, d.faults)
	var dirty *dbcheck.DirtyError
	if !errors.As(err, &dirty) || changed || !strings.Contains(detail, "a down migration failed part-way") {
		t.Errorf("second run: changed=%v %q %v, want the same refusal and no change", changed, detail, err)
	}
	schema := d.rolledBackSchema()
	if r := schema.restored; r == nil || *r || schema.version != "2 (dirty)" {
		t.Errorf("schema restored %v at %q, want not restored at 2 (dirty)", r, schema.version)
	}
	// Statement 1 of the down (DROP INDEX) ran before the failure.
	if !strings.Contains(strings.Join(schema.diff, "\n"), "+ column orders.status") {
		t.Errorf("diff %v: want what the half-run down left of migration 3", schema.diff)
	}
}

// TestMigrationLockTimesOutWhileAnotherSessionHoldsTheLock: the migration
// waits for ACCESS SHARE held by another session until its lock_timeout,
// fails, and nothing of it is applied; the lock goes with the revert.
func TestMigrationLockTimesOutWhileAnotherSessionHoldsTheLock(t *testing.T) {
	h := pgOrDie(t)
	d := migrationDrill(t, h, testdb.OrdersPostgres, 2, 3)
	inj := arm(t, d, "migration-lock", injectors.MigrationLockParams{Table: "orders", Mode: "ACCESS SHARE",
		Hold: injectors.Duration(time.Minute), LockTimeout: injectors.Duration(300 * time.Millisecond)})
	start := time.Now()
	err := canaryMigration(t, d)
	if err == nil || !strings.Contains(err.Error(), "lock timeout") {
		t.Fatalf("canary migration: %v, want a lock timeout", err)
	}
	if el := time.Since(start); el < 300*time.Millisecond {
		t.Errorf("the migration failed after %s, before its lock_timeout", el)
	}
	db := testdb.Open(t, h)
	if n := count(t, db, `SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'orders' AND l.mode = 'AccessShareLock' AND l.granted`); n != 1 {
		t.Errorf("%d sessions hold ACCESS SHARE on orders during the fault, want 1", n)
	}
	if err := inj.Revert(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := count(t, db, `SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'orders' AND l.mode = 'AccessShareLock'`); n != 0 {
		t.Errorf("%d ACCESS SHARE locks on orders after the revert, want 0", n)
	}
	if _, _, err := migrateToBaseline(context.Background(), d.sys, d.rel, d.faults); err != nil {
		t.Fatalf("rollback after the lock timeout: %v", err)
	}
	schema := d.rolledBackSchema()
	if r := schema.restored; r == nil || !*r {
		t.Errorf("schema restored %v, diff %v", r, schema.diff)
	}
}

// TestMigrationFaultThatCannotActIsNotACanaryFailure: a lock on a table
// that does not exist fails the fault, not the canary's migration: an
// environment error (the drill aborts), not a rollback decision a drill
// expecting one would count as met.
func TestMigrationFaultThatCannotActIsNotACanaryFailure(t *testing.T) {
	h := pgOrDie(t)
	d := migrationDrill(t, h, testdb.OrdersPostgres, 2, 3)
	arm(t, d, "migration-lock", injectors.MigrationLockParams{Table: "no_such_table", Mode: "ACCESS SHARE",
		Hold: injectors.Duration(time.Minute)})
	err := canaryMigration(t, d)
	var env *provider.EnvError
	if !errors.As(err, &env) || !strings.Contains(err.Error(), "no_such_table") {
		t.Fatalf("canary migration: %v, want an *provider.EnvError naming the table", err)
	}
	if st, serr := d.sys.migrator(d.sc.Environment.Services[0]).State(); serr != nil || st != (dbcheck.MigrationState{Version: 2}) {
		t.Errorf("state %+v, %v, want still at clean 2", st, serr)
	}
}

// TestMigrationLockTimeoutOnSQLite: another session holds SQLite's write
// lock for 3 s; with lock_timeout 300ms the migration gives up rather than
// wait it out. golang-migrate takes the lock to mark the version dirty
// before the file runs, so the timeout must be on the migration's
// connection: set in the file, it came too late, the migration waited for
// the connection's default 5 s, got the lock at 3 s and succeeded.
func TestMigrationLockTimeoutOnSQLite(t *testing.T) {
	h := testdb.SQLite(t)
	d := migrationDrill(t, h, testdb.OrdersSQLite, 2, 3)
	arm(t, d, "migration-lock", injectors.MigrationLockParams{Table: "orders",
		Hold: injectors.Duration(3 * time.Second), LockTimeout: injectors.Duration(300 * time.Millisecond)})
	err := canaryMigration(t, d)
	if err == nil || !strings.Contains(err.Error(), "database is locked") {
		t.Fatalf("canary migration: %v, want it to give up on the lock", err)
	}
	if st, serr := d.sys.migrator(d.sc.Environment.Services[0]).State(); serr != nil || st.Version != 2 {
		t.Errorf("state %+v, %v after the lock timeout, want still at 2", st, serr)
	}
}

// TestMigrationSlowHoldsTheMigrationsLocks: while the slow migration
// sleeps, its ALTER TABLE's ACCESS EXCLUSIVE lock on orders is held.
func TestMigrationSlowHoldsTheMigrationsLocks(t *testing.T) {
	h := pgOrDie(t)
	d := migrationDrill(t, h, testdb.OrdersPostgres, 2, 3)
	arm(t, d, "migration-slow", injectors.MigrationSlowParams{Delay: injectors.Duration(3 * time.Second)})
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- canaryMigration(t, d) }()
	db := testdb.Open(t, h)
	seen := false
	for deadline := time.Now().Add(10 * time.Second); !seen && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		seen = count(t, db, `SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'orders' AND l.mode = 'AccessExclusiveLock' AND l.granted`) > 0
	}
	if err := <-done; err != nil {
		t.Fatalf("slow migration: %v", err)
	}
	if !seen {
		t.Error("the migration's ACCESS EXCLUSIVE lock on orders was never seen held")
	}
	if el := time.Since(start); el < 3*time.Second {
		t.Errorf("the migration took %s, less than its 3s delay", el)
	}
}

func count(t *testing.T, db *sql.DB, q string) int {
	t.Helper()
	var n int
	if err := db.QueryRow(q).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}
