package injectors

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

func init() { Register("db-latency", dbLatencyKind{}) }

// DBLatencyParams configures the db-latency kind.
type DBLatencyParams struct {
	Delay  Duration `yaml:"delay"`
	Jitter Duration `yaml:"jitter"`
}

type dbLatencyKind struct{}

var _ EngineLimited = dbLatencyKind{}

func (dbLatencyKind) Describe() Description {
	return Description{
		Name:    "db-latency",
		Summary: "delay what clients send to a PostgreSQL database at its TCP proxy: every query round trip gets slower",
		Targets: "database",
		Params: []Param{
			{Name: "delay", Default: "(required)", Description: "added to each chunk client→database, e.g. 50ms"},
			{Name: "jitter", Default: "0s", Description: "uniform spread around delay (delay±jitter)"},
		},
	}
}

func (dbLatencyKind) Engines() ([]string, string) { return postgresOnly() }

func (dbLatencyKind) Parse(decode func(any) error) (any, error) {
	var p DBLatencyParams
	if err := decode(&p); err != nil {
		return nil, err
	}
	var errs []error
	if p.Delay <= 0 {
		errs = append(errs, errors.New("db-latency needs params.delay > 0 (e.g. delay: 50ms)"))
	}
	if p.Jitter < 0 {
		errs = append(errs, errors.New("db-latency params.jitter must not be negative"))
	}
	if p.Jitter > p.Delay && p.Delay > 0 {
		errs = append(errs, errors.New("db-latency params.jitter must not exceed delay (a chunk cannot arrive before it was sent)"))
	}
	return p, errors.Join(errs...)
}

func (dbLatencyKind) New(s Spec) Injector {
	p := s.Params.(DBLatencyParams)
	f := &dbLatencyFault{p: p, coin: newCoin(s.Seed, s.Probability), probability: s.Probability}
	inj := &dbLatency{f: f}
	inj.connInjector = connInjector{target: s.Target, fault: f, before: inj.probeBefore, during: inj.probeDuring}
	return inj
}

// dbLatency is one db-latency fault of a drill.
type dbLatency struct {
	connInjector
	f *dbLatencyFault

	probeMu        sync.Mutex
	before, during []time.Duration // probe round trips
	probeErr       error
}

var (
	_ Injector = (*dbLatency)(nil)
	_ Verifier = (*dbLatency)(nil)
)

// probes is how many round trips the baseline and the measurement make.
const latencyProbes = 5

func (l *dbLatency) probeBefore(ctx context.Context, addr string) {
	for range latencyProbes {
		rtt, err := pgProbe(ctx, addr, 2*time.Second)
		l.probeMu.Lock()
		if err != nil {
			l.probeErr = err
		} else {
			l.before = append(l.before, rtt)
		}
		l.probeMu.Unlock()
	}
}

func (l *dbLatency) probeDuring(ctx context.Context, addr string) {
	timeout := 2*time.Duration(l.f.p.Delay+l.f.p.Jitter) + 2*time.Second
	for range latencyProbes {
		rtt, err := pgProbe(ctx, addr, timeout)
		if ctx.Err() != nil {
			return // reverted mid-probe: that round trip proves nothing
		}
		l.probeMu.Lock()
		if err != nil {
			l.probeErr = err
		} else {
			l.during = append(l.during, rtt)
		}
		l.probeMu.Unlock()
	}
}

// Verify compares probe round trips through the proxy before and while
// the fault was installed: the added delay must be the configured one,
// within a quarter of it plus the jitter. With a probability below 1 only
// the mean is reported, and any delayed chunk counts as effective.
func (l *dbLatency) Verify(Observation) Effect {
	l.probeMu.Lock()
	before := slices.Min(append([]time.Duration{time.Hour}, l.before...))
	if len(l.before) == 0 {
		before = 0
	}
	during := append([]time.Duration(nil), l.during...)
	probeErr := l.probeErr
	l.probeMu.Unlock()
	delayed := l.f.delayed.Load()
	want := time.Duration(l.f.p.Delay)
	counts := fmt.Sprintf("%d chunks delayed; %s", delayed, l.proxyCounts())
	if len(during) == 0 {
		why := "the fault ended before a probe finished"
		if probeErr != nil {
			why = "probe failed: " + probeErr.Error()
		}
		return Effect{Effective: delayed > 0, Measured: fmt.Sprintf("added round trip not measured (%s); %s", why, counts)}
	}
	if l.f.probability < 1 {
		var sum time.Duration
		for _, d := range during {
			sum += d
		}
		added := sum/time.Duration(len(during)) - before
		return Effect{Effective: delayed > 0,
			Measured: fmt.Sprintf("mean added round trip %s over %d probes (configured %s with probability %.2f); %s",
				added.Round(100*time.Microsecond), len(during), want, l.f.probability, counts)}
	}
	// The fastest round trips judge: load on the machine only ever adds
	// time, so the minimum is the fault's own delay (less the jitter it
	// drew), the median may carry noise. Both are reported.
	least := slices.Min(during) - before
	typical := medianDuration(during) - before
	tol := want/4 + time.Duration(l.f.p.Jitter)
	ok := least >= want-tol && least <= want+tol
	return Effect{Effective: ok && delayed > 0,
		Measured: fmt.Sprintf("added round trip %s at least, %s median, over %d probes (configured %s±%s); %s",
			least.Round(100*time.Microsecond), typical.Round(100*time.Microsecond), len(during), want,
			time.Duration(l.f.p.Jitter), counts)}
}

// dbLatencyFault delays the client→database direction. A reader stamps
// each chunk on arrival; the writer forwards it at arrival+delay, so
// chunks arriving together are delayed once, not once each, and their
// order is kept (a later chunk never overtakes an earlier one).
type dbLatencyFault struct {
	p           DBLatencyParams
	coin        *coin
	probability float64
	delayed     atomic.Int64
}

type stampedChunk struct {
	b   []byte
	due time.Time
}

func (f *dbLatencyFault) Pipe(ctx context.Context, dst, src net.Conn, upstream bool) error {
	if !upstream {
		return copyConn(ctx, dst, src)
	}
	ch := make(chan stampedChunk, 64)
	var rerr error
	go func() {
		defer close(ch)
		release := interruptOnDone(ctx, src)
		defer release()
		buf := make([]byte, 32<<10)
		var last time.Time
		for {
			n, err := src.Read(buf)
			if n > 0 {
				due := time.Now()
				if f.coin.flip() {
					due = due.Add(f.delay())
					f.delayed.Add(1)
				}
				if due.Before(last) {
					due = last
				}
				last = due
				ch <- stampedChunk{b: append([]byte(nil), buf[:n]...), due: due}
			}
			if err != nil {
				rerr = err
				return
			}
		}
	}()
	var werr error
	for c := range ch {
		if werr != nil {
			continue // drain until the reader stops
		}
		// Once ctx ends (reverted) what is queued goes out at once: the
		// fault is gone, and dropping it would corrupt the stream.
		if d := time.Until(c.due); d > 0 && ctx.Err() == nil {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
			}
		}
		if _, err := dst.Write(c.b); err != nil {
			werr = err
			_ = src.SetReadDeadline(time.Now()) // stop the reader
		}
	}
	if werr != nil {
		return werr
	}
	if errors.Is(rerr, io.EOF) {
		return nil
	}
	return rerr
}

func (f *dbLatencyFault) delay() time.Duration {
	d := float64(f.p.Delay)
	if j := float64(f.p.Jitter); j > 0 {
		d += j * (2*f.coin.float() - 1)
	}
	return time.Duration(max(d, 0))
}
