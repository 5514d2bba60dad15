package injectors

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func init() { Register("db-reset", dbResetKind{}) }

type dbResetKind struct{}

var _ EngineLimited = dbResetKind{}

func (dbResetKind) Describe() Description {
	return Description{
		Name: "db-reset",
		Summary: "reset (TCP RST) every connection to a PostgreSQL database at its TCP proxy, open ones at once " +
			"and new ones as they arrive, for the fault's duration",
		Targets: "database",
	}
}

func (dbResetKind) Engines() ([]string, string) { return postgresOnly() }

// Parse takes no params: what a reset does has nothing to configure;
// `probability` picks the share of connections reset.
func (dbResetKind) Parse(func(any) error) (any, error) { return nil, nil }

func (dbResetKind) New(s Spec) Injector {
	f := &dbResetFault{coin: newCoin(s.Seed, s.Probability)}
	inj := &dbReset{f: f}
	inj.connInjector = connInjector{target: s.Target, fault: f, during: inj.probeDuring}
	return inj
}

// errReset is what a reset connection's pipe ends with.
var errReset = errors.New("drill fault: connection reset (db-reset)")

// dbResetFault resets a connection on both sides the moment it is piped
// through the fault: existing connections when the fault is installed, new
// ones when they are accepted. Only the client→database direction decides
// (and counts), so each connection is reset once.
type dbResetFault struct {
	coin   *coin
	resets atomic.Int64
}

func (f *dbResetFault) Pipe(ctx context.Context, dst, src net.Conn, upstream bool) error {
	if !upstream || !f.coin.flip() {
		return copyConn(ctx, dst, src)
	}
	abort(src)
	abort(dst)
	f.resets.Add(1)
	return errReset
}

// dbReset is one db-reset fault of a drill.
type dbReset struct {
	connInjector
	f *dbResetFault

	probeMu  sync.Mutex
	probed   bool
	probeErr error // what the probe's client saw: a reset is the proof
}

var (
	_ Injector = (*dbReset)(nil)
	_ Verifier = (*dbReset)(nil)
)

// probeDuring opens one connection through the faulty proxy and keeps
// what its client saw.
func (r *dbReset) probeDuring(ctx context.Context, addr string) {
	_, err := pgProbe(ctx, addr, 2*time.Second)
	if ctx.Err() != nil {
		return
	}
	r.probeMu.Lock()
	r.probed, r.probeErr = true, err
	r.probeMu.Unlock()
}

// Verify: the fault reset connections, and a probe connection opened
// while it was in place was reset (or closed) before it got an answer.
func (r *dbReset) Verify(Observation) Effect {
	r.probeMu.Lock()
	probed, probeErr := r.probed, r.probeErr
	r.probeMu.Unlock()
	resets := r.f.resets.Load()
	probe := "no probe finished"
	probeOK := true
	if probed {
		switch {
		case probeErr == nil:
			probe, probeOK = "a probe connection got an answer: NOT reset", false
		case errors.Is(probeErr, syscall.ECONNRESET):
			probe = "a probe connection was reset by peer"
		default:
			probe = "a probe connection failed: " + probeErr.Error()
		}
	}
	return Effect{Effective: resets > 0 && probeOK,
		Measured: fmt.Sprintf("%d connections reset (probe included); %s; %s", resets, probe, r.proxyCounts())}
}
