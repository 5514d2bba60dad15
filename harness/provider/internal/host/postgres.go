package host

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/drillhq/drill/harness/provider"
	"github.com/drillhq/drill/harness/redact"
	_ "github.com/jackc/pgx/v5/stdlib" // the pgx database/sql driver
)

// PGStartTimeout bounds initdb plus the server getting ready.
const PGStartTimeout = 60 * time.Second

// PGURL is a libpq URL for the database on addr, as the postgres user
// with the run's password.
func PGURL(addr, dbName, password string) string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword("postgres", password), Host: addr, Path: "/" + dbName, RawQuery: "sslmode=disable"}
	return u.String()
}

// NewPGPassword returns a random password for one run's PostgreSQL and
// registers it as a secret, so it is redacted from everything drill
// writes. Hex: it needs no escaping in a URL, a file or SQL.
func NewPGPassword() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	pw := hex.EncodeToString(b[:])
	redact.Register(pw)
	return pw, nil
}

// PGStopGrace is how long a fast shutdown may take before the server is
// killed.
const PGStopGrace = 10 * time.Second

// HealthTimeout bounds how long an instance may take to answer its health
// path; a service slower than this is an environment problem.
const HealthTimeout = 30 * time.Second

// PingPostgres says whether the server at addr accepts the password.
func PingPostgres(ctx context.Context, addr, password string) error {
	db, err := sql.Open("pgx", PGURL(addr, "postgres", password)+"&connect_timeout=1")
	if err != nil {
		return err
	}
	defer db.Close()
	return db.PingContext(ctx)
}

// CreateDatabase creates database name on the server at addr and opens
// its first session.
func CreateDatabase(ctx context.Context, addr, password, name string) error {
	db, err := sql.Open("pgx", PGURL(addr, "postgres", password))
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `CREATE DATABASE "`+strings.ReplaceAll(name, `"`, `""`)+`"`); err != nil {
		return &provider.EnvError{What: fmt.Sprintf("create database %q", name), Err: err}
	}
	// The first session of a new database builds its relation cache file
	// (several times a later connection's cost): pay that here, before the
	// drill's clock starts, not in the services' first requests.
	warm, err := sql.Open("pgx", PGURL(addr, name, password))
	if err != nil {
		return err
	}
	defer warm.Close()
	if err := warm.PingContext(ctx); err != nil {
		return &provider.EnvError{What: fmt.Sprintf("connect to database %q", name), Err: err}
	}
	return nil
}

// PostgresBinEnv names the environment variable that points drill at a
// directory holding initdb and postgres, ahead of every other place.
const PostgresBinEnv = "DRILL_PG_BIN"

// PostgresInstallHint is how to get PostgreSQL where it is missing.
const PostgresInstallHint = "install PostgreSQL's server binaries (Debian/Ubuntu: apt-get install -y postgresql; " +
	"they land in /usr/lib/postgresql/<version>/bin), or set " + PostgresBinEnv + " to the directory holding initdb and postgres"

// FindPostgres returns the directory holding PostgreSQL's initdb and
// postgres: $DRILL_PG_BIN, then `pg_config --bindir`, then the newest
// /usr/lib/postgresql/*/bin, then PATH. A missing server is a *provider.EnvError
// saying how to get one.
func FindPostgres() (string, error) {
	ok := func(dir string) bool {
		return dir != "" && FileExists(filepath.Join(dir, "initdb")) && FileExists(filepath.Join(dir, "postgres"))
	}
	if dir := os.Getenv(PostgresBinEnv); dir != "" {
		if ok(dir) {
			return dir, nil
		}
		return "", &provider.EnvError{What: fmt.Sprintf("%s=%s holds no initdb and postgres", PostgresBinEnv, dir), Hint: PostgresInstallHint}
	}
	var tried []string
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		dir := strings.TrimSpace(string(out))
		if ok(dir) {
			return dir, nil
		}
		tried = append(tried, dir+" (pg_config --bindir)")
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	// Newest major version first: 16 before 9.6, numerically.
	sort.Slice(matches, func(i, j int) bool { return PGMajor(matches[i]) > PGMajor(matches[j]) })
	for _, dir := range matches {
		if ok(dir) {
			return dir, nil
		}
	}
	tried = append(tried, "/usr/lib/postgresql/*/bin")
	if p, err := exec.LookPath("initdb"); err == nil && ok(filepath.Dir(p)) {
		return filepath.Dir(p), nil
	}
	tried = append(tried, "PATH")
	return "", &provider.EnvError{What: "PostgreSQL is not installed: no initdb and postgres found in " + strings.Join(tried, ", "),
		Hint: PostgresInstallHint}
}

func PGMajor(binDir string) float64 {
	v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(binDir)), 64)
	return v
}
