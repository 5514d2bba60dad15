package injectors

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

func init() { Register("db-blackhole", dbBlackholeKind{}) }

type dbBlackholeKind struct{}

var _ EngineLimited = dbBlackholeKind{}

func (dbBlackholeKind) Describe() Description {
	return Description{
		Name: "db-blackhole",
		Summary: "accept and read connections to a PostgreSQL database at its TCP proxy but forward nothing, both ways: " +
			"queries hang; on revert the blackholed connections are closed so clients reconnect",
		Targets: "database",
	}
}

func (dbBlackholeKind) Engines() ([]string, string) { return postgresOnly() }

// Parse takes no params; `probability` picks the share of connections
// blackholed.
func (dbBlackholeKind) Parse(func(any) error) (any, error) { return nil, nil }

func (dbBlackholeKind) New(s Spec) Injector {
	f := &dbBlackholeFault{h: newHoldings(newCoin(s.Seed, s.Probability))}
	inj := &dbBlackhole{f: f}
	inj.connInjector = connInjector{target: s.Target, fault: f, during: inj.probeDuring}
	return inj
}

// errBlackholeClosed ends a blackholed connection when the fault goes.
var errBlackholeClosed = errors.New("drill fault: blackholed connection closed on revert (db-blackhole)")

// dbBlackholeFault reads and drops everything on the connections it acts
// on. When it is removed (its ctx ends) it closes them: bytes were lost
// mid-protocol, so resuming the stream would leave client and server out
// of step; a closed connection is what makes a client reconnect.
type dbBlackholeFault struct {
	h       *holdings
	dropped atomic.Int64 // bytes read and not forwarded
	held    atomic.Int64 // connections blackholed
	closed  atomic.Int64 // blackholed connections closed on revert
}

func (f *dbBlackholeFault) Pipe(ctx context.Context, dst, src net.Conn, upstream bool) error {
	client := src
	if !upstream {
		client = dst
	}
	if !f.h.acts(client) {
		return copyConn(ctx, dst, src)
	}
	if upstream {
		f.held.Add(1)
	}
	release := interruptOnDone(ctx, src)
	defer release()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		f.dropped.Add(int64(n))
		if err == nil {
			continue
		}
		if ctx.Err() != nil && errors.Is(err, os.ErrDeadlineExceeded) {
			if upstream {
				f.closed.Add(1)
			}
			_ = src.Close()
			_ = dst.Close()
			return errBlackholeClosed
		}
		if errors.Is(err, io.EOF) {
			// The peer gave up (a client's timeout): a blackhole forwards
			// nothing, not even the FIN, so close both sides here.
			_ = src.Close()
			_ = dst.Close()
			return io.EOF
		}
		return err
	}
}

// dbBlackhole is one db-blackhole fault of a drill.
type dbBlackhole struct {
	connInjector
	f *dbBlackholeFault

	probeMu  sync.Mutex
	probed   bool
	waited   time.Duration
	probeErr error // nil: the probe got an answer (NOT blackholed)
}

var (
	_ Injector = (*dbBlackhole)(nil)
	_ Verifier = (*dbBlackhole)(nil)
)

// blackholeProbeWait is how long the probe waits for an answer a healthy
// server gives in well under a millisecond.
const blackholeProbeWait = 500 * time.Millisecond

func (b *dbBlackhole) probeDuring(ctx context.Context, addr string) {
	start := time.Now()
	_, err := pgProbe(ctx, addr, blackholeProbeWait)
	if ctx.Err() != nil {
		return // reverted before the probe could tell
	}
	b.probeMu.Lock()
	b.probed, b.waited, b.probeErr = true, time.Since(start), err
	b.probeMu.Unlock()
}

// Verify: a probe opened while the fault was in place got no answer, the
// fault dropped bytes, and it closed the connections it held on revert.
func (b *dbBlackhole) Verify(Observation) Effect {
	b.probeMu.Lock()
	probed, waited, probeErr := b.probed, b.waited, b.probeErr
	b.probeMu.Unlock()
	probe := "no probe finished"
	probeOK := true
	if probed {
		var ne net.Error
		switch {
		case probeErr == nil:
			probe, probeOK = "a probe got an answer: NOT blackholed", false
		case errors.As(probeErr, &ne) && ne.Timeout():
			probe = fmt.Sprintf("a probe got no answer in %s", waited.Round(time.Millisecond))
		default:
			probe = "a probe failed: " + probeErr.Error()
		}
	}
	held, dropped, closed := b.f.held.Load(), b.f.dropped.Load(), b.f.closed.Load()
	return Effect{Effective: held > 0 && probeOK,
		Measured: fmt.Sprintf("%d connections blackholed (probe included), %d B dropped, %d closed on revert; %s; %s",
			held, dropped, closed, probe, b.proxyCounts())}
}
