package scenarios

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// parseWithin parses data and fails the test, instead of hanging it, when
// Parse takes longer than limit. The bound is generous on purpose: it
// tells a hang from a slow machine, and the tests assert the problem,
// not the time.
func parseWithin(t *testing.T, data []byte, limit time.Duration) Problems {
	t.Helper()
	done := make(chan Problems, 1)
	go func() {
		s, err := Parse("t.yaml", data)
		ps, _ := err.(Problems)
		if err == nil || s != nil || ps == nil {
			t.Errorf("Parse = %v, %v; want problems", s, err)
		}
		done <- ps
	}()
	select {
	case ps := <-done:
		return ps
	case <-time.After(limit):
		t.Fatalf("Parse did not return within %s", limit)
		return nil
	}
}

// mergeBomb returns a scenario whose first step merges an anchor of
// levels nested merges, each merging the level below ten times: 1.8 KB
// at 8 levels, which a naive expansion reads as 10^8 pairs. It also
// returns the line of each level's anchor.
func mergeBomb(levels int) ([]byte, []int) {
	var b strings.Builder
	b.WriteString("version: 1\nname: bomb\nx-l0: &l0 {hold: 1s}\n")
	lines := []int{3}
	for i := 1; i <= levels; i++ {
		refs := strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*l%d, ", i-1), 10), ", ")
		fmt.Fprintf(&b, "x-l%d: &l%d {<<: [%s]}\n", i, i, refs)
		lines = append(lines, 3+i)
	}
	rest := strings.TrimPrefix(minimal, "version: 1\nname: minimal\n")
	rest = strings.Replace(rest, "{weight: 50%, hold: 1s}", fmt.Sprintf("{<<: *l%d, weight: 50%%}", levels), 1)
	b.WriteString(rest)
	return []byte(b.String()), lines
}

// TestMergeBomb: nested merge keys multiply; the walk used to expand them
// in full (8 levels took 12 s, 15 never ended). Each mapping is now
// expanded once and the file is refused at the merge key where the
// expansion passes maxMergedPairs.
func TestMergeBomb(t *testing.T) {
	for _, levels := range []int{8, 15} {
		t.Run(fmt.Sprint(levels), func(t *testing.T) {
			y, lines := mergeBomb(levels)
			ps := parseWithin(t, y, 20*time.Second)
			// Levels 1-3 stand for 10, 100 and 1000 pairs each; the
			// 10th alias of level 3 in level 4 passes 10 000.
			checkProblems(t, y, ps, []want{{fmt.Sprintf("%d:12", lines[4]),
				"merge keys expand to more than 10000 pairs", "do not nest merges of merges"}})
		})
	}
	// Three levels stand for 1 110 pairs, and merge as YAML says.
	y, _ := mergeBomb(3)
	if st := mustParse(t, y).Rollout.Steps[0]; st.Hold != time.Second || st.Weight != 0.5 {
		t.Errorf("merged step %+v", st)
	}
}

// TestMergeListOfManyAliases: one merge of many aliases of one big
// mapping is charged in full before its pairs are read.
func TestMergeListOfManyAliases(t *testing.T) {
	var keys []string
	for i := range 200 {
		keys = append(keys, fmt.Sprintf("k%d: %d", i, i))
	}
	refs := strings.TrimSuffix(strings.Repeat("*big, ", 100), ", ")
	y := edit(t, "version: 1\n", "version: 1\nx-big: &big {"+strings.Join(keys, ", ")+"}\n",
		"      build: fixtures/api\n", "      build: fixtures/api\n      env: {<<: ["+refs+"]}\n")
	ps := parseWithin(t, y, 20*time.Second)
	checkProblems(t, y, ps, []want{{"8:13", "merge keys expand to more than 10000 pairs", ""}})
}

// TestNodeLimit: a file of more than maxNodes nodes is refused, and so is
// one whose params reach that many again through aliases of faults.
func TestNodeLimit(t *testing.T) {
	y := edit(t, "name: minimal\n", "name: minimal\ntags: ["+strings.TrimSuffix(strings.Repeat("a, ", maxNodes), ", ")+"]\n")
	ps := parseWithin(t, y, 20*time.Second)
	if len(ps) != 1 || !strings.Contains(ps[0].Msg, "more than 100000 YAML nodes") || ps[0].Pos.Line != 3 {
		t.Errorf("got %v", ps)
	}

	codes := strings.TrimSuffix(strings.Repeat("1, ", 1000), ", ")
	faults := strings.TrimSuffix(strings.Repeat("*f, ", 200), ", ")
	y = edit(t, "version: 1\n", "version: 1\nx-codes: &c ["+codes+"]\n"+
		"x-f: &f {name: f, kind: test-params, target: api, params: {delay: 1s, codes: *c}}\nfaults: ["+faults+"]\n")
	ps = parseWithin(t, y, 20*time.Second)
	found := false
	for _, p := range ps {
		found = found || strings.Contains(p.Msg, "more than 100000 YAML nodes")
	}
	if !found {
		t.Errorf("no node-limit problem in %v", ps)
	}
}
