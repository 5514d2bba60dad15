package scenarios

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/drillhq/drill/harness/strategy"
)

// Fuzz targets. `go test` runs each on its seeds (the shipped scenarios,
// the bad ones in testdata/bad, and what testdata/fuzz keeps of past
// finds); `go test -run '^$' -fuzz FuzzLoad ./scenarios/` explores. The
// invariants are those a hostile scenario must not break: no panic, an
// invalid file yields positioned problems, and nothing takes long.

// maxFuzzTime is how long one input may take: more is a hang.
const maxFuzzTime = 2 * time.Second

// seedFiles returns the contents of the shipped and the bad scenarios.
func seedFiles(f *testing.F) [][]byte {
	f.Helper()
	var out [][]byte
	for _, glob := range []string{"*.yaml", "testdata/*.yaml", "testdata/bad/*.yaml", "../cmd/drill/testdata/*.yaml"} {
		files, err := filepath.Glob(glob)
		if err != nil {
			f.Fatal(err)
		}
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			out = append(out, data)
		}
	}
	if len(out) == 0 {
		f.Fatal("no seed scenarios found")
	}
	return out
}

// seedScalars returns every scalar of the seed files, for the fuzz
// targets of the value parsers.
func seedScalars(f *testing.F) []string {
	f.Helper()
	var out []string
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.ScalarNode {
			out = append(out, n.Value)
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	for _, data := range seedFiles(f) {
		var doc yaml.Node
		if yaml.Unmarshal(data, &doc) == nil {
			walk(&doc)
		}
	}
	return out
}

func FuzzLoad(f *testing.F) {
	for _, data := range seedFiles(f) {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		start := time.Now()
		s, err := Parse("f.yaml", data)
		if d := time.Since(start); d > maxFuzzTime {
			t.Errorf("Parse took %s", d)
		}
		if err == nil {
			if s == nil {
				t.Fatal("Parse returned neither a scenario nor an error")
			}
			checkValid(t, s)
			return
		}
		if s != nil {
			t.Error("Parse returned a scenario along with problems")
		}
		var ps Problems
		if !errors.As(err, &ps) || len(ps) == 0 {
			t.Fatalf("error is not problems: %v", err)
		}
		for _, p := range ps {
			if p.Pos.File != "f.yaml" || p.Pos.Line < 1 || p.Pos.Col < 1 || p.Msg == "" {
				t.Errorf("problem without a position or a message: %+v", p)
			}
			if _, bad := badRune(p.Error(), "\n"); bad {
				t.Errorf("problem carries a control character to the terminal: %q", p.Error())
			}
		}
	})
}

// checkValid checks what a valid scenario promises the harness: bounded
// durations and rates, printable names.
func checkValid(t *testing.T, s *Scenario) {
	t.Helper()
	durations := []time.Duration{s.Load.Timeout, s.SteadyState.Duration, s.SteadyState.Warmup, s.Rollout.Analysis.Interval,
		s.Expect.DetectWithin, s.Expect.RecoverWithin}
	rates := []Rate{s.Load.Rate}
	if r := s.Load.Ramp; r != nil {
		durations = append(durations, r.Over)
		rates = append(rates, r.From, r.To)
	}
	for _, st := range s.Rollout.Steps {
		durations = append(durations, st.Hold)
	}
	for _, f := range s.Faults {
		durations = append(durations, f.Duration, f.At.Offset, f.At.Delay)
		if _, bad := badRune(f.Name, ""); bad {
			t.Errorf("fault name %q", f.Name)
		}
	}
	for _, r := range s.Load.Requests {
		if _, bad := badRune(r.Name, ""); bad {
			t.Errorf("request name %q", r.Name)
		}
	}
	if rec := s.Verify.Recovery; rec != nil {
		durations = append(durations, rec.Window, rec.Within)
	}
	for _, d := range durations {
		if d < 0 || d > MaxDuration {
			t.Errorf("duration %s out of bounds", d)
		}
	}
	for _, r := range rates {
		if r.Freq < 0 || r.PerSecond() > MaxRate {
			t.Errorf("rate %s out of bounds", r)
		}
	}
	if a := s.SteadyState.Attempts; a < 1 || a > MaxSteadyStateAttempts {
		t.Errorf("attempts %d", a)
	}
}

