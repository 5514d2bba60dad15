package gameday

import (
	"testing"
	"time"

	"github.com/drillhq/drill/reports"
)

// TestReview: people are timed from T0 by their first action and their
// rollback order; the judge by its verdict, with recovery measured when
// it acted and estimated (the same rollback, started at its time) when
// it did not.
func TestReview(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	at := func(s float64) *time.Time { v := t0.Add(time.Duration(s * float64(time.Second))); return &v }
	act := func(s float64, as, cmd string, applied bool) reports.OperatorAction {
		return reports.OperatorAction{At: *at(s), As: as, Command: cmd, Applied: applied}
	}
	actions := []reports.OperatorAction{
		act(-3, "alice", CmdNote, true),      // before T0: not an acknowledgement
		act(2, "alice", CmdStatus, true),     // a look is not an action
		act(4, "bob", CmdRollback, false),    // refused: nothing was ordered
		act(5, "alice", CmdNote, true),       // acknowledged
		act(9, "bob", CmdRollback, true),     // detected
		act(10, "carol", CmdRollback, false), // too late, refused
	}
	people, judge := Review(actions, Moments{Exposure: at(0), Detected: at(9), Recovered: at(15), JudgeAt: at(3)})
	want := func(what string, got *float64, w float64) {
		t.Helper()
		if got == nil || *got != w {
			t.Errorf("%s: %v, want %v", what, got, w)
		}
	}
	want("people acknowledge", people.AcknowledgeSeconds, 5)
	want("people detect", people.DetectSeconds, 9)
	want("people recover", people.RecoverSeconds, 15)
	want("judge detect", judge.DetectSeconds, 3)
	want("judge recover (estimated)", judge.RecoverSeconds, 9) // 3 + (15 - 9)
	if !judge.Estimated || people.Estimated {
		t.Errorf("estimated: judge %v, people %v", judge.Estimated, people.Estimated)
	}

	// The judge acted; the people only watched.
	people, judge = Review(actions[:4], Moments{Exposure: at(0), Detected: at(3), Recovered: at(8), JudgeAt: at(3), JudgeActed: true})
	if people.DetectSeconds != nil || people.RecoverSeconds != nil {
		t.Errorf("people who ordered nothing: %+v", people)
	}
	want("judge recover (measured)", judge.RecoverSeconds, 8)
	if judge.Estimated {
		t.Error("a measured recovery marked estimated")
	}

	// No exposure: nothing to time.
	people, judge = Review(actions, Moments{JudgeAt: at(3)})
	if people.AcknowledgeSeconds != nil || judge.DetectSeconds != nil {
		t.Errorf("without T0: %+v %+v", people, judge)
	}
	if ops := Operators(actions); len(ops) != 3 || ops[0] != "alice" || ops[2] != "carol" {
		t.Errorf("operators %v", ops)
	}
}
