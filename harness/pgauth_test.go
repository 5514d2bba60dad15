package harness

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drillhq/drill/harness/internal/testdb"
	"github.com/drillhq/drill/harness/provider"
	"github.com/drillhq/drill/harness/provider/process"
	"github.com/drillhq/drill/harness/redact"
	"github.com/drillhq/drill/scenarios"
)

// checkPostgresAuth: the server refuses the postgres user without a
// password and with a wrong one, and the handle's URLs (services' through
// the proxy, the harness's direct one) get in.
func checkPostgresAuth(t *testing.T, h *provider.DatabaseHandle) {
	t.Helper()
	u, err := url.Parse(h.DSN)
	if err != nil {
		t.Fatal(err)
	}
	try := func(dsn string) error {
		db, err := sql.Open("pgx", dsn)
		if err != nil {
			return err
		}
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var one int
		return db.QueryRowContext(ctx, "SELECT 1").Scan(&one)
	}
	for name, user := range map[string]*url.Userinfo{
		"no password":    url.User("postgres"),
		"wrong password": url.UserPassword("postgres", "not-the-password"),
	} {
		bad := *u
		bad.User = user
		q := bad.Query()
		q.Set("connect_timeout", "5")
		bad.RawQuery = q.Encode()
		err := try(bad.String())
		if err == nil {
			t.Errorf("%s: connected as postgres; want the server to refuse", name)
		} else if !strings.Contains(err.Error(), "password authentication failed") && !strings.Contains(err.Error(), "28P01") {
			t.Errorf("%s: %v; want a password authentication failure", name, err)
		}
	}
	if pw, ok := u.User.Password(); !ok || len(pw) < 32 {
		t.Errorf("DSN %s: want a random password of at least 32 characters", redact.String(h.DSN))
	}
	for _, raw := range []string{h.URL, h.MigrateURL} {
		if hu, err := url.Parse(raw); err != nil || hu.User.String() != u.User.String() {
			t.Errorf("%s does not carry the DSN's password", redact.String(raw))
		}
	}
	for name, dsn := range map[string]string{"direct": h.DSN, "proxy": h.URL} {
		if err := try(dsn); err != nil {
			t.Errorf("%s with the handle's URL: %v", name, err)
		}
	}
}

// TestPostgresProcessNeedsThePassword: the process provider's cluster
// uses SCRAM with the run's password, not trust, and the password file
// initdb read is gone.
func TestPostgresProcessNeedsThePassword(t *testing.T) {
	tmp, h := testdb.Postgres(t)
	checkPostgresAuth(t, h)
	if m, _ := filepath.Glob(filepath.Join(tmp, "pg-*", "pwfile")); len(m) > 0 {
		t.Errorf("password file left behind: %v", m)
	}
	hba, err := os.ReadFile(filepath.Join(tmp, "pg-ordersdb", "data", "pg_hba.conf"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(hba), "\n") {
		if f := strings.Fields(line); len(f) > 0 && !strings.HasPrefix(f[0], "#") && f[len(f)-1] != "scram-sha-256" {
			t.Errorf("pg_hba.conf line %q: want scram-sha-256", line)
		}
	}
}

// TestDockerPostgresNeedsThePassword: the same for the PostgreSQL
// container, whose port is published on the host's loopback.
func TestDockerPostgresNeedsThePassword(t *testing.T) {
	needDocker(t)
	if _, err := process.FindPostgres(); err != nil {
		t.Fatalf("no PostgreSQL binaries to build the image from: %v", err)
	}
	prov, err := provider.New("docker", provider.Config{RunID: fmt.Sprintf("test-%d", time.Now().UnixNano()),
		RunDir: t.TempDir(), TempDir: t.TempDir(), CacheDir: t.TempDir(),
		BaseDirs: []string{filepath.Join(fixturesDir(t), "..")}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := prov.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	h, err := prov.StartDatabase(t.Context(), &scenarios.Database{Name: "ordersdb", Engine: scenarios.EnginePostgres})
	if err != nil {
		t.Fatalf("StartDatabase: %v", err)
	}
	checkPostgresAuth(t, h)
}
