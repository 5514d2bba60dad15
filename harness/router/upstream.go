package router

import (
	"bufio"
	"context"
	"net"
	"net/url"
	"slices"
	"time"
)

// upConn is a keep-alive connection from the fast path to one instance.
// While a client connection uses it, it belongs to that connection alone
// (fastConn.ups); between client connections it waits in the router's
// idle pool.
type upConn struct {
	c       net.Conn
	br      *bufio.Reader
	bw      *bufio.Writer
	backend *url.URL // the backend it was dialed for, by identity
	version string
	// reused is set once it has carried a response: a failure to answer
	// on it may then be an idle close by the instance, not an answer.
	reused bool
}

const (
	upReadBuffer  = 4 << 10
	upWriteBuffer = 4 << 10
)

var upDialer = net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}

// fastBackend reports whether the fast path can send requests to u: plain
// HTTP to a host, no path or query to join with the request's (which
// ReverseProxy would do).
func fastBackend(u *url.URL) bool {
	return u.Scheme == "http" && u.Opaque == "" && u.User == nil && (u.Path == "" || u.Path == "/") &&
		u.RawPath == "" && u.RawQuery == "" && !u.ForceQuery && u.Host != ""
}

// dial opens a connection to backend; ctx is the router's base context,
// so that Close aborts dials in progress.
func dial(ctx context.Context, backend *url.URL, version string) (*upConn, error) {
	addr := backend.Host
	if backend.Port() == "" {
		addr = net.JoinHostPort(backend.Hostname(), "80")
	}
	c, err := upDialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return &upConn{
		c:       c,
		br:      bufio.NewReaderSize(c, upReadBuffer),
		bw:      bufio.NewWriterSize(c, upWriteBuffer),
		backend: backend,
		version: version,
	}, nil
}

// takeIdle returns an idle connection to backend from the pool, nil when
// there is none.
func (rt *Router) takeIdle(backend *url.URL) *upConn {
	rt.poolMu.Lock()
	defer rt.poolMu.Unlock()
	list := rt.pool[backend]
	if len(list) == 0 {
		return nil
	}
	up := list[len(list)-1]
	list[len(list)-1] = nil
	rt.pool[backend] = list[:len(list)-1]
	return up
}

// putIdle parks up in the pool for the next client connection, or closes
// it when the router is closed, its backend was replaced or removed, or
// the pool is full.
func (rt *Router) putIdle(up *upConn) {
	cfg := rt.cfg.Load()
	rt.poolMu.Lock()
	if !rt.poolClosed && cfg.backends[up.version] == up.backend && len(rt.pool[up.backend]) < MaxIdleConnsPerHost {
		if rt.pool == nil {
			rt.pool = map[*url.URL][]*upConn{}
		}
		rt.pool[up.backend] = append(rt.pool[up.backend], up)
		up = nil
	}
	rt.poolMu.Unlock()
	if up != nil {
		up.c.Close()
	}
}

// sweepUpstreams closes the idle upstream connections whose version's
// backend changed or went away: the pool's, and those pinned to client
// connections but not in use. Otherwise a replaced instance's connections
// would stay open until their client connection closes.
func (rt *Router) sweepUpstreams() {
	cfg := rt.cfg.Load()
	stale := func(up *upConn) bool { return cfg.backends[up.version] != up.backend }
	var drop []*upConn
	rt.poolMu.Lock()
	for b, list := range rt.pool {
		kept := list[:0]
		for _, up := range list {
			if stale(up) {
				drop = append(drop, up)
			} else {
				kept = append(kept, up)
			}
		}
		clear(list[len(kept):])
		if len(kept) == 0 {
			delete(rt.pool, b)
		} else {
			rt.pool[b] = kept
		}
	}
	rt.poolMu.Unlock()
	rt.fastMu.Lock()
	for fc := range rt.fastConns {
		fc.mu.Lock()
		fc.ups = slices.DeleteFunc(fc.ups, func(up *upConn) bool {
			if up != fc.inUse && stale(up) {
				drop = append(drop, up)
				return true
			}
			return false
		})
		fc.mu.Unlock()
	}
	rt.fastMu.Unlock()
	for _, up := range drop {
		up.c.Close()
	}
}

// closePool closes every pooled connection and makes putIdle close those
// returned later.
func (rt *Router) closePool() {
	rt.poolMu.Lock()
	pool := rt.pool
	rt.pool, rt.poolClosed = nil, true
	rt.poolMu.Unlock()
	for _, list := range pool {
		for _, up := range list {
			up.c.Close()
		}
	}
}
