package ledger

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/drillhq/drill/harness/dbcheck"
	"github.com/drillhq/drill/harness/internal/testdb"
	"github.com/drillhq/drill/harness/provider"
	"github.com/drillhq/drill/harness/provider/process"
	"github.com/drillhq/drill/scenarios"
)

// benchWrites is how many acknowledged writes BenchmarkLedgerCheck1M checks.
const benchWrites = 1_000_000

// BenchmarkLedgerCheck1M checks a ledger of a million acknowledged writes
// against a million-row orders table, on SQLite and on PostgreSQL. Setup
// (the rows, the ledger file) is not timed. Besides ns/op it reports
// writes/s, the Go heap's peak during the check (sampled every 10 ms), the
// process's RSS when the check starts and its peak during the check (VmHWM,
// reset just before it), and the harness process's CPU time per check.
//
//	make bench-ledger
func BenchmarkLedgerCheck1M(b *testing.B) {
	if testing.Short() {
		b.Skip("inserts a million rows")
	}
	// The keys are made again from their seed wherever they are needed:
	// a million of them kept in a slice would be 70 MiB of the heap that
	// the peak-heap metric should not count.
	ledgerPath := benchLedger(b)
	// testing calls a sub-benchmark's function again for a larger b.N:
	// the databases are set up once, by the first call.
	var lite, pg *provider.DatabaseHandle
	b.Run("sqlite", func(sb *testing.B) {
		if lite == nil {
			p := newProvider(sb, provider.Config{TempDir: b.TempDir()})
			h, err := p.StartDatabase(context.Background(), &scenarios.Database{Name: "ordersdb", Engine: scenarios.EngineSQLite})
			if err != nil {
				sb.Fatal(err)
			}
			benchMigrate(sb, h, testdb.OrdersSQLite)
			benchInsertSQLite(sb, h)
			lite = h
		}
		benchCheck(sb, lite, ledgerPath)
	})
	b.Run("postgres", func(sb *testing.B) {
		if pg == nil {
			h := benchPostgres(b, sb)
			benchMigrate(sb, h, testdb.OrdersPostgres)
			benchInsertPostgres(sb, h)
			pg = h
		}
		benchCheck(sb, pg, ledgerPath)
	})
}

// benchCheck times ledger.Check over the prepared database and ledger,
// each time on a database handle of its own as verifyData opens one.
func benchCheck(b *testing.B, h *provider.DatabaseHandle, ledgerPath string) {
	b.Helper()
	var peakHeap, peakRSS, baseRSS uint64
	var elapsed, cpu time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		db, err := dbcheck.OpenDB(h)
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		debug.FreeOSMemory()
		resetPeakRSS()
		baseRSS = max(baseRSS, procStatus("VmRSS:"))
		stop := sampleHeap()
		cpu0 := cpuTime()
		b.StartTimer()
		start := time.Now()
		res, err := Check(context.Background(), db, ordersSpec("orders"), ledgerPath)
		elapsed += time.Since(start)
		b.StopTimer()
		cpu += cpuTime() - cpu0
		peakHeap = max(peakHeap, stop())
		peakRSS = max(peakRSS, procStatus("VmHWM:"))
		db.Close()
		if err != nil {
			b.Fatalf("Check: %v", err)
		}
		if want := (ledgerCounts{Acknowledged: benchWrites}); counts(res) != want {
			b.Fatalf("Check = %+v, want %+v (examples %q)", counts(res), want, res.Examples)
		}
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(float64(benchWrites)*float64(b.N)/elapsed.Seconds(), "writes/s")
	b.ReportMetric(float64(peakHeap)/(1<<20), "peak-heap-MiB")
	if peakRSS > 0 {
		// RSS when the check starts (the test binary, the setup's
		// leftovers) and its peak during the check.
		b.ReportMetric(float64(baseRSS)/(1<<20), "start-rss-MiB")
		b.ReportMetric(float64(peakRSS)/(1<<20), "peak-rss-MiB")
	}
	// The harness process's own CPU (user+sys) per check: steadier than
	// the wall time on a shared machine. PostgreSQL's share is not in it.
	b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
}

// cpuTime is the CPU time (user+sys) this process used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// sampleHeap samples the bytes of heap objects (live and not yet swept)
// every 10 ms until the returned func is called; that returns the peak.
func sampleHeap() func() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	var peak uint64
	read := func() {
		metrics.Read(s)
		peak = max(peak, s[0].Value.Uint64())
	}
	read()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				read()
			}
		}
	}()
	return func() uint64 {
		close(done)
		wg.Wait()
		read()
		return peak
	}
}

// resetPeakRSS sets this process's VmHWM back to its current RSS (Linux:
// "5" in /proc/self/clear_refs), so VmHWM then tells the check's own peak.
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// procStatus is a kB field of /proc/self/status (VmHWM:, VmRSS:) in
// bytes, 0 when unknown.
func procStatus(field string) uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// benchKeys yields the benchmark's client refs in order, as the load
// renders ${uuid}: random, so lookups hit the key index all over, as a
// drill's do. Every call yields the same keys.
func benchKeys(yield func(int, string) bool) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range benchWrites {
		if !yield(i, benchUUID(r)) {
			return
		}
	}
}

