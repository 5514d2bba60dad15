package scenarios

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fileScenario is a scenario whose build and migration paths the tests
// point at real temp dirs. Line numbers matter: the tests assert the
// positions of build: (line 9, column 14) and of the versions'
// migration: (lines 11-12, column 25); a migrations: added after build:
// is line 10 and moves the versions down one line.
const fileScenario = `version: 1
name: files
environment:
  databases:
    db: {engine: sqlite}
  services:
    api:
      database: db
      build: BUILD
      versions:
        v1: {migration: 1}
        v2: {migration: MIG2}
load:
  target: api
  rate: 10/s
  requests:
    - path: /
rollout:
  service: api
  to: v2
  steps:
    - {weight: 50%, hold: 1s}
`

// repo lays out a repository in a temp dir: files maps a relative path to
// its content (a path ending in / is an empty directory). It returns the
// root.
func repo(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		p := filepath.Join(root, name)
		if strings.HasSuffix(name, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// fixture is a buildable Go service with migrations 1 and 2, one folder
// per engine as the shipped orders fixture has them.
var fixture = map[string]string{
	"svc/main.go":                           "package main\n",
	"svc/migrations/sqlite/1_init.up.sql":   "CREATE TABLE t (id int);",
	"svc/migrations/sqlite/1_init.down.sql": "DROP TABLE t;",
	"svc/migrations/sqlite/2_more.up.sql":   "ALTER TABLE t ADD COLUMN c int;",
	"scenarios/":                            "",
}

// loadIn writes the scenario with its replacements into root/scenarios
// and loads it.
func loadIn(t *testing.T, root string, pairs ...string) *Scenario {
	t.Helper()
	s := fileScenario
	for i := 0; i+1 < len(pairs); i += 2 {
		if !strings.Contains(s, pairs[i]) {
			t.Fatalf("%q not in the scenario", pairs[i])
		}
		s = strings.Replace(s, pairs[i], pairs[i+1], 1)
	}
	path := filepath.Join(root, "scenarios", "files.yaml")
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	sc, err := Load(path)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return sc
}

func fileProblems(t *testing.T, sc *Scenario, wd string) Problems {
	t.Helper()
	err := sc.FileProblems(wd)
	if err == nil {
		return nil
	}
	var ps Problems
	if !errors.As(err, &ps) {
		t.Fatalf("FileProblems: %v, want Problems", err)
	}
	return ps
}

// wantProblem finds the one problem at line:col whose message holds msg.
func wantProblem(t *testing.T, ps Problems, line, col int, msg, hint string) {
	t.Helper()
	for _, p := range ps {
		if p.Pos.Line == line && p.Pos.Col == col && strings.Contains(p.Msg, msg) {
			if !strings.Contains(p.Hint, hint) {
				t.Errorf("%s: hint %q, want it to hold %q", p.Pos, p.Hint, hint)
			}
			if !strings.HasSuffix(p.Pos.File, "files.yaml") {
				t.Errorf("%s: want the scenario's file", p.Pos)
			}
			return
		}
	}
	t.Errorf("no problem at %d:%d holding %q in\n%v", line, col, msg, ps)
}

func TestFileProblemsNoneForAGoodScenario(t *testing.T) {
	root := repo(t, fixture)
	if ps := fileProblems(t, loadIn(t, root, "BUILD", "svc", "MIG2", "2"), t.TempDir()); ps != nil {
		t.Errorf("want none, got\n%v", ps)
	}
}

func TestFileProblemsBuildDirMissing(t *testing.T) {
	root := repo(t, fixture)
	ps := fileProblems(t, loadIn(t, root, "BUILD", "no/such/dir", "MIG2", "1"), t.TempDir())
	wantProblem(t, ps, 9, 14, `service "api": build directory "no/such/dir" not found`, "each folder above it, then in the working directory")
	// The default migrations directory (build + /migrations) is missing
	// too: said at each migration: that needs it.
	wantProblem(t, ps, 11, 25, `version "v1": migration: 1, but the default migrations directory "no/such/dir/migrations"`, "set the service's migrations: DIR")
	wantProblem(t, ps, 12, 25, `version "v2": migration: 1, but the default migrations directory`, "")
	if len(ps) != 3 {
		t.Errorf("want 3 problems, got\n%v", ps)
	}
}

// A version's own build: is checked at its own position; the service's
// is not reported when no version runs it.
func TestFileProblemsVersionBuild(t *testing.T) {
	root := repo(t, fixture)
	sc := loadIn(t, root, "BUILD", "svc", "{migration: MIG2}", "{migration: 2, build: svc-v2}")
	ps := fileProblems(t, sc, t.TempDir())
	wantProblem(t, ps, 12, 35, `service "api" version "v2": build directory "svc-v2" not found`, "")
	if len(ps) != 1 {
		t.Errorf("want 1 problem, got\n%v", ps)
	}
}

func TestFileProblemsNothingToBuild(t *testing.T) {
	root := repo(t, map[string]string{"empty/migrations/1_a.up.sql": "", "empty/migrations/2_b.up.sql": "", "scenarios/": ""})
	ps := fileProblems(t, loadIn(t, root, "BUILD", "empty", "MIG2", "2"), t.TempDir())
	wantProblem(t, ps, 9, 14, `build directory "empty" (`+filepath.Join(root, "empty")+`) holds nothing to build`, "Cargo.toml")
	if len(ps) != 1 {
		t.Errorf("want 1 problem, got\n%v", ps)
	}
}

func TestFileProblemsMigrationWithoutFile(t *testing.T) {
	root := repo(t, fixture)
	ps := fileProblems(t, loadIn(t, root, "BUILD", "svc", "MIG2", "7"), t.TempDir())
	dir := filepath.Join(root, "svc", "migrations", "sqlite")
	wantProblem(t, ps, 12, 25, `service "api" version "v2": no migration 7 in `+dir+` (the sqlite folder, for the sqlite database db)`,
		"migrations there: 1, 2; add 7_title.up.sql")
	if len(ps) != 1 {
		t.Errorf("want 1 problem, got\n%v", ps)
	}
}

// A down file alone is no migration: golang-migrate needs the up file.
func TestFileProblemsDownFileOnly(t *testing.T) {
	files := map[string]string{"svc/main.go": "package main\n", "svc/migrations/1_a.up.sql": "", "svc/migrations/2_b.down.sql": "", "scenarios/": ""}
	ps := fileProblems(t, loadIn(t, repo(t, files), "BUILD", "svc", "MIG2", "2"), t.TempDir())
	wantProblem(t, ps, 12, 25, "no migration 2 in", "migrations there: 1, 2")
}

func TestFileProblemsNoMigrationFiles(t *testing.T) {
	root := repo(t, map[string]string{"svc/main.go": "package main\n", "svc/migrations/README": "nothing here", "scenarios/": ""})
	ps := fileProblems(t, loadIn(t, root, "BUILD", "svc", "MIG2", "2"), t.TempDir())
	wantProblem(t, ps, 11, 25, `version "v1": migration: 1, but `+filepath.Join(root, "svc", "migrations")+" holds no migration files", "1_create_orders.up.sql")
	wantProblem(t, ps, 12, 25, `version "v2": migration: 2, but`, "")
	if len(ps) != 2 {
		t.Errorf("want 2 problems, got\n%v", ps)
	}
}

// An explicit migrations: that is not there is said once, where it is
// written.
func TestFileProblemsMigrationsDirMissing(t *testing.T) {
	root := repo(t, fixture)
	sc := loadIn(t, root, "BUILD", "svc\n      migrations: db/migrations", "MIG2", "2")
	ps := fileProblems(t, sc, t.TempDir())
	wantProblem(t, ps, 10, 19, `service "api": migrations: "db/migrations" not found`, "each folder above it")
	if len(ps) != 1 {
		t.Errorf("want 1 problem, got\n%v", ps)
	}
}

// Relative paths are found as a run finds them: from the scenario's
// folder upwards, then the working directory.
func TestFileProblemsLookupFromWorkingDirectory(t *testing.T) {
	elsewhere := repo(t, map[string]string{"scenarios/": ""})
	sc := loadIn(t, elsewhere, "BUILD", "svc", "MIG2", "2")
	if ps := fileProblems(t, sc, t.TempDir()); len(ps) == 0 {
		t.Fatalf("svc found though neither the scenario's folders nor the working directory hold it")
	}
	if ps := fileProblems(t, sc, repo(t, fixture)); ps != nil {
		t.Errorf("svc in the working directory: want no problem, got\n%v", ps)
	}
}

// Preflight merges the provider's problems with the files', sorted.
func TestPreflightMergesProblems(t *testing.T) {
	root := repo(t, fixture)
	sc := loadIn(t, root, "BUILD", "gone", "MIG2", "2")
	err := sc.Preflight("nope", map[string]ProviderCaps{"process": {Build: true}}, t.TempDir())
	var ps Problems
	if !errors.As(err, &ps) {
		t.Fatalf("Preflight: %v, want Problems", err)
	}
	if len(ps) < 2 || !strings.Contains(ps[0].Msg, `unknown provider "nope"`) || !strings.Contains(ps[1].Msg, `build directory "gone" not found`) {
		t.Errorf("want the unknown provider (line 3) then the build dir (line 9), got\n%v", ps)
	}
}

// The shipped scenarios need nothing that is not in the repository, and
// draw no warning: they are what people copy, and a demo that warns
// teaches them to ignore warnings.
func TestFileProblemsShippedScenarios(t *testing.T) {
	files, _ := filepath.Glob("*.yaml")
	more, _ := filepath.Glob("bench/*.yaml")
	for _, f := range append(files, more...) {
		sc, err := Load(f)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if err := sc.FileProblems(t.TempDir()); err != nil {
			t.Errorf("%s:\n%v", f, err)
		}
		if len(sc.Warnings) > 0 {
			t.Errorf("%s: warnings:\n%v", f, sc.Warnings)
		}
	}
}
