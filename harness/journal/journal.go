package journal

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/drillhq/drill/harness/redact"
)

// Event is one line of journal.jsonl.
type Event struct {
	T       time.Time      `json:"t"`
	Elapsed float64        `json:"elapsed_seconds"`
	Event   string         `json:"event"`
	Fields  map[string]any `json:"fields,omitempty"`
}

// Journal appends events to journal.jsonl as they happen. Each event is
// one write(2) on an O_APPEND file, unbuffered, so a run killed with SIGKILL
// still leaves its timeline up to the last event, and the fault journal
// that `drill cleanup` reads is on disk before the fault acts.
type Journal struct {
	mu      sync.Mutex
	f       *os.File
	start   time.Time
	events  []Event
	waiters map[string][]chan time.Time
	seen    map[string]time.Time
	taps    []func(Event)
}

// OpenJournal creates path and starts the clock. The file is private to
// the user (0600): even redacted, a run's timeline names its paths and
// processes.
func Open(path string, start time.Time) (*Journal, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open journal: %w", err)
	}
	return &Journal{f: f, start: start, waiters: map[string][]chan time.Time{}, seen: map[string]time.Time{}}, nil
}

// AddSecret makes the journal, and every other output of drill in this
// process (messages, service logs), hide value from now on. Values of
// fields whose names look secret (*PASSWORD*, *TOKEN*, *SECRET*, *KEY*) and
// passwords in URLs are hidden without it; this is for a secret that turns
// up under another name, such as a scenario's env value marked secret.
func (j *Journal) AddSecret(value string) { redact.Register(value) }

// Record writes an event now. Fields are given as key, value pairs; every
// string in them is redacted (see AddSecret) before it is written or kept.
func (j *Journal) Record(event string, kv ...any) Event {
	return j.RecordAt(time.Now(), event, kv...)
}

// RecordAt writes an event with an explicit time.
func (j *Journal) RecordAt(t time.Time, event string, kv ...any) Event {
	e := Event{T: t.UTC(), Elapsed: Seconds(t.Sub(j.start)), Event: event}
	if len(kv) > 0 {
		e.Fields = make(map[string]any, len(kv)/2)
		for i := 0; i+1 < len(kv); i += 2 {
			k := fmt.Sprint(kv[i])
			e.Fields[k] = redact.Field(k, kv[i+1])
		}
	}
	line, err := json.Marshal(e)
	if err != nil {
		line, _ = json.Marshal(Event{T: e.T, Elapsed: e.Elapsed, Event: event, Fields: map[string]any{"marshal_error": redact.String(err.Error())}})
	}
	j.mu.Lock()
	if j.f != nil {
		_, _ = j.f.Write(append(line, '\n'))
	}
	j.events = append(j.events, e)
	if _, ok := j.seen[event]; !ok {
		j.seen[event] = t
	}
	for _, ch := range j.waiters[event] {
		ch <- t
		close(ch)
	}
	delete(j.waiters, event)
	taps := j.taps
	j.mu.Unlock()
	for _, f := range taps {
		f(e)
	}
	return e
}

// Tap calls f with every event recorded from now on, after it is written
// and outside the journal's lock (the operators' dashboard follows the
// run through it). f must not block.
func (j *Journal) Tap(f func(Event)) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.taps = append(j.taps, f)
}

// Wait returns a channel that receives the time of the first occurrence of
// event (at once if it already happened). Fault schedules use it for
// `at: {after: EVENT}`.
func (j *Journal) Wait(event string) <-chan time.Time {
	ch := make(chan time.Time, 1)
	j.mu.Lock()
	defer j.mu.Unlock()
	if t, ok := j.seen[event]; ok {
		ch <- t
		close(ch)
		return ch
	}
	j.waiters[event] = append(j.waiters[event], ch)
	return ch
}

// Events returns a copy of every event recorded so far.
func (j *Journal) Events() []Event {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]Event(nil), j.events...)
}

// Close closes the file; later events are kept in memory only.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return nil
	}
	err := j.f.Close()
	j.f = nil
	return err
}

// Seconds rounds d to milliseconds, as the journal writes elapsed times.
func Seconds(d time.Duration) float64 {
	return float64(d.Round(time.Millisecond)) / float64(time.Second)
}

// Signal marks a named moment for Wait without writing a line (for
// per-step triggers such as "step.start:2").
func (j *Journal) Signal(name string) {
	t := time.Now()
	j.mu.Lock()
	defer j.mu.Unlock()
	if _, ok := j.seen[name]; !ok {
		j.seen[name] = t
	}
	for _, ch := range j.waiters[name] {
		ch <- t
		close(ch)
	}
	delete(j.waiters, name)
}

func Read(path string) ([]Event, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var events []Event
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var e Event
		// A run killed mid-write may leave a torn last line: skip it.
		if json.Unmarshal(sc.Bytes(), &e) == nil {
			events = append(events, e)
		}
	}
	return events, sc.Err()
}

func Append(path, event string, fields map[string]any) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	line, _ := json.Marshal(Event{T: time.Now().UTC(), Event: event, Fields: fields})
	_, err = f.Write(append(line, '\n'))
	return err
}
