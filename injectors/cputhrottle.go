package injectors

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"strings"
	"sync"
	"time"
)

func init() { Register("cpu-throttle", cpuThrottleKind{}) }

// CPUThrottleParams configures the cpu-throttle kind.
type CPUThrottleParams struct {
	// Limit is the share of wall time the instance may run.
	Limit Percent `yaml:"limit"`
	// Period is the length of one run/stop cycle.
	Period Duration `yaml:"period"`
}

// DefaultThrottlePeriod is the cpu-throttle period when none is given,
// the same as the kernel's default CFS quota period.
const DefaultThrottlePeriod = 100 * time.Millisecond

// Bounds of a throttle cycle: signals sent more often than every
// millisecond mostly measure the scheduler, and a period over 10s is a
// series of pauses rather than a throttle.
const (
	minThrottlePhase  = time.Millisecond
	minThrottlePeriod = 10 * time.Millisecond
	maxThrottlePeriod = 10 * time.Second
)

type cpuThrottleKind struct{}

func (cpuThrottleKind) Describe() Description {
	return Description{
		Name: "cpu-throttle",
		Summary: "let the target's instances run only limit of every period: stopped (SIGSTOP) for the rest of it, " +
			"until revert, which always leaves them running (SIGCONT); a container gets a CPU quota of limit × the machine's CPUs instead",
		Targets: "service | service.version",
		Params: []Param{
			{Name: "limit", Default: "(required)", Description: "share of wall time the instance may run, 1%-99%, e.g. 50%"},
			{Name: "period", Default: DefaultThrottlePeriod.String(), Description: "length of one run/stop cycle, 10ms-10s"},
		},
	}
}

func (cpuThrottleKind) Parse(decode func(any) error) (any, error) {
	p := CPUThrottleParams{Period: Duration(DefaultThrottlePeriod)}
	if err := decode(&p); err != nil {
		return nil, err
	}
	var errs []error
	switch {
	case p.Limit == 0:
		errs = append(errs, errors.New("cpu-throttle needs params.limit, the share of time the instance may run (e.g. limit: 50%)"))
	case p.Limit < 0.01 || p.Limit > 0.99:
		errs = append(errs, fmt.Errorf("cpu-throttle params.limit %s is outside 1%%-99%% (0%% is a pause, 100%% no fault)", procPct(float64(p.Limit))))
	}
	period := time.Duration(p.Period)
	if period < minThrottlePeriod || period > maxThrottlePeriod {
		errs = append(errs, fmt.Errorf("cpu-throttle params.period %s is outside %s-%s", period, minThrottlePeriod, maxThrottlePeriod))
	} else if len(errs) == 0 {
		if short := time.Duration(float64(period) * min(float64(p.Limit), 1-float64(p.Limit))); short < minThrottlePhase {
			errs = append(errs, fmt.Errorf("cpu-throttle limit %s of period %s leaves a %s phase, under %s; use a longer period",
				procPct(float64(p.Limit)), period, short, minThrottlePhase))
		}
	}
	return p, errors.Join(errs...)
}

func (cpuThrottleKind) New(s Spec) Injector {
	return &cpuThrottle{target: s.Target, p: s.Params.(CPUThrottleParams), coin: newCoin(s.Seed, s.Probability)}
}

var (
	_ Injector = (*cpuThrottle)(nil)
	_ Verifier = (*cpuThrottle)(nil)
)

// cpuThrottle runs a SIGSTOP/SIGCONT duty cycle on the instances it
// picked at Apply (an instance restarted meanwhile is not throttled), in
// one goroutine, and samples their /proc state in another to
// measure the share of wall time they were really runnable. Both end at
// Revert (or when the ctx given to Apply ends) and the last thing the
// cycle does is SIGCONT, so a throttle never leaves a process stopped.
type cpuThrottle struct {
	target string
	p      CPUThrottleParams
	coin   *coin

	mu        sync.Mutex
	applied   bool
	running   int
	procs     []Process
	cancel    context.CancelFunc
	done      chan struct{} // closed when the cycle and the sampler ended
	appliedAt time.Time
	toResume  []Process // after Revert: those whose SIGCONT failed

	// Measurements, written by the two goroutines under mu.
	cycles      int
	signalErrs  int
	lastErr     error
	samples     int // /proc state samples of a live process
	stopSamples int // of those, how many showed it stopped or a SIGSTOP pending
	cpu         map[int]*cpuSpan
	measured    time.Duration // from Apply to the end of the cycle

	// Capped mode (every picked instance is a CPUCapper): a quota instead
	// of the cycle, and the runtime's counters at Apply and at Revert.
	capped     bool
	cores      float64 // the quota, in cores
	acct0      map[string]CPUAccount
	acct1      map[string]CPUAccount
	toUncap    []Process // after Revert: those whose cap could not be removed
	capReadErr error
	// acct0 is read in the background, from the first reading after the
	// cap is in place (the runtime's readings lag): Revert cancels and
	// waits for those reads.
	readCancel context.CancelFunc
	reads      sync.WaitGroup
}

