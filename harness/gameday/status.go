package gameday

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/drillhq/drill/harness/journal"
)

// Status is what the operators see of a running drill: drill ctl status
// prints it, the dashboard draws it.
type Status struct {
	Scenario string `json:"scenario"`
	RunDir   string `json:"run_dir"`
	Stage    string `json:"stage,omitempty"`
	// Phase is starting, provisioning, steady, rollout, rollback, verify or done.
	Phase    string  `json:"phase"`
	Rollout  bool    `json:"rollout"`
	Step     int     `json:"step"`
	StepName string  `json:"step_name,omitempty"`
	Weight   float64 `json:"weight"`
	// Gate is the approval gate waiting, or nil.
	Gate   *GateView `json:"gate,omitempty"`
	Paused bool      `json:"paused"`
	// Order is the rollback, promotion or abort ordered, and by whom.
	Order     string `json:"order,omitempty"`
	OrderedBy string `json:"ordered_by,omitempty"`
	// JudgeMode is automatic, advisory or off; Judges is each service's
	// latest verdict (none in off mode).
	JudgeMode string      `json:"judge_mode"`
	Judges    []JudgeView `json:"judges"`
	// Faults is every fault's state; with FaultsHidden it is empty and
	// the dashboard says "unknown".
	Faults       []FaultView `json:"faults"`
	FaultsHidden bool        `json:"faults_hidden"`
	// Versions is the last interval's traffic per service and version.
	Versions  []VersionView `json:"versions"`
	WindowEnd time.Time     `json:"window_end"`
	Windows   int           `json:"windows"`
	// Applies lists the commands that would apply now.
	Applies []string `json:"applies"`
}

// GateView is an approval gate waiting for an answer.
type GateView struct {
	Step  int       `json:"step"`
	Until time.Time `json:"until"` // its timeout
}

// JudgeView is one service's judge after the last interval.
type JudgeView struct {
	Service  string         `json:"service"`
	Verdict  string         `json:"verdict"`
	Reason   string         `json:"reason"`
	Evidence map[string]any `json:"evidence,omitempty"`
	// Acts: the judge's rollback would end the rollout (automatic mode).
	Acts bool `json:"acts"`
}

// FaultView is one fault's state: pending, active, reverted or failed.
type FaultView struct {
	Name   string `json:"name"`
	Kind   string `json:"kind"`
	Target string `json:"target"`
	State  string `json:"state"`
}

// VersionView is one service version's last interval at its router.
type VersionView struct {
	Service   string  `json:"service"`
	Version   string  `json:"version"`
	Requests  int64   `json:"requests"`
	ErrorRate float64 `json:"error_rate"`
	P99Ms     float64 `json:"p99_ms"`
	// Share is the version's fraction of the service's requests.
	Share float64 `json:"share"`
}

// Update is one message to a dashboard: a "status" (a Status) or an
// "event" (a journal event the operators may see).
type Update struct {
	Kind string `json:"kind"`
	Data any    `json:"data"`
}

// Status returns what the operators see now.
func (c *Console) Status() Status {
	c.mu.Lock()
	st := c.st
	fs := c.faults
	st.Judges = slices.Clone(st.Judges)
	st.Versions = slices.Clone(st.Versions)
	st.Applies = c.applies()
	c.mu.Unlock()
	if fs != nil && !st.FaultsHidden {
		for _, f := range fs.Report() {
			state := "pending"
			switch {
			case f.RevertedAt != nil:
				state = "reverted"
			case f.AppliedAt != nil:
				state = "active"
			case strings.HasPrefix(f.Measured, "apply failed"):
				state = "failed"
			}
			st.Faults = append(st.Faults, FaultView{Name: f.Name, Kind: f.Kind, Target: f.Target, State: state})
		}
	}
	return st
}

// applies lists the commands that apply in the current state; c.mu is held.
func (c *Console) applies() []string {
	if c.done {
		return []string{CmdStatus}
	}
	out := []string{CmdStatus, CmdNote}
	if c.gate != nil && !c.gate.answered {
		out = append(out, CmdApprove, CmdReject)
	}
	st := c.st
	free := c.order == nil && c.ordered == ""
	if st.Rollout && free {
		if st.Paused {
			out = append(out, CmdResume)
		} else {
			out = append(out, CmdPause)
		}
		out = append(out, CmdPromote, CmdRollback)
	}
	if c.ordered != CmdAbort && (c.order == nil || c.order.Name != CmdAbort) {
		out = append(out, CmdAbort)
	}
	if c.faults != nil {
		out = append(out, CmdInject, CmdRevert)
	}
	return out
}

