package approval

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drillhq/drill/harness/gameday"
	"github.com/drillhq/drill/harness/journal"
	"github.com/drillhq/drill/harness/judge"
)

func gate(t *testing.T, auto bool, input string) (Gate, *[]string) {
	t.Helper()
	j, err := journal.Open(filepath.Join(t.TempDir(), "journal.jsonl"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	var said []string
	return Gate{Journal: j, Auto: auto, Say: func(f string, a ...any) { said = append(said, fmt.Sprintf(f, a...)) },
		Answers: func() <-chan string {
			if input == "" {
				return Lines(nil) // no stdin at all
			}
			return Lines(strings.NewReader(input))
		}}, &said
}

// TestGate: the operator's answer decides (other lines are asked again),
// no input is a rejection, --auto-approve asks nothing, and the judge's
// rollback ends the wait whatever the operator would say.
func TestGate(t *testing.T) {
	quiet := func(context.Context) (*judge.Decision, error) { return nil, nil }
	tests := []struct {
		name     string
		auto     bool
		input    string
		approved bool
		says     string
	}{
		{"yes after a stray line", false, "maybe\n YES \n", true, "answer 'yes' or 'no'"},
		{"no", false, "n\n", false, "APPROVAL NEEDED"},
		{"stdin closed", false, "", false, "treating the gate as rejected"},
		{"auto-approve", true, "", true, "approval passed by --auto-approve"},
	}
	for _, tt := range tests {
		g, said := gate(t, tt.auto, tt.input)
		dec, ok, err := g.Wait(context.Background(), 2, func(ctx context.Context) (*judge.Decision, error) {
			time.Sleep(time.Millisecond) // a tick: lets the reader deliver its lines
			return quiet(ctx)
		})
		if dec != nil || err != nil || ok != tt.approved {
			t.Errorf("%s: %v %v %v, want approved=%v", tt.name, dec, ok, err, tt.approved)
		}
		if !strings.Contains(strings.Join(*said, "\n"), tt.says) {
			t.Errorf("%s: said %q, want %q in it", tt.name, *said, tt.says)
		}
	}
	g, _ := gate(t, false, "yes\n")
	rb := &judge.Decision{Verdict: judge.Rollback}
	dec, ok, err := g.Wait(context.Background(), 2, func(context.Context) (*judge.Decision, error) { return rb, nil })
	if dec != rb || ok || err != nil {
		t.Errorf("judge's rollback during the gate: %v %v %v", dec, ok, err)
	}
}

// TestGateFromConsole: an answer sent with drill ctl (through the
// console) decides the gate and names who sent it; in a game day a
// closed stdin leaves the gate waiting for it.
func TestGateFromConsole(t *testing.T) {
	for _, approve := range []bool{true, false} {
		g, _ := gate(t, false, "") // stdin closed
		g.Attended = true
		g.Console = gameday.New(gameday.Config{Journal: g.Journal})
		go func() {
			// Answer once the gate is open: a command before it is refused.
			for {
				name := gameday.CmdReject
				if approve {
					name = gameday.CmdApprove
				}
				if r := g.Console.Do(context.Background(), gameday.Command{Name: name, As: "carol", Via: "ctl"}); r.OK {
					return
				}
				time.Sleep(time.Millisecond)
			}
		}()
		dec, ok, err := g.Wait(context.Background(), 4, func(context.Context) (*judge.Decision, error) {
			time.Sleep(time.Millisecond)
			return nil, nil
		})
		if dec != nil || err != nil || ok != approve {
			t.Errorf("ctl answer approve=%v: %v %v %v", approve, dec, ok, err)
		}
		last := g.Journal.Events()[len(g.Journal.Events())-1]
		if last.Fields["as"] != "carol" || last.Fields["via"] != "ctl" {
			t.Errorf("the gate's answer journaled as %+v", last)
		}
	}
}

// TestGateTimeout: an unanswered gate ends at its timeout as on_timeout
// says, and says so.
func TestGateTimeout(t *testing.T) {
	for _, tc := range []struct {
		onTimeout string
		approved  bool
	}{{"reject", false}, {"approve", true}, {"", false}} {
		g, said := gate(t, false, "")
		g.Attended = true // stdin closed does not reject: only the timeout ends it
		g.Timeout, g.OnTimeout = 20*time.Millisecond, tc.onTimeout
		_, ok, err := g.Wait(context.Background(), 2, func(context.Context) (*judge.Decision, error) {
			time.Sleep(time.Millisecond)
			return nil, nil
		})
		if err != nil || ok != tc.approved {
			t.Errorf("on_timeout %q: approved %v, want %v", tc.onTimeout, ok, tc.approved)
		}
		if !strings.Contains(strings.Join(*said, "\n"), "timed out after 20ms") {
			t.Errorf("on_timeout %q: said %q", tc.onTimeout, *said)
		}
	}
}
