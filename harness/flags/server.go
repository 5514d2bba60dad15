package flags

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Server is drill's flag service: it serves flag definitions over OFREP
// (see http.go) and lets the harness change them (Set) and break the
// service the way a real one breaks (Down, SetStaleness).
//
// It keeps two views of every flag. Published is what the harness last
// Set; Served is what answers carry. They differ only while staleness
// holds a change back — the "flag-stale" fault, where a change reaches
// services late as it would through a lagging cache or sync.
//
// Safe for concurrent use. An answer costs one atomic load of an
// immutable snapshot (and a lock only when a held-back change is due), so
// it serves hundreds of evaluations per second without contention.
type Server struct {
	mu        sync.Mutex
	original  map[string]*Flag
	published map[string]version
	pending   []change // held back by staleness, in publish order
	staleness time.Duration
	revision  int64

	served  atomic.Pointer[snapshot]
	nextDue atomic.Int64 // UnixNano when pending[0] is due; MaxInt64 when none

	now func() time.Time // the clock staleness is measured on; tests fake it

	net    sync.Mutex // guards the listener fields below
	addr   string
	hs     *http.Server
	down   bool
	closed bool
}

// version is a flag definition and the revision that published it.
type version struct {
	flag *Flag
	rev  int64
}

type change struct {
	key string
	v   version
	due time.Time
}

// snapshot is what answers are made from; it is never changed once stored.
type snapshot struct {
	flags    map[string]version
	revision int64 // the newest revision served
}

// NewServer returns a server for defs at revision 0, not yet listening.
// The definitions are copied: the caller may change defs afterwards.
func NewServer(defs map[string]*Flag) *Server {
	s := &Server{
		original:  make(map[string]*Flag, len(defs)),
		published: make(map[string]version, len(defs)),
		now:       time.Now,
	}
	for k, f := range defs {
		s.original[k] = f.Clone()
		s.published[k] = version{flag: f.Clone()}
	}
	s.served.Store(&snapshot{flags: maps.Clone(s.published)})
	s.nextDue.Store(math.MaxInt64)
	return s
}

// Set publishes f as flag key's definition and returns the new revision
// (one more than the last). The change is served at once, or after the
// staleness in force (SetStaleness). A definition with Problems is
// refused, so a drill cannot publish what flagd would not load.
func (s *Server) Set(key string, f *Flag) (int64, error) {
	if f == nil {
		return 0, fmt.Errorf("flag %q: no definition", key)
	}
	if ps := f.Problems(); len(ps) > 0 {
		msgs := make([]string, len(ps))
		for i, p := range ps {
			msgs[i] = p.String()
		}
		return 0, fmt.Errorf("flag %q: %s", key, strings.Join(msgs, "; "))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revision++
	v := version{flag: f.Clone(), rev: s.revision}
	s.published[key] = v
	if s.staleness <= 0 {
		s.serveLocked([]change{{key: key, v: v}}, s.revision)
		return s.revision, nil
	}
	due := s.now().Add(s.staleness)
	if n := len(s.pending); n > 0 && due.Before(s.pending[n-1].due) {
		// Changes reach services in publish order, as through a lagging
		// cache: a change is never served before one published earlier.
		due = s.pending[n-1].due
	}
	s.pending = append(s.pending, change{key: key, v: v, due: due})
	s.nextDue.Store(s.pending[0].due.UnixNano())
	return s.revision, nil
}

// SetStaleness makes every change published from now on become served d
// after it was published. Changes already held back keep their due times.
// d <= 0 restores immediate serving, and every change still held back is
// served at once: removing the fault is the sync catching up.
func (s *Server) SetStaleness(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.staleness = d
	if d <= 0 && len(s.pending) > 0 {
		s.serveLocked(s.pending, s.revision)
		s.pending = nil
		s.nextDue.Store(math.MaxInt64)
	}
}

// serveLocked makes changes served; rev is the revision the snapshot then
// reflects. Called with s.mu held.
func (s *Server) serveLocked(cs []change, rev int64) {
	old := s.served.Load()
	next := &snapshot{flags: maps.Clone(old.flags), revision: rev}
	for _, c := range cs {
		next.flags[c.key] = c.v
	}
	s.served.Store(next)
}

// current returns the snapshot to answer from, first serving any held-back
// change that is due.
func (s *Server) current() *snapshot {
	if s.nextDue.Load() <= s.now().UnixNano() {
		s.promote()
	}
	return s.served.Load()
}

func (s *Server) promote() {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.now()
	n := 0
	for n < len(s.pending) && !s.pending[n].due.After(t) {
		n++
	}
	if n == 0 {
		return
	}
	s.serveLocked(s.pending[:n], s.pending[n-1].v.rev)
	s.pending = slices.Delete(s.pending, 0, n)
	if len(s.pending) == 0 {
		s.nextDue.Store(math.MaxInt64)
	} else {
		s.nextDue.Store(s.pending[0].due.UnixNano())
	}
}

// Published returns a copy of flag key's last published definition and
// the revision that published it (0: the definition given to NewServer);
// nil when there is no such flag.
func (s *Server) Published(key string) (*Flag, int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.published[key]
	if !ok {
		return nil, 0
	}
	return v.flag.Clone(), v.rev
}

// Served returns a copy of the definition answers for key carry right now
// and the revision that published it. It differs from Published while
// staleness holds a change back.
func (s *Server) Served(key string) (*Flag, int64) {
	v, ok := s.current().flags[key]
	if !ok {
		return nil, 0
	}
	return v.flag.Clone(), v.rev
}

// Revision is the newest published revision (0 before any Set).
func (s *Server) Revision() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.revision
}

// Original returns a copy of flag key's definition as given to NewServer
// (nil when it had none): what a rollback restores.
func (s *Server) Original(key string) *Flag {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.original[key].Clone()
}

// Keys returns every published flag key, sorted.
func (s *Server) Keys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(s.published))
}

var errNotStarted = errors.New("flags: server not started")
