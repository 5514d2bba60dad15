package harness

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/drillhq/drill/harness/provider/docker"
	_ "github.com/drillhq/drill/harness/provider/process"
)

// The drills these tests run start real processes and containers through
// the registered providers, as the CLI does (the imports register them).

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
	if err := docker.Available(); err != nil {
		t.Fatalf("no Docker engine (set DRILL_DOCKER=off to skip the docker tests on purpose): %v", err)
	}
}

// fixturesDir is the repository's fixtures folder, from this file.
func fixturesDir(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "fixtures")
}
