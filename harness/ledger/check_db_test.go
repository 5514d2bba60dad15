package ledger

import (
	"context"
	"database/sql"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/drillhq/drill/harness/dbcheck"
	"github.com/drillhq/drill/harness/internal/testdb"
	"github.com/drillhq/drill/harness/provider"
	"github.com/drillhq/drill/scenarios"
)

// The ledger check against real databases through migrations: the
// schema-loss cases on SQLite and PostgreSQL, and a PostgreSQL check that
// spans batches (numbered placeholders).

// orderEntry is the ledger entry of o as the transport records it, with
// sku and qty, and channel when it is not "".
func orderEntry(o order, channel, status string) Entry {
	cols := map[string]string{"sku": o.sku, "qty": strconv.Itoa(o.qty)}
	if channel != "" {
		cols["channel"] = channel
	}
	return Entry{Key: o.ref, Columns: cols, Status: status, At: time.Now().UnixMilli()}
}

// channelOf is the channel order i was sent with: none for every third
// (a client that leaves it to the service's default).
func channelOf(i int) (string, bool) {
	if i%3 == 2 {
		return "", false
	}
	return []string{"mobile", "web"}[i%2], true
}

// writeChannelLedger writes every order as acknowledged with sku, qty and,
// where channelOf says so, channel.
func writeChannelLedger(t *testing.T, orders []order) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ledger.jsonl")
	lw, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range orders {
		ch, _ := channelOf(i)
		lw.Write(orderEntry(o, ch, Acked))
	}
	if err := lw.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// ordersV2 is the orders schema at version 2 (with channel), holding
// orders as a version 2 service stores them: channel "web" when the
// client sent none.
func ordersV2(t *testing.T, h *provider.DatabaseHandle, dir string, orders []order) *sql.DB {
	t.Helper()
	if _, err := (dbcheck.Migrator{DB: h, Dir: dir}).To(2); err != nil {
		t.Fatalf("migrate orders to 2: %v", err)
	}
	db := testdb.Open(t, h)
	q := `INSERT INTO orders (client_ref, sku, qty, unit_price_cents, total_cents, channel) VALUES (?, ?, ?, 100, ?, ?)`
	if h.Engine == scenarios.EnginePostgres {
		q = `INSERT INTO orders (client_ref, sku, qty, unit_price_cents, total_cents, channel) VALUES ($1, $2, $3, 100, $4, $5)`
	}
	for i, o := range orders {
		ch, ok := channelOf(i)
		if !ok {
			ch = "web"
		}
		testdb.Exec(t, db, q, o.ref, o.sku, o.qty, o.qty*100, ch)
	}
	return db
}

func channelSpec() *scenarios.Ledger {
	return &scenarios.Ledger{Table: "orders", Key: "client_ref", Columns: []string{"sku", "qty", "channel"}}
}

// schemaLossCases are the same on both engines: what a down migration or
// a broken release can take away from acknowledged writes. n is the
// number of orders; two of every three recorded a channel.
func schemaLossCases(n int) []struct {
	name         string
	drop         string // DDL run after the rows are stored; "" for migrate down to 1
	plant        func(t *testing.T, db *sql.DB, orders []order)
	want         ledgerCounts
	wantExamples []string
} {
	withChannel := int64(0)
	for i := range n {
		if _, ok := channelOf(i); ok {
			withChannel++
		}
	}
	acked := int64(n)
	return []struct {
		name         string
		drop         string
		plant        func(t *testing.T, db *sql.DB, orders []order)
		want         ledgerCounts
		wantExamples []string
	}{
		{
			name: "schema intact",
			drop: "-",
			want: ledgerCounts{Acknowledged: acked},
		},
		{
			name:         "down migration dropped a recorded column",
			want:         ledgerCounts{Acknowledged: acked, Changed: withChannel},
			wantExamples: []string{`changed: ref-00000 channel: column dropped, acknowledged "mobile"`, `changed: ref-00001 channel: column dropped, acknowledged "web"`},
		},
		{
			// A changed sku of an entry that also recorded the dropped
			// channel counts once; one that did not record a channel
			// (ref-00002) is changed by its sku alone.
			name: "dropped column and a changed one count once per entry",
			plant: func(t *testing.T, db *sql.DB, orders []order) {
				testdb.Exec(t, db, `UPDATE orders SET sku = 'SKU-BAD' WHERE client_ref IN ('ref-00000', 'ref-00002')`)
			},
			want:         ledgerCounts{Acknowledged: acked, Changed: withChannel + 1},
			wantExamples: []string{`changed: ref-00002 sku="SKU-BAD", acknowledged "SKU-2"`},
		},
		{
			name: "a lost write is lost, not also changed",
			plant: func(t *testing.T, db *sql.DB, orders []order) {
				testdb.Exec(t, db, `DELETE FROM orders WHERE client_ref = 'ref-00001'`)
			},
			want:         ledgerCounts{Acknowledged: acked, Lost: 1, Changed: withChannel - 1},
			wantExamples: []string{"lost: ref-00001"},
		},
		{
			name:         "table dropped: every write lost",
			drop:         `DROP TABLE orders`,
			want:         ledgerCounts{Acknowledged: acked, Lost: acked},
			wantExamples: []string{"lost: ref-00000 (table orders missing)"},
		},
		{
			name:         "table renamed: every write lost",
			drop:         `ALTER TABLE orders RENAME TO orders_old`,
			want:         ledgerCounts{Acknowledged: acked, Lost: acked},
			wantExamples: []string{"lost: ref-00000 (table orders missing)"},
		},
		{
			name:         "key column renamed: every write lost",
			drop:         `ALTER TABLE orders RENAME COLUMN client_ref TO ref`,
			want:         ledgerCounts{Acknowledged: acked, Lost: acked},
			wantExamples: []string{"lost: ref-00000 (key column client_ref missing)"},
		},
		{
			name:         "every recorded column dropped",
			drop:         `ALTER TABLE orders DROP COLUMN channel; ALTER TABLE orders DROP COLUMN sku; ALTER TABLE orders DROP COLUMN qty`,
			want:         ledgerCounts{Acknowledged: acked, Changed: acked},
			wantExamples: []string{`changed: ref-00000 sku: column dropped, acknowledged "SKU-0"`},
		},
	}
}

