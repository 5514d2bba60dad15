package docker

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drillhq/drill/harness/provider"
	"github.com/drillhq/drill/scenarios"
)

// TestDockerRunKeepsLogs runs a PostgreSQL container and two pricing
// containers, kills one of them (a process fault) and closes the provider.
// A docker run's directory used to have no logs/; now each container's
// output is there under the process provider's names (pricing-v1.log,
// postgres-<db>.log), saved before the container is removed, in a 0700
// directory as 0600 files.
func TestDockerRunKeepsLogs(t *testing.T) {
	needDocker(t)
	ctx := context.Background()
	root := filepath.Join(fixturesDir(t), "..")
	runID := fmt.Sprintf("test-logs-%d", time.Now().UnixNano())
	runDir := t.TempDir()
	var log bytes.Buffer
	prov, err := provider.New("docker", provider.Config{RunID: runID, RunDir: runDir, TempDir: t.TempDir(),
		CacheDir: t.TempDir(), BaseDirs: []string{root}, Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			_ = prov.Close(context.Background())
		}
		t.Log(log.String())
	})
	db := &scenarios.Database{Name: "logsdb", Engine: scenarios.EnginePostgres}
	pricing := &scenarios.Service{Name: "pricing", Build: "fixtures/pricing", Health: "/healthz",
		Versions: []*scenarios.Version{{Name: "v1"}, {Name: "v2"}}}
	sc := &scenarios.Scenario{Environment: scenarios.Environment{Provider: "docker",
		Databases: []*scenarios.Database{db}, Services: []*scenarios.Service{pricing}}}
	if err := prov.Build(ctx, sc); err != nil {
		t.Fatalf("Build: %v", err)
	}
	if _, err := prov.StartDatabase(ctx, db); err != nil {
		t.Fatalf("StartDatabase: %v", err)
	}
	var insts []provider.Instance
	for _, v := range pricing.Versions {
		inst, err := prov.StartInstance(ctx, provider.InstanceSpec{Service: pricing, Version: v,
			Env: map[string]string{"DRILL_SERVICE": "pricing", "DRILL_VERSION": v.Name}})
		if err != nil {
			t.Fatalf("StartInstance %s: %v", v.Name, err)
		}
		insts = append(insts, inst)
	}
	if err := insts[0].Kill(); err != nil {
		t.Fatal(err)
	}
	closed = true
	if err := prov.Close(ctx); err != nil {
		t.Errorf("Close: %v", err)
	}
	if left := runLeftovers(ctx, runID); len(left) != 0 {
		t.Errorf("left after Close: %v", left)
	}

	logDir := filepath.Join(runDir, "logs")
	if fi, err := os.Stat(logDir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("logs dir: %v, %v; want a 0700 directory", fi, err)
	}
	for file, want := range map[string]string{
		"pricing-v1.log":      "pricing: listening on",
		"pricing-v2.log":      "pricing: listening on",
		"postgres-logsdb.log": "database system is ready",
	} {
		path := filepath.Join(logDir, file)
		fi, err := os.Stat(path)
		if err != nil {
			t.Errorf("%s: %v", file, err)
			continue
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", file, fi.Mode().Perm())
		}
		b, _ := os.ReadFile(path)
		if !strings.Contains(string(b), want) {
			t.Errorf("%s does not hold %q:\n%s", file, want, b)
		}
	}
}
