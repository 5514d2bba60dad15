package process

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/drillhq/drill/harness/provider"
	"github.com/drillhq/drill/harness/redact"
	"github.com/drillhq/drill/scenarios"
)

func TestPostgresProviderStartsAndLeavesNothingBehind(t *testing.T) {
	start := time.Now()
	p, h := newPostgres(t)
	t.Logf("PostgreSQL provisioned in %s (initdb, start, create database, proxy)", time.Since(start).Round(time.Millisecond))
	if h.PID <= 0 || !alive(h.PID) {
		t.Fatalf("PID %d: want the running postmaster", h.PID)
	}
	if h.Proxy == nil || !strings.HasPrefix(h.URL, "postgres://postgres:") || !strings.Contains(h.URL, "@127.0.0.1:") {
		t.Fatalf("handle URL %s: want the proxy's", redact.String(h.URL))
	}
	if h.URL == h.DSN {
		t.Fatalf("URL and DSN are both %s: services must go through the proxy, checks around it", h.URL)
	}
	dir := filepath.Join(p.cfg.TempDir, "pg-ordersdb")
	if len(processesMentioning(dir)) == 0 {
		t.Fatalf("no process runs on %s", dir)
	}
	for name, u := range map[string]string{"direct": h.DSN, "proxy": h.URL} {
		db, err := sql.Open("pgx", u)
		if err != nil {
			t.Fatal(err)
		}
		var got string
		if err := db.QueryRow(`SELECT current_database()`).Scan(&got); err != nil || got != "ordersdb" {
			t.Errorf("%s: current_database() = %q, %v; want ordersdb", name, got, err)
		}
		db.Close()
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if alive(h.PID) {
		t.Errorf("postmaster %d still running after Close", h.PID)
	}
	if pids := processesMentioning(dir); len(pids) > 0 {
		t.Errorf("processes %v still mention %s", pids, dir)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s still exists (%v)", dir, err)
	}
	if err := p.Close(context.Background()); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestFindPostgresHonoursEnv(t *testing.T) {
	t.Setenv(PostgresBinEnv, t.TempDir())
	_, err := FindPostgres()
	var env *provider.EnvError
	if !errors.As(err, &env) || !errors.Is(err, provider.ErrEnvironment) || !strings.Contains(env.Hint, "apt-get install -y postgresql") {
		t.Fatalf("FindPostgres with an empty %s: %v, want an *provider.EnvError with an install hint", PostgresBinEnv, err)
	}
}

// newPostgres starts a PostgreSQL database through the provider, as a
// drill does, and stops it at cleanup; it skips without the binaries.
func newPostgres(t *testing.T) (*processProvider, *provider.DatabaseHandle) {
	t.Helper()
	if _, err := FindPostgres(); err != nil {
		t.Skipf("no PostgreSQL: %v", err)
	}
	// Not t.TempDir(): the server runs as the postgres user, which must
	// be able to enter the run's temp dir.
	tmp, err := os.MkdirTemp("", "drill-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(tmp) })
	p := newProcessProvider(provider.Config{TempDir: tmp, RunDir: t.TempDir()})
	t.Cleanup(func() { p.Close(context.Background()) })
	h, err := p.StartDatabase(t.Context(), &scenarios.Database{Name: "ordersdb", Engine: scenarios.EnginePostgres})
	if err != nil {
		t.Fatalf("StartDatabase: %v", err)
	}
	return p, h
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

// processesMentioning lists pids whose command line mentions s.
func processesMentioning(s string) []int {
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(b), s) {
			var pid int
			for _, c := range e.Name() {
				pid = pid*10 + int(c-'0')
			}
			out = append(out, pid)
		}
	}
	return out
}
