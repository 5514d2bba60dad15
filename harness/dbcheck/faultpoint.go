package dbcheck

import (
	"sort"
	"sync"

	"github.com/drillhq/drill/injectors"
)

var _ injectors.MigrationPoint = (*FaultPoint)(nil)

// FaultPoint is one database's injectors.MigrationPoint: it holds the
// migration faults armed on it, which a Migrator's Faults hands over
// (Armed) before each file runs.
type FaultPoint struct {
	mu     sync.Mutex
	next   int
	faults map[int]injectors.MigrationFault
}

// Install arms f until remove is called.
func (p *FaultPoint) Install(f injectors.MigrationFault) (remove func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.faults == nil {
		p.faults = map[int]injectors.MigrationFault{}
	}
	id := p.next
	p.next++
	p.faults[id] = f
	return func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		delete(p.faults, id)
	}
}

// Armed returns the faults in place now, in the order they were armed;
// none on a nil FaultPoint.
func (p *FaultPoint) Armed() []injectors.MigrationFault {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	ids := make([]int, 0, len(p.faults))
	for id := range p.faults {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	out := make([]injectors.MigrationFault, len(ids))
	for i, id := range ids {
		out[i] = p.faults[id]
	}
	return out
}
