package ledger

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"sync"
	"sync/atomic"
)

// Entry statuses.
const (
	// Acked marks a write the service answered with a 2xx: it must be in
	// the database.
	Acked = "ack"
	// Indeterminate marks a write that got no answer: it may or may not
	// have happened.
	Indeterminate = "indeterminate"
)

// Entry is one line of ledger.jsonl: a write's key, the columns it sent
// that the answer acknowledged, and its status.
type Entry struct {
	Key     string            `json:"k"`
	Columns map[string]string `json:"c,omitempty"`
	Status  string            `json:"s"`
	At      int64             `json:"t"` // unix milliseconds
}

// Writer streams ledger entries to disk; memory use does not depend
// on how many writes the drill acknowledges.
//
// Request goroutines only append to an in-memory buffer; the file is
// written by Flush (every tick) and by a background writer once the buffer
// passes writeChunk. A write(2) can block for a long time when the host's
// disk is busy (dirty-page throttling), and a request that waited on it
// would show the disk's latency as the system under test's. Memory stays
// bounded: past maxPending a writer waits for the file, as it would
// have without the buffer.
type Writer struct {
	path string

	mu       sync.Mutex
	cond     *sync.Cond // signalled when pending shrinks
	pending  []byte
	closed   bool
	acked    int64
	indet    int64
	problems map[string]int
	lastKey  atomic.Pointer[string]

	fileMu sync.Mutex // serialises writes to f
	f      *os.File
	werr   error // the first write error, reported by Close

	kick chan struct{}
	done chan struct{}
}

const (
	// writeChunk is the buffer size at which the background writer runs.
	writeChunk = 64 << 10
	// maxPending bounds the buffer (about 200,000 entries).
	maxPending = 16 << 20
)

// Open creates (or truncates) the ledger file at path, private to the
// user, and starts its background writer.
func Open(path string) (*Writer, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open ledger: %w", err)
	}
	l := &Writer{path: path, f: f, problems: map[string]int{},
		kick: make(chan struct{}, 1), done: make(chan struct{})}
	l.cond = sync.NewCond(&l.mu)
	go l.background()
	return l, nil
}

// Write appends e to the ledger. It does not wait for the disk unless the
// buffer is full; after Close it drops e (a late answer).
func (l *Writer) Write(e Entry) {
	line, _ := json.Marshal(e)
	l.mu.Lock()
	defer l.mu.Unlock()
	for !l.closed && len(l.pending) >= maxPending {
		l.cond.Wait()
	}
	if l.closed {
		return
	}
	l.pending = append(append(l.pending, line...), '\n')
	if e.Status == Acked {
		l.acked++
		k := e.Key
		l.lastKey.Store(&k)
	} else {
		l.indet++
	}
	if len(l.pending) >= writeChunk {
		select {
		case l.kick <- struct{}{}:
		default:
		}
	}
}

// background writes the buffer out whenever Write says it is full.
func (l *Writer) background() {
	for {
		select {
		case <-l.kick:
			l.Flush()
		case <-l.done:
			return
		}
	}
}

// Last is the key of the last acknowledged write, "" before the first.
func (l *Writer) Last() string {
	if p := l.lastKey.Load(); p != nil {
		return *p
	}
	return ""
}

// Path is the ledger file's path.
func (l *Writer) Path() string { return l.path }

// Problems counts, by reason, the tracked requests the ledger could not
// record (a body that is not JSON, a key field it lacks).
func (l *Writer) Problems() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.problems)
}

// problem counts a tracked request the ledger could not record.
func (l *Writer) problem(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.problems[err.Error()]++
}

// Flush pushes buffered entries to the file (called every tick so a
// killed run loses at most a second of ledger). Entries reach the file in
// the order they were written: fileMu is taken before the buffer is.
func (l *Writer) Flush() {
	l.fileMu.Lock()
	defer l.fileMu.Unlock()
	l.mu.Lock()
	buf := l.pending
	l.pending = nil
	l.cond.Broadcast()
	l.mu.Unlock()
	if len(buf) == 0 || l.f == nil {
		return
	}
	if _, err := l.f.Write(buf); err != nil && l.werr == nil {
		l.werr = err
	}
}

// Close writes what is buffered and closes the file; it returns the first
// write error. Closing twice is a no-op.
func (l *Writer) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.cond.Broadcast()
	l.mu.Unlock()
	close(l.done)
	// Entries written before close are still in pending: Flush takes them.
	l.Flush()
	l.fileMu.Lock()
	defer l.fileMu.Unlock()
	err := errors.Join(l.werr, l.f.Close())
	l.f = nil
	return err
}
