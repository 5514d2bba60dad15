package injectors

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

func init() { Register("partition", partitionKind{}) }

// PartitionParams configures the partition kind.
type PartitionParams struct {
	// From is the calling service cut off from the target.
	From string `yaml:"from"`
}

type partitionKind struct{}

func (partitionKind) Describe() Description {
	return Description{
		Name:    "partition",
		Summary: "cut a calling service off from the target: its requests to the target's router are reset",
		Targets: "service",
		Params: []Param{
			{Name: "from", Default: "(required)", Description: "the calling service, e.g. orders (target: pricing)"},
		},
	}
}

func (partitionKind) Parse(decode func(any) error) (any, error) {
	var p PartitionParams
	if err := decode(&p); err != nil {
		return nil, err
	}
	if p.From == "" {
		return p, errors.New("partition needs params.from, the calling service to cut off (e.g. from: orders)")
	}
	return p, nil
}

func (partitionKind) New(s Spec) Injector {
	p := s.Params.(PartitionParams)
	return &partitionInjector{
		target:      s.Target,
		from:        p.From,
		fault:       &resetFault{coin: newCoin(s.Seed, s.Probability)},
		probability: min(max(s.Probability, 0), 1),
	}
}

// partitionInjector installs a reset on the link from one service to the
// target, so that only that caller's requests are reset.
type partitionInjector struct {
	target, from string
	fault        *resetFault
	probability  float64

	mu     sync.Mutex
	remove func()
	seen0  int64 // fault.seen at the last Apply
}

var (
	_ Injector = (*partitionInjector)(nil)
	_ Verifier = (*partitionInjector)(nil)
)

func (p *partitionInjector) Apply(_ context.Context, env Env) error {
	svc, version := splitTarget(p.target)
	if version != "" {
		return fmt.Errorf("partition acts on a service, not on version %q of %s (write target: %s)", version, svc, svc)
	}
	if p.from == svc {
		return fmt.Errorf("partition from %s to itself: params.from must name the service that calls %s", svc, svc)
	}
	pt, err := env.Link(p.from, svc)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.remove != nil {
		return nil // already applied
	}
	p.seen0 = p.fault.seen.Load()
	p.remove = pt.Install(p.fault)
	return nil
}

func (p *partitionInjector) Revert(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.remove != nil {
		p.remove()
		p.remove = nil
	}
	return nil
}

// Verify checks the share of transport errors at the target's router.
// The router's counts do not tell callers apart, so the share expected is
// the probability times the share of the target's requests that came from
// the partitioned caller, which the fault counts (it sees every one of
// them); with a single caller that is the probability itself.
func (p *partitionInjector) Verify(obs Observation) Effect {
	n := obs.During.Requests
	if n <= 0 {
		return httpNoTraffic
	}
	p.mu.Lock()
	seen := p.fault.seen.Load() - p.seen0
	p.mu.Unlock()
	if seen <= 0 {
		return Effect{Measured: fmt.Sprintf("no request from %s reached %s while the partition was in place: nothing to measure", p.from, p.target)}
	}
	share := min(float64(seen)/float64(n), 1)
	e := httpShareEffect(obs, []int{0}, p.probability*share, "transport errors")
	if share < 1 {
		e.Measured += fmt.Sprintf("; %s sent %s of the requests, the configured share is %s × that", p.from, httpPct(share), httpPct(p.probability))
	}
	return e
}
