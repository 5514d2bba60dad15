package injectors

import (
	"context"
	"errors"
	"fmt"
	"math"
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
			"until revert, which always leaves them running (SIGCONT)",
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
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	c.cancel, c.done = cancel, done
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); c.cycle(cctx) }()
	go func() { defer wg.Done(); c.sample(cctx) }()
	go func() { wg.Wait(); close(done) }()
	return nil
}

// Revert stops the cycle and the sampler, waits for both to end, and
// resumes every throttled process once more: whatever phase the cycle was
// in, nothing can stop them after this returns.
func (c *cpuThrottle) Revert(context.Context) error {
	c.mu.Lock()
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
