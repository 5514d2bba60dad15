package main

import (
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/drillhq/drill/reports"
)

// TestShippedTemplateCanary: the canary template as `drill init` writes
// it runs unchanged as a real drill, from the repository root, and passes
// as a shipped scenario does. Process provider only: the subject is the
// template, which the other drills already cover on docker. It is short
// on purpose (about 15 s: 2 s warm-up, 5 s steady state, caught within
// seconds of the first step).
func TestShippedTemplateCanary(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end drill; skipped with -short")
	}
	dir := t.TempDir()
	if out, err := exec.Command(drillBin, "init", "template-canary", "--dir", dir).CombinedOutput(); err != nil {
		t.Fatalf("drill init: %v\n%s", err, out)
	}
	shippedScenario(t, "process", filepath.Join(dir, "template-canary.yaml"), reports.OutcomeRolledBack, nil)
}
