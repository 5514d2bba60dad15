package scenarios

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/golang-migrate/migrate/v4/source"
	"github.com/golang-migrate/migrate/v4/source/iofs"
)

// The loader reads one file and never looks at the disk around it, so a
// scenario can be valid and still fail the moment a run builds or
// migrates: a build: directory that is not there, a migration: N without
// its file. FileProblems finds those before anything starts. It looks
// things up exactly as a run does (harness/system.go's baseDirs and
// migrator, harness/provider/internal/host.ResolveDir, and golang-migrate's
// file source as harness/dbcheck opens it); if the run's lookup changes,
// this must follow.
//
// Env placeholders need no check here: every ${…} an env value may hold
// (${services.NAME.url}, ${databases.NAME.url}, ${flags.url}) names
// something of the scenario itself, and the loader already refuses the
// ones that name nothing; there is no placeholder that reads the host.

// FileProblems reports, at the position of the value that names it,
// every file a run of the scenario needs and would not find:
//
//   - a build: directory (a service's or a version's) that does not exist
//     or holds nothing to build (no Go files, Cargo.toml or Dockerfile);
//   - a migrations directory that does not exist or holds no migration
//     files, for a service whose versions name a migration;
//   - a version's migration: N without an up file for N there.
//
// Relative paths are looked up as a run looks them up: from the
// scenario's folder upwards, then wd, the working directory the run will
// have ("" means this process's). The result is nil or Problems, sorted;
// it is meant for `drill validate` and for anything else that vets a
// scenario before running it (a suite runner).
func (sc *Scenario) FileProblems(wd string) error {
	if wd == "" {
		wd, _ = os.Getwd()
	}
	bases := SearchDirs(sc.Path, wd)
	var ps Problems
	for _, s := range sc.Environment.Services {
		ps = append(ps, sc.buildProblems(s, bases)...)
		ps = append(ps, sc.migrationProblems(s, bases)...)
	}
	if len(ps) == 0 {
		return nil
	}
	return ps.sorted()
}

