package injectors_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/drillhq/drill/harness/provider"
	"github.com/drillhq/drill/harness/provider/process"
	"github.com/drillhq/drill/harness/tcpproxy"
	"github.com/drillhq/drill/injectors"
	"github.com/drillhq/drill/scenarios"
)

// dbEnv offers one database's proxy as the fault point "db".
type dbEnv struct{ h *provider.DatabaseHandle }

func (e dbEnv) HTTP(string) (injectors.HTTPPoint, error) {
	return nil, errors.New("no routers in this test")
}
func (e dbEnv) Link(string, string) (injectors.HTTPPoint, error) {
	return nil, errors.New("no links in this test")
}
func (e dbEnv) Processes(string) (injectors.ProcessPoint, error) {
	return nil, errors.New("no processes in this test")
}

func (e dbEnv) Conn(target string) (injectors.ConnPoint, error) {
	if target != "db" || e.h.Proxy == nil {
		return nil, errors.New("no proxy for " + target)
	}
	return e.h.Proxy, nil
}

// pgStart runs a real PostgreSQL with its proxy through the process
// provider, as a drill does. It skips only when PostgreSQL is missing.
func pgStart(t *testing.T) *provider.DatabaseHandle {
	t.Helper()
	if _, err := process.FindPostgres(); err != nil {
		t.Skipf("no PostgreSQL: %v", err)
	}
	tmp, err := os.MkdirTemp("", "drill-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(tmp) })
	prov, err := provider.New("process", provider.Config{TempDir: tmp, RunDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { prov.Close(context.Background()) })
	h, err := prov.StartDatabase(t.Context(), &scenarios.Database{Name: "db", Engine: scenarios.EnginePostgres})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// connect opens one pgx connection through the proxy.
func pgConnect(t *testing.T, h *provider.DatabaseHandle) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, h.URL)
	if err != nil {
		t.Fatalf("connect through the proxy: %v", err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func pgSelectOne(ctx context.Context, c *pgx.Conn) error {
	var one int
	return c.QueryRow(ctx, `SELECT 1`).Scan(&one)
}

// pgQueryTimes runs n one-round-trip queries and returns their durations.
func pgQueryTimes(t *testing.T, c *pgx.Conn, n int) []time.Duration {
	t.Helper()
	out := make([]time.Duration, 0, n)
	for range n {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		start := time.Now()
		err := pgSelectOne(ctx, c)
		cancel()
		if err != nil {
			t.Fatalf("SELECT 1: %v", err)
		}
		out = append(out, time.Since(start))
	}
	return out
}

// pgUntilHealthy polls fresh connections until one answers a query, and
// returns how long that took.
func pgUntilHealthy(t *testing.T, h *provider.DatabaseHandle) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		c, err := pgx.Connect(ctx, h.URL)
		if err == nil {
			err = pgSelectOne(ctx, c)
			c.Close(context.Background())
		}
		cancel()
		if err == nil {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			t.Fatalf("database not healthy through the proxy 10s after revert: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// pgMedian returns the median of ds.
func pgMedian(ds []time.Duration) time.Duration {
	ds = slices.Clone(ds)
	slices.Sort(ds)
	return ds[len(ds)/2]
}

func newDBFault(t *testing.T, kind string, params any, probability float64) injectors.Injector {
	t.Helper()
	k, ok := injectors.Lookup(kind)
	if !ok {
		t.Fatalf("kind %q not registered", kind)
	}
	return k.New(injectors.Spec{Name: kind, Target: "db", Probability: probability, Seed: 1, Params: params})
}

func dbVerify(t *testing.T, inj injectors.Injector) injectors.Effect {
	t.Helper()
	v, ok := inj.(injectors.Verifier)
	if !ok {
		t.Fatalf("%T is no Verifier", inj)
	}
	e := v.Verify(injectors.Observation{})
	t.Logf("effect: effective=%v measured: %s", e.Effective, e.Measured)
	return e
}

func TestDBLatencyAddsDelayPerQueryRoundTrip(t *testing.T) {
	h := pgStart(t)
	tests := []struct {
		name          string
		delay, jitter time.Duration
	}{
		{"50ms", 50 * time.Millisecond, 0},
		{"100ms±20ms", 100 * time.Millisecond, 20 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := pgConnect(t, h) // open before the fault: existing connections are slowed too
			before := pgMedian(pgQueryTimes(t, c, 30))
			inj := newDBFault(t, "db-latency", injectors.DBLatencyParams{Delay: injectors.Duration(tt.delay), Jitter: injectors.Duration(tt.jitter)}, 1)
			if err := inj.Apply(context.Background(), dbEnv{h}); err != nil {
				t.Fatal(err)
			}
			// Load on a shared machine only ever adds time: a round that
			// misses the band is measured again (up to 3 rounds), a wrong
			// delay misses every round.
			lo, hi := tt.delay*3/4, tt.delay*5/4
			var added time.Duration
			for round := 1; round <= 3; round++ {
				during := pgMedian(pgQueryTimes(t, c, 25))
				added = during - before
				t.Logf("configured %s±%s, round %d: median query %s before, %s during: added %s",
					tt.delay, tt.jitter, round, before, during, added)
				if added >= lo && added <= hi {
					break
				}
			}
			if added < lo || added > hi {
				t.Errorf("added median round trip %s, want %s ±25%%", added, tt.delay)
			}
			start := time.Now()
			if err := inj.Revert(context.Background()); err != nil {
				t.Fatal(err)
			}
			revert := time.Since(start)
			if err := inj.Revert(context.Background()); err != nil {
				t.Fatalf("second revert: %v", err)
			}
			var after time.Duration
			for range 3 {
				if after = pgMedian(pgQueryTimes(t, c, 30)); after < before+tt.delay/10 {
					break
				}
			}
			t.Logf("Revert took %s; median query %s after", revert, after)
			if after >= before+tt.delay/10 {
				t.Errorf("median %s after revert (was %s before): the delay is still in place", after, before)
			}
			if e := dbVerify(t, inj); !e.Effective {
				t.Errorf("Verify says not effective: %s", e.Measured)
			}
		})
	}
}

// dbIsReset tells whether a client error is what a reset connection gives.
func dbIsReset(err error) bool {
	s := err.Error()
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		strings.Contains(s, "reset by peer") || strings.Contains(s, "broken pipe") || strings.Contains(s, "unexpected EOF")
}

func TestDBResetResetsOpenAndNewConnections(t *testing.T) {
	h := pgStart(t)
	proxy := h.Proxy.(*tcpproxy.Proxy)
	open := pgConnect(t, h)
	if err := pgSelectOne(t.Context(), open); err != nil {
		t.Fatal(err)
	}
	inj := newDBFault(t, "db-reset", nil, 1)
	if err := inj.Apply(context.Background(), dbEnv{h}); err != nil {
		t.Fatal(err)
	}
	// The open connection was reset when the fault was installed.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	err := pgSelectOne(ctx, open)
	cancel()
	if err == nil || !dbIsReset(err) {
		t.Errorf("query on an open connection during db-reset: %v, want a reset", err)
	} else {
		t.Logf("open connection saw: %v", err)
	}
	// New connections are reset too, each of them.
	for i := range 5 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c, err := pgx.Connect(ctx, h.URL)
		cancel()
		if err == nil {
			c.Close(context.Background())
			t.Fatalf("new connection %d during db-reset succeeded", i)
		}
		if !dbIsReset(err) {
			t.Errorf("new connection %d: %v, want a reset", i, err)
		} else if i == 0 {
			t.Logf("new connection saw: %v", err)
		}
	}
	start := time.Now()
	if err := inj.Revert(context.Background()); err != nil {
		t.Fatal(err)
	}
	revert := time.Since(start)
	healthy := pgUntilHealthy(t, h)
	t.Logf("Revert took %s; a new connection answered %s later; proxy %+v", revert, healthy, proxy.Stats())
	if e := dbVerify(t, inj); !e.Effective || !strings.Contains(e.Measured, "connections reset") {
		t.Errorf("Verify: %+v", e)
	}
	if err := inj.Revert(context.Background()); err != nil {
		t.Errorf("second revert: %v", err)
	}
}

func TestDBBlackholeHangsQueriesUntilDeadline(t *testing.T) {
	h := pgStart(t)
	busy, idle := pgConnect(t, h), pgConnect(t, h)
	if err := pgSelectOne(t.Context(), idle); err != nil {
		t.Fatal(err)
	}
	inj := newDBFault(t, "db-blackhole", nil, 1)
	if err := inj.Apply(context.Background(), dbEnv{h}); err != nil {
		t.Fatal(err)
	}
	const timeout = 800 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	start := time.Now()
	err := pgSelectOne(ctx, busy)
	hung := time.Since(start)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) || hung < timeout*9/10 {
		t.Errorf("query during db-blackhole: %v after %s, want it to hang until the %s deadline", err, hung, timeout)
	}
	ctx, cancel = context.WithTimeout(context.Background(), timeout)
	start = time.Now()
	c, err := pgx.Connect(ctx, h.URL)
	hung2 := time.Since(start)
	cancel()
	if err == nil {
		c.Close(context.Background())
		t.Errorf("new connection during db-blackhole succeeded")
	} else if hung2 < timeout*9/10 {
		t.Errorf("new connection failed after %s (%v), want a hang until the deadline", hung2, err)
	}
	t.Logf("query hung %s, connect hung %s (deadline %s)", hung.Round(time.Millisecond), hung2.Round(time.Millisecond), timeout)
	start = time.Now()
	if err := inj.Revert(context.Background()); err != nil {
		t.Fatal(err)
	}
	revert := time.Since(start)
	healthy := pgUntilHealthy(t, h)
	t.Logf("Revert took %s; a new connection answered %s later", revert, healthy)
	// The idle connection was blackholed too: closed on revert, so its
	// client notices and reconnects instead of waiting for an answer
	// that was dropped.
	ctx, cancel = context.WithTimeout(context.Background(), 2*time.Second)
	err = pgSelectOne(ctx, idle)
	cancel()
	if err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("idle connection after revert: %v, want it closed", err)
	}
	if e := dbVerify(t, inj); !e.Effective || !strings.Contains(e.Measured, "got no answer") {
		t.Errorf("Verify: %+v", e)
	}
}

func TestDBKindsOnlyActWhereTheyCan(t *testing.T) {
	params := map[string]any{"db-latency": injectors.DBLatencyParams{Delay: injectors.Duration(time.Millisecond)}, "db-reset": nil, "db-blackhole": nil}
	for kind, p := range params {
		t.Run(kind, func(t *testing.T) {
			k, _ := injectors.Lookup(kind)
			if el, ok := k.(injectors.EngineLimited); !ok {
				t.Errorf("%s does not say which engines it acts on", kind)
			} else if engines, why := el.Engines(); len(engines) != 1 || engines[0] != "postgres" || !strings.Contains(why, "SQLite") {
				t.Errorf("Engines() = %v, %q", engines, why)
			}
			inj := k.New(injectors.Spec{Name: "x", Target: "sqlite-db", Probability: 1, Params: p})
			if err := inj.Revert(context.Background()); err != nil {
				t.Errorf("revert without apply: %v", err)
			}
			if err := inj.Apply(context.Background(), dbEnv{&provider.DatabaseHandle{}}); err == nil {
				t.Errorf("apply on a database without a proxy succeeded")
			}
			if err := inj.Revert(context.Background()); err != nil {
				t.Errorf("revert after a failed apply: %v", err)
			}
		})
	}
}

func TestDBLatencyParams(t *testing.T) {
	k, _ := injectors.Lookup("db-latency")
	tests := []struct {
		p    injectors.DBLatencyParams
		want string
	}{
		{injectors.DBLatencyParams{}, "delay > 0"},
		{injectors.DBLatencyParams{Delay: 10, Jitter: -1}, "must not be negative"},
		{injectors.DBLatencyParams{Delay: 10, Jitter: 20}, "must not exceed delay"},
		{injectors.DBLatencyParams{Delay: 10, Jitter: 5}, ""},
	}
	for _, tt := range tests {
		_, err := k.Parse(func(v any) error { *(v.(*injectors.DBLatencyParams)) = tt.p; return nil })
		if (tt.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%+v) = %v, want %q", tt.p, err, tt.want)
		}
	}
}

func (dbEnv) Migrations(string) (injectors.MigrationPoint, error) {
	return nil, errors.New("no migrations in this test")
}
