package harness

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/drillhq/drill/harness/dbcheck"
	"github.com/drillhq/drill/harness/ledger"
	"github.com/drillhq/drill/harness/provider"
	"github.com/drillhq/drill/harness/provider/process"
	"github.com/drillhq/drill/reports"
	"github.com/drillhq/drill/scenarios"
)

// plantedScenario is a short healthy canary of the real orders and
// pricing fixtures at 100 requests/s: about 7 s of load. Both versions
// use schema 2 (orders.channel), so that a clean run has nothing to find.
// Two of three writes send a channel; the ledger records sku, qty and
// channel.
const plantedScenario = `version: 1
name: planted-{{ENGINE}}
seed: 11
environment:
  databases:
    ordersdb: {engine: {{ENGINE}}}
  services:
    pricing:
      language: rust
      build: {{ROOT}}/fixtures/pricing
      versions:
        v1: {}
    orders:
      language: go
      build: {{ROOT}}/fixtures/orders
      database: ordersdb
      env:
        PRICING_URL: "${services.pricing.url}"
        DATABASE_URL: "${databases.ordersdb.url}"
      versions:
        v1: {migration: 2}
        v2: {migration: 2}
load:
  target: orders
  rate: 100/s
  requests:
    - name: create-order
      method: POST
      path: /orders
      body: '{"sku":"SKU-${seq}","qty":${rand:1:5},"client_ref":"${uuid}","channel":"mobile"}'
      weight: 2
      ledger: {key: client_ref}
    - name: create-order-default-channel
      method: POST
      path: /orders
      body: '{"sku":"SKU-${seq}","qty":${rand:1:5},"client_ref":"${uuid}"}'
      weight: 1
      ledger: {key: client_ref}
steady_state:
  duration: 2s
  warmup: 1s
  slo:
    - {metric: error_rate, max: 50%}
rollout:
  service: orders
  to: v2
  steps:
    - {weight: 50%, hold: 2s}
    - {weight: 100%, hold: 1s}
  analysis:
    judge: threshold
    metrics:
      - {metric: error_rate, max_increase: 50%}
verify:
  data:
    ledger: {database: ordersdb, table: orders, key: client_ref, columns: [sku, qty, channel]}
`

// plantedLedger is what the hook read from the drill's final ledger.
type plantedLedger struct {
	acked       int64
	withChannel int64    // acknowledged entries that recorded a channel
	once        []string // keys acknowledged exactly once, in ledger order
	sku         map[string]string
}

func readPlantedLedger(path string) (plantedLedger, error) {
	out := plantedLedger{sku: map[string]string{}}
	f, err := os.Open(path)
	if err != nil {
		return out, err
	}
	defer f.Close()
	seen := map[string]int{}
	var order []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e ledger.Entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return out, err
		}
		if seen[e.Key] == 0 {
			order = append(order, e.Key)
		}
		seen[e.Key]++
		if e.Status != ledger.Acked {
			seen[e.Key] += 100 // never pick a key that was also indeterminate
			continue
		}
		out.acked++
		if _, ok := e.Columns["channel"]; ok {
			out.withChannel++
		}
		out.sku[e.Key] = e.Columns["sku"]
	}
	for _, k := range order {
		if seen[k] == 1 {
			out.once = append(out.once, k)
		}
	}
	return out, sc.Err()
}

// plantedFaults are the faults the hook plants, by run.
const (
	plantNothing    = "nothing planted"
	plantRowFaults  = "lost, changed and duplicated row"
	plantDropColumn = "down migration drops channel"
)

// TestPlantedFaults runs real drills and, once the load has stopped,
// damages the database in known ways; the report's ledger counts must
// match exactly what was planted, on SQLite and on PostgreSQL.
func TestPlantedFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("runs six drills of real processes, about 10 s each")
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	// The e2e tests' cache: cargo builds pricing once for all drills.
	cache := filepath.Join(root, ".drill", "cache")
	for _, engine := range []string{scenarios.EngineSQLite, scenarios.EnginePostgres} {
		t.Run(engine, func(t *testing.T) {
			if engine == scenarios.EnginePostgres {
				if _, err := process.FindPostgres(); err != nil {
					t.Skipf("no PostgreSQL: %v", err)
				}
			}
			y := strings.NewReplacer("{{ENGINE}}", engine, "{{ROOT}}", root).Replace(plantedScenario)
			file := filepath.Join(t.TempDir(), "planted.yaml")
			if err := os.WriteFile(file, []byte(y), 0o644); err != nil {
				t.Fatal(err)
			}
			sc, err := scenarios.Load(file)
			if err != nil {
				t.Fatalf("scenario: %v", err)
			}
			for _, plant := range []string{plantNothing, plantRowFaults, plantDropColumn} {
				t.Run(plant, func(t *testing.T) {
					runPlanted(t, sc, cache, root, engine, plant)
				})
			}
		})
	}
}

