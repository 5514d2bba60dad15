package gameday

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drillhq/drill/harness/journal"
)

func newConsole(t *testing.T, cfg Config) (*Console, *journal.Journal) {
	t.Helper()
	j, err := journal.Open(filepath.Join(t.TempDir(), "journal.jsonl"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	cfg.Journal = j
	return New(cfg), j
}

func count(j *journal.Journal, event string) int {
	n := 0
	for _, e := range j.Events() {
		if e.Event == event {
			n++
		}
	}
	return n
}

// TestCommandsApplyOnlyWhenTheyCan walks a drill's states: each command
// applies where it can, and where it cannot it says why, changes
// nothing, and is journaled as refused.
func TestCommandsApplyOnlyWhenTheyCan(t *testing.T) {
	c, j := newConsole(t, Config{Scenario: "s", JudgeMode: "automatic"})
	ctx := context.Background()
	do := func(name, arg, as string, wantOK bool, wantMsg string) Reply {
		t.Helper()
		before := c.Status()
		r := c.Do(ctx, Command{Name: name, Arg: arg, As: as, Via: "ctl"})
		if r.OK != wantOK || !strings.Contains(r.Message, wantMsg) {
			t.Fatalf("%s %q as %s: ok %v %q, want ok %v and %q", name, arg, as, r.OK, r.Message, wantOK, wantMsg)
		}
		if !r.OK {
			after := c.Status()
			if before.Paused != after.Paused || before.Order != after.Order || (before.Gate == nil) != (after.Gate == nil) {
				t.Fatalf("refused %s changed the status: %+v -> %+v", name, before, after)
			}
		}
		return r
	}
	c.SetPhase("steady")
	do(CmdRollback, "", "bob", false, "applies during the rollout")
	do(CmdPause, "", "bob", false, "applies during the rollout")
	do(CmdApprove, "", "bob", false, "no approval gate is waiting")
	do(CmdNote, "", "alice", false, "note needs a text")
	do(CmdNote, "p99 rising", "alice", true, "noted")
	do(CmdInject, "slow", "alice", false, "unknown fault")
	do("reboot", "", "alice", false, "unknown command")

	c.SetPhase("rollout")
	c.SetRollout(true)
	do(CmdResume, "", "bob", false, "not paused")
	do(CmdPause, "", "bob", true, "rollout paused")
	if !c.Paused() {
		t.Fatal("not paused after pause")
	}
	do(CmdPause, "", "bob", false, "paused already")
	do(CmdResume, "", "bob", true, "resumed")

	answers := c.OpenGate(3, time.Minute)
	do(CmdApprove, "", "carol", true, "approved")
	do(CmdReject, "", "carol", false, "answered already")
	if a := <-answers; !a.Approve || a.As != "carol" || a.Via != "ctl" {
		t.Fatalf("gate answer %+v", a)
	}
	c.CloseGate()

	do(CmdRollback, "", "bob", true, "rollback ordered")
	if st := c.Status(); st.Order != CmdRollback || st.OrderedBy != "bob" {
		t.Fatalf("order %q by %q before it was taken", st.Order, st.OrderedBy)
	}
	do(CmdPromote, "", "dave", false, "ordered already by bob")
	if o := c.TakeOrder(); o == nil || o.Name != CmdRollback || o.As != "bob" {
		t.Fatalf("order %+v, want bob's rollback", o)
	}
	if c.TakeOrder() != nil {
		t.Fatal("an order taken twice")
	}
	do(CmdRollback, "", "dave", false, "ordered already by bob")

	c.Done()
	do(CmdNote, "late", "alice", false, "the drill has ended")
	if st := c.Status(); len(st.Applies) != 1 || st.Applies[0] != CmdStatus {
		t.Errorf("after the end, applies %v", st.Applies)
	}
	applied, refused := count(j, journal.OperatorCommand), count(j, journal.OperatorRefused)
	if applied != 5 || refused != 12 {
		t.Errorf("journal: %d applied, %d refused; want 5 and 12", applied, refused)
	}
	acts := c.Actions()
	if len(acts) != 17 || acts[4].As != "alice" || acts[4].Command != CmdNote || acts[4].Arg != "p99 rising" || !acts[4].Applied {
		t.Errorf("actions %+v", acts)
	}
}

// TestPausesShareOneBudget: pauses end by themselves once the drill's
// pauses used PauseLimit in all, and a new pause is then refused.
func TestPausesShareOneBudget(t *testing.T) {
	c, j := newConsole(t, Config{PauseLimit: 30 * time.Millisecond})
	c.SetRollout(true)
	if r := c.Do(context.Background(), Command{Name: CmdPause, As: "a"}); !r.OK {
		t.Fatal(r.Message)
	}
	deadline := time.Now().Add(5 * time.Second)
	for c.Paused() {
		if time.Now().After(deadline) {
			t.Fatal("the pause never expired")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if count(j, journal.PauseExpired) != 1 {
		t.Error("no pause.expired journaled")
	}
	if r := c.Do(context.Background(), Command{Name: CmdPause, As: "a"}); r.OK || !strings.Contains(r.Message, "used their") {
		t.Errorf("pause after the budget: %+v", r)
	}
}

// TestHiddenFaultsStayHidden: with hidden faults the status shows none
// and the dashboards get no fault event until the drill ends.
func TestHiddenFaultsStayHidden(t *testing.T) {
	c, j := newConsole(t, Config{HiddenFaults: true, JudgeMode: "off"})
	updates, stop := c.Subscribe()
	defer stop()
	j.Tap(c.Event)
	j.Record(journal.FaultApplied, "fault", "slow")
	j.Record(journal.Exposure)
	j.Record(journal.StepStart, "step", 1)
	c.SetJudge(JudgeView{Service: "orders", Verdict: "rollback"})
	var events []string
	for len(updates) > 0 {
		u := <-updates
		if u.Kind == "event" {
			events = append(events, u.Data.(journal.Event).Event)
		}
	}
	if len(events) != 1 || events[0] != journal.StepStart {
		t.Errorf("events shown: %v, want only step.start", events)
	}
	st := c.Status()
	if !st.FaultsHidden || len(st.Judges) != 0 || !strings.Contains(st.Summary(), "faults: unknown") || !strings.Contains(st.Summary(), "judge: hidden") {
		t.Errorf("status %+v\n%s", st, st.Summary())
	}
	c.Done()
	if c.Status().FaultsHidden {
		t.Error("faults still hidden after the drill ended")
	}
}

// TestSocket: drill ctl's path — a command over the run directory's link
// to a socket only its owner may use; closed, the socket and the link are
// gone and Send says no drill answers.
func TestSocket(t *testing.T) {
	c, _ := newConsole(t, Config{Scenario: "s"})
	runDir, sockDir := t.TempDir(), t.TempDir()
	srv, err := Listen(runDir, sockDir, c)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(sockDir, SocketName))
	if err != nil || fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket %v %v: want a 0600 socket", fi.Mode(), err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rep, err := Send(ctx, runDir, Command{Name: CmdNote, Arg: "hello", As: "alice"})
	if err != nil || !rep.OK || rep.Status == nil {
		t.Fatalf("note: %+v %v", rep, err)
	}
	if a := c.Actions(); len(a) != 1 || a[0].Via != "ctl" || a[0].As != "alice" {
		t.Errorf("actions %+v", a)
	}
	if rep, err := Send(ctx, runDir, Command{Name: CmdRollback, As: "bob"}); err != nil || rep.OK {
		t.Errorf("rollback before the rollout: %+v %v, want refused", rep, err)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(sockDir, SocketName), filepath.Join(runDir, SocketName)} {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("%s left behind (%v)", p, err)
		}
	}
	if _, err := Send(ctx, runDir, Command{Name: CmdStatus}); !errors.Is(err, ErrNoDrill) {
		t.Errorf("Send after Close: %v, want ErrNoDrill", err)
	}
}
