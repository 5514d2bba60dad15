// Package gameday is a running drill's operator console: the commands a
// person sends (drill ctl over a Unix socket, the dashboard's buttons, an
// answer on stdin), what each may change and when, the state the
// operators see, and the record of who did what for the report.
//
// The console never acts on the system itself. It validates a command
// against the drill's state and either refuses it (changing nothing) or
// leaves an order, a gate answer or a pause for the drill's own loop to
// act on at its next interval, so every change to the system still
// happens on the drill's goroutine, in its order. Only inject and revert
// act at once, through the fault set, which is built for calls from any
// goroutine.
package gameday

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/drillhq/drill/harness/journal"
	"github.com/drillhq/drill/reports"
)

// The commands, as drill ctl and the dashboard name them.
const (
	CmdApprove  = "approve"
	CmdReject   = "reject"
	CmdPause    = "pause"
	CmdResume   = "resume"
	CmdPromote  = "promote"
	CmdRollback = "rollback"
	CmdAbort    = "abort"
	CmdNote     = "note"
	CmdInject   = "inject"
	CmdRevert   = "revert"
	CmdStatus   = "status"
)

// Commands lists every command, in the order help shows them.
var Commands = []string{CmdApprove, CmdReject, CmdPause, CmdResume, CmdPromote, CmdRollback, CmdAbort, CmdNote, CmdInject, CmdRevert, CmdStatus}

// Journal events of the console.
const (
	EventCommand = journal.OperatorCommand // a command applied: who, what, its effect
	EventRefused = journal.OperatorRefused // a command that could not apply, and why
)

// Command is one operator command.
type Command struct {
	Name string `json:"command"`
	// Arg is the note's text or the fault's name.
	Arg string `json:"arg,omitempty"`
	// As is who sent it (--as NAME).
	As string `json:"as"`
	// Via is where it came from: ctl, dashboard, stdin.
	Via string `json:"via,omitempty"`
}

// Reply is the console's answer to a command.
type Reply struct {
	OK bool `json:"ok"`
	// Message is the command's effect, or why it could not apply.
	Message string  `json:"message"`
	Status  *Status `json:"status,omitempty"`
}

// Order is what the drill's loop must do next: rollback, promote or
// abort, and who ordered it.
type Order struct {
	Name string
	As   string
	At   time.Time
}

// Answer is an approval gate's answer.
type Answer struct {
	Approve bool
	As, Via string
	At      time.Time
}

// Faults is what the console needs of the drill's fault set.
type Faults interface {
	// Inject applies the scenario's fault called name now; it fails when
	// the fault was applied already or the set is closed.
	Inject(ctx context.Context, name string) error
	// Revert removes the applied fault called name.
	Revert(ctx context.Context, name string) error
	// Report is every fault's state.
	Report() []reports.Fault
}

// Config is what a console is given when the drill starts.
type Config struct {
	Journal  *journal.Journal
	Scenario string
	RunDir   string
	// JudgeMode is automatic, advisory or off; HiddenFaults hides the
	// faults from every view until Done.
	JudgeMode    string
	HiddenFaults bool
	// FaultNames are the scenario's faults, for did-you-mean hints.
	FaultNames []string
	// Abort stops the drill (the safe abort of Ctrl-C), called once by
	// the abort command.
	Abort func(o Order)
	// PauseLimit bounds a pause: the rollout resumes by itself after it.
	PauseLimit time.Duration
}

// Console is one drill's operator console. Its methods are safe for
// concurrent use: commands arrive on the socket's and the dashboard's
// goroutines while the drill's loop reads orders on its own.
type Console struct {
	cfg Config

	mu      sync.Mutex
	st      Status
	faults  Faults
	gate    *gate
	order   *Order
	ordered string // the order the drill took ("" none): a second one is refused
	// pausedAt is when the current pause began; pausedFor sums the ended
	// ones: the pauses of a drill share one budget, PauseLimit.
	pausedAt  time.Time
	pausedFor time.Duration
	actions   []reports.OperatorAction
	done      bool
	subs      map[chan Update]struct{}
}

type gate struct {
	step     int
	answered bool
	answers  chan Answer
}

