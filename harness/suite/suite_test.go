package suite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drillhq/drill/harness"
	"github.com/drillhq/drill/reports"
	"github.com/drillhq/drill/scenarios"
)

func write(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("version: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func files(fs []Found) []string {
	var out []string
	for _, f := range fs {
		out = append(out, filepath.ToSlash(f.File))
	}
	return out
}

// TestFind: a directory is its own *.yaml and *.yml, DIR/... goes down but
// not into testdata, .hidden or _private, a glob matches, a file is taken
// as is and is explicit; every file once, sorted; a miss is an error.
func TestFind(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	for _, f := range []string{"s/a.yaml", "s/b.yml", "s/notes.txt", "s/sub/c.yaml", "s/testdata/bad.yaml",
		"s/.hidden/d.yaml", "s/_wip/e.yaml", "x.yaml"} {
		write(t, f)
	}
	for _, tt := range []struct {
		args []string
		want []string
	}{
		{[]string{"s"}, []string{"s/a.yaml", "s/b.yml"}},
		{[]string{"s/..."}, []string{"s/a.yaml", "s/b.yml", "s/sub/c.yaml"}},
		{[]string{"s/*.yaml"}, []string{"s/a.yaml"}},
		{[]string{"x.yaml", "s/", "./s/a.yaml"}, []string{"s/a.yaml", "s/b.yml", "x.yaml"}},
		{[]string{"s/testdata/bad.yaml"}, []string{"s/testdata/bad.yaml"}},
	} {
		got, err := Find(tt.args)
		if err != nil || !slices.Equal(files(got), tt.want) {
			t.Errorf("Find(%q) = %v, %v; want %v", tt.args, files(got), err, tt.want)
		}
	}
	got, _ := Find([]string{"s", "./s/a.yaml"})
	for _, f := range got {
		if f.Explicit != (f.File == "s/a.yaml") {
			t.Errorf("%s: explicit %v", f.File, f.Explicit)
		}
	}
	for _, args := range [][]string{{"nope"}, {"s/*.json"}, {"s", "nope/..."}} {
		if _, err := Find(args); err == nil {
			t.Errorf("Find(%q): no error for an argument that matches nothing", args)
		}
	}
}

// TestShards: every file lands in exactly one of N shards, the same one
// whatever else the suite holds.
func TestShards(t *testing.T) {
	var all []string
	for i := range 200 {
		all = append(all, fmt.Sprintf("scenarios/drill-%03d.yaml", i))
	}
	for _, n := range []int{1, 2, 3, 7} {
		count := map[string]int{}
		sizes := make([]int, n)
		for i := 1; i <= n; i++ {
			for _, f := range all {
				if (Shard{i, n}).Has(f) {
					count[f]++
					sizes[i-1]++
				}
			}
		}
		for _, f := range all {
			if count[f] != 1 {
				t.Errorf("%d shards: %s in %d of them", n, f, count[f])
			}
		}
		for i, s := range sizes {
			if s == 0 {
				t.Errorf("%d shards: shard %d empty of 200 files", n, i+1)
			}
		}
	}
	// The path is cleaned: ./a and a are the same drill.
	if (Shard{1, 3}).Has("./scenarios/x.yaml") != (Shard{1, 3}).Has("scenarios/x.yaml") {
		t.Error("./scenarios/x.yaml and scenarios/x.yaml in different shards")
	}
	for _, bad := range []string{"0/3", "4/3", "1/0", "a/b", "1", "-1/2"} {
		if _, err := ParseShard(bad); err == nil {
			t.Errorf("ParseShard(%q): no error", bad)
		}
	}
	if s, err := ParseShard("2/3"); err != nil || s != (Shard{2, 3}) || s.String() != "2/3" {
		t.Errorf("ParseShard(2/3) = %v, %v", s, err)
	}
}

func TestTags(t *testing.T) {
	tags := ParseTags("nightly, canary,!slow")
	for _, tt := range []struct {
		has  []string
		want bool
	}{
		{[]string{"nightly"}, true},
		{[]string{"canary", "x"}, true},
		{[]string{"nightly", "slow"}, false},
		{[]string{"other"}, false},
		{nil, false},
	} {
		if got := tags.Match(tt.has); got != tt.want {
			t.Errorf("%v.Match(%v) = %v", tags, tt.has, got)
		}
	}
	if !ParseTags("").Match(nil) || ParseTags("!x").Match([]string{"x"}) || !ParseTags("!x").Match([]string{"y"}) {
		t.Error("no --tags must match every drill; !x only excludes")
	}
	if got := tags.List(); !slices.Equal(got, []string{"nightly", "canary", "!slow"}) {
		t.Errorf("List = %v", got)
	}
}

// fake is a RunFunc whose reports follow a script per scenario: one
// result letter per attempt (p pass, f fail, s starved pass, t runs until
// the context ends). It records how much need ran at once.
type fake struct {
	mu      sync.Mutex
	script  map[string]string
	calls   map[string]int
	running float64
	peak    float64
	active  int
	most    int
	need    map[string]float64
	hold    time.Duration
}

func (f *fake) run(ctx context.Context, sc *scenarios.Scenario, attempt int) (*reports.Report, error) {
	f.mu.Lock()
	f.calls[sc.Name]++
	step := f.script[sc.Name][attempt-1]
	f.running += f.need[sc.Name]
	f.active++
	f.peak, f.most = max(f.peak, f.running), max(f.most, f.active)
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.running -= f.need[sc.Name]
		f.active--
		f.mu.Unlock()
	}()
	rep := &reports.Report{Scenario: sc.Name, RunDir: "/suite/" + sc.Name + fmt.Sprint(attempt), Outcome: reports.OutcomePromoted}
	rep.Score.Total = 90
	select {
	case <-time.After(f.hold):
	case <-ctx.Done():
	}
	switch step {
	case 'p':
		rep.Passed = true
	case 's':
		rep.Passed = true
		rep.Host = &reports.Host{Starved: true, Evidence: []string{"the load generator sent 50 of 100"}}
	case 'f':
		rep.Expectations = []reports.Expectation{{Name: "outcome", Detail: "want rolled_back, got promoted"}}
	case 't':
		<-ctx.Done()
		return rep, harness.ErrInterrupted
	}
	return rep, nil
}