func runSchemaLoss(t *testing.T, newDB func(t *testing.T) (*provider.DatabaseHandle, string)) {
	const n = batchSize + 10 // a full batch and a partial one
	orders := makeOrders(n)
	path := writeChannelLedger(t, orders)
	for _, tc := range schemaLossCases(n) {
		t.Run(tc.name, func(t *testing.T) {
			h, dir := newDB(t)
			db := ordersV2(t, h, dir, orders)
			if tc.plant != nil {
				tc.plant(t, db, orders)
			}
			switch tc.drop {
			case "-":
			case "":
				if _, err := (dbcheck.Migrator{DB: h, Dir: dir}).To(1); err != nil {
					t.Fatalf("migrate down to 1: %v", err)
				}
			default:
				for _, q := range strings.Split(tc.drop, "; ") {
					testdb.Exec(t, db, q)
				}
			}
			got, err := Check(context.Background(), db, channelSpec(), path)
			if err != nil {
				t.Fatalf("ledger.Check: %v", err)
			}
			if counts(got) != tc.want {
				t.Errorf("ledger.Check = %+v, want %+v (examples %q)", counts(got), tc.want, got.Examples)
			}
			if findings := got.Lost + got.Changed + got.Duplicated; int64(len(got.Examples)) != min(findings, 10) {
				t.Errorf("%d examples for %d findings: %q", len(got.Examples), findings, got.Examples)
			}
			for _, ex := range tc.wantExamples {
				if !containsString(got.Examples, ex) {
					t.Errorf("examples %q lack %q", got.Examples, ex)
				}
			}
		})
	}
}

func TestCheckLedgerSchemaLoss(t *testing.T) {
	runSchemaLoss(t, func(t *testing.T) (*provider.DatabaseHandle, string) { return testdb.SQLite(t), testdb.OrdersSQLite })
}

func TestCheckLedgerSchemaLossOnPostgres(t *testing.T) {
	_, h := testdb.Postgres(t)
	admin := testdb.Open(t, h)
	runSchemaLoss(t, func(t *testing.T) (*provider.DatabaseHandle, string) {
		// One server for every case: each starts from an empty schema.
		testdb.Exec(t, admin, `DROP SCHEMA public CASCADE`)
		testdb.Exec(t, admin, `CREATE SCHEMA public`)
		return h, testdb.OrdersPostgres
	})
}

func TestCheckLedgerOnPostgres(t *testing.T) {
	_, h := testdb.Postgres(t)
	if _, err := (dbcheck.Migrator{DB: h, Dir: testdb.OrdersPostgres}).To(1); err != nil {
		t.Fatal(err)
	}
	db := testdb.Open(t, h)
	// More rows than one batch, so placeholders $1…$500 are used in full.
	orders := makeOrders(batchSize + 20)
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
	testdb.Exec(t, db, `DELETE FROM orders WHERE client_ref = 'ref-00007'`)
	testdb.Exec(t, db, `UPDATE orders SET qty = 99 WHERE client_ref = 'ref-00510'`)
	path := writeLedgerFile(t, orders, []order{{"never-answered", "SKU-X", 1}})
	res, err := Check(context.Background(), db, ordersSpec("orders"), path)
	if err != nil {
		t.Fatalf("Check: %v", err)
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