// New returns the console of one drill.
func New(cfg Config) *Console {
	if cfg.PauseLimit <= 0 {
		cfg.PauseLimit = 15 * time.Minute
	}
	c := &Console{cfg: cfg, subs: map[chan Update]struct{}{}}
	c.st = Status{Scenario: cfg.Scenario, RunDir: cfg.RunDir, Phase: "starting", JudgeMode: cfg.JudgeMode,
		FaultsHidden: cfg.HiddenFaults}
	return c
}

// Do applies one command, or refuses it and changes nothing. A refusal
// is still journaled (operator.refused): the review sees what was tried.
func (c *Console) Do(ctx context.Context, cmd Command) Reply {
	cmd.Name = strings.ToLower(strings.TrimSpace(cmd.Name))
	cmd.Arg = strings.TrimSpace(cmd.Arg)
	if cmd.As == "" {
		cmd.As = "operator"
	}
	if cmd.Name == CmdStatus {
		st := c.Status()
		return Reply{OK: true, Message: st.Summary(), Status: &st}
	}
	var (
		effect string
		err    error
	)
	switch cmd.Name {
	case CmdInject, CmdRevert:
		// The fault set acts outside c.mu: an injector may wait on a
		// health check while the drill's loop keeps reading orders.
		effect, err = c.fault(ctx, cmd)
	default:
		c.mu.Lock()
		effect, err = c.apply(cmd)
		c.mu.Unlock()
	}
	c.record(cmd, err == nil, effect, err)
	if err != nil {
		return Reply{OK: false, Message: err.Error()}
	}
	if cmd.Name == CmdAbort && c.cfg.Abort != nil {
		c.cfg.Abort(Order{Name: CmdAbort, As: cmd.As, At: time.Now()})
	}
	st := c.Status()
	return Reply{OK: true, Message: effect, Status: &st}
}

// apply is Do for the commands the drill's loop acts on; c.mu is held.
func (c *Console) apply(cmd Command) (string, error) {
	if c.done {
		return "", fmt.Errorf("the drill has ended")
	}
	st := &c.st
	switch cmd.Name {
	case CmdNote:
		if cmd.Arg == "" {
			return "", fmt.Errorf("note needs a text, e.g. drill ctl RUN_DIR note \"p99 rising on v2\"")
		}
		return "noted", nil
	case CmdApprove, CmdReject:
		if c.gate == nil {
			return "", fmt.Errorf("no approval gate is waiting (phase %s%s)", st.Phase, stepText(st.Step))
		}
		if c.gate.answered {
			return "", fmt.Errorf("the gate at step %d was answered already", c.gate.step)
		}
		c.gate.answered = true
		c.gate.answers <- Answer{Approve: cmd.Name == CmdApprove, As: cmd.As, Via: cmd.Via, At: time.Now()}
		if cmd.Name == CmdApprove {
			return fmt.Sprintf("gate at step %d approved", c.gate.step), nil
		}
		return fmt.Sprintf("gate at step %d rejected: rolling back", c.gate.step), nil
	case CmdPause, CmdResume, CmdPromote, CmdRollback:
		if !st.Rollout {
			return "", fmt.Errorf("%s applies during the rollout; the drill is in %s", cmd.Name, st.Phase)
		}
		if c.order != nil || c.ordered != "" {
			return "", fmt.Errorf("%s was ordered already by %s", cmp(c.order, c.ordered), c.orderedBy())
		}
		switch cmd.Name {
		case CmdPause:
			left := c.cfg.PauseLimit - c.pausedFor
			switch {
			case st.Paused:
				return "", fmt.Errorf("the rollout is paused already (resume to go on)")
			case left <= 0:
				return "", fmt.Errorf("the drill's pauses have used their %s", c.cfg.PauseLimit)
			}
			st.Paused, c.pausedAt = true, time.Now()
			return fmt.Sprintf("rollout paused: holds stop counting, the judge keeps watching (resumes by itself after %s)", left.Round(time.Second)), nil
		case CmdResume:
			if !st.Paused {
				return "", fmt.Errorf("the rollout is not paused")
			}
			st.Paused = false
			c.pausedFor += time.Since(c.pausedAt)
			return "rollout resumed", nil
		}
		c.order = &Order{Name: cmd.Name, As: cmd.As, At: time.Now()}
		st.Order, st.OrderedBy = cmd.Name, cmd.As
		if cmd.Name == CmdPromote {
			return "promotion ordered: the remaining steps are skipped", nil
		}
		return "rollback ordered", nil
	case CmdAbort:
		if c.ordered == CmdAbort || c.order != nil && c.order.Name == CmdAbort {
			return "", fmt.Errorf("abort was ordered already")
		}
		c.order = &Order{Name: CmdAbort, As: cmd.As, At: time.Now()}
		st.Order, st.OrderedBy = CmdAbort, cmd.As
		return "abort ordered: the drill stops with the safe abort", nil
	}
	return "", fmt.Errorf("unknown command %q (known: %s)", cmd.Name, strings.Join(Commands, ", "))
}

