package injectors

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

func init() {
	Register("flag-service-down", flagDownKind{})
	Register("flag-stale", flagStaleKind{})
}

// FlagPoint is drill's flag service as a fault point.
type FlagPoint interface {
	// Down stops answering (connections are refused); Up answers again at
	// the same address.
	Down() error
	Up() error
	// SetStaleness makes published changes reach the answers only d after
	// they were published (0: at once).
	SetStaleness(d time.Duration)
}

// FlagEnv is an Env with a flag service. It is a separate interface so
// that environments without flags need not implement it; the flag kinds
// fail to apply on one that does not.
type FlagEnv interface {
	Flags() (FlagPoint, error)
}

func flagPoint(env Env, kind string) (FlagPoint, error) {
	fe, ok := env.(FlagEnv)
	if !ok {
		return nil, fmt.Errorf("%s: this drill has no flag service", kind)
	}
	fp, err := fe.Flags()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", kind, err)
	}
	return fp, nil
}

// FlagDownParams configures flag-service-down: it has no parameters.
type FlagDownParams struct{}

type flagDownKind struct{}

func (flagDownKind) Describe() Description {
	return Description{
		Name: "flag-service-down",
		Summary: "stop drill's flag service from answering (connections refused): services must fall back to each flag's " +
			"defaultVariant without failing requests",
		Targets: "flags",
	}
}

func (flagDownKind) Parse(decode func(any) error) (any, error) {
	var p FlagDownParams
	return p, decode(&p)
}

func (flagDownKind) New(s Spec) Injector { return &flagDown{coin: newCoin(s.Seed, s.Probability)} }

type flagDown struct {
	coin *coin
	mu   sync.Mutex
	fp   FlagPoint
}

func (f *flagDown) Apply(_ context.Context, env Env) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fp != nil || !f.coin.flip() {
		return nil
	}
	fp, err := flagPoint(env, "flag-service-down")
	if err != nil {
		return err
	}
	if err := fp.Down(); err != nil {
		return fmt.Errorf("flag-service-down: %w", err)
	}
	f.fp = fp
	return nil
}

func (f *flagDown) Revert(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fp == nil {
		return nil
	}
	if err := f.fp.Up(); err != nil {
		return fmt.Errorf("flag-service-down: bring the flag service up again: %w", err)
	}
	f.fp = nil
	return nil
}

// FlagStaleParams configures flag-stale.
type FlagStaleParams struct {
	Delay Duration `yaml:"delay"`
}

type flagStaleKind struct{}

func (flagStaleKind) Describe() Description {
	return Description{
		Name: "flag-stale",
		Summary: "make flag changes reach services late (a slow flag pipeline or a stale cache): a change, the rollback's " +
			"kill switch included, is served only delay after it was published",
		Targets: "flags",
		Params:  []Param{{Name: "delay", Default: "(required)", Description: "how late changes are served, e.g. 5s"}},
	}
}

func (flagStaleKind) Parse(decode func(any) error) (any, error) {
	var p FlagStaleParams
	if err := decode(&p); err != nil {
		return nil, err
	}
	if p.Delay <= 0 {
		return p, errors.New("flag-stale needs params.delay > 0 (e.g. delay: 5s)")
	}
	return p, nil
}

func (flagStaleKind) New(s Spec) Injector {
	return &flagStale{delay: time.Duration(s.Params.(FlagStaleParams).Delay), coin: newCoin(s.Seed, s.Probability)}
}

type flagStale struct {
	delay time.Duration
	coin  *coin
	mu    sync.Mutex
	fp    FlagPoint
}

func (f *flagStale) Apply(_ context.Context, env Env) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fp != nil || !f.coin.flip() {
		return nil
	}
	fp, err := flagPoint(env, "flag-stale")
	if err != nil {
		return err
	}
	fp.SetStaleness(f.delay)
	f.fp = fp
	return nil
}

// Revert serves the changes still queued at once: a stale pipeline that
// is fixed catches up.
func (f *flagStale) Revert(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fp != nil {
		f.fp.SetStaleness(0)
		f.fp = nil
	}
	return nil
}
