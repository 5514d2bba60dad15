package gameday

import (
	"time"

	"github.com/drillhq/drill/harness/journal"
	"github.com/drillhq/drill/reports"
)

// Moments are a run's times the review measures people and judge by.
type Moments struct {
	// Exposure is T0; Detected the rollback decision the drill acted on
	// (whoever made it); Recovered the end of the recovery window. Nil
	// when the moment never came.
	Exposure, Detected, Recovered *time.Time
	// JudgeAt is the judge's first rollback verdict, acted on or not (nil:
	// it never said rollback); JudgeActed says the drill acted on it.
	JudgeAt    *time.Time
	JudgeActed bool
}

// Review times the operators' commands and the judge from T0:
//   - people: the first applied command after T0 other than status
//     (acknowledge), their rollback order — a rollback or a gate's reject
//     (detect), and recovery when they ordered it;
//   - judge: its verdict (acknowledge and detect), and recovery when the
//     drill acted on it; otherwise its verdict time plus the rollback and
//     recovery this run measured, marked estimated.
func Review(actions []reports.OperatorAction, m Moments) (people, judge reports.ResponseTimes) {
	since := func(t *time.Time) *float64 {
		if m.Exposure == nil || t == nil {
			return nil
		}
		v := journal.Seconds(t.Sub(*m.Exposure))
		return &v
	}
	var ack, order *time.Time
	for _, a := range actions {
		if !a.Applied || a.Command == CmdStatus || m.Exposure == nil || a.At.Before(*m.Exposure) {
			continue
		}
		at := a.At
		if ack == nil {
			ack = &at
		}
		if order == nil && (a.Command == CmdRollback || a.Command == CmdReject) {
			order = &at
		}
	}
	people = reports.ResponseTimes{AcknowledgeSeconds: since(ack), DetectSeconds: since(order)}
	if order != nil {
		people.RecoverSeconds = since(m.Recovered)
	}
	judge = reports.ResponseTimes{AcknowledgeSeconds: since(m.JudgeAt), DetectSeconds: since(m.JudgeAt)}
	switch {
	case m.JudgeAt == nil:
	case m.JudgeActed:
		judge.RecoverSeconds = since(m.Recovered)
	case m.Detected != nil && m.Recovered != nil:
		// The same rollback and recovery, started at the judge's time.
		at := m.JudgeAt.Add(m.Recovered.Sub(*m.Detected))
		judge.RecoverSeconds, judge.Estimated = since(&at), true
	}
	return people, judge
}

// Operators are the names that sent commands, in order of first command.
func Operators(actions []reports.OperatorAction) []string {
	out := []string{}
	seen := map[string]bool{}
	for _, a := range actions {
		if !seen[a.As] {
			seen[a.As] = true
			out = append(out, a.As)
		}
	}
	return out
}