// SearchDirs are the folders a run looks up a relative build: or
// migrations: path in, in order: the scenario's folder and each of its
// parents (scenarios usually live in a repository's scenarios/ folder),
// then wd. A run looks them up here too (the harness's baseDirs), so
// validate and run cannot disagree.
func SearchDirs(scenarioPath, wd string) []string {
	var dirs []string
	if scenarioPath != "" {
		dir, _ := filepath.Abs(filepath.Dir(scenarioPath))
		for {
			dirs = append(dirs, dir)
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	if wd != "" {
		dirs = append(dirs, wd)
	}
	return dirs
}

// lookupHint says where a relative path was looked for, short enough to
// read: the scenario's folder stands for its whole line of parents.
func lookupHint(bases []string) string {
	if len(bases) < 2 {
		return "relative paths are looked up from the scenario's folder upwards, then in the working directory"
	}
	return fmt.Sprintf("relative paths are looked up in %s and each folder above it, then in the working directory %s; "+
		"paths in the shipped scenarios are relative to the repository root", bases[0], bases[len(bases)-1])
}

// buildProblems checks every build: directory a version of s runs:
// the service's (reported once, where it is written) unless every
// version overrides it, and each version's own.
func (sc *Scenario) buildProblems(s *Service, bases []string) Problems {
	var ps Problems
	serviceChecked := false
	for _, v := range s.Versions {
		dir, pos, what := v.Build, v.BuildPos, fmt.Sprintf("service %q version %q", s.Name, v.Name)
		if dir == "" {
			if s.Program(v).Build == "" || serviceChecked {
				continue
			}
			serviceChecked = true
			dir, pos, what = s.Build, s.BuildPos, fmt.Sprintf("service %q", s.Name)
		}
		if p, bad := checkBuildDir(dir, bases); bad {
			p.Pos, p.Msg = pos, what+": "+p.Msg
			ps = append(ps, p)
		}
	}
	return ps
}

// checkBuildDir resolves dir as host.ResolveDir does (an absolute path as
// it is; a relative one in the first base holding it as a directory) and
// says what is wrong with it; the caller sets the position.
func checkBuildDir(dir string, bases []string) (Problem, bool) {
	abs := dir
	if !filepath.IsAbs(dir) {
		abs = ""
		for _, base := range bases {
			cand := filepath.Join(base, dir)
			if st, err := os.Stat(cand); err == nil && st.IsDir() {
				abs = cand
				break
			}
		}
		if abs == "" {
			return Problem{Msg: fmt.Sprintf("build directory %q not found", dir),
				Hint: lookupHint(bases)}, true
		}
	} else if st, err := os.Stat(abs); err != nil || !st.IsDir() {
		return Problem{Msg: fmt.Sprintf("build directory %q not found", dir),
			Hint: "build: names a directory holding a Go package, a Cargo project or a Dockerfile"}, true
	}
	goFiles, _ := filepath.Glob(filepath.Join(abs, "*.go"))
	if len(goFiles) == 0 && !isFile(filepath.Join(abs, "Cargo.toml")) && !isFile(filepath.Join(abs, "Dockerfile")) {
		// The process provider builds Go files or a Cargo.toml, the docker
		// provider a Dockerfile: with none of them no provider can build it.
		return Problem{Msg: fmt.Sprintf("build directory %q (%s) holds nothing to build", dir, abs),
			Hint: "a build: directory holds a Go package (*.go) or a Cargo project (Cargo.toml) for the process provider, a Dockerfile for the docker provider"}, true
	}
	return Problem{}, false
}

// migrationProblems checks that every migration: N of s's versions has
// its up file in s's migrations directory, found as the harness's
// migrator finds it.
func (sc *Scenario) migrationProblems(s *Service, bases []string) Problems {
	var versions []*Version
	for _, v := range s.Versions {
		if v.Migration > 0 {
			versions = append(versions, v)
		}
	}
	if s.Database == "" || s.Migrations == "" || len(versions) == 0 {
		return nil
	}
	// A relative directory found in no base is missing: the harness would
	// then try it from its own working directory, which is the last base.
	dir, found := s.Migrations, filepath.IsAbs(s.Migrations)
	for _, base := range bases {
		if !found && exists(filepath.Join(base, dir)) {
			dir, found = filepath.Join(base, dir), true
		}
	}
	// The harness's rule: engines rarely share DDL, so a migrations
	// directory may hold one folder per engine (sqlite/, postgres/).
	engine := ""
	if db := sc.Environment.Database(s.Database); db != nil {
		engine = db.Engine
		if engine != "" && exists(filepath.Join(dir, engine)) {
			dir = filepath.Join(dir, engine)
		}
	}
	where := func() string {
		if s.MigrationsPos != (Pos{}) {
			return fmt.Sprintf("migrations: %q", s.Migrations)
		}
		return fmt.Sprintf("the default migrations directory %q (build: + /migrations)", s.Migrations)
	}
	// every reports one problem per version that names a migration, at its
	// migration: value: that is what fails when the version is deployed.
	every := func(msg func(v *Version) string, hint string) Problems {
		var ps Problems
		for _, v := range versions {
			ps = append(ps, Problem{Pos: v.MigrationPos, Msg: msg(v), Hint: hint})
		}
		return ps
	}
	st, err := os.Stat(dir)
	if !found || err != nil || !st.IsDir() {
		msg := fmt.Sprintf("service %q: %s not found", s.Name, where())
		hint := lookupHint(bases) + "; golang-migrate files are N_title.up.sql and N_title.down.sql"
		if s.MigrationsPos != (Pos{}) {
			// Written once: said once, where it is written.
			return Problems{{Pos: s.MigrationsPos, Msg: msg, Hint: hint}}
		}
		return every(func(v *Version) string {
			return fmt.Sprintf("service %q version %q: migration: %d, but %s does not exist", s.Name, v.Name, v.Migration, where())
		}, "set the service's migrations: DIR, or put golang-migrate files in "+s.Migrations)
	}
	src, err := iofs.New(os.DirFS(dir), ".")
	if err != nil {
		// A duplicate version (two 2_*.up.sql): golang-migrate refuses the
		// whole directory, so every migration of the service fails.
		var dup source.ErrDuplicateMigration
		hint := "golang-migrate files are N_title.up.sql and N_title.down.sql, one of each per version"
		if errors.As(err, &dup) {
			hint = fmt.Sprintf("two files are version %d (one is %s): keep one", dup.Version, dup.FileInfo.Name())
		}
		return every(func(v *Version) string {
			return fmt.Sprintf("service %q version %q: migration: %d, but the migrations in %s cannot be read: %v", s.Name, v.Name, v.Migration, dir, err)
		}, hint)
	}
	defer src.Close()
	var have []string
	for n, err := src.First(); err == nil; n, err = src.Next(n) {
		have = append(have, fmt.Sprint(n))
	}
	if len(have) == 0 {
		return every(func(v *Version) string {
			return fmt.Sprintf("service %q version %q: migration: %d, but %s holds no migration files", s.Name, v.Name, v.Migration, dir)
		}, "golang-migrate files are N_title.up.sql and N_title.down.sql, e.g. 1_create_orders.up.sql")
	}
	var ps Problems
	for _, v := range versions {
		r, _, err := src.ReadUp(v.Migration)
		if err == nil {
			r.Close()
			continue
		}
		sub := ""
		if engine != "" && filepath.Base(dir) == engine {
			sub = " (the " + engine + " folder, for the " + engine + " database " + s.Database + ")"
		}
		ps = append(ps, Problem{Pos: v.MigrationPos,
			Msg: fmt.Sprintf("service %q version %q: no migration %d in %s%s", s.Name, v.Name, v.Migration, dir, sub),
			Hint: fmt.Sprintf("migrations there: %s; add %d_title.up.sql (and its .down.sql) or name one of them",
				strings.Join(have, ", "), v.Migration)})
	}
	return ps
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func isFile(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}

// Preflight is everything a run on the provider called providerName
// would refuse, found before it starts: ProviderProblems and
// FileProblems (wd as there), merged into one sorted Problems (or nil).
// known holds every registered provider's capabilities.
func (sc *Scenario) Preflight(providerName string, known map[string]ProviderCaps, wd string) error {
	var ps Problems
	for _, err := range []error{sc.ProviderProblems(providerName, known), sc.FileProblems(wd)} {
		var more Problems
		if errors.As(err, &more) {
			ps = append(ps, more...)
		} else if err != nil {
			return err
		}
	}
	if len(ps) == 0 {
		return nil
	}
	return ps.sorted()
}
