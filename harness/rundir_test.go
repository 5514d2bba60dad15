package harness

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/drillhq/drill/harness/ledger"
	"github.com/drillhq/drill/reports"
	"github.com/drillhq/drill/scenarios"
)

// TestRunDirIsPrivate: a run's directory is 0700 and its journal 0600, so
// other users of the machine read neither its timeline nor its logs.
func TestRunDirIsPrivate(t *testing.T) {
	d, err := newDrill(&scenarios.Scenario{Name: "modes"}, Options{OutDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		d.j.Close()
		os.RemoveAll(d.tmpDir)
	})
	for path, want := range map[string]os.FileMode{d.runDir: 0o700, filepath.Join(d.runDir, "journal.jsonl"): 0o600} {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", path, st.Mode().Perm(), want)
		}
	}
}

// TestRunFilesArePrivate: the ledger and every report file are 0600 in a
// 0700 directory (they were 0644 and 0755): they carry request bodies and
// details of a system that may be private.
func TestRunFilesArePrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	if err := reports.Write(dir, &reports.Report{SchemaVersion: reports.SchemaVersion, Scenario: "modes"}); err != nil {
		t.Fatal(err)
	}
	lw, err := ledger.Open(filepath.Join(dir, "ledger.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if err := lw.Close(); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, reports.FileName): 0o600, filepath.Join(dir, "ledger.jsonl"): 0o600} {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", path, st.Mode().Perm(), want)
		}
	}
}