func cmp(o *Order, taken string) string {
	if o != nil {
		return o.Name
	}
	return taken
}

func (c *Console) orderedBy() string {
	if c.order != nil {
		return c.order.As
	}
	return c.st.OrderedBy
}

func stepText(step int) string {
	if step == 0 {
		return ""
	}
	return fmt.Sprintf(", step %d", step)
}

// fault is Do for inject and revert.
func (c *Console) fault(ctx context.Context, cmd Command) (string, error) {
	c.mu.Lock()
	fs, done := c.faults, c.done
	c.mu.Unlock()
	switch {
	case done:
		return "", fmt.Errorf("the drill has ended")
	case cmd.Arg == "":
		return "", fmt.Errorf("%s needs a fault's name (the scenario's: %s)", cmd.Name, orNone(c.cfg.FaultNames))
	case !slices.Contains(c.cfg.FaultNames, cmd.Arg):
		return "", fmt.Errorf("unknown fault %q (the scenario's: %s)", cmd.Arg, orNone(c.cfg.FaultNames))
	case fs == nil:
		return "", fmt.Errorf("the system is not up yet: faults can be injected once it is")
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if cmd.Name == CmdInject {
		if err := fs.Inject(ctx, cmd.Arg); err != nil {
			return "", err
		}
		return "fault " + cmd.Arg + " applied", nil
	}
	if err := fs.Revert(ctx, cmd.Arg); err != nil {
		return "", err
	}
	return "fault " + cmd.Arg + " reverted", nil
}

func orNone(xs []string) string {
	if len(xs) == 0 {
		return "none"
	}
	return strings.Join(xs, ", ")
}

// record journals a command and keeps it for the report.
func (c *Console) record(cmd Command, ok bool, effect string, err error) {
	ev := EventCommand
	if !ok {
		ev, effect = EventRefused, err.Error()
	}
	e := c.cfg.Journal.Record(ev, "as", cmd.As, "command", cmd.Name, "arg", cmd.Arg, "via", cmd.Via, "effect", effect)
	c.mu.Lock()
	c.actions = append(c.actions, reports.OperatorAction{At: e.T, ElapsedSeconds: e.Elapsed, As: cmd.As, Command: cmd.Name,
		Arg: cmd.Arg, Via: cmd.Via, Applied: ok, Effect: effect, Stage: c.st.Stage})
	c.mu.Unlock()
	c.publish()
}

// RecordAnswer keeps an approval answer read from stdin, which reaches
// the gate without passing through Do.
func (c *Console) RecordAnswer(a Answer, step int) {
	name, effect := CmdReject, fmt.Sprintf("gate at step %d rejected: rolling back", step)
	if a.Approve {
		name, effect = CmdApprove, fmt.Sprintf("gate at step %d approved", step)
	}
	c.record(Command{Name: name, As: a.As, Via: a.Via}, true, effect, nil)
}

// --- the drill's side ---

// SetFaults gives the console the fault set to act on (nil: none yet).
func (c *Console) SetFaults(f Faults) {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.faults = f
	c.mu.Unlock()
	c.publish()
}

// SetPhase says what the drill is doing: provisioning, steady, rollout,
// rollback, verify, done.
func (c *Console) SetPhase(phase string) {
	if c == nil {
		return
	}
	c.update(func(st *Status) { st.Phase = phase })
}

// SetStage names the stage running now ("" without stages).
func (c *Console) SetStage(stage string) {
	if c == nil {
		return
	}
	c.update(func(st *Status) { st.Stage = stage })
}

// SetRollout opens or closes the window in which pause, resume, promote
// and rollback apply. Closing it drops a pause.
func (c *Console) SetRollout(on bool) {
	if c == nil {
		return
	}
	c.update(func(st *Status) {
		st.Rollout = on
		if !on {
			st.Paused = false
		}
	})
}

// SetStep says which rollout step runs, and at which weight.
func (c *Console) SetStep(no int, name string, weight float64) {
	if c == nil {
		return
	}
	c.update(func(st *Status) { st.Step, st.StepName, st.Weight = no, name, weight })
}

// SetJudge shows the judge's latest verdict (not at all in off mode).
func (c *Console) SetJudge(v JudgeView) {
	if c == nil {
		return
	}
	if c.cfg.JudgeMode == "off" {
		return
	}
	c.update(func(st *Status) {
		found := false
		for i := range st.Judges {
			if st.Judges[i].Service == v.Service {
				st.Judges[i], found = v, true
			}
		}
		if !found {
			st.Judges = append(st.Judges, v)
			sort.Slice(st.Judges, func(i, j int) bool { return st.Judges[i].Service < st.Judges[j].Service })
		}
	})
}

// SetWindows shows the last interval's windows.
func (c *Console) SetWindows(end time.Time, vs []VersionView) {
	if c == nil {
		return
	}
	c.update(func(st *Status) { st.WindowEnd, st.Versions = end.UTC(), vs; st.Windows++ })
}

// OpenGate opens an approval gate at step: approve and reject apply
// until CloseGate. The answers arrive on the channel returned.
func (c *Console) OpenGate(step int, timeout time.Duration) <-chan Answer {
	c.mu.Lock()
	c.gate = &gate{step: step, answers: make(chan Answer, 1)}
	until := time.Now().Add(timeout).UTC()
	c.st.Gate = &GateView{Step: step, Until: until}
	ch := c.gate.answers
	c.mu.Unlock()
	c.publish()
	return ch
}

// CloseGate closes the gate: a late approve or reject is refused. It
// says whether an answer was sent by then (the gate's loop may not have
// received it yet).
func (c *Console) CloseGate() {
	c.mu.Lock()
	c.gate, c.st.Gate = nil, nil
	c.mu.Unlock()
	c.publish()
}

// GateAnswered marks the open gate answered (from stdin), so that a late
// approve or reject over ctl is refused rather than lost.
func (c *Console) GateAnswered() {
	c.mu.Lock()
	if c.gate != nil {
		c.gate.answered = true
	}
	c.mu.Unlock()
	c.publish()
}

// TakeOrder returns the pending order and marks it taken, or nil.
func (c *Console) TakeOrder() *Order {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	o := c.order
	if o != nil {
		c.order, c.ordered = nil, o.Name
		c.st.Order, c.st.OrderedBy = o.Name, o.As
		c.st.Paused = false
	}
	c.mu.Unlock()
	if o != nil {
		c.publish()
	}
	return o
}

// Paused says whether an operator paused the rollout. Once the drill's
// pauses reach PauseLimit in all, the pause ends by itself, journaled
// (pause.expired): a forgotten pause cannot hold a drill forever.
func (c *Console) Paused() bool {
	if c == nil {
		return false
	}
	c.mu.Lock()
	if !c.st.Paused || c.pausedFor+time.Since(c.pausedAt) < c.cfg.PauseLimit {
		p := c.st.Paused
		c.mu.Unlock()
		return p
	}
	c.st.Paused = false
	c.pausedFor = c.cfg.PauseLimit
	c.mu.Unlock()
	c.cfg.Journal.Record(journal.PauseExpired, "limit", c.cfg.PauseLimit.String(), "effect", "rollout resumed")
	c.publish()
	return false
}

// Done ends the console: every later command is refused, and the faults
// are shown from now on, hidden or not.
func (c *Console) Done() {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.done = true
	c.st.Phase, c.st.Rollout, c.st.Paused, c.st.Gate = "done", false, false, nil
	c.st.FaultsHidden = false
	c.mu.Unlock()
	c.publish()
}

// Actions are the commands sent so far, applied or refused, in order.
func (c *Console) Actions() []reports.OperatorAction {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.actions)
}

// Hidden says whether faults are hidden from the operators now.
func (c *Console) Hidden() bool {
	if c == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.st.FaultsHidden
}

func (c *Console) update(f func(st *Status)) {
	c.mu.Lock()
	f(&c.st)
	c.mu.Unlock()
	c.publish()
}
