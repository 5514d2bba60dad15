// Package approval is a rollout's manual gate (`approval: manual`): it
// waits for an operator's yes or no while the judge keeps watching, so a
// release that goes bad while nobody answers is still rolled back.
package approval

import (
	"bufio"
	"context"
	"io"
	"strings"
	"time"

	"github.com/drillhq/drill/harness/journal"
	"github.com/drillhq/drill/harness/judge"
)

// Timeout bounds how long a manual gate waits for an operator.
const Timeout = 15 * time.Minute

// Gate is what a manual gate needs from the drill.
type Gate struct {
	Journal *journal.Journal
	Say     func(format string, args ...any) // a progress line for the operator
	Auto    bool                             // --auto-approve: pass without asking
	// Answers returns the operator's lines; asked only when the gate
	// waits, so an unattended run never reads its stdin.
	Answers func() <-chan string
}

// Wait holds the gate at step until the operator answers, while next
// ticks one analysis interval: a decision from next (the judge's rollback)
// ends the wait. It returns that decision, or whether the operator
// approved: the end of input and Timeout count as a rejection.
func (g Gate) Wait(ctx context.Context, step int, next func(context.Context) (*judge.Decision, error)) (*judge.Decision, bool, error) {
	if g.Auto {
		g.Journal.Record(journal.ApprovalAuto, "step", step)
		g.Say("step %d: approval passed by --auto-approve", step)
		return nil, true, nil
	}
	g.Say("step %d: APPROVAL NEEDED - type 'yes' to continue the rollout, 'no' to roll back", step)
	g.Journal.Record(journal.ApprovalWait, "step", step)
	answers := g.Answers()
	deadline := time.Now().Add(Timeout)
	for time.Now().Before(deadline) {
		if dec, err := next(ctx); dec != nil || err != nil {
			return dec, false, err
		}
		select {
		case a, ok := <-answers:
			if !ok {
				g.Journal.Record(journal.ApprovalRejected, "step", step, "reason", "no operator input (stdin closed); use --auto-approve in unattended runs")
				g.Say("no operator input: treating the gate as rejected (use --auto-approve in CI)")
				return nil, false, nil
			}
			switch strings.ToLower(strings.TrimSpace(a)) {
			case "y", "yes":
				g.Journal.Record(journal.ApprovalGranted, "step", step)
				return nil, true, nil
			case "n", "no":
				g.Journal.Record(journal.ApprovalRejected, "step", step, "reason", "operator")
				return nil, false, nil
			default:
				g.Say("answer 'yes' or 'no'")
			}
		default:
		}
	}
	g.Journal.Record(journal.ApprovalRejected, "step", step, "reason", "timed out after "+Timeout.String())
	return nil, false, nil
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
