package scenarios

import (
	"slices"
	"time"
)

// Game-day judge modes (`game_day.judge`).
const (
	// JudgeAutomatic: the judge's rollback decision acts (the default).
	JudgeAutomatic = "automatic"
	// JudgeAdvisory: the judge's verdict is shown to the operator, who
	// decides; the judge never acts.
	JudgeAdvisory = "advisory"
	// JudgeOff: the judge neither acts nor is shown; its would-be
	// decision is still computed, for the report.
	JudgeOff = "off"
)

// What an approval gate does when its timeout expires (`on_timeout`).
const (
	OnTimeoutReject  = "reject"
	OnTimeoutApprove = "approve"
)

// DefaultGateTimeout bounds a manual gate that names no timeout.
const DefaultGateTimeout = 15 * time.Minute

// GameDay is the top-level `game_day:` section: a drill run as a team
// exercise, with a person deciding. The zero value is an ordinary drill.
type GameDay struct {
	// Dashboard serves the live page on 127.0.0.1 (URL printed at start).
	Dashboard bool
	// Judge is JudgeAutomatic, JudgeAdvisory or JudgeOff.
	Judge string
	// HiddenFaults keeps what was injected, and when, out of everything
	// the operator sees (progress lines, dashboard, drill ctl status,
	// /metrics) until the drill ends.
	HiddenFaults bool
	Pos          Pos
}

// Acts says whether the judge's rollback decision ends the rollout.
func (g GameDay) Acts() bool { return g.Judge == "" || g.Judge == JudgeAutomatic }

// Shown says whether the operator sees the judge's verdict.
func (g GameDay) Shown() bool { return g.Judge != JudgeOff }

func (w *walk) gameDay(o *object) GameDay {
	g := GameDay{Judge: JudgeAutomatic}
	if !o.present {
		return g
	}
	g.Pos = w.pos(o.at)
	o.boolean("dashboard", &g.Dashboard)
	o.boolean("hidden_faults", &g.HiddenFaults)
	if o.str("judge", &g.Judge) && !slices.Contains(gameDayJudges, g.Judge) {
		w.add(o.get("judge"), didYouMean(g.Judge, gameDayJudges), "game_day.judge: unknown mode %q (known: %s)", g.Judge, orList(gameDayJudges))
	}
	return g
}

// gateTimeout reads an approval gate's `timeout` and `on_timeout` (a
// rollout step's or a stage's); field names the object in messages.
func (w *walk) gateTimeout(o *object, field string, approval bool, timeout *time.Duration, onTimeout *string) {
	if approval {
		*onTimeout = OnTimeoutReject
	}
	if o.duration("timeout", timeout) {
		switch {
		case !approval:
			w.add(o.key("timeout"), "add approval: manual, or leave timeout out", "%s: timeout only applies to an approval gate", field)
		case *timeout <= 0:
			w.add(o.get("timeout"), "e.g. timeout: 5m", "%s: timeout must be positive", field)
		}
	}
	if approval && *timeout <= 0 {
		*timeout = DefaultGateTimeout
	}
	if o.str("on_timeout", onTimeout) {
		switch {
		case !approval:
			w.add(o.key("on_timeout"), "add approval: manual, or leave on_timeout out", "%s: on_timeout only applies to an approval gate", field)
		case !slices.Contains(onTimeoutPolicies, *onTimeout):
			w.add(o.get("on_timeout"), didYouMean(*onTimeout, onTimeoutPolicies), "%s: unknown on_timeout %q (known: reject or approve)", field, *onTimeout)
		}
	}
}
