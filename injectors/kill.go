package injectors

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

func init() { Register("kill", killKind{}) }

// KillParams configures the kill kind.
type KillParams struct {
	// Restart brings each killed instance back at once, as a supervisor
	// would. Without it the instance stays down until the fault is
	// reverted: a kill is reverted by bringing the instance back.
	Restart bool `yaml:"restart"`
}

type killKind struct{}

func (killKind) Describe() Description {
	return Description{
		Name:    "kill",
		Summary: "SIGKILL the target's instances; they come back at once (restart: true) or when the fault is reverted",
		Targets: "service | service.version",
		Params: []Param{
			{Name: "restart", Default: "false", Description: "restart each killed instance at once, as a supervisor would, and measure how long that takes; " +
				"when false the instance stays down for the fault's duration and reverting the fault restarts it"},
		},
	}
}

func (killKind) Parse(decode func(any) error) (any, error) {
	var p KillParams
	if err := decode(&p); err != nil {
		return nil, err
	}
	return p, nil
}

func (killKind) New(s Spec) Injector {
	return &killInjector{target: s.Target, p: s.Params.(KillParams), coin: newCoin(s.Seed, s.Probability)}
}

var (
	_ Injector = (*killInjector)(nil)
	_ Verifier = (*killInjector)(nil)
)

// killInjector SIGKILLs the instances it picked (probability: each
// instance of the target with that chance) and remembers them, so that
// Revert brings back exactly those not back yet. It applies once.
type killInjector struct {
	target string
	p      KillParams
	coin   *coin

	mu      sync.Mutex
	applied bool
	running int // instances of the target when the fault was applied
	pp      ProcessPoint
	victims []*killVictim
}

// killVictim is what the injector saw of one killed instance.
type killVictim struct {
	name      string
	oldPID    int
	gone      bool // Alive() turned false within goneTimeout
	goneAfter time.Duration

	back        bool   // a new instance runs in its place
	backAt      string // "apply" (restart: true), "revert", or "elsewhere"
	restartTook time.Duration
	newPID      int
	newAlive    bool
}

func (k *killInjector) Apply(ctx context.Context, env Env) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.applied {
		return nil
	}
	pp, err := env.Processes(k.target)
	if err != nil {
		return fmt.Errorf("kill %s: %w", k.target, err)
	}
	all, picked := pickProcesses(pp, k.coin)
	if all == 0 {
		return errNoProcess("kill", k.target)
	}
	k.applied, k.pp, k.running = true, pp, all
	var errs []error
	for _, p := range picked {
		v := &killVictim{name: p.Name(), oldPID: p.PID()}
		if err := p.Kill(); err != nil {
			errs = append(errs, fmt.Errorf("kill %s: %w", v.name, err))
			continue
		}
		k.victims = append(k.victims, v)
		v.goneAfter, v.gone = procPoll(ctx, goneTimeout, func() bool { return !p.Alive() })
		if k.p.Restart {
			if err := k.bringBack(ctx, v, "apply"); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// Revert brings back every killed instance that is not back yet (with
// restart: true that is only one whose restart at Apply failed). An
// instance something else already replaced is left alone.
func (k *killInjector) Revert(ctx context.Context) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	var errs []error
	for _, v := range k.victims {
		if v.back {
			continue
		}
		if n := findProcess(k.pp, v.name); n != nil && n.PID() != v.oldPID {
			v.back, v.backAt, v.newPID, v.newAlive = true, "elsewhere", n.PID(), n.Alive()
			continue
		}
		if err := k.bringBack(ctx, v, "revert"); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// bringBack restarts a killed instance through the ProcessPoint and notes
// how long it took and what runs in its place.
func (k *killInjector) bringBack(ctx context.Context, v *killVictim, when string) error {
	start := time.Now()
	if err := k.pp.Restart(ctx, v.name); err != nil {
		return fmt.Errorf("restart %s after kill: %w", v.name, err)
	}
	v.restartTook = time.Since(start)
	v.back, v.backAt = true, when
	if n := findProcess(k.pp, v.name); n != nil {
		v.newPID, v.newAlive = n.PID(), n.Alive()
	}
	return nil
}

// Verify reports whether every picked instance was really gone after
// SIGKILL and, with restart: true, whether a new one came up.
func (k *killInjector) Verify(Observation) Effect {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.applied {
		return Effect{Measured: "not applied"}
	}
	if len(k.victims) == 0 {
		return Effect{Measured: fmt.Sprintf("nothing killed: probability %s picked none of %d instance(s) of %s",
			procPct(k.coin.p), k.running, k.target)}
	}
	gone, maxGone := 0, time.Duration(0)
	for _, v := range k.victims {
		if v.gone {
			gone++
			maxGone = max(maxGone, v.goneAfter)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "SIGKILL to %d of %d instance(s) of %s: %d gone (not alive) within %s of the signal (poll limit %s)",
		len(k.victims), k.running, k.target, gone, procRound(maxGone), goneTimeout)
	ok := gone == len(k.victims)
	up, back := k.backWithNewPID("apply")
	if k.p.Restart {
		fmt.Fprintf(&b, "; configured restart: true, measured: %d of %d restarted with a new live pid", up, len(k.victims))
		if up > 0 {
			fmt.Fprintf(&b, " in %s (slowest)", procRound(back))
		}
		ok = ok && up == len(k.victims)
	} else {
		b.WriteString("; configured restart: false: down until revert")
		if up, back := k.backWithNewPID("revert"); up > 0 {
			fmt.Fprintf(&b, ", %d brought back by the revert in %s (slowest)", up, procRound(back))
		}
	}
	return Effect{Effective: ok, Measured: b.String()}
}

// backWithNewPID counts the victims brought back when (at apply or revert)
// with a new, live pid, and the slowest of those restarts.
func (k *killInjector) backWithNewPID(when string) (n int, slowest time.Duration) {
	for _, v := range k.victims {
		if v.back && v.backAt == when && v.newPID > 0 && v.newPID != v.oldPID && v.newAlive {
			n++
			slowest = max(slowest, v.restartTook)
		}
	}
	return n, slowest
}
