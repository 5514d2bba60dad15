package journal

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

func openTestJournal(t *testing.T, start time.Time) (*Journal, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "journal.jsonl")
	j, err := Open(path, start)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return j, path
}

// readJournalLines reads the file as another process would, without closing
// the journal.
func readJournalLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("journal line %q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	if len(b) > 0 && b[len(b)-1] != '\n' {
		t.Errorf("journal does not end with a newline: %q", b)
	}
	return out
}

func TestJournalLinesAreOnDiskAtOnce(t *testing.T) {
	start := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	j, path := openTestJournal(t, start)
	tests := []struct {
		name        string
		at          time.Duration
		event       string
		kv          []any
		wantElapsed float64
		wantFields  map[string]any
	}{
		{"no fields", 0, "run.start", nil, 0, nil},
		{"fields", 1500 * time.Millisecond, "fault.apply", []any{"fault", "db-latency", "step", 2}, 1.5,
			map[string]any{"fault": "db-latency", "step": 2.0}},
		{"elapsed rounds to the millisecond", 2*time.Second + 345678*time.Microsecond, "tick", nil, 2.346, nil},
		{"odd field list drops the dangling key", 3 * time.Second, "odd", []any{"a", 1, "dangling"}, 3,
			map[string]any{"a": 1.0}},
		{"non-string keys are printed", 4 * time.Second, "keys", []any{7, true}, 4, map[string]any{"7": true}},
		{"unmarshalable value is reported, not lost", 5 * time.Second, "bad", []any{"f", func() {}}, 5, nil},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := j.RecordAt(start.Add(tt.at), tt.event, tt.kv...)
			if e.Elapsed != tt.wantElapsed {
				t.Errorf("Elapsed = %v, want %v", e.Elapsed, tt.wantElapsed)
			}
			lines := readJournalLines(t, path)
			if len(lines) != i+1 {
				t.Fatalf("%d lines on disk after %d events", len(lines), i+1)
			}
			got := lines[i]
			if got["event"] != tt.event || got["elapsed_seconds"] != tt.wantElapsed {
				t.Errorf("line %v, want event %q at %v", got, tt.event, tt.wantElapsed)
			}
			if ts, _ := got["t"].(string); ts != start.Add(tt.at).UTC().Format(time.RFC3339Nano) {
				t.Errorf("t = %q, want %s", ts, start.Add(tt.at).UTC().Format(time.RFC3339Nano))
			}
			fields, _ := got["fields"].(map[string]any)
			if tt.event == "bad" {
				if _, ok := fields["marshal_error"]; !ok {
					t.Errorf("fields %v, want a marshal_error", fields)
				}
				return
			}
			if !reflect.DeepEqual(fields, tt.wantFields) {
				t.Errorf("fields = %v, want %v", fields, tt.wantFields)
			}
		})
	}
	if n := len(j.Events()); n != len(tests) {
		t.Errorf("Events() holds %d, want %d", n, len(tests))
	}
}

func TestJournalElapsedIsRelativeToStart(t *testing.T) {
	start := time.Now().Add(-90 * time.Second)
	j, _ := openTestJournal(t, start)
	e := j.Record("late")
	if e.Elapsed < 90 {
		t.Errorf("Elapsed = %v for a journal started 90s ago, want at least 90", e.Elapsed)
	}
	if early := j.RecordAt(start.Add(-250*time.Millisecond), "early"); early.Elapsed != -0.25 {
		t.Errorf("Elapsed before start = %v, want -0.25", early.Elapsed)
	}
	if e.T.Location() != time.UTC {
		t.Errorf("T is in %v, want UTC", e.T.Location())
	}
}

func TestJournalWait(t *testing.T) {
	start := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	j, _ := openTestJournal(t, start)
	t1, t2 := start.Add(time.Second), start.Add(2*time.Second)

	future := j.Wait("rollout.start")
	future2 := j.Wait("rollout.start")
	other := j.Wait("rollback.start")
	select {
	case got := <-future:
		t.Fatalf("Wait returned %v before the event", got)
	default:
	}
	j.RecordAt(t1, "rollout.start")
	for i, ch := range []<-chan time.Time{future, future2} {
		if got := <-ch; !got.Equal(t1) {
			t.Errorf("waiter %d got %v, want %v", i, got, t1)
		}
		if _, open := <-ch; open {
			t.Errorf("waiter %d channel still open", i)
		}
	}
	select {
	case got := <-other:
		t.Errorf("waiter of another event woke with %v", got)
	default:
	}

	j.RecordAt(t2, "rollout.start") // a second occurrence does not move the first
	if got := <-j.Wait("rollout.start"); !got.Equal(t1) {
		t.Errorf("Wait on a past event = %v, want its first occurrence %v", got, t1)
	}
}

