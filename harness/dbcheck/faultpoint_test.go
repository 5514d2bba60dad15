package dbcheck

import (
	"context"
	"testing"

	"github.com/drillhq/drill/injectors"
)

type namedFault string

func (namedFault) Migration(context.Context, *injectors.Migration) error { return nil }

// TestFaultPointArmsInOrder: faults are handed over in the order they
// were armed, a removed one is gone, and a database nobody armed has none.
func TestFaultPointArmsInOrder(t *testing.T) {
	var none *FaultPoint
	if got := none.Armed(); got != nil {
		t.Errorf("nil point: %v", got)
	}
	p := &FaultPoint{}
	p.Install(namedFault("a"))
	removeB := p.Install(namedFault("b"))
	p.Install(namedFault("c"))
	removeB()
	removeB() // idempotent
	got := p.Armed()
	if len(got) != 2 || got[0] != namedFault("a") || got[1] != namedFault("c") {
		t.Errorf("armed %v, want [a c]", got)
	}
}
