// Package suite runs many drills as one suite: the nightly resilience run.
// It finds the scenario files of `drill run DIR|GLOB|FILE…`, selects them
// by tag and by shard, runs them side by side as far as the machine's CPU
// allows without starving any (a starved drill's verdict would measure the
// machine), retries failures and reports a verdict that changed as flaky,
// compares every drill with the same drill of a baseline suite, and
// returns a reports.Suite for the JUnit file and the suite index.
//
// The package knows nothing of the CLI: the command wires flags to
// Options and renders the result.
package suite

import (
	"cmp"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/drillhq/drill/scenarios"
)

// Found is one scenario file the arguments named, and how: a file named
// on its own is explicit (it runs even when a directory's scan would skip
// it, e.g. a game day).
type Found struct {
	File     string
	Explicit bool
}

// Find expands drill run's arguments into scenario files, as `go test`
// users expect of its package patterns:
//
//   - DIR is every *.yaml and *.yml file directly in DIR;
//   - DIR/... is every such file in DIR and below, except in directories
//     named testdata or starting with "." or "_" (Go's rule: testdata
//     holds fixtures, not scenarios);
//   - an argument with *, ? or [ is a glob (filepath.Match syntax);
//   - anything else is a file, run whatever its name.
//
// The files come out sorted and once each. An argument that matches
// nothing is an error: a typo must not make a suite pass by running
// nothing.
func Find(args []string) ([]Found, error) {
	seen := map[string]int{}
	var out []Found
	add := func(f string, explicit bool) {
		f = filepath.Clean(f)
		if i, ok := seen[f]; ok {
			out[i].Explicit = out[i].Explicit || explicit
			return
		}
		seen[f] = len(out)
		out = append(out, Found{File: f, Explicit: explicit})
	}
	var errs []string
	for _, arg := range args {
		files, explicit, err := expand(arg)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		if len(files) == 0 {
			errs = append(errs, fmt.Sprintf("%s: no scenario files (*.yaml, *.yml) there", arg))
			continue
		}
		for _, f := range files {
			add(f, explicit)
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	slices.SortFunc(out, func(a, b Found) int { return strings.Compare(a.File, b.File) })
	return out, nil
}

// expand is one argument's files.
func expand(arg string) (files []string, explicit bool, err error) {
	if root, ok := strings.CutSuffix(filepath.ToSlash(arg), "/..."); ok {
		files, err := walk(filepath.FromSlash(root))
		return files, false, err
	}
	if strings.ContainsAny(arg, "*?[") {
		matches, err := filepath.Glob(arg)
		if err != nil {
			return nil, false, fmt.Errorf("%s: %v", arg, err)
		}
		for _, m := range matches {
			if fi, err := os.Stat(m); err == nil && fi.Mode().IsRegular() && isScenario(m) {
				files = append(files, m)
			}
		}
		return files, false, nil
	}
	fi, err := os.Stat(arg)
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", arg, err)
	}
	if !fi.IsDir() {
		return []string{arg}, true, nil
	}
	entries, err := os.ReadDir(arg)
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", arg, err)
	}
	for _, e := range entries {
		if e.Type().IsRegular() && isScenario(e.Name()) {
			files = append(files, filepath.Join(arg, e.Name()))
		}
	}
	return files, false, nil
}

// walk is every scenario file under root, Go's skipped directories left out.
func walk(root string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if path != root && (name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Type().IsRegular() && isScenario(path) {
			files = append(files, path)
		}
		return nil
	})
	return files, err
}

func isScenario(name string) bool {
	ext := strings.ToLower(filepath.Ext(name))
	return ext == ".yaml" || ext == ".yml"
}

// Shard is one of N parts of a suite (--shard I/N), 1-based; the zero
// Shard is the whole suite.
type Shard struct{ I, N int }

