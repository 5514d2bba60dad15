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
// one whose params reach that many through aliases of faults (it took
// seconds, quadratic in the file's size).
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
		found = found || strings.Contains(p.Msg, "fault params stand for more than 100000 YAML nodes")
	}
	if !found {
		t.Errorf("no node-limit problem in %v", ps)
	}
}

// TestDurationAndRateLimits: every duration is at most 24h and every rate
// at most 100000/s. Before, 9223372036854775807/s validated (and
// overflowed the load's worker count) and durations of years validated
// (and overflowed the run's length once added up).
func TestDurationAndRateLimits(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"100000/s", true}, {"6000000/m", true}, {"100001/s", false}, {"6000001/m", false},
		{"9223372036854775807/s", false}, {"99999999999999999999/s", false},
	} {
		if _, err := parseRate(tc.in); (err == nil) != tc.ok {
			t.Errorf("parseRate(%q) = %v, want ok %v", tc.in, err, tc.ok)
		}
	}
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"24h", true}, {"0s", true}, {"24h0m0.000000001s", false}, {"2562047h", false}, {"-1ns", false},
	} {
		if _, err := parseDuration(tc.in); (err == nil) != tc.ok {
			t.Errorf("parseDuration(%q) = %v, want ok %v", tc.in, err, tc.ok)
		}
	}

	y := src(`
version: 1
name: limits
environment:
  services:
    api: {build: x, versions: {v1: {}, v2: {}}}
load:
  target: api
  ramp: {from: 9223372036854775807/s, to: 6000001/m, over: 25h}
  timeout: 24h1s
  requests: [{path: /}]
steady_state:
  duration: 100000h
  attempts: 101
  slo: [{metric: latency_p99, max: 25h}, {metric: throughput, max: 100001/s}]
rollout:
  service: api
  to: v2
  steps: [{weight: 50%, hold: 2562047h}]
  analysis: {interval: 48h, metrics: [{metric: latency_p95, max_increase: 48h}]}
faults:
  - {name: f, kind: latency, target: api, at: 25h, duration: 25h, params: {delay: 25h, jitter: -1s}}
  - {name: g, kind: latency, target: api, at: {after: rollout.start, delay: 25h}, params: {delay: 1s}}
verify:
  recovery: {window: 25h, within: 25h}
expect: {detect_within: 25h, recover_within: 25h}
`)
	limit := "is longer than 24h"
	checkProblems(t, y, problemsOf(t, y), []want{
		{"8:16", "from: rate 9223372036854775807/s is above 100000/s", "at most 100000/s"},
		{"8:43", "to: rate 6000001/m is above 100000/s", ""},
		{"8:60", "over: duration 25h " + limit, "at most 24h"},
		{"9:12", "timeout: duration 24h1s " + limit, ""},
		{"12:13", "duration: duration 100000h " + limit, ""},
		{"13:13", "attempts: at most 100, got 101", ""},
		{"14:36", "max: duration 25h " + limit, ""},
		{"14:68", "max: rate 100001/s is above 100000/s", ""},
		{"18:31", "hold: duration 2562047h " + limit, ""},
		{"19:24", "interval: duration 48h " + limit, ""},
		{"19:75", "max_increase: duration 48h " + limit, ""},
		{"21:47", "at: duration 25h " + limit, ""},
		{"21:62", "duration: duration 25h " + limit, ""},
		// The kind's own problems are still reported.
		{"21:75", "latency params.jitter must not be negative", ""},
		{"21:83", "faults[0].params.delay: duration 25h " + limit, "at most 24h"},
		{"22:77", "delay: duration 25h " + limit, ""},
		{"24:22", "window: duration 25h " + limit, ""},
		{"24:35", "within: duration 25h " + limit, ""},
		{"25:25", "detect_within: duration 25h " + limit, ""},
		{"25:46", "recover_within: duration 25h " + limit, ""},
	})
}

// TestControlCharactersInNames: names are printed by drill plan and in
// reports; an ESC in a fault name cleared the screen, a CR or LF faked a
// line. They used to be accepted.
func TestControlCharactersInNames(t *testing.T) {
	y := src(`
version: !!int "1\e[2J"
name: ctl
description: "two\nlines\tare fine, \e[31m is not"
tags: [ok, "\x9b2J"]
environment:
  services:
    api: {build: x, versions: {v1: {}, v2: {}}}
load:
  target: api
  rate: 1/s
  requests: [{name: "a\rb", path: /}, {name: "\u202eevil", path: /x}]
rollout: {service: api, to: v2, steps: [{weight: 50%}]}
faults:
  - {name: "f\e]0;title\a", kind: latency, target: api, params: {delay: 1s}}
  - {name: "plain name, with spaces", kind: latency, target: api, params: {delay: 1s}}
verify:
  data:
    invariants: [{name: "x\ny", database: db, sql: SELECT 0}]
`)
	hint := "use visible characters only"
	checkProblems(t, y, problemsOf(t, y), []want{
		{"1:10", `version: expected an integer, got "1\x1b[2J"`, ""},
		{"3:14", `description "two\nlines\tare fine, \x1b[31m is not" holds the control character U+001B`, hint},
		{"4:12", `tag "\u009b2J" holds the control character U+009B`, hint},
		{"11:21", `request name "a\rb" holds the control character U+000D`, hint},
		{"11:46", `request name "\u202eevil" holds the control character U+202E`, hint},
		{"14:12", `fault name "f\x1b]0;title\a" holds the control character U+001B`, hint},
		{"18:25", `invariant name "x\ny" holds the control character U+000A`, hint},
		{"18:43", `unknown database "db"`, ""},
	})
}