func FuzzPlaceholders(f *testing.F) {
	for _, s := range seedScalars(f) {
		if strings.Contains(s, "${") {
			f.Add(s)
		}
	}
	for _, s := range []string{"${seq}", "${rand:1:5}", "${rand:-9223372036854775808:9223372036854775807}", "${a${b}}", "${", "$${x}}"} {
		f.Add(s)
	}
	env := &Environment{Services: []*Service{{Name: "api"}}, Databases: []*Database{{Name: "db"}}}
	f.Fuzz(func(t *testing.T, s string) {
		start := time.Now()
		segs := Segments(s)
		phs, open := placeholdersOf(s)
		if len(phs) > strings.Count(s, "${") {
			t.Errorf("%d placeholders from %d openings", len(phs), strings.Count(s, "${"))
		}
		if open && !strings.Contains(s, "${") {
			t.Error("unterminated without an opening")
		}
		// The segments tile s: substitution that acts on none of them
		// gives s back.
		var joined strings.Builder
		for i, seg := range segs {
			if seg.Text != s[seg.Start:seg.End] || (i > 0 && seg.Start != segs[i-1].End) || seg.Text == "" {
				t.Errorf("segment %d %+v does not tile %q", i, seg, s)
			}
			if seg.Kind == SegUnterminated && i != len(segs)-1 {
				t.Errorf("unterminated segment %d is not the last of %q", i, s)
			}
			joined.WriteString(seg.Text)
		}
		if joined.String() != s {
			t.Errorf("segments join to %q, not %q", joined.String(), s)
		}
		for _, ph := range phs {
			if strings.Contains(ph.Expr, "}") {
				t.Errorf("placeholder %q holds its closing brace", ph.Expr)
			}
			if ph.Kind == SegRand && ph.Err == nil && (ph.Min > ph.Max || uint64(ph.Max)-uint64(ph.Min) >= 1<<63-1) {
				t.Errorf("rand %q gives [%d, %d]", ph.Expr, ph.Min, ph.Max)
			}
		}
		p := &parser{file: "f.yaml"}
		n := &yaml.Node{Kind: yaml.ScalarNode, Value: s, Line: 1, Column: 1}
		p.checkEnvPlaceholders(n, "env X", s, env)
		p.checkRequestPlaceholders(n, "path", s, true)
		p.loopback(n, "env X", s)
		if d := time.Since(start); d > maxFuzzTime {
			t.Errorf("took %s", d)
		}
	})
}

func FuzzDurationRate(f *testing.F) {
	for _, s := range seedScalars(f) {
		f.Add(s)
	}
	for _, s := range []string{"9223372036854775807/s", "2562047h", "-1ns", "1e300/s", "0.5/m", "100000/s", "6000001/m", "24h0m1s", "1.5%", "200MiB",
		"-0s", "+0", "-0", "-.0h", "0.s", ".5s", "1.5h30m", "1µs", "1μs", "1us", "5 MiB", "7kib", "1.5e3"} {
		f.Add(s)
	}
	// What scenario.schema.json says of a string in each unit (schema.go)
	// must take whatever the loader takes: an editor must never flag a
	// value drill accepts.
	bytesRE := regexp.MustCompile(bytesPattern())
	signedRE := regexp.MustCompile(signedDurationPattern)
	f.Fuzz(func(t *testing.T, s string) {
		if d, err := parseDuration(s); err == nil && (d < 0 || d > MaxDuration) {
			t.Errorf("parseDuration(%q) = %s", s, d)
		}
		if _, err := parseDuration(s); err == nil && !durationRE.MatchString(s) {
			t.Errorf("parseDuration takes %q, the schema's duration pattern does not", s)
		}
		if _, err := time.ParseDuration(s); err == nil && !signedRE.MatchString(s) {
			t.Errorf("time.ParseDuration takes %q, the schema's pattern for duration params does not", s)
		}
		var r strategy.Rate
		if r.UnmarshalText([]byte(s)) == nil && !rateRE.MatchString(s) {
			t.Errorf("blue_green's rate takes %q, the schema's rate pattern does not", s)
		}
		if v, err := parseThreshold(UnitSeconds, s); err == nil && v >= 0 && !durationRE.MatchString(s) {
			t.Errorf("a latency bound takes %q, the schema's duration pattern does not", s)
		}
		if _, err := parseBytes(s); err == nil && !bytesRE.MatchString(s) {
			t.Errorf("an rss bound takes %q, the schema's bytes pattern does not", s)
		}
		if r, err := parseRate(s); err == nil {
			if r.Freq < 0 || r.PerSecond() > MaxRate || (r.Per != time.Second && r.Per != time.Minute) {
				t.Errorf("parseRate(%q) = %+v", s, r)
			}
			if back, err := parseRate(r.String()); err != nil || back != r {
				t.Errorf("parseRate(%q) = %v, which reads back as %v, %v", s, r, back, err)
			}
		}
		if v, err := parsePercent(s); err == nil && (v < 0 || v != v) {
			t.Errorf("parsePercent(%q) = %g", s, v)
		}
		for _, u := range []Unit{UnitNumber, UnitFraction, UnitSeconds, UnitPerSecond, UnitBytes} {
			v, err := parseThreshold(u, s)
			if err != nil {
				continue
			}
			switch {
			case v != v || v > 1e308 || v < -1e308:
				t.Errorf("parseThreshold(%v, %q) = %g", u, s, v)
			case u == UnitSeconds && v > MaxDuration.Seconds():
				t.Errorf("parseThreshold(seconds, %q) = %g", s, v)
			case u == UnitPerSecond && v > MaxRate:
				t.Errorf("parseThreshold(per second, %q) = %g", s, v)
			}
		}
	})
}