// cpuSpan is the CPU time one process used between two samples.
type cpuSpan struct {
	firstTicks, lastTicks uint64
	first, last           time.Time
}

func (c *cpuThrottle) Apply(ctx context.Context, env Env) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.applied {
		return nil
	}
	pp, err := env.Processes(c.target)
	if err != nil {
		return fmt.Errorf("cpu-throttle %s: %w", c.target, err)
	}
	all, picked := pickProcesses(pp, c.coin)
	if all == 0 {
		return errNoProcess("cpu-throttle", c.target)
	}
	c.applied, c.running, c.procs, c.appliedAt = true, all, picked, time.Now()
	c.cpu = map[int]*cpuSpan{}
	if len(picked) == 0 {
		return nil
	}
	if allCappers(picked) {
		return c.applyCap()
	}
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	c.cancel, c.done = cancel, done
	var wg sync.WaitGroup
	wg.Add(2)
	Go(ctx, "cpu-throttle "+c.target+" cycle", func() { defer wg.Done(); c.cycle(cctx) })
	Go(ctx, "cpu-throttle "+c.target+" sampler", func() { defer wg.Done(); c.sample(cctx) })
	go func() { wg.Wait(); close(done) }()
	return nil
}

// Revert stops the cycle and the sampler, waits for both to end, and
// resumes every throttled process once more: whatever phase the cycle was
// in, nothing can stop them after this returns.
func (c *cpuThrottle) Revert(context.Context) error {
	c.mu.Lock()
	if c.capped || len(c.toUncap) > 0 {
		defer c.mu.Unlock()
		return c.revertCap()
	}
	cancel, done := c.cancel, c.done
	c.cancel = nil
	if cancel != nil {
		c.toResume = c.procs
	}
	c.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	if done != nil {
		// Every Revert waits, outside mu (the goroutines take it to record
		// what they saw): none returns while a goroutine could still act.
		<-done
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	var failed []Process
	for _, p := range c.toResume {
		if err := p.Resume(); err != nil {
			errs = append(errs, fmt.Errorf("resume %s: %w", p.Name(), err))
			failed = append(failed, p)
		}
	}
	c.toResume = failed
	return errors.Join(errs...)
}

// cycle stops the processes for (1-limit)×period of every period until
// ctx ends, then continues them. Phases are laid on a fixed grid from the
// start so a late timer shortens the next phase instead of drifting.
func (c *cpuThrottle) cycle(ctx context.Context) {
	period := time.Duration(c.p.Period)
	run := time.Duration(float64(period) * float64(c.p.Limit))
	start := time.Now()
	t := time.NewTimer(run)
	defer t.Stop()
	defer func() {
		c.signal(Process.Resume) // whatever the phase: never leave them stopped
		c.mu.Lock()
		c.measured = time.Since(c.appliedAt)
		c.mu.Unlock()
	}()
	for k := 0; ; k++ {
		origin := start.Add(time.Duration(k) * period)
		if !throttleWait(ctx, t, origin.Add(run)) {
			return
		}
		c.signal(Process.Pause)
		if !throttleWait(ctx, t, origin.Add(period)) {
			return
		}
		c.signal(Process.Resume)
		c.mu.Lock()
		c.cycles++
		c.mu.Unlock()
	}
}

// throttleWait waits on t until at; false when ctx ended first.
func throttleWait(ctx context.Context, t *time.Timer, at time.Time) bool {
	t.Reset(time.Until(at))
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// signal sends one signal (Pause or Resume) to every throttled process.
func (c *cpuThrottle) signal(send func(Process) error) {
	for _, p := range c.procs {
		if err := send(p); err != nil {
			c.mu.Lock()
			c.signalErrs++
			c.lastErr = fmt.Errorf("%s: %w", p.Name(), err)
			c.mu.Unlock()
		}
	}
}

// sampleStep is the sampling interval as a share of the period: 1/(8φ),
// irrational, so the samples sweep every phase of the cycle evenly
// instead of hitting the same instants of it each period.
var sampleStep = 1 / (8 * math.Phi)

// maxSampleStep keeps a long period's verdict from needing a long fault.
const maxSampleStep = 50 * time.Millisecond

// sample reads the /proc state and CPU time of every throttled process at
// sampleStep×period intervals until ctx ends. The share of samples neither
// in state T nor with a SIGSTOP pending is the share of wall time the
// process was allowed to run.
func (c *cpuThrottle) sample(ctx context.Context) {
	step := float64(c.p.Period) * sampleStep
	// Long periods are sampled more often, by a whole divisor so that the
	// step stays irrational to the period.
	step /= math.Ceil(step / float64(maxSampleStep))
	tick := time.NewTicker(max(time.Duration(step), 500*time.Microsecond))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for _, p := range c.procs {
			st, err := readProcStat(p.PID())
			now := time.Now()
			c.mu.Lock()
			if err == nil {
				c.samples++
				if isStoppedState(st.State) || stopPending(p.PID()) {
					c.stopSamples++
				}
				s := c.cpu[p.PID()]
				if s == nil {
					s = &cpuSpan{firstTicks: st.Ticks, first: now}
					c.cpu[p.PID()] = s
				}
				s.lastTicks, s.last = st.Ticks, now
			}
			c.mu.Unlock()
		}
	}
}

// minThrottleSamples is how many /proc samples a verdict needs: fewer and
// one sample moves the share by more than the tolerance allows.
const minThrottleSamples = 40

// throttleTolerance is how far the measured runnable share may be from the
// limit: 25% of the limit, and never less than 2 points.
func throttleTolerance(limit float64) float64 { return max(0.25*limit, 0.02) }

// Verify compares the measured share of wall time the processes were
// runnable (not stopped, from /proc state samples) with the limit.
func (c *cpuThrottle) Verify(Observation) Effect {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.applied {
		return Effect{Measured: "not applied"}
	}
	limit := float64(c.p.Limit)
	if len(c.procs) == 0 {
		return Effect{Measured: fmt.Sprintf("nothing throttled: probability %s picked none of %d instance(s) of %s",
			procPct(c.coin.p), c.running, c.target)}
	}
	if c.acct0 != nil {
		return c.verifyCap()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "configured limit %s, period %s, on %d of %d instance(s) of %s: ",
		procPct(limit), time.Duration(c.p.Period), len(c.procs), c.running, c.target)
	if c.samples < minThrottleSamples {
		fmt.Fprintf(&b, "not measured: %d /proc state samples, %d needed (fault too short, or the process state is not readable here)",
			c.samples, minThrottleSamples)
		return Effect{Measured: b.String()}
	}
	runnable := 1 - float64(c.stopSamples)/float64(c.samples)
	tol := throttleTolerance(limit)
	ok := math.Abs(runnable-limit) <= tol
	fmt.Fprintf(&b, "measured runnable (not stopped, no SIGSTOP pending) %s of wall time (tolerance ±%s points; %d /proc state samples, %d cycles",
		procPct(runnable), strings.TrimSuffix(procPct(tol), "%"), c.samples, c.cycles)
	if c.measured > 0 {
		fmt.Fprintf(&b, " over %s", procRound(c.measured))
	}
	b.WriteString(")")
	var cores float64
	for _, s := range c.cpu {
		if wall := s.last.Sub(s.first).Seconds(); wall > 0 {
			cores += float64(s.lastTicks-s.firstTicks) / userHZ / wall
		}
	}
	fmt.Fprintf(&b, ", using %.2f CPU cores", cores)
	if c.signalErrs > 0 {
		fmt.Fprintf(&b, "; %d signals failed (last: %v)", c.signalErrs, c.lastErr)
	}
	return Effect{Effective: ok, Measured: b.String()}
}

// allCappers reports whether every instance can be capped by its runtime.
func allCappers(ps []Process) bool {
	for _, p := range ps {
		if _, ok := p.(CPUCapper); !ok {
			return false
		}
	}
	return true
}

// applyCap puts the quota in place; c.mu is held. The quota is limit of
// every CPU of the machine, the most a process stopped for (1-limit) of
// each period could use, so both modes allow the same CPU.
func (c *cpuThrottle) applyCap() error {
	c.cores = float64(c.p.Limit) * float64(runtime.NumCPU())
	c.acct0, c.acct1 = map[string]CPUAccount{}, map[string]CPUAccount{}
	ctx, cancel := context.WithCancel(context.Background())
	c.readCancel = cancel
	for i, p := range c.procs {
		cp := p.(CPUCapper)
		if err := cp.CapCPU(c.cores, time.Duration(c.p.Period)); err != nil {
			// Undo the ones already capped: a failed Apply leaves nothing.
			c.toUncap = append(c.toUncap, c.procs[:i+1]...)
			cancel()
			_ = c.revertCap()
			return fmt.Errorf("cpu-throttle %s: cap %s: %w", c.target, p.Name(), err)
		}
		capAt := time.Now()
		c.reads.Add(1)
		go func() {
			defer c.reads.Done()
			a, err := readAccount(ctx, cp, capAt)
			c.mu.Lock()
			defer c.mu.Unlock()
			switch {
			case err == nil:
				c.acct0[p.Name()] = a
			case ctx.Err() == nil && c.capReadErr == nil:
				c.capReadErr = err
			}
		}()
	}
	c.capped = true
	return nil
}

// readAccount is CPUAccount(since) that gives up when ctx ends.
func readAccount(ctx context.Context, cp CPUCapper, since time.Time) (CPUAccount, error) {
	type res struct {
		a   CPUAccount
		err error
	}
	ch := make(chan res, 1)
	go func() { a, err := cp.CPUAccount(since); ch <- res{a, err} }()
	select {
	case r := <-ch:
		return r.a, r.err
	case <-ctx.Done():
		return CPUAccount{}, ctx.Err()
	}
}

// revertCap reads the counters while the cap is still in place, then
// removes it; c.mu is held. Instances whose cap could not be removed are
// tried again by the next Revert.
func (c *cpuThrottle) revertCap() error {
	if c.capped {
		// The first readings under the cap are no longer awaited.
		c.readCancel()
		c.mu.Unlock()
		c.reads.Wait()
		c.mu.Lock()
		c.toUncap = c.procs
		for _, p := range c.procs {
			if a, err := p.(CPUCapper).CPUAccount(time.Time{}); err == nil {
				c.acct1[p.Name()] = a
			} else if c.capReadErr == nil {
				c.capReadErr = err
			}
		}
		c.capped = false
		c.measured = time.Since(c.appliedAt)
	}
	var errs []error
	var failed []Process
	for _, p := range c.toUncap {
		if !p.Alive() {
			continue // gone: nothing capped is left
		}
		if err := p.(CPUCapper).CapCPU(0, time.Duration(c.p.Period)); err != nil {
			errs = append(errs, fmt.Errorf("uncap %s: %w", p.Name(), err))
			failed = append(failed, p)
		}
	}
	c.toUncap = failed
	return errors.Join(errs...)
}

// capTolerance is how far above the quota the measured CPU may be: the
// runtime's counters are read up to a period apart from the quota's edges.
func capTolerance(cores float64) float64 { return max(0.1*cores, 0.02) }

// verifyCap proves the quota from the runtime's own accounting: the cap
// read back while in place must be the configured one, and the CPU the
// instances used under it may not exceed it; c.mu is held.
func (c *cpuThrottle) verifyCap() Effect {
	var b strings.Builder
	fmt.Fprintf(&b, "configured limit %s of %d CPUs = CPU quota %.2f cores per %s, on %d of %d instance(s) of %s: ",
		procPct(float64(c.p.Limit)), runtime.NumCPU(), c.cores, time.Duration(c.p.Period), len(c.procs), c.running, c.target)
	ok := true
	var parts []string
	for _, p := range c.procs {
		a0, ok0 := c.acct0[p.Name()]
		a1, ok1 := c.acct1[p.Name()]
		if !ok1 {
			ok = false
			parts = append(parts, p.Name()+": counters not read at revert")
			continue
		}
		part := fmt.Sprintf("%s: quota in place %.2f cores", p.Name(), a1.Cap)
		if math.Abs(a1.Cap-c.cores) > 0.01*c.cores+1e-9 {
			ok = false
			part += " (not the configured one)"
		}
		if !ok0 {
			part += " (the fault was too short for a reading under it)"
		}
		if ok0 && a1.At.After(a0.At) {
			if wall := a1.At.Sub(a0.At); wall > 0 && a1.Usage >= a0.Usage {
				used := (a1.Usage - a0.Usage).Seconds() / wall.Seconds()
				part += fmt.Sprintf(", used %.2f cores over %s", used, procRound(wall))
				if used > c.cores+capTolerance(c.cores) {
					ok = false
					part += " (above the quota)"
				}
			}
			if a1.Periods >= a0.Periods {
				part += fmt.Sprintf(", %d of %d periods throttled", a1.Throttled-a0.Throttled, a1.Periods-a0.Periods)
			}
		}
		parts = append(parts, part)
	}
	b.WriteString(strings.Join(parts, "; "))
	if c.capReadErr != nil {
		fmt.Fprintf(&b, "; reading counters failed: %v", c.capReadErr)
	}
	return Effect{Effective: ok, Measured: b.String()}
}