func drillsOf(names ...string) []Drill {
	var ds []Drill
	for _, n := range names {
		ds = append(ds, Drill{File: n + ".yaml", Scenario: &scenarios.Scenario{Name: n}, Need: 0.5})
	}
	return ds
}

// TestVerdicts: retries end at the first pass; a verdict that changed is
// flaky (either way round), never a pass; starved attempts are retried
// and only-starved is inconclusive; a timed-out attempt is a failure.
func TestVerdicts(t *testing.T) {
	f := &fake{script: map[string]string{
		"good": "p", "bad": "ff", "flaky": "fp", "flaky-late": "ffp", "starved": "ss", "starved-then-good": "sp",
		"slow": "tp", "slow-always": "tt",
	}, calls: map[string]int{}, need: map[string]float64{}}
	ds := drillsOf("good", "bad", "flaky", "flaky-late", "starved", "starved-then-good", "slow", "slow-always")
	ds = append(ds, Drill{File: "broken.yaml", Problems: []string{"broken.yaml:1:1: missing required field"}},
		Drill{File: "gd.yaml", Scenario: &scenarios.Scenario{Name: "gd"}, Skip: "needs people"})
	res := Run(t.Context(), ds, Options{Parallel: 1, Retries: 1, Timeout: 200 * time.Millisecond, Run: f.run, Dir: "/suite"})
	want := map[string]string{
		"good": reports.VerdictPassed, "bad": reports.VerdictFailed, "flaky": reports.VerdictFlaky,
		"flaky-late": reports.VerdictFailed, // its pass would come on a third attempt: --retries 1 gives two
		"starved":    reports.VerdictInconclusive, "starved-then-good": reports.VerdictPassed,
		"slow": reports.VerdictFlaky, "slow-always": reports.VerdictFailed,
		"broken.yaml": reports.VerdictInvalid, "gd": reports.VerdictSkipped,
	}
	for _, d := range res.Suite.Drills {
		key := d.Scenario
		if key == "" {
			key = d.File
		}
		if d.Verdict != want[key] {
			t.Errorf("%s: verdict %s (%s), want %s", key, d.Verdict, d.Reason, want[key])
		}
	}
	if f.calls["good"] != 1 || f.calls["bad"] != 2 || f.calls["gd"] != 0 {
		t.Errorf("attempts %v: a pass must not run again, a failure must, a skipped drill never", f.calls)
	}
	if res.Suite.Passed || res.Suite.Counts[reports.VerdictFlaky] != 2 {
		t.Errorf("suite passed %v, counts %v", res.Suite.Passed, res.Suite.Counts)
	}
	slow := res.Suite.Drills[slices.IndexFunc(res.Suite.Drills, func(d reports.SuiteDrill) bool { return d.Scenario == "slow" })]
	if a := slow.Attempts[0]; !a.TimedOut || a.Passed || !strings.Contains(a.Error, "--timeout 200ms") {
		t.Errorf("slow's first attempt %+v: want timed out, failed", a)
	}
	if slow.Attempts[1].RunDir != "slow2" {
		t.Errorf("run dir %q, want it relative to the suite's directory", slow.Attempts[1].RunDir)
	}
}

