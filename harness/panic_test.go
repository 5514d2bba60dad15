package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/drillhq/drill/injectors"
	"github.com/drillhq/drill/reports"
	"github.com/drillhq/drill/scenarios"
)

// panicKind is a test-only fault kind whose Apply starts a goroutine that
// panics, as a buggy injector would.
type panicKind struct{ reverted *atomic.Bool }

var panicReverted atomic.Bool

func init() { injectors.Register("test-panic", panicKind{reverted: &panicReverted}) }

func (panicKind) Describe() injectors.Description {
	return injectors.Description{Name: "test-panic", Summary: "test only: panics on a goroutine", Targets: "service | service.version"}
}
func (panicKind) Parse(func(any) error) (any, error) { return nil, nil }
func (k panicKind) New(injectors.Spec) injectors.Injector {
	return panicInjector(k)
}

type panicInjector panicKind

func (p panicInjector) Apply(ctx context.Context, _ injectors.Env) error {
	injectors.Go(ctx, "test-panic goroutine", func() { panic("boom off the main goroutine") })
	return nil
}

func (p panicInjector) Revert(context.Context) error {
	p.reverted.Store(true)
	return nil
}

// TestPanicOffTheMainGoroutineAbortsSafely: a panic on a goroutine an
// injector started used to kill the process with the canary live and the
// fault in place. Now the drill aborts as on Ctrl-C: the rollback's undo
// runs, the fault is reverted, nothing is left behind, and the journal and
// report carry the panic.
func TestPanicOffTheMainGoroutineAbortsSafely(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a drill of real processes for a few seconds")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	y := fmt.Sprintf(`version: 1
name: panic-abort
seed: 1
environment:
  services:
    api:
      command: [%q, "-test.run=^TestHelperProcess$"]
      env: {%s: slow-first, SLOW_FIRST: "0", SLOW_FOR: 0s}
      versions: {v1: {}, v2: {}}
load: {target: api, rate: 50/s, requests: [{path: /x}]}
steady_state: {duration: 1s, warmup: 1s}
rollout:
  service: api
  to: v2
  steps: [{weight: 50%%, hold: 20s}]
  analysis: {metrics: [{metric: error_rate, max_increase: 50%%}]}
faults:
  - {name: boom, kind: test-panic, target: api, at: {step: 1}}
`, exe, helperEnv)
	sc, err := scenarios.Parse("panic.yaml", []byte(y))
	if err != nil {
		t.Fatalf("scenario: %v", err)
	}
	panicReverted.Store(false)
	rep, err := Run(context.Background(), sc, Options{OutDir: t.TempDir(), CacheDir: t.TempDir()})
	if rep == nil {
		t.Fatalf("no report: %v", err)
	}
	if err == nil || errors.Is(err, ErrInterrupted) || !strings.Contains(err.Error(), "boom off the main goroutine") {
		t.Errorf("Run error = %v, want the panic as an internal error (not an interruption)", err)
	}
	if rep.Outcome != reports.OutcomeAborted || rep.Interrupted {
		t.Errorf("outcome %s, interrupted %v; want aborted, not interrupted", rep.Outcome, rep.Interrupted)
	}
	if !strings.Contains(rep.Error, "test-panic goroutine") {
		t.Errorf("report error = %q, want where the panic happened", rep.Error)
	}
	if !panicReverted.Load() {
		t.Error("the fault was not reverted")
	}
	if len(rep.Rollback.Steps) == 0 {
		t.Error("no rollback step ran: the canary was left live")
	}
	if len(rep.Leftovers) > 0 {
		t.Errorf("leftovers: %v", rep.Leftovers)
	}
	var panics int
	for _, e := range runEvents(t, rep) {
		if e.Event == "panic" {
			panics++
			f := e.Fields
			if f["where"] != "test-panic goroutine" || !strings.Contains(fmt.Sprint(f["stack"]), "panic_test.go") {
				t.Errorf("panic event = %v", f)
			}
		}
	}
	if panics != 1 {
		t.Errorf("%d panic events in the journal, want 1", panics)
	}
}
