package docker

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/drillhq/drill/harness/provider"
	"github.com/drillhq/drill/harness/provider/internal/host"
	"github.com/drillhq/drill/harness/provider/process"
	"github.com/moby/moby/api/types/container"
	"github.com/testcontainers/testcontainers-go"
	tcnetwork "github.com/testcontainers/testcontainers-go/network"
)

// fixturesDir is the repository's fixtures folder, from this file.
func fixturesDir(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "fixtures")
}

// needDocker skips a docker test under -short. Without a Docker engine it
// fails: the docker provider is part of what the suite proves, so a
// machine without an engine must say so (DRILL_DOCKER=off) to skip it.
func needDocker(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds images and runs containers")
	}
	if os.Getenv("DRILL_DOCKER") == "off" {
		t.Skip("DRILL_DOCKER=off: docker provider tests not run")
	}
	if _, err := dockerClient(); err != nil {
		t.Fatalf("no Docker engine (set DRILL_DOCKER=off to skip the docker tests on purpose): %v", err)
	}
}

// TestEnsureImages builds the three images (`make images` runs this test),
// checks that a second call reuses the tag, and runs one container of each
// to its health over a port published on 127.0.0.1.
func TestEnsureImages(t *testing.T) {
	needDocker(t)
	if _, err := process.FindPostgres(); err != nil {
		t.Skipf("no PostgreSQL binaries to build the image from: %v", err)
	}
	ctx := context.Background()
	tags := map[string]string{}
	for _, name := range []string{"orders", "pricing", "postgres"} {
		start := time.Now()
		tag, err := ensureImage(ctx, name, filepath.Join(fixturesDir(t), name))
		if err != nil {
			var env *provider.EnvError
			if errors.As(err, &env) {
				t.Log(env.Hint)
			}
			t.Fatalf("ensureImage %s: %v", name, err)
		}
		first := time.Since(start)
		start = time.Now()
		again, err := ensureImage(ctx, name, filepath.Join(fixturesDir(t), name))
		if err != nil || again != tag {
			t.Fatalf("ensureImage %s again = %q, %v; want %q", name, again, err, tag)
		}
		t.Logf("%s: %s (first call %s, cached call %s)", name, tag, first.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
		tags[name] = tag
	}

	nw, err := tcnetwork.New(ctx, tcnetwork.WithLabels(map[string]string{"drill.test": t.Name()}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nw.Remove(context.Background()) })

	const pw = "images-test-password"
	pg := runTestContainer(t, nw, "pg", tags["postgres"], "5432/tcp", map[string]string{"POSTGRES_PASSWORD": pw})
	dsn := fmt.Sprintf("postgres://postgres:%s@%s/postgres?sslmode=disable&connect_timeout=1", pw, pg)
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var one int
	if err := host.PollUntil(ctx, 30*time.Second, func(ctx context.Context) error {
		return db.QueryRowContext(ctx, "SELECT 1").Scan(&one)
	}); err != nil {
		t.Fatalf("postgres container never answered SELECT 1 on %s: %v", pg, err)
	}

	pricing := runTestContainer(t, nw, "pricing", tags["pricing"], "8080/tcp", nil)
	waitHTTP200(t, "http://"+pricing+"/healthz")
	orders := runTestContainer(t, nw, "orders", tags["orders"], "8080/tcp", map[string]string{
		"PRICING_URL":  "http://pricing:8080",
		"DATABASE_URL": "postgres://postgres:" + pw + "@pg:5432/postgres?sslmode=disable",
	})
	waitHTTP200(t, "http://"+orders+"/healthz")
}

// runTestContainer starts image on nw under alias and returns the
// 127.0.0.1:port its port is published on; the container goes at cleanup.
func runTestContainer(t *testing.T, nw *testcontainers.DockerNetwork, alias, image, port string, env map[string]string) string {
	t.Helper()
	ctx := context.Background()
	c, err := testcontainers.GenericContainer(ctx, testcontainers.GenericContainerRequest{Started: true,
		ContainerRequest: testcontainers.ContainerRequest{
			Image: image, Env: env, ExposedPorts: []string{port},
			Labels:         map[string]string{"drill.test": t.Name()},
			Networks:       []string{nw.Name},
			NetworkAliases: map[string][]string{nw.Name: {alias}},
			HostConfigModifier: func(hc *container.HostConfig) {
				hc.PortBindings = loopbackBindings(port)
				init := true // docker-init forwards SIGTERM: a quick stop
				hc.Init = &init
			},
		}})
	t.Cleanup(func() {
		if c != nil {
			if err := c.Terminate(context.Background()); err != nil {
				t.Errorf("terminate %s: %v", alias, err)
			}
		}
	})
	if err != nil {
		t.Fatalf("start %s (%s): %v", alias, image, err)
	}
	mapped, err := c.MappedPort(ctx, port)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", mapped.Num())
}

func waitHTTP200(t *testing.T, url string) {
	t.Helper()
	client := &http.Client{Timeout: time.Second}
	err := host.PollUntil(context.Background(), 30*time.Second, func(ctx context.Context) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%s never answered 200: %v", url, err)
	}
}

func TestContextHashIgnoresBuildOutputs(t *testing.T) {
	dir := t.TempDir()
	write := func(rel, content string) {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("Dockerfile", "FROM scratch\n")
	write("Cargo.toml", "[package]\nname = \"x\"\n")
	h1, err := contextHash(dir)
	if err != nil {
		t.Fatal(err)
	}
	write("target/release/x", "binary")
	if h2, _ := contextHash(dir); h2 != h1 {
		t.Errorf("target/ changed the hash: %s != %s", h2, h1)
	}
	write("src/main.rs", "fn main() {}")
	if h3, _ := contextHash(dir); h3 == h1 {
		t.Errorf("a new source file left the hash at %s", h1)
	}
}

// TestStageRustBuildsInAPrivateCacheDir: the +crt-static build of a crate
// goes to the user's cache dir, 0700, and nothing under TMPDIR (it was
// /tmp/drill-cargo-static/<crate>, which any local user could create
// first and fill with objects for the image).
func TestStageRustBuildsInAPrivateCacheDir(t *testing.T) {
	if _, err := exec.LookPath("cargo"); err != nil {
		t.Skip("no cargo")
	}
	tmp, cache := t.TempDir(), t.TempDir()
	t.Setenv("TMPDIR", tmp)
	t.Setenv("XDG_CACHE_HOME", cache)
	crate := t.TempDir()
	for name, body := range map[string]string{
		"Cargo.toml":  "[package]\nname = \"drilltiny\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\n",
		"src/main.rs": "fn main() {}\n",
	} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(crate, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(crate, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	staging := t.TempDir()
	if err := stageRust(context.Background(), crate, staging); err != nil {
		var env *provider.EnvError
		if errors.As(err, &env) {
			t.Log(env.Hint)
		}
		t.Fatal(err)
	}
	if !host.FileExists(filepath.Join(staging, "drilltiny")) {
		t.Error("no binary staged")
	}
	if m, _ := filepath.Glob(filepath.Join(tmp, "*")); len(m) > 0 {
		t.Errorf("the build left %v under TMPDIR", m)
	}
	base := filepath.Join(cache, "drill", "cargo-static")
	st, err := os.Stat(base)
	if err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("%s: %v, %v; want a 0700 directory", base, st, err)
	}
	if !host.FileExists(filepath.Join(base, "drilltiny")) {
		t.Errorf("no target dir for the crate in %s", base)
	}
}

// TestCargoStaticDirIsPrivate: a cache dir that is group or
// world writable is made private; one that is a symlink is refused.
func TestCargoStaticDirIsPrivate(t *testing.T) {
	cache := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cache)
	base := filepath.Join(cache, "drill", "cargo-static")
	if err := os.MkdirAll(base, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(base, 0o777); err != nil {
		t.Fatal(err)
	}
	dir, done, err := cargoStaticDir("x")
	if err != nil {
		t.Fatal(err)
	}
	done()
	if st, err := os.Stat(base); err != nil || st.Mode().Perm() != 0o700 || filepath.Dir(dir) != base {
		t.Errorf("cargoStaticDir = %s; %s mode %v, %v; want it private", dir, base, st.Mode().Perm(), err)
	}
	if err := os.RemoveAll(base); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(t.TempDir(), base); err != nil {
		t.Fatal(err)
	}
	if _, _, err := cargoStaticDir("x"); err == nil {
		t.Errorf("cargoStaticDir accepted %s, a symlink", base)
	}
}
