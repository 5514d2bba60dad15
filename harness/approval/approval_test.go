package approval

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
