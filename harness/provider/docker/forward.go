package docker

import (
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/drillhq/drill/harness/provider"
	"github.com/moby/moby/api/types/network"
)

// loopbackAddr matches loopback addresses in a service's environment:
// inside a container, 127.0.0.1 is the container itself, so each one
// must become a forwarder or stay unreachable.
var loopbackAddr = regexp.MustCompile(`\b(?:127\.0\.0\.1|localhost):(\d{1,5})\b`)

// AllowForward lets containers reach every 127.0.0.1:<port> or
// localhost:<port> in url (a router's caller entry) through a forwarder.
// Without it, containerEnv refuses the address: a forwarder on the
// bridge gateway would otherwise hand containers any service on the
// host's loopback (the Docker API on localhost:2375, the host's own
// PostgreSQL on localhost:5432).
func (p *dockerProvider) AllowForward(url string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.allowed == nil {
		p.allowed = map[string]bool{}
	}
	for _, m := range loopbackAddr.FindAllStringSubmatch(url, -1) {
		p.allowed["127.0.0.1:"+m[1]] = true
	}
}

// forwardable reports whether target (127.0.0.1:<port>) is one of the
// harness's own listeners: a router entry named by AllowForward, or one of
// the provider's database proxies. p.mu must be held.
func (p *dockerProvider) forwardable(target string) bool {
	if p.allowed[target] {
		return true
	}
	for _, px := range p.proxies {
		if px.Addr() == target {
			return true
		}
	}
	return false
}

// containerEnv rewrites every 127.0.0.1:<port> (or localhost:<port>) in env
// to a forwarder on the run network's gateway that leads to it: inside a
// container, 127.0.0.1 is the container itself. Only the harness's own
// listeners are forwarded (see forwardable); env naming any other loopback
// port is an EnvError, and then no forwarder is opened at all.
func (p *dockerProvider) containerEnv(gateway string, env map[string]string) (map[string]string, error) {
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys) // the same error for the same env
	p.mu.Lock()
	for _, k := range keys {
		for _, m := range loopbackAddr.FindAllStringSubmatch(env[k], -1) {
			if !p.forwardable("127.0.0.1:" + m[1]) {
				p.mu.Unlock()
				// The key and the address only: the value may hold a secret.
				return nil, &provider.EnvError{What: fmt.Sprintf("env %s names %s, which is not one of the drill's routers or database proxies: "+
					"the docker provider forwards only those into the run's network", k, m[0]),
					Hint: "reach services through ${services.NAME.url} and databases through ${databases.NAME.url}; " +
						"other host services are not the drill's to expose to containers"}
			}
		}
	}
	p.mu.Unlock()
	out := make(map[string]string, len(env)+2)
	var firstErr error
	for k, v := range env {
		out[k] = loopbackAddr.ReplaceAllStringFunc(v, func(m string) string {
			port := loopbackAddr.FindStringSubmatch(m)[1]
			fw, err := p.forwarderTo(gateway, "127.0.0.1:"+port)
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				return m
			}
			return fw.addr
		})
	}
	out["PORT"] = strconv.Itoa(int(network.MustParsePort(containerPort).Num()))
	out["HOST"] = "0.0.0.0"
	return out, firstErr
}

// forwarderTo returns the forwarder to target, opening it on first use. It
// refuses a target that is not the harness's own (see forwardable), also
// for callers other than containerEnv.
func (p *dockerProvider) forwarderTo(gateway, target string) (*forwarder, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, errors.New("provider closed")
	}
	if fw, ok := p.forwarders[target]; ok {
		return fw, nil
	}
	if !p.forwardable(target) {
		return nil, &provider.EnvError{What: target + " is not one of the drill's routers or database proxies: not forwarded into the run's network"}
	}
	fw, err := newForwarder(net.JoinHostPort(gateway, "0"), target)
	if err != nil {
		return nil, &provider.EnvError{What: "listen on the run network's gateway " + gateway + " for " + target, Err: err}
	}
	p.forwarders[target] = fw
	return fw, nil
}

// forwarder relays TCP connections from a listener on the run network's
// gateway to one of the harness's loopback listeners.
type forwarder struct {
	addr   string
	target string
	ln     net.Listener
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

func newForwarder(listen, target string) (*forwarder, error) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, err
	}
	fw := &forwarder{addr: ln.Addr().String(), target: target, ln: ln, conns: map[net.Conn]struct{}{}}
	fw.wg.Add(1)
	go fw.serve()
	return fw, nil
}

func (f *forwarder) serve() {
	defer f.wg.Done()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.wg.Add(1)
		go func() { defer f.wg.Done(); f.relay(c) }()
	}
}

func (f *forwarder) relay(client net.Conn) {
	upstream, err := net.DialTimeout("tcp", f.target, 5*time.Second)
	if err != nil {
		client.Close()
		return
	}
	if !f.add(client, upstream) {
		client.Close()
		upstream.Close()
		return
	}
	defer f.remove(client, upstream)
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		// Half-close: the other direction may still be answering.
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go pipe(upstream, client)
	go pipe(client, upstream)
	<-done
	<-done
}

func (f *forwarder) add(cs ...net.Conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return false
	}
	for _, c := range cs {
		f.conns[c] = struct{}{}
	}
	return true
}

func (f *forwarder) remove(cs ...net.Conn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range cs {
		c.Close()
		delete(f.conns, c)
	}
}

// close stops listening, cuts open connections and waits for the relays.
func (f *forwarder) close() {
	f.mu.Lock()
	f.closed = true
	for c := range f.conns {
		c.Close()
	}
	f.mu.Unlock()
	f.ln.Close()
	f.wg.Wait()
}
