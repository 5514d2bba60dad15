package reports

import "time"

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