// ParseShard reads I/N, 1 ≤ I ≤ N.
func ParseShard(s string) (Shard, error) {
	i, n, ok := strings.Cut(s, "/")
	a, err1 := strconv.Atoi(strings.TrimSpace(i))
	b, err2 := strconv.Atoi(strings.TrimSpace(n))
	if !ok || err1 != nil || err2 != nil || b < 1 || a < 1 || a > b {
		return Shard{}, fmt.Errorf("--shard %q: want I/N with 1 ≤ I ≤ N, e.g. 1/3", s)
	}
	return Shard{a, b}, nil
}

// String is I/N, or "" for the whole suite.
func (s Shard) String() string {
	if s.N == 0 {
		return ""
	}
	return fmt.Sprintf("%d/%d", s.I, s.N)
}

// Has reports whether the scenario file belongs to this shard. A file's
// shard depends on its path alone (an FNV-1a hash of it, slash-separated
// and cleaned), not on which other files the suite holds: the same drill
// lands in the same shard every night, on every CI machine, and adding a
// scenario moves no other. The price is balance: shards hold about, not
// exactly, the same number of drills.
func (s Shard) Has(file string) bool {
	if s.N <= 1 {
		return true
	}
	h := fnv.New64a()
	h.Write([]byte(filepath.ToSlash(filepath.Clean(file))))
	return int(h.Sum64()%uint64(s.N)) == s.I-1
}

// Tags selects drills by tag (--tags a,b,!c): a drill runs when it has at
// least one of the wanted tags (any drill, when none is wanted) and none
// of the excluded ones (!c).
type Tags struct{ Want, Not []string }

// ParseTags reads a comma-separated tag list; !tag excludes.
func ParseTags(s string) Tags {
	var t Tags
	for _, tag := range strings.Split(s, ",") {
		tag = strings.TrimSpace(tag)
		if not, ok := strings.CutPrefix(tag, "!"); ok && not != "" {
			t.Not = append(t.Not, not)
		} else if tag != "" && !ok {
			t.Want = append(t.Want, tag)
		}
	}
	return t
}

// Match reports whether a drill with tags is selected.
func (t Tags) Match(tags []string) bool {
	for _, n := range t.Not {
		if slices.Contains(tags, n) {
			return false
		}
	}
	if len(t.Want) == 0 {
		return true
	}
	for _, w := range t.Want {
		if slices.Contains(tags, w) {
			return true
		}
	}
	return false
}

// List is the tags as --tags takes them.
func (t Tags) List() []string {
	out := slices.Clone(t.Want)
	for _, n := range t.Not {
		out = append(out, "!"+n)
	}
	return out
}

// Select is the suite's drills, in the order found: the files of the
// shard that loaded (loaded, by path), with the tags, and every file of
// the shard that did not (problems, by path), whatever the tags say —
// an invalid file cannot say its tags and must not vanish from a suite.
// A game day whose judge does not act needs people: found through a
// directory or a glob it is skipped, named on its own it runs.
// providerName is --provider (empty: each scenario's own).
func Select(found []Found, shard Shard, loaded map[string]*scenarios.Scenario, problems map[string][]string, tags Tags, providerName string) []Drill {
	var drills []Drill
	for _, fd := range found {
		if !shard.Has(fd.File) {
			continue
		}
		sc := loaded[fd.File]
		if sc == nil {
			probs := problems[fd.File]
			if len(probs) == 0 {
				probs = []string{fd.File + ": did not load"}
			}
			drills = append(drills, Drill{File: fd.File, Problems: probs})
			continue
		}
		if !tags.Match(sc.Tags) {
			continue
		}
		d := Drill{File: fd.File, Scenario: sc,
			Need: Need(sc, cmp.Or(providerName, sc.Environment.Provider, scenarios.DefaultProvider))}
		if !fd.Explicit && !sc.GameDay.Acts() {
			d.Skip = "a game day whose judge does not act needs people: run it on its own, drill run " + fd.File
		}
		drills = append(drills, d)
	}
	return drills
}
