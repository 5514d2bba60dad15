// Package tcpproxy is the TCP proxy a drill puts in front of a database:
// it listens on a loopback port, forwards every connection to the
// database, and is the fault point (injectors.ConnPoint) of the
// connection-level faults. It counts connections, bytes and errors so
// that a fault's effect can be verified.
package tcpproxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/drillhq/drill/injectors"
)

// DefaultDialTimeout bounds how long the proxy waits for the upstream
// when a client connects.
const DefaultDialTimeout = 5 * time.Second

// revertWait bounds how long a fault's removal waits for the pipes still
// running it (a pipe stuck writing to a peer that no longer reads).
const revertWait = 5 * time.Second

// Proxy forwards connections from its listener to one upstream address.
// Installed faults act on every connection, open and new; when several are
// installed the latest acts, and the earlier ones act again once it is
// removed.
type Proxy struct {
	upstream    string
	ln          net.Listener
	ctx         context.Context
	cancel      context.CancelFunc
	dialTimeout time.Duration

	mu     sync.Mutex
	faults []*installed // in install order; the last one acts
	conns  map[*conn]struct{}
	closed bool
	wg     sync.WaitGroup

	accepted, open, up, down, dialErrors, errs atomic.Int64
	lastErr                                    atomic.Value // string
}

var (
	_ injectors.ConnPoint    = (*Proxy)(nil)
	_ injectors.ConnObserver = (*Proxy)(nil)
)

// Option configures a Proxy.
type Option func(*Proxy)

// WithDialTimeout sets how long a client connection waits for the
// upstream to accept (default DefaultDialTimeout).
func WithDialTimeout(d time.Duration) Option { return func(p *Proxy) { p.dialTimeout = d } }

// New starts a proxy on 127.0.0.1 (a free port) forwarding to upstream
// ("host:port").
func New(upstream string, opts ...Option) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("tcp proxy for %s: %w", upstream, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Proxy{upstream: upstream, ln: ln, ctx: ctx, cancel: cancel, dialTimeout: DefaultDialTimeout,
		conns: map[*conn]struct{}{}}
	for _, o := range opts {
		o(p)
	}
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

// Addr is the proxy's listening address ("127.0.0.1:port").
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Port is the proxy's listening port.
func (p *Proxy) Port() int { return p.ln.Addr().(*net.TCPAddr).Port }

// Upstream is the address the proxy forwards to.
func (p *Proxy) Upstream() string { return p.upstream }

// Stats returns the running totals.
func (p *Proxy) Stats() injectors.ConnStats {
	return injectors.ConnStats{Accepted: p.accepted.Load(), Open: p.open.Load(), BytesUp: p.up.Load(),
		BytesDown: p.down.Load(), DialErrors: p.dialErrors.Load(), Errors: p.errs.Load()}
}

// LastError is the last error a connection ended with ("" when none).
func (p *Proxy) LastError() string {
	s, _ := p.lastErr.Load().(string)
	return s
}

// installed is one installed fault; running counts the pipes executing it
// so that removing it can wait until it no longer acts anywhere.
type installed struct {
	f       injectors.ConnFault
	running sync.WaitGroup
}

// Install puts f on every connection: open connections switch to it at
// once (their blocked reads are interrupted, no byte is lost), new ones
// start with it. The returned remove is idempotent and returns once no
// connection runs f any more (or after revertWait).
func (p *Proxy) Install(f injectors.ConnFault) (remove func()) {
	in := &installed{f: f}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return func() {}
	}
	p.faults = append(p.faults, in)
	p.retargetLocked()
	p.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			p.mu.Lock()
			p.faults = slices.DeleteFunc(p.faults, func(x *installed) bool { return x == in })
			p.retargetLocked()
			p.mu.Unlock()
			done := make(chan struct{})
			go func() { in.running.Wait(); close(done) }()
			t := time.NewTimer(revertWait)
			defer t.Stop()
			select {
			case <-done:
			case <-t.C:
			}
		})
	}
}

// top is the fault that acts now; p.mu is held.
func (p *Proxy) top() *installed {
	if len(p.faults) == 0 {
		return nil
	}
	return p.faults[len(p.faults)-1]
}

func (p *Proxy) retargetLocked() {
	top := p.top()
	for c := range p.conns {
		c.switchTo(top)
	}
}

// Close stops listening, closes every connection and waits for their
// goroutines. It is idempotent.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	err := p.ln.Close()
	p.cancel()
	conns := make([]*conn, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	for _, c := range conns {
		c.close()
	}
	p.wg.Wait()
	return err
}

func (p *Proxy) serve() {
	defer p.wg.Done()
	backoff := 5 * time.Millisecond
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if p.ctx.Err() != nil {
				return
			}
			// EMFILE and the like: wait and go on, as net/http does.
			time.Sleep(backoff)
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 5 * time.Millisecond
		p.accepted.Add(1)
		p.wg.Add(1)
		go p.handle(c)
	}
}

