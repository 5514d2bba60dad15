package injectors

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

func init() { Register("pause", pauseKind{}) }

// PauseParams configures the pause kind: it has no parameters; the
// fault's duration is how long the instances stay frozen.
type PauseParams struct{}

type pauseKind struct{}

func (pauseKind) Describe() Description {
	return Description{
		Name:    "pause",
		Summary: "freeze the target's instances (SIGSTOP) for the fault's duration: connections stay open, nothing answers; revert resumes them (SIGCONT)",
		Targets: "service | service.version",
	}
}

func (pauseKind) Parse(decode func(any) error) (any, error) {
	var p PauseParams
	if err := decode(&p); err != nil {
		return nil, err
	}
	return p, nil
}

func (pauseKind) New(s Spec) Injector {
	return &pauseInjector{target: s.Target, coin: newCoin(s.Seed, s.Probability)}
}

var (
	_ Injector = (*pauseInjector)(nil)
	_ Verifier = (*pauseInjector)(nil)
)

// pauseInjector freezes the instances it picked and resumes exactly those
// at Revert. It applies once.
type pauseInjector struct {
	target string
	coin   *coin

	mu        sync.Mutex
	applied   bool
	appliedAt time.Time
	running   int
	frozen    []*pauseVictim
}

// pauseVictim is what the injector saw of one frozen instance.
type pauseVictim struct {
	p        Process
	name     string
	pid      int
	stopped  bool // /proc showed it stopped after SIGSTOP
	stopTook time.Duration
	seen     byte // the state /proc showed after SIGSTOP

	resumed      bool // SIGCONT sent, or the instance is gone
	gone         bool // it died while paused: nothing to resume
	stillStopped bool // still stopped at revert, before SIGCONT
	pausedFor    time.Duration
	running      bool // /proc showed it not stopped after SIGCONT
	resumeTook   time.Duration
	after        byte
}

func (f *pauseInjector) Apply(ctx context.Context, env Env) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.applied {
		return nil
	}
	pp, err := env.Processes(f.target)
	if err != nil {
		return fmt.Errorf("pause %s: %w", f.target, err)
	}
	all, picked := pickProcesses(pp, f.coin)
	if all == 0 {
		return errNoProcess("pause", f.target)
	}
	f.applied, f.appliedAt, f.running = true, time.Now(), all
	var errs []error
	for _, p := range picked {
		// Remember it before signalling: a failed SIGSTOP may still have
		// reached part of the process group, and a resume is always safe.
		v := &pauseVictim{p: p, name: p.Name(), pid: p.PID()}
		f.frozen = append(f.frozen, v)
		if err := p.Pause(); err != nil {
			errs = append(errs, fmt.Errorf("pause %s: %w", v.name, err))
			continue
		}
		v.stopTook, v.seen, v.stopped = waitState(ctx, v.pid, isStoppedState)
	}
	return errors.Join(errs...)
}

// Revert resumes every frozen instance not resumed yet; one that died in
// the meantime is skipped. A failed SIGCONT is retried by the next Revert.
func (f *pauseInjector) Revert(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var errs []error
	for _, v := range f.frozen {
		if v.resumed {
			continue
		}
		if !v.p.Alive() {
			v.resumed, v.gone = true, true
			continue
		}
		if st, err := readProcStat(v.pid); err == nil {
			v.stillStopped = isStoppedState(st.State)
		}
		v.pausedFor = time.Since(f.appliedAt)
		if err := v.p.Resume(); err != nil {
			errs = append(errs, fmt.Errorf("resume %s: %w", v.name, err))
			continue
		}
		v.resumed = true
		v.resumeTook, v.after, v.running = waitState(ctx, v.pid, func(s byte) bool { return !isStoppedState(s) })
	}
	return errors.Join(errs...)
}

// Verify reports whether /proc showed every picked instance stopped after
// SIGSTOP (and, once reverted, still stopped then and running again after
// SIGCONT).
func (f *pauseInjector) Verify(Observation) Effect {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.applied {
		return Effect{Measured: "not applied"}
	}
	n := len(f.frozen)
	if n == 0 {
		return Effect{Measured: fmt.Sprintf("nothing paused: probability %s picked none of %d instance(s) of %s",
			procPct(f.coin.p), f.running, f.target)}
	}
	var stoppedN, still, resumed, running, gone int
	var slowStop, slowResume, pausedFor time.Duration
	var unseen []string
	for _, v := range f.frozen {
		if v.stopped {
			stoppedN++
			slowStop = max(slowStop, v.stopTook)
		} else {
			unseen = append(unseen, fmt.Sprintf("%s (%s)", v.name, procStateName(v.seen)))
		}
		switch {
		case v.gone:
			gone++
		case v.resumed:
			resumed++
			pausedFor = max(pausedFor, v.pausedFor)
			if v.stillStopped {
				still++
			}
			if v.running {
				running++
				slowResume = max(slowResume, v.resumeTook)
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "SIGSTOP to %d of %d instance(s) of %s: %d observed stopped (state T in /proc) within %s",
		n, f.running, f.target, stoppedN, procRound(slowStop))
	if len(unseen) > 0 {
		fmt.Fprintf(&b, "; not seen stopped: %s", strings.Join(unseen, ", "))
	}
	if resumed > 0 {
		fmt.Fprintf(&b, "; at revert after %s %d of %d still stopped, %d running again within %s of SIGCONT",
			procRound(pausedFor), still, resumed, running, procRound(slowResume))
	}
	if gone > 0 {
		fmt.Fprintf(&b, "; %d died while paused", gone)
	}
	return Effect{Effective: stoppedN == n, Measured: b.String()}
}
