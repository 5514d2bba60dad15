package injectors

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

func init() { Register("restart", restartKind{}) }

// RestartParams configures the restart kind: it has no parameters.
type RestartParams struct{}

type restartKind struct{}

func (restartKind) Describe() Description {
	return Description{
		Name: "restart",
		Summary: "gracefully restart the target's instances (SIGTERM, then a fresh instance that must pass its health check); " +
			"there is nothing to revert",
		Targets: "service | service.version",
	}
}

func (restartKind) Parse(decode func(any) error) (any, error) {
	var p RestartParams
	if err := decode(&p); err != nil {
		return nil, err
	}
	return p, nil
}

func (restartKind) New(s Spec) Injector {
	return &restartInjector{target: s.Target, coin: newCoin(s.Seed, s.Probability)}
}

var (
	_ Injector = (*restartInjector)(nil)
	_ Verifier = (*restartInjector)(nil)
)

// restartInjector restarts the instances it picked once, at Apply.
type restartInjector struct {
	target string
	coin   *coin

	mu      sync.Mutex
	applied bool
	running int
	done    []restartRecord
}

// restartRecord is what the injector saw of one restart.
type restartRecord struct {
	name           string
	oldPID, newPID int
	newAlive       bool
	took           time.Duration
	failed         bool
}

func (r *restartInjector) Apply(ctx context.Context, env Env) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.applied {
		return nil
	}
	pp, err := env.Processes(r.target)
	if err != nil {
		return fmt.Errorf("restart %s: %w", r.target, err)
	}
	all, picked := pickProcesses(pp, r.coin)
	if all == 0 {
		return errNoProcess("restart", r.target)
	}
	r.applied, r.running = true, all
	var errs []error
	for _, p := range picked {
		x := restartRecord{name: p.Name(), oldPID: p.PID()}
		start := time.Now()
		if err := pp.Restart(ctx, x.name); err != nil {
			x.failed = true
			errs = append(errs, fmt.Errorf("restart %s: %w", x.name, err))
		}
		x.took = time.Since(start)
		if n := findProcess(pp, x.name); n != nil {
			x.newPID, x.newAlive = n.PID(), n.Alive()
		}
		r.done = append(r.done, x)
	}
	return errors.Join(errs...)
}

// Revert does nothing: a restarted instance is the normal state, there is
// nothing to undo. It is idempotent and safe without Apply like any other.
func (r *restartInjector) Revert(context.Context) error { return nil }

// Verify reports whether every picked instance was replaced by one with a
// different, live pid.
func (r *restartInjector) Verify(Observation) Effect {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.applied {
		return Effect{Measured: "not applied"}
	}
	if len(r.done) == 0 {
		return Effect{Measured: fmt.Sprintf("nothing restarted: probability %s picked none of %d instance(s) of %s",
			procPct(r.coin.p), r.running, r.target)}
	}
	ok, slowest := 0, time.Duration(0)
	var pids, bad []string
	for _, x := range r.done {
		if !x.failed && x.newPID > 0 && x.newPID != x.oldPID && x.newAlive {
			ok++
			slowest = max(slowest, x.took)
			pids = append(pids, fmt.Sprintf("%d→%d", x.oldPID, x.newPID))
			continue
		}
		why := "restart failed"
		switch {
		case x.failed:
		case x.newPID == 0:
			why = "no instance running after the restart"
		case x.newPID == x.oldPID:
			why = fmt.Sprintf("pid unchanged (%d)", x.oldPID)
		default:
			why = fmt.Sprintf("new pid %d not alive", x.newPID)
		}
		bad = append(bad, x.name+": "+why)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "graceful restart of %d of %d instance(s) of %s: %d replaced by a new live pid",
		len(r.done), r.running, r.target, ok)
	if ok > 0 {
		fmt.Fprintf(&b, " (%s) in %s (slowest)", strings.Join(pids, ", "), procRound(slowest))
	}
	if len(bad) > 0 {
		fmt.Fprintf(&b, "; %s", strings.Join(bad, "; "))
	}
	return Effect{Effective: ok == len(r.done), Measured: b.String()}
}