// benchUUID draws a version-4 UUID from r, as the load generator renders
// ${uuid} from its seeded stream (package load's uuid4).
func benchUUID(r *rand.Rand) string {
	var u [16]byte
	for i := 0; i < 16; i += 8 {
		binary.LittleEndian.PutUint64(u[i:], r.Uint64())
	}
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

func benchSKU(i int) string { return "SKU-" + strconv.Itoa(i%97) }
func benchQty(i int) int    { return i%5 + 1 }

// benchLedger writes every key as acknowledged with the real writer.
func benchLedger(b *testing.B) string {
	b.Helper()
	path := filepath.Join(b.TempDir(), "ledger.jsonl")
	lw, err := Open(path)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now().UnixMilli()
	for i, k := range benchKeys {
		lw.Write(Entry{Key: k, Status: Acked, At: now,
			Columns: map[string]string{"sku": benchSKU(i), "qty": strconv.Itoa(benchQty(i))}})
	}
	if err := lw.Close(); err != nil {
		b.Fatal(err)
	}
	return path
}

// benchMigrate migrates h to version 1 of the orders schema.
func benchMigrate(b *testing.B, h *provider.DatabaseHandle, dir string) {
	b.Helper()
	if _, err := (dbcheck.Migrator{DB: h, Dir: dir}).To(1); err != nil {
		b.Fatalf("migrate orders to 1: %v", err)
	}
}

// benchInsertSQLite stores the rows in one transaction with one prepared
// statement. The connection is the setup's own: the large page cache
// that keeps a million random-key index inserts fast is not the check's.
func benchInsertSQLite(b *testing.B, h *provider.DatabaseHandle) {
	b.Helper()
	start := time.Now()
	db, err := dbcheck.OpenDB(h)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`PRAGMA cache_size = -262144`); err != nil {
		b.Fatal(err)
	}
	tx, err := db.Begin()
	if err != nil {
		b.Fatal(err)
	}
	st, err := tx.Prepare(`INSERT INTO orders (client_ref, sku, qty, unit_price_cents, total_cents) VALUES (?, ?, ?, 100, ?)`)
	if err != nil {
		b.Fatal(err)
	}
	for i, k := range benchKeys {
		if _, err := st.Exec(k, benchSKU(i), benchQty(i), benchQty(i)*100); err != nil {
			b.Fatal(err)
		}
	}
	if err := errors.Join(st.Close(), tx.Commit()); err != nil {
		b.Fatal(err)
	}
	// Fold the WAL into the database file, as a drill's idle database is.
	if _, err := db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		b.Fatal(err)
	}
	b.Logf("inserted %d rows into SQLite in %s", benchWrites, time.Since(start).Round(time.Millisecond))
}

// benchInsertPostgres stores the rows with COPY.
func benchInsertPostgres(b *testing.B, h *provider.DatabaseHandle) {
	b.Helper()
	start := time.Now()
	db, err := dbcheck.OpenDB(h)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		next, stop := iter.Pull2(benchKeys)
		defer stop()
		src := pgx.CopyFromFunc(func() ([]any, error) {
			i, k, ok := next()
			if !ok {
				return nil, nil
			}
			return []any{k, benchSKU(i), benchQty(i), 100, benchQty(i) * 100}, nil
		})
		n, err := dc.(*stdlib.Conn).Conn().CopyFrom(context.Background(), pgx.Identifier{"orders"},
			[]string{"client_ref", "sku", "qty", "unit_price_cents", "total_cents"}, src)
		if err == nil && n != benchWrites {
			err = errors.New("COPY stored " + strconv.FormatInt(n, 10) + " rows")
		}
		return err
	})
	if err != nil {
		b.Fatalf("COPY orders: %v", err)
	}
	if _, err := conn.ExecContext(context.Background(), `VACUUM ANALYZE orders`); err != nil {
		b.Fatal(err)
	}
	b.Logf("copied %d rows into PostgreSQL in %s", benchWrites, time.Since(start).Round(time.Millisecond))
}

// benchPostgres is newPostgres for a benchmark: the server lives until
// parent's cleanup; sb is the sub-benchmark that skips or fails.
func benchPostgres(parent, sb *testing.B) *provider.DatabaseHandle {
	sb.Helper()
	if _, err := process.FindPostgres(); err != nil {
		sb.Skipf("no PostgreSQL: %v", err)
	}
	// Not a TempDir: the server runs as the postgres user (see newPostgres).
	tmp, err := os.MkdirTemp("", "drill-bench-")
	if err != nil {
		sb.Fatal(err)
	}
	parent.Cleanup(func() { os.RemoveAll(tmp) })
	p := newProvider(parent, provider.Config{TempDir: tmp, RunDir: parent.TempDir()})
	parent.Cleanup(func() { p.Close(context.Background()) })
	h, err := p.StartDatabase(context.Background(), &scenarios.Database{Name: "ordersdb", Engine: scenarios.EnginePostgres})
	if err != nil {
		sb.Fatalf("StartDatabase: %v", err)
	}
	return h
}

// newProvider is the process provider, as a drill builds it.
func newProvider(b *testing.B, cfg provider.Config) provider.Provider {
	p, err := provider.New("process", cfg)
	if err != nil {
		b.Fatal(err)
	}
	return p
}
