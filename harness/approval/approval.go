// Package approval is a rollout's manual gate (`approval: manual`): it
// waits for an operator's yes or no while the judge keeps watching, so a
// release that goes bad while nobody answers is still rolled back.
package approval

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/drillhq/drill/harness/gameday"
	"github.com/drillhq/drill/harness/journal"
	"github.com/drillhq/drill/harness/judge"
	"github.com/drillhq/drill/scenarios"
)

// Timeout bounds a manual gate that names no timeout of its own.
const Timeout = scenarios.DefaultGateTimeout

// Gate is what a manual gate needs from the drill.
type Gate struct {
	Journal *journal.Journal
	Say     func(format string, args ...any) // a progress line for the operator
	Auto    bool                             // --auto-approve: pass without asking
	// Answers returns the operator's lines; asked only when the gate
	// waits, so an unattended run never reads its stdin.
	Answers func() <-chan string
	// Console takes answers from drill ctl and the dashboard too, and
	// records a stdin answer as an operator action (nil: stdin only).
	Console *gameday.Console
	// Operator is the name a stdin answer is recorded under (the OS user).
	Operator string
	// Attended: a person is in the loop by design (a game day), so the
	// end of stdin does not reject the gate: drill ctl or the dashboard
	// may still answer until the timeout.
	Attended bool
	// Label names the gate in messages ("step 3", "stage production");
	// Timeout and OnTimeout are the gate's (Timeout and reject when zero).
	Label     string
	Timeout   time.Duration
	OnTimeout string
}

// Wait holds the gate at step until an operator answers, while next
// ticks one analysis interval: a decision from next (the judge's rollback)
// ends the wait. It returns that decision, or whether the gate passed:
// the end of input (unless Attended) counts as a rejection, and the
// timeout as its OnTimeout says.
func (g Gate) Wait(ctx context.Context, step int, next func(context.Context) (*judge.Decision, error)) (*judge.Decision, bool, error) {
	label := cmp.Or(g.Label, fmt.Sprintf("step %d", step))
	if g.Auto {
		g.Journal.Record(journal.ApprovalAuto, "step", step, "gate", label)
		g.Say("%s: approval passed by --auto-approve", label)
		return nil, true, nil
	}
	timeout := cmp.Or(g.Timeout, Timeout)
	onTimeout := cmp.Or(g.OnTimeout, scenarios.OnTimeoutReject)
	g.Say("%s: APPROVAL NEEDED - type 'yes' to go on, 'no' to stop (or drill ctl RUN_DIR approve|reject); on its own after %s: %s", label, timeout, onTimeout)
	g.Journal.Record(journal.ApprovalWait, "step", step, "gate", label, "timeout", timeout.String(), "on_timeout", onTimeout)
	var ctl <-chan gameday.Answer
	if g.Console != nil {
		ctl = g.Console.OpenGate(step, timeout)
		defer g.Console.CloseGate()
	}
	answers := g.Answers()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if dec, err := next(ctx); dec != nil || err != nil {
			return dec, false, err
		}
		select {
		case a := <-ctl:
			return nil, g.answered(step, label, a), nil
		case a, ok := <-answers:
			if !ok {
				answers = nil // a nil channel: never selected again
				if g.Attended {
					g.Say("stdin closed: waiting for drill ctl or the dashboard until the gate's timeout")
					continue
				}
				g.Journal.Record(journal.ApprovalRejected, "step", step, "gate", label, "reason", "no operator input (stdin closed); use --auto-approve in unattended runs")
				g.Say("no operator input: treating the gate as rejected (use --auto-approve in CI)")
				return nil, false, nil
			}
			switch strings.ToLower(strings.TrimSpace(a)) {
			case "y", "yes":
				return nil, g.fromStdin(step, label, true), nil
			case "n", "no":
				return nil, g.fromStdin(step, label, false), nil
			default:
				g.Say("answer 'yes' or 'no'")
			}
		default:
		}
	}
	reason := fmt.Sprintf("timed out after %s (on_timeout: %s)", timeout, onTimeout)
	g.Say("%s: no answer: %s", label, reason)
	if onTimeout == scenarios.OnTimeoutApprove {
		g.Journal.Record(journal.ApprovalGranted, "step", step, "gate", label, "reason", reason)
		return nil, true, nil
	}
	g.Journal.Record(journal.ApprovalRejected, "step", step, "gate", label, "reason", reason)
	return nil, false, nil
}

// fromStdin records a stdin answer as an operator action and journals it.
func (g Gate) fromStdin(step int, label string, approve bool) bool {
	a := gameday.Answer{Approve: approve, As: g.Operator, Via: "stdin", At: time.Now()}
	if g.Console != nil {
		g.Console.GateAnswered()
		g.Console.RecordAnswer(a, step)
	}
	return g.answered(step, label, a)
}

// answered journals an operator's answer and returns it.
func (g Gate) answered(step int, label string, a gameday.Answer) bool {
	if a.Approve {
		g.Journal.Record(journal.ApprovalGranted, "step", step, "gate", label, "as", a.As, "via", a.Via)
		g.Say("%s: approved by %s (%s)", label, a.As, a.Via)
		return true
	}
	g.Journal.Record(journal.ApprovalRejected, "step", step, "gate", label, "reason", "operator", "as", a.As, "via", a.Via)
	g.Say("%s: rejected by %s (%s)", label, a.As, a.Via)
	return false
}

// Lines returns the operator's answers read from in, one a line, closed
// at the end of input (at once when in is nil). A reader shared by several
// drills hands out its own lines (a Lines() <-chan string method): a
// scanner here would read ahead into the next drill's answers.
func Lines(in io.Reader) <-chan string {
	if ls, ok := in.(interface{ Lines() <-chan string }); ok {
		return ls.Lines()
	}
	ch := make(chan string, 4)
	if in == nil {
		close(ch)
		return ch
	}
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(in)
		for sc.Scan() {
			ch <- sc.Text()
		}
	}()
	return ch
}
