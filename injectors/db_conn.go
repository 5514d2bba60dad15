package injectors

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"sync"
	"time"
)

// The db-* kinds act on the TCP proxy the harness puts in front of a
// PostgreSQL server: every connection a service opens through
// ${databases.NAME.url} passes through it, while the harness's own
// migrations and checks go to the server directly.

// EngineLimited is implemented by a kind that acts only on databases of
// some engines. The scenario loader refuses any other database target at
// the fault's target, with why as the hint.
type EngineLimited interface {
	// Engines lists the database engines the kind acts on, and why only
	// those.
	Engines() (engines []string, why string)
}

// ConnObserver is implemented by a ConnPoint that counts what passes
// through it; connection faults read it to verify their effect.
type ConnObserver interface {
	// Addr is where the proxy listens: a probe connection dialled there
	// goes through every installed fault.
	Addr() string
	// Stats returns the proxy's running totals.
	Stats() ConnStats
}

// ConnStats are a database proxy's running totals since it started.
type ConnStats struct {
	Accepted   int64 // client connections accepted
	Open       int64 // connections open now
	BytesUp    int64 // bytes written to the database (client→database)
	BytesDown  int64 // bytes written to clients (database→client)
	DialErrors int64 // client connections dropped because the database could not be reached
	// Errors counts connections that ended with an error (a reset, a
	// broken pipe, a fault's own abort) rather than a clean close.
	Errors int64
}

// sub returns the counts that happened between b and s.
func (s ConnStats) sub(b ConnStats) ConnStats {
	return ConnStats{Accepted: s.Accepted - b.Accepted, Open: s.Open, BytesUp: s.BytesUp - b.BytesUp,
		BytesDown: s.BytesDown - b.BytesDown, DialErrors: s.DialErrors - b.DialErrors, Errors: s.Errors - b.Errors}
}

// postgresOnly is the EngineLimited answer of every db-* kind.
func postgresOnly() ([]string, string) {
	return []string{"postgres"}, "db-* faults act on connections, through the TCP proxy drill puts in front of a PostgreSQL " +
		"server; a SQLite database is a file the service opens itself, with no connection to act on (use engine: postgres)"
}

// copyConn is a Pipe that adds nothing: it copies src to dst until src
// ends (nil on EOF), either side fails, or ctx ends.
func copyConn(ctx context.Context, dst, src net.Conn) error {
	defer interruptOnDone(ctx, src)()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return werr
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// interruptOnDone makes a blocked Read on c return when ctx ends, without
// closing c (the connection lives on under the next fault). The returned
// release must be called before the Pipe returns: it waits for the
// watcher, so no stale deadline can hit whoever reads c next.
func interruptOnDone(ctx context.Context, c net.Conn) (release func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-ctx.Done():
			_ = c.SetReadDeadline(time.Now())
		case <-done:
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done); wg.Wait() }) }
}

// abort closes c with a TCP RST rather than a FIN where it can: linger 0
// makes the kernel drop unsent data and reset the peer, which is what a
// client sees when a network device or a crashed server resets it.
func abort(c net.Conn) {
	if l, ok := c.(interface{ SetLinger(sec int) error }); ok {
		_ = l.SetLinger(0)
	}
	_ = c.Close()
}

// pgProbe makes one PostgreSQL round trip through addr: an SSLRequest,
// which a server answers with a single byte ('N' or 'S') before any
// authentication. It measures from the request's write to the answer.
func pgProbe(ctx context.Context, addr string, timeout time.Duration) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Now()) })
	defer stop()
	var req [8]byte
	binary.BigEndian.PutUint32(req[0:4], 8)
	binary.BigEndian.PutUint32(req[4:8], 80877103) // SSLRequest code
	start := time.Now()
	if _, err := c.Write(req[:]); err != nil {
		return 0, err
	}
	var ans [1]byte
	if _, err := io.ReadFull(c, ans[:]); err != nil {
		return 0, err
	}
	rtt := time.Since(start)
	if ans[0] != 'N' && ans[0] != 'S' {
		return rtt, fmt.Errorf("probe: unexpected answer %q (is %s a PostgreSQL server?)", ans[0], addr)
	}
	return rtt, nil
}

// medianDuration returns the median of ds (0 when empty); ds is sorted.
func medianDuration(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[len(ds)/2]
}

// connInjector installs one ConnFault at the proxy of its target database.
// Kinds give it probes: before runs just before the fault is installed
// (a baseline), during runs in the background while it is installed and
// is cancelled by Revert. Revert is idempotent and safe without Apply.
type connInjector struct {
	target string
	fault  ConnFault
	before func(ctx context.Context, addr string)
	during func(ctx context.Context, addr string)

	mu          sync.Mutex
	remove      func()
	obs         ConnObserver // nil when the point does not count
	statsBefore ConnStats
	statsDelta  ConnStats // what the proxy counted while the fault was installed
	counted     bool
	stopProbe   context.CancelFunc
	probeDone   chan struct{}
}

func (c *connInjector) Apply(ctx context.Context, env Env) error {
	p, err := env.Conn(c.target)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.remove != nil {
		return nil // already applied
	}
	c.obs, _ = p.(ConnObserver)
	if c.obs != nil {
		if c.before != nil {
			c.before(ctx, c.obs.Addr())
		}
		c.statsBefore = c.obs.Stats()
	}
	c.remove = p.Install(c.fault)
	if c.obs != nil && c.during != nil {
		pctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		done := make(chan struct{})
		c.stopProbe, c.probeDone = cancel, done
		addr := c.obs.Addr()
		Go(ctx, "connection probe of "+addr, func() { defer close(done); c.during(pctx, addr) })
	}
	return nil
}

func (c *connInjector) Revert(context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.remove == nil {
		return nil
	}
	// The probe first: a probe left waiting on a blackhole would only
	// end when the proxy closes its connection.
	if c.stopProbe != nil {
		c.stopProbe()
		<-c.probeDone
		c.stopProbe, c.probeDone = nil, nil
	}
	c.remove()
	c.remove = nil
	if c.obs != nil {
		c.statsDelta, c.counted = c.obs.Stats().sub(c.statsBefore), true
	}
	return nil
}

// proxyCounts renders what the proxy counted while the fault was in place.
func (c *connInjector) proxyCounts() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.counted {
		return "proxy counters unavailable"
	}
	s := c.statsDelta
	return fmt.Sprintf("proxy: %d connections accepted, %d ended with an error, %d B up, %d B down",
		s.Accepted, s.Errors, s.BytesUp, s.BytesDown)
}

// holdings remembers a per-connection coin flip so that both directions
// of a connection agree on whether a fault acts on it. It is keyed by the
// client side of the connection and lives as long as one installed fault.
type holdings struct {
	coin *coin
	mu   sync.Mutex
	m    map[net.Conn]bool
}

func newHoldings(c *coin) *holdings { return &holdings{coin: c, m: map[net.Conn]bool{}} }

// acts reports whether the fault acts on the connection whose client side
// is client.
func (h *holdings) acts(client net.Conn) bool {
	if h.coin.p >= 1 {
		return true
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	v, ok := h.m[client]
	if !ok {
		v = h.coin.flip()
		h.m[client] = v
	}
	return v
}
