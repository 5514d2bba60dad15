package injectors

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"
)

func init() { Register("timeout", timeoutKind{}) }

// DefaultTimeoutMax is how long the timeout kind holds a request whose
// client never gives up, unless params.max says otherwise.
const DefaultTimeoutMax = 5 * time.Minute

// TimeoutParams configures the timeout kind.
type TimeoutParams struct {
	Max Duration `yaml:"max"`
}

type timeoutKind struct{}

func (timeoutKind) Describe() Description {
	return Description{
		Name:    "timeout",
		Summary: "hold requests at the router until their client gives up; they never reach the instance",
		Targets: "service | service.version",
		Params: []Param{
			{Name: "max", Default: "5m", Description: "longest a request is held; then (or on revert) it is answered 504"},
		},
	}
}

func (timeoutKind) Parse(decode func(any) error) (any, error) {
	p := TimeoutParams{Max: Duration(DefaultTimeoutMax)}
	if err := decode(&p); err != nil {
		return nil, err
	}
	if p.Max <= 0 {
		return p, errors.New("timeout params.max must be > 0 (e.g. max: 30s)")
	}
	return p, nil
}

func (timeoutKind) New(s Spec) Injector {
	p := s.Params.(TimeoutParams)
	return &timeoutInjector{
		target:      s.Target,
		max:         time.Duration(p.Max),
		coin:        newCoin(s.Seed, s.Probability),
		probability: min(max(s.Probability, 0), 1),
	}
}

// timeoutInjector installs a fresh timeoutFault at each Apply; Revert
// removes it and releases the requests it still holds, so that a reverted
// timeout leaves nothing waiting behind it.
type timeoutInjector struct {
	target      string
	max         time.Duration
	coin        *coin
	probability float64

	mu     sync.Mutex
	remove func()
	fault  *timeoutFault
}

var (
	_ Injector = (*timeoutInjector)(nil)
	_ Verifier = (*timeoutInjector)(nil)
)

func (t *timeoutInjector) Apply(_ context.Context, env Env) error {
	p, err := env.HTTP(t.target)
	if err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.remove != nil {
		return nil // already applied
	}
	t.fault = &timeoutFault{max: t.max, coin: t.coin, release: make(chan struct{})}
	t.remove = p.Install(t.fault)
	return nil
}

func (t *timeoutInjector) Revert(context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.remove != nil {
		t.remove()
		close(t.fault.release)
		t.remove, t.fault = nil, nil
	}
	return nil
}

// Verify checks that the share of requests held during the fault — those
// whose client gave up (transport errors) and those answered 504 at max or
// on revert — is the probability (see httpShareEffect for the tolerance).
// A request still held when the observation ended is not in it.
func (t *timeoutInjector) Verify(obs Observation) Effect {
	return httpShareEffect(obs, []int{0, http.StatusGatewayTimeout}, t.probability, "held (client gave up or 504)")
}

// timeoutFault holds the requests its coin picks and never lets them
// through.
type timeoutFault struct {
	max     time.Duration
	coin    *coin
	release chan struct{} // closed on revert
}

func (f *timeoutFault) Intercept(w http.ResponseWriter, r *http.Request) bool {
	select {
	case <-f.release:
		// Reverted while the router was on its way here: the fault is
		// gone for this request too.
		return false
	default:
	}
	if !f.coin.flip() {
		return false
	}
	t := time.NewTimer(f.max)
	defer t.Stop()
	select {
	case <-r.Context().Done():
		// The client gave up (or the router is closing): nothing to
		// answer, the router records a transport error.
	case <-t.C:
		writeStatus(w, http.StatusGatewayTimeout, "drill fault: timeout (held for params.max)")
	case <-f.release:
		writeStatus(w, http.StatusGatewayTimeout, "drill fault: timeout (released on revert)")
	}
	return true
}