// TestParallelHoldsCapacity: drills run side by side up to --parallel
// and never with more need at once than the capacity; a drill that needs
// more than all of it runs alone rather than never.
func TestParallelHoldsCapacity(t *testing.T) {
	f := &fake{script: map[string]string{}, calls: map[string]int{}, need: map[string]float64{}, hold: 20 * time.Millisecond}
	var ds []Drill
	for i, need := range []float64{0.6, 0.6, 0.3, 0.9, 0.2, 2.5, 0.4, 0.4, 0.4} {
		name := fmt.Sprintf("d%d", i)
		f.script[name], f.need[name] = "p", need
		ds = append(ds, Drill{File: name + ".yaml", Scenario: &scenarios.Scenario{Name: name}, Need: need})
	}
	res := Run(t.Context(), ds, Options{Parallel: 3, Capacity: 1.4, Run: f.run})
	if !res.Suite.Passed {
		t.Fatalf("suite failed: %+v", res.Suite.Counts)
	}
	// 2.5 ran alone; otherwise the sum stayed within 1.4.
	if f.peak > 2.5+1e-9 || f.most > 3 {
		t.Errorf("peak need %.2f, most at once %d", f.peak, f.most)
	}
	if f.most < 2 {
		t.Errorf("never more than %d drill at once with capacity for several", f.most)
	}
	f2 := &fake{script: f.script, calls: map[string]int{}, need: f.need, hold: 20 * time.Millisecond}
	small := []Drill{}
	for _, d := range ds {
		if d.Need <= 1.4 {
			small = append(small, d)
		}
	}
	Run(t.Context(), small, Options{Parallel: 8, Capacity: 1.4, Run: f2.run})
	if f2.peak > 1.4+1e-9 {
		t.Errorf("need at once %.2f > capacity 1.4", f2.peak)
	}
}

// TestInterruptedSuiteSkipsTheRest: Ctrl-C ends the running drill as
// interrupted and starts no other.
func TestInterruptedSuiteSkipsTheRest(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	f := &fake{script: map[string]string{"a": "t", "b": "p"}, calls: map[string]int{}, need: map[string]float64{}}
	time.AfterFunc(50*time.Millisecond, cancel)
	res := Run(ctx, drillsOf("a", "b"), Options{Parallel: 1, Retries: 2, Run: f.run})
	got := []string{res.Suite.Drills[0].Verdict, res.Suite.Drills[1].Verdict}
	if !slices.Equal(got, []string{reports.VerdictInterrupted, reports.VerdictSkipped}) || f.calls["b"] != 0 || f.calls["a"] != 1 || !res.Interrupted {
		t.Errorf("verdicts %v, calls %v, interrupted %v", got, f.calls, res.Interrupted)
	}
}

// TestBaselineRegression: a drill that passed but lost more score than
// --max-drop against the baseline's same drill regressed.
func TestBaselineRegression(t *testing.T) {
	f := &fake{script: map[string]string{"a": "p", "b": "p"}, calls: map[string]int{}, need: map[string]float64{}}
	base := map[string]*reports.Report{
		"a": {Scenario: "a", Passed: true, RunDir: "/old/a", Score: reports.Scorecard{Total: 99}},
		"b": {Scenario: "b", Passed: true, RunDir: "/old/b", Score: reports.Scorecard{Total: 91}},
	}
	res := Run(t.Context(), drillsOf("a", "b"), Options{Run: f.run, Baseline: base, MaxDrop: 5})
	a, b := res.Suite.Drills[0], res.Suite.Drills[1]
	if a.Verdict != reports.VerdictRegressed || a.Baseline == nil || a.Baseline.Delta != -9 {
		t.Errorf("a: %s %+v; want regressed by 9 points", a.Verdict, a.Baseline)
	}
	if b.Verdict != reports.VerdictPassed || b.Baseline == nil || b.Baseline.Delta != -1 {
		t.Errorf("b: %s %+v; want passed, 1 point down", b.Verdict, b.Baseline)
	}
}