func TestJournalSignal(t *testing.T) {
	j, path := openTestJournal(t, time.Now())
	j.Record("before")
	w := j.Wait("step.start:2")
	j.Signal("step.start:2")
	if got := <-w; got.IsZero() {
		t.Errorf("Signal woke the waiter with a zero time")
	}
	if got := <-j.Wait("step.start:2"); got.IsZero() {
		t.Errorf("Wait after Signal returned a zero time")
	}
	if lines := readJournalLines(t, path); len(lines) != 1 {
		t.Errorf("Signal wrote to the journal: %v", lines)
	}
	if ev := j.Events(); len(ev) != 1 || ev[0].Event != "before" {
		t.Errorf("Events() = %+v, want only the recorded event", ev)
	}
}

func TestJournalClose(t *testing.T) {
	j, path := openTestJournal(t, time.Now())
	j.Record("a")
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	j.Record("b")
	if err := j.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if lines := readJournalLines(t, path); len(lines) != 1 {
		t.Errorf("%d lines after Close, want 1", len(lines))
	}
	if ev := j.Events(); len(ev) != 2 {
		t.Errorf("Events() after Close holds %d, want 2", len(ev))
	}
	// The journal of a run is never overwritten.
	if _, err := Open(path, time.Now()); err == nil {
		t.Errorf("OpenJournal on an existing journal succeeded")
	}
}

// TestJournalConcurrentRecords: lines written from many goroutines are
// whole, one per event.
func TestJournalConcurrentRecords(t *testing.T) {
	j, path := openTestJournal(t, time.Now())
	const goroutines, each = 8, 200
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				j.Record("tick", "g", g, "i", i, "pad", string(bytes.Repeat([]byte{'x'}, 512)))
			}
		}()
	}
	wg.Wait()
	lines := readJournalLines(t, path)
	if len(lines) != goroutines*each {
		t.Fatalf("%d lines, want %d", len(lines), goroutines*each)
	}
	seen := map[string]bool{}
	for _, l := range lines {
		f := l["fields"].(map[string]any)
		seen[fmt.Sprint(f["g"], "/", f["i"])] = true
	}
	if len(seen) != goroutines*each {
		t.Errorf("%d distinct events on disk, want %d", len(seen), goroutines*each)
	}
}

// TestJournalRedactsSecrets: the password of a URL and the value of a
// secret-named field reach neither the file nor the in-memory events
// (which become the report's timeline), and the file is private to the
// user.
func TestJournalRedactsSecrets(t *testing.T) {
	j, path := openTestJournal(t, time.Now())
	j.Record("instance.failed", "url", "postgres://postgres:0123456789abcdef@127.0.0.1:5432/ordersdb?sslmode=disable",
		"error", errors.New("migrate postgres://postgres:0123456789abcdef@127.0.0.1:5432/ordersdb: dirty"), "api_token", "plain-token")
	checkJournalHides(t, j, path, "0123456789abcdef", "plain-token")
	if b, _ := os.ReadFile(path); !strings.Contains(string(b), "postgres://postgres:[REDACTED]@127.0.0.1:5432/ordersdb") {
		t.Errorf("journal lost the rest of the URL:\n%s", b)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := st.Mode().Perm(); perm != 0o600 {
		t.Errorf("journal mode %v, want 0600", perm)
	}
}

// TestJournalAddSecret: a value registered with AddSecret is hidden
// wherever it turns up, under any field name.
func TestJournalAddSecret(t *testing.T) {
	j, path := openTestJournal(t, time.Now())
	j.AddSecret("journal-s3cr3t-value")
	j.Record("fault.apply.failed", "error", "exit 1: auth journal-s3cr3t-value rejected",
		"actions", []string{"sent journal-s3cr3t-value"})
	checkJournalHides(t, j, path, "journal-s3cr3t-value")
}

func checkJournalHides(t *testing.T, j *Journal, path string, leaks ...string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, leak := range leaks {
		if strings.Contains(string(b), leak) {
			t.Errorf("journal file holds %q:\n%s", leak, b)
		}
		for _, e := range j.Events() {
			if m, _ := json.Marshal(e.Fields); strings.Contains(string(m), leak) {
				t.Errorf("in-memory event %s holds %q: %s", e.Event, leak, m)
			}
		}
	}
}