// Summary is the status as drill ctl status prints it.
func (st Status) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s", st.Scenario, st.Phase)
	if st.Stage != "" {
		fmt.Fprintf(&b, " (stage %s)", st.Stage)
	}
	if st.Step > 0 {
		fmt.Fprintf(&b, ", step %d (%s)", st.Step, st.StepName)
	}
	if st.Paused {
		b.WriteString(", PAUSED")
	}
	if st.Gate != nil {
		fmt.Fprintf(&b, ", APPROVAL NEEDED at step %d (until %s)", st.Gate.Step, st.Gate.Until.Local().Format(time.TimeOnly))
	}
	if st.Order != "" {
		fmt.Fprintf(&b, ", %s ordered by %s", st.Order, st.OrderedBy)
	}
	b.WriteString("\n")
	for _, v := range st.Versions {
		fmt.Fprintf(&b, "  %s %s: %d requests, %.1f%% errors, p99 %.0f ms, %.0f%% of traffic\n",
			v.Service, v.Version, v.Requests, 100*v.ErrorRate, v.P99Ms, 100*v.Share)
	}
	switch {
	case st.JudgeMode == "off":
		b.WriteString("  judge: hidden (game_day.judge: off)\n")
	default:
		for _, j := range st.Judges {
			mode := ""
			if !j.Acts {
				mode = " (advisory)"
			}
			fmt.Fprintf(&b, "  judge%s %s: %s: %s\n", mode, j.Service, j.Verdict, j.Reason)
		}
	}
	if st.FaultsHidden {
		b.WriteString("  faults: unknown (hidden until the drill ends)\n")
	} else {
		for _, f := range st.Faults {
			fmt.Fprintf(&b, "  fault %s (%s on %s): %s\n", f.Name, f.Kind, f.Target, f.State)
		}
	}
	fmt.Fprintf(&b, "  commands now: %s", strings.Join(st.Applies, ", "))
	return b.String()
}

// Subscribe returns a stream of updates (the current status first) and
// the function that ends it. A subscriber that falls behind loses
// updates rather than holding the drill up: the next status has it all.
func (c *Console) Subscribe() (<-chan Update, func()) {
	ch := make(chan Update, 256)
	// Registered first: an update published meanwhile is not missed (it
	// may arrive before the first status, which is as new or newer).
	c.mu.Lock()
	c.subs[ch] = struct{}{}
	c.mu.Unlock()
	ch <- Update{Kind: "status", Data: c.Status()}
	return ch, func() {
		c.mu.Lock()
		delete(c.subs, ch)
		c.mu.Unlock()
	}
}

// Event passes a journal event to the dashboards, unless the operators
// may not see it: with hidden faults only the events in visible pass
// until the drill ends; the judge's analyses pass as the status's
// judges, not as events.
func (c *Console) Event(e journal.Event) {
	if c == nil {
		return
	}
	if e.Event == "analysis" || e.Event == journal.Tick {
		return
	}
	if c.Hidden() && !visible[e.Event] {
		return
	}
	c.send(Update{Kind: "event", Data: e})
}

// visible are the events the operators see while faults are hidden:
// none names a fault or marks when one was applied (the exposure does,
// and so does the rollback's revert-faults step).
var visible = map[string]bool{
	journal.RunStart: true, journal.ProvisionDone: true, journal.SteadyStateStart: true, journal.SteadyStateDone: true,
	journal.RolloutStart: true, journal.StepStart: true, journal.StepEnd: true, journal.ApprovalWait: true,
	journal.ApprovalGranted: true, journal.ApprovalRejected: true, journal.DecisionRollback: true,
	journal.RollbackStart: true, journal.RollbackDone: true, journal.RecoveryStart: true, journal.RecoveryDone: true,
	journal.Promote: true, journal.LoadStart: true, journal.LoadStop: true, journal.StageStart: true,
	journal.StageDone: true, EventCommand: true, EventRefused: true, journal.PauseExpired: true, journal.JudgeWouldRollback: true,
}

func (c *Console) publish() {
	if c == nil {
		return
	}
	c.send(Update{Kind: "status", Data: c.Status()})
}

func (c *Console) send(u Update) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for ch := range c.subs {
		select {
		case ch <- u:
		default:
		}
	}
}