// TestLoadBaseline keeps each scenario's newest report, wherever it lies
// under the directory, and refuses an empty or unreadable baseline.
func TestLoadBaseline(t *testing.T) {
	dir := t.TempDir()
	old := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for i, p := range []string{"shard-1/suite-x/a-1", "shard-2/suite-y/a-2", "b-1"} {
		name := "a"
		if strings.HasPrefix(p, "b") {
			name = "b"
		}
		r := &reports.Report{SchemaVersion: reports.SchemaVersion, Scenario: name, StartedAt: old.Add(time.Duration(i) * time.Hour)}
		r.Score.Total = 80 + i
		if err := os.MkdirAll(filepath.Join(dir, p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := reports.Write(filepath.Join(dir, p), r); err != nil {
			t.Fatal(err)
		}
	}
	got, err := LoadBaseline(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["a"].Score.Total != 81 || got["a"].RunDir != filepath.Join(dir, "shard-2/suite-y/a-2") {
		t.Errorf("baseline %+v", got)
	}
	if _, err := LoadBaseline(t.TempDir()); err == nil {
		t.Error("an empty baseline loaded")
	}
	if err := os.WriteFile(filepath.Join(dir, "b-1", "report.json"), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadBaseline(dir); err == nil {
		t.Error("a baseline with an unreadable report loaded")
	}
}

// TestNeed: more rate, more services, the docker provider: more need.
func TestNeed(t *testing.T) {
	sc := func(rate string, services int) *scenarios.Scenario {
		s := &scenarios.Scenario{}
		var r scenarios.Rate
		if _, err := fmt.Sscanf(rate, "%d", &r.Freq); err != nil {
			t.Fatal(err)
		}
		r.Per = time.Second
		s.Load.Rate = r
		for i := range services {
			s.Environment.Services = append(s.Environment.Services, &scenarios.Service{Name: fmt.Sprint(i)})
		}
		s.Rollout.Service, s.Rollout.To = "0", "v2"
		return s
	}
	a, b, c := Need(sc("100", 1), "process"), Need(sc("200", 1), "process"), Need(sc("200", 3), "process")
	if !(a < b && b < c && Need(sc("200", 3), "docker") > c) {
		t.Errorf("need 100/s %.2f, 200/s %.2f, 3 services %.2f", a, b, c)
	}
	if Capacity() <= 0 || Capacity() > float64(CPUs()) {
		t.Errorf("capacity %.2f of %d CPUs", Capacity(), CPUs())
	}
}

// TestSelect: the shard's files, in order; a loaded drill only with the
// tags, an invalid file whatever they say; a game day whose judge does
// not act skipped when a scan found it and run when named; each drill's
// need estimated.
func TestSelect(t *testing.T) {
	found := []Found{{File: "a.yaml"}, {File: "bad.yaml"}, {File: "gd.yaml"}, {File: "gd-named.yaml", Explicit: true}, {File: "other.yaml"}}
	sc := func(name string, tags ...string) *scenarios.Scenario {
		s := &scenarios.Scenario{Name: name, Tags: tags}
		s.Load.Rate = scenarios.Rate{Freq: 100, Per: time.Second}
		return s
	}
	gameDay := func(s *scenarios.Scenario) *scenarios.Scenario {
		s.GameDay.Judge = scenarios.JudgeAdvisory
		return s
	}
	loaded := map[string]*scenarios.Scenario{
		"a.yaml": sc("a", "nightly"), "gd.yaml": gameDay(sc("gd", "nightly")), "gd-named.yaml": gameDay(sc("gd-named", "nightly")),
		"other.yaml": sc("other", "slow"),
	}
	problems := map[string][]string{"bad.yaml": {"bad.yaml:1:1: missing required field"}}
	got := Select(found, Shard{}, loaded, problems, ParseTags("nightly"), "")
	var summary []string
	for _, d := range got {
		s := d.File
		switch {
		case d.Scenario == nil:
			s += " invalid: " + strings.Join(d.Problems, "; ")
		case d.Skip != "":
			s += " skipped"
		}
		if d.Scenario != nil && d.Need <= 0 {
			t.Errorf("%s: need %.2f", d.File, d.Need)
		}
		summary = append(summary, s)
	}
	want := []string{"a.yaml", "bad.yaml invalid: bad.yaml:1:1: missing required field", "gd.yaml skipped", "gd-named.yaml"}
	if !slices.Equal(summary, want) {
		t.Errorf("Select = %q, want %q", summary, want)
	}
	// A shard keeps only its own files, invalid ones included.
	for i := 1; i <= 3; i++ {
		for _, d := range Select(found, Shard{i, 3}, loaded, problems, Tags{}, "") {
			if !(Shard{i, 3}).Has(d.File) {
				t.Errorf("shard %d/3 selected %s", i, d.File)
			}
		}
	}
}