func (p *Proxy) handle(client net.Conn) {
	defer p.wg.Done()
	d := net.Dialer{Timeout: p.dialTimeout}
	server, err := d.DialContext(p.ctx, "tcp", p.upstream)
	if err != nil {
		p.dialErrors.Add(1)
		p.lastErr.Store("dial " + p.upstream + ": " + err.Error())
		_ = client.Close()
		return
	}
	c := &conn{p: p, client: client, server: server}
	c.cw = &countingConn{Conn: client, written: &p.down}
	c.sw = &countingConn{Conn: server, written: &p.up}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		_ = client.Close()
		_ = server.Close()
		return
	}
	c.ctx, c.cancel = context.WithCancel(p.ctx)
	c.cur = p.top()
	p.conns[c] = struct{}{}
	p.open.Add(1)
	p.mu.Unlock()

	var wg sync.WaitGroup
	wg.Add(2)
	for _, upstream := range []bool{true, false} {
		go func() {
			defer wg.Done()
			err := c.pump(upstream)
			if err == nil {
				// src ended cleanly: pass the FIN on and let the other
				// direction finish (PostgreSQL closes after Terminate).
				dst := c.cw
				if upstream {
					dst = c.sw
				}
				_ = dst.CloseWrite()
				return
			}
			c.fail(err)
		}()
	}
	wg.Wait()
	c.close()
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	p.open.Add(-1)
}

// conn is one proxied connection.
type conn struct {
	p              *Proxy
	client, server net.Conn
	cw, sw         *countingConn // what faults get: writes are counted

	mu      sync.Mutex
	cur     *installed
	ctx     context.Context // ends when cur changes or the conn closes
	cancel  context.CancelFunc
	closed  bool
	errored bool // counted among the proxy's errors
}

// switchTo makes in the fault of c: the running pipes' ctx ends and their
// blocked reads return (a read deadline in the past), so each direction
// picks in up without losing a byte. Done under c.mu, like the pumps'
// clearing of the deadline, so an interrupt never hits the next pipe.
func (c *conn) switchTo(in *installed) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.cur == in {
		return
	}
	c.cancel()
	c.ctx, c.cancel = context.WithCancel(c.p.ctx)
	c.cur = in
	now := time.Now()
	_ = c.client.SetReadDeadline(now)
	_ = c.server.SetReadDeadline(now)
}

// pump runs one direction through whichever fault is current, switching
// when it changes; it returns nil when the source ended cleanly.
func (c *conn) pump(upstream bool) error {
	dst, src := c.cw, c.sw
	if upstream {
		dst, src = c.sw, c.cw
	}
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return net.ErrClosed
		}
		ctx, in := c.ctx, c.cur
		if in != nil {
			in.running.Add(1)
		}
		_ = src.SetReadDeadline(time.Time{})
		c.mu.Unlock()
		var err error
		if in == nil {
			err = plainCopy(dst, src)
		} else {
			err = in.f.Pipe(ctx, dst, src, upstream)
			in.running.Done()
		}
		if ctx.Err() != nil && !c.isClosed() {
			continue // the fault changed: go on under the new one
		}
		if errors.Is(err, os.ErrDeadlineExceeded) && !c.isClosed() {
			// Only interrupts set read deadlines: this one is stale (a
			// fault's ctx watcher that fired late), not a failure.
			continue
		}
		return err
	}
}

func (c *conn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// fail ends the connection after an error in either direction. A
// connection counts once among the errors, whichever direction saw the
// error first; a close (by the proxy, a fault or the other direction) or
// an EOF is no error.
func (c *conn) fail(err error) {
	real := !errors.Is(err, net.ErrClosed) && !errors.Is(err, io.EOF) && !errors.Is(err, os.ErrDeadlineExceeded)
	c.mu.Lock()
	count := real && !c.errored
	c.errored = c.errored || real
	c.mu.Unlock()
	if count {
		c.p.errs.Add(1)
		c.p.lastErr.Store(err.Error())
	}
	c.close()
}

func (c *conn) close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.cancel()
	c.mu.Unlock()
	_ = c.client.Close()
	_ = c.server.Close()
}

// plainCopy forwards src to dst while no fault is installed; a read
// deadline set by switchTo ends it.
func plainCopy(dst, src net.Conn) error {
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

// countingConn counts the bytes written to a connection. It is a plain
// net.Conn (no ReadFrom/WriteTo), so copies go through Write and are
// counted; SetLinger and CloseWrite reach the TCP connection underneath.
type countingConn struct {
	net.Conn
	written *atomic.Int64
}

func (c *countingConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.written.Add(int64(n))
	return n, err
}

// SetLinger sets SO_LINGER (0: Close resets the peer).
func (c *countingConn) SetLinger(sec int) error {
	if tc, ok := c.Conn.(*net.TCPConn); ok {
		return tc.SetLinger(sec)
	}
	return nil
}

// CloseWrite half-closes the connection (sends a FIN).
func (c *countingConn) CloseWrite() error {
	if tc, ok := c.Conn.(*net.TCPConn); ok {
		return tc.CloseWrite()
	}
	return c.Conn.Close()
}