func runPlanted(t *testing.T, sc *scenarios.Scenario, cache, root, engine, plant string) {
	out := t.TempDir()
	var led plantedLedger
	var lost, changed, duplicated string // the planted keys
	hook := func(ctx context.Context, dbs map[string]*provider.DatabaseHandle) error {
		dirs, _ := filepath.Glob(filepath.Join(out, "*", "ledger.jsonl"))
		if len(dirs) != 1 {
			return fmt.Errorf("want one ledger under %s, found %v", out, dirs)
		}
		var err error
		if led, err = readPlantedLedger(dirs[0]); err != nil {
			return fmt.Errorf("read ledger: %w", err)
		}
		if len(led.once) < 3 || led.withChannel == 0 || led.withChannel == led.acked {
			return fmt.Errorf("ledger too thin to plant in: %d acknowledged, %d with a channel, %d keys once",
				led.acked, led.withChannel, len(led.once))
		}
		h := dbs["ordersdb"]
		db, err := dbcheck.OpenDB(h)
		if err != nil {
			return err
		}
		defer db.Close()
		q := func(s string) string { return s }
		if h.Engine == scenarios.EnginePostgres {
			q = func(s string) string { return strings.ReplaceAll(s, "?", "$1") }
		}
		exec := func(query string, args ...any) error {
			res, err := db.ExecContext(ctx, q(query), args...)
			if err != nil {
				return fmt.Errorf("%s: %w", query, err)
			}
			if n, _ := res.RowsAffected(); len(args) > 0 && n != 1 {
				return fmt.Errorf("%s %v: %d rows, want 1", query, args, n)
			}
			return nil
		}
		switch plant {
		case plantNothing:
			return nil
		case plantRowFaults:
			// Keys from the start, middle and end of the ledger.
			lost, changed, duplicated = led.once[0], led.once[len(led.once)/2], led.once[len(led.once)-1]
			if err := exec(`DELETE FROM orders WHERE client_ref = ?`, lost); err != nil {
				return err
			}
			if err := exec(`UPDATE orders SET sku = 'SKU-PLANTED' WHERE client_ref = ?`, changed); err != nil {
				return err
			}
			if err := dropUniqueClientRef(ctx, db, h.Engine); err != nil {
				return err
			}
			return exec(`INSERT INTO orders (client_ref, sku, qty, unit_price_cents, total_cents, created_at, channel)
				SELECT client_ref, sku, qty, unit_price_cents, total_cents, created_at, channel FROM orders WHERE client_ref = ?`, duplicated)
		case plantDropColumn:
			// What the fixture's own down migration does, the expand/
			// contract trap: version 2's acknowledged channels are gone.
			down, err := os.ReadFile(filepath.Join(root, "fixtures/orders/migrations", h.Engine, "2_add_channel.down.sql"))
			if err != nil {
				return err
			}
			return exec(string(down))
		}
		return fmt.Errorf("unknown plant %q", plant)
	}
	rep, err := Run(context.Background(), sc, Options{OutDir: out, CacheDir: cache, AutoApprove: true, BeforeDataCheck: hook})
	if rep == nil {
		t.Fatalf("no report: %v", err)
	}
	if err != nil {
		t.Fatalf("drill failed: %v (report error %q, outcome %s)", err, rep.Error, rep.Outcome)
	}
	l := rep.Data.Ledger
	if !l.Checked {
		t.Fatalf("ledger not checked: %+v", l)
	}
	var want reports.Ledger
	switch plant {
	case plantNothing:
		want = reports.Ledger{}
	case plantRowFaults:
		want = reports.Ledger{Lost: 1, Changed: 1, Duplicated: 1}
	case plantDropColumn:
		want = reports.Ledger{Changed: led.withChannel}
	}
	want.Acknowledged, want.Indeterminate, want.Checked = led.acked, l.Indeterminate, true
	if l != want {
		t.Errorf("report ledger = %+v, want %+v", l, want)
	}
	examples := ledgerExamples(t, rep)
	var wantEx []string
	switch plant {
	case plantRowFaults:
		wantEx = []string{"lost: " + lost,
			fmt.Sprintf(`changed: %s sku="SKU-PLANTED", acknowledged %q`, changed, led.sku[changed]),
			"duplicated: " + duplicated + " (2 rows)"}
	case plantDropColumn:
		wantEx = []string{`channel: column dropped, acknowledged "mobile"`}
	}
	for _, ex := range wantEx {
		if !slicesContainSubstring(examples, ex) {
			t.Errorf("ledger examples %q lack %q", examples, ex)
		}
	}
	if len(rep.Leftovers) != 0 {
		t.Errorf("leftovers: %v", rep.Leftovers)
	}
	t.Logf("%s on %s: %d acknowledged (%d with a channel), %d indeterminate; outcome %s",
		plant, engine, l.Acknowledged, led.withChannel, l.Indeterminate, rep.Outcome)
}

// dropUniqueClientRef lets orders hold a client_ref twice: PostgreSQL
// drops the constraint; SQLite cannot drop a column's UNIQUE, so the table
// is rebuilt without it (CREATE TABLE AS copies no constraints).
func dropUniqueClientRef(ctx context.Context, db *sql.DB, engine string) error {
	var stmts []string
	if engine == scenarios.EnginePostgres {
		var name string
		err := db.QueryRowContext(ctx, `SELECT conname FROM pg_constraint
			WHERE conrelid = 'orders'::regclass AND contype = 'u'`).Scan(&name)
		if err != nil {
			return fmt.Errorf("find the UNIQUE constraint of orders: %w", err)
		}
		stmts = []string{fmt.Sprintf(`ALTER TABLE orders DROP CONSTRAINT %q`, name)}
	} else {
		stmts = []string{
			`CREATE TABLE orders_nouniq AS SELECT * FROM orders`,
			`DROP TABLE orders`,
			`ALTER TABLE orders_nouniq RENAME TO orders`,
		}
	}
	for _, s := range stmts {
		if _, err := db.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
	}
	return nil
}

// ledgerExamples are the examples of the drill's ledger.check.done event.
func ledgerExamples(t *testing.T, rep *reports.Report) []string {
	t.Helper()
	for _, e := range runEvents(t, rep) {
		if e.Event != "ledger.check.done" {
			continue
		}
		var out []string
		ex, _ := e.Fields["examples"].([]any)
		for _, x := range ex {
			out = append(out, fmt.Sprint(x))
		}
		return out
	}
	t.Fatal("journal has no ledger.check.done event")
	return nil
}

func slicesContainSubstring(ss []string, sub string) bool {
	for _, s := range ss {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
