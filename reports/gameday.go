package reports

import (
	"math"
	"strings"
	"time"
)

// GameDay is what the people in the loop did and how fast, beside what
// the automatic judge would have done on the same run (report.json's
// `game_day`). It is present when the scenario has a game_day section or
// an operator sent a command (drill ctl, the dashboard, an answer on
// stdin).
type GameDay struct {
	// Judge is the judge's mode: automatic, advisory or off.
	Judge string `json:"judge"`
	// HiddenFaults: the operators were not told what was injected, or when.
	HiddenFaults bool `json:"hidden_faults"`
	// Dashboard is the live page's address while the drill ran ("" without one).
	Dashboard string `json:"dashboard"`
	// Operators are the names that sent commands, in order of first command.
	Operators []string `json:"operators"`
	// Actions are every operator command, applied or refused, in order.
	Actions []OperatorAction `json:"actions"`
	// Human is the operators' times, measured from the exposure (T0).
	Human ResponseTimes `json:"human"`
	// JudgeTimes is what the judge did, or would have done, on the same
	// run: in advisory and off mode its would-be decision is computed
	// from the same windows and never acted on.
	JudgeTimes ResponseTimes `json:"judge_times"`
	// JudgeDecision is the judge's first rollback verdict (would-be when
	// it did not act); null when it never said rollback.
	JudgeDecision *Decision `json:"judge_decision"`
}

// OperatorAction is one command an operator sent.
type OperatorAction struct {
	At             time.Time `json:"at"`
	ElapsedSeconds float64   `json:"elapsed_seconds"`
	// As is who sent it (--as NAME; default the OS user).
	As      string `json:"as"`
	Command string `json:"command"`
	Arg     string `json:"arg,omitempty"`
	// Via is where it came from: ctl, dashboard or stdin.
	Via string `json:"via"`
	// Applied is false when the command could not apply; Effect then says why.
	Applied bool   `json:"applied"`
	Effect  string `json:"effect"`
	// Stage is the stage running when it was sent ("" without stages).
	Stage string `json:"stage,omitempty"`
}

// ResponseTimes are seconds from the exposure (T0); null when that moment
// never came (nobody acted, nothing was ordered, no recovery).
type ResponseTimes struct {
	// AcknowledgeSeconds: T0 to the first operator action (any command
	// but status). For the judge: its first rollback verdict.
	AcknowledgeSeconds *float64 `json:"acknowledge_seconds"`
	// DetectSeconds: T0 to the rollback order (a rollback or a gate's
	// rejection).
	DetectSeconds *float64 `json:"detect_seconds"`
	// RecoverSeconds: T0 to recovery. For a judge that did not act it is
	// an estimate: its decision time plus the rollback and recovery this
	// run measured (Estimated is then true).
	RecoverSeconds *float64 `json:"recover_seconds"`
	Estimated      bool     `json:"estimated,omitempty"`
}

// mdGameDay is the people's section: who was in the loop, how fast they
// acknowledged, detected and recovered beside the judge on the same run,
// and every command they sent, applied or refused.
func mdGameDay(p *printer, r *Report) {
	g := r.GameDay
	if g == nil {
		return
	}
	mdHeading(p, "Game day")
	mode := map[string]string{
		"automatic": "automatic (its rollback acted)",
		"advisory":  "advisory (it showed its verdict; people decided)",
		"off":       "off (hidden from the operators; its verdict was computed for this review only)",
	}[g.Judge]
	if mode == "" {
		mode = inline(g.Judge)
	}
	p.linef("Judge: %s. Faults were %s.", mode, map[bool]string{true: "hidden from the operators until the drill ended", false: "shown to the operators"}[g.HiddenFaults])
	if len(g.Operators) == 0 {
		p.linef("")
		p.linef("No operator sent a command.")
	} else {
		names := make([]string, len(g.Operators))
		for i, n := range g.Operators {
			names[i] = inline(n)
		}
		p.linef("")
		p.linef("Operators: %s.", strings.Join(names, ", "))
	}
	p.linef("")
	p.linef("Times from the exposure (T0); the judge's are what it decided, or would have, on the same windows.")
	p.linef("")
	cell := func(v *float64, estimated bool) string {
		if v == nil {
			return "never"
		}
		if estimated {
			return secs(*v) + " (estimated)"
		}
		return secs(*v)
	}
	h, j := g.Human, g.JudgeTimes
	mdTable(p, []string{"time to", "people", "judge"}, "lrr", [][]string{
		{"acknowledge (first action)", cell(h.AcknowledgeSeconds, false), cell(j.AcknowledgeSeconds, false)},
		{"detect (rollback order)", cell(h.DetectSeconds, false), cell(j.DetectSeconds, false)},
		{"recover", cell(h.RecoverSeconds, h.Estimated), cell(j.RecoverSeconds, j.Estimated)},
	})
	if d := g.JudgeDecision; d != nil {
		p.linef("")
		would := ""
		if g.Judge != "automatic" {
			would = " (would-be: it did not act)"
		}
		p.linef("The judge's %s%s at %s: %s", inline(d.Verdict), would, d.At.UTC().Format(time.RFC3339), inline(d.Reason))
	}
	if len(g.Actions) == 0 {
		return
	}
	p.linef("")
	var rows [][]string
	for _, a := range g.Actions {
		what := a.Command
		if a.Arg != "" {
			what += " " + a.Arg
		}
		rows = append(rows, []string{num(math.Round(a.ElapsedSeconds*1000) / 1000), inline(a.As), inline(what), inline(a.Via),
			map[bool]string{true: "applied", false: "refused"}[a.Applied], inline(a.Effect)})
	}
	mdTable(p, []string{"t (s)", "who", "command", "via", "result", "effect"}, "rlllll", rows)
}
