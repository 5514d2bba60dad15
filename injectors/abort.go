package injectors

import (
	"net/http"
	"sync/atomic"
)

func init() { Register("abort", abortKind{}) }

type abortKind struct{}

func (abortKind) Describe() Description {
	return Description{
		Name:    "abort",
		Summary: "reset the client's connection at the router instead of forwarding the request",
		Targets: "service | service.version",
	}
}

// Parse takes no params: the scenario loader refuses any given.
func (abortKind) Parse(func(any) error) (any, error) { return nil, nil }

func (abortKind) New(s Spec) Injector {
	return &abortInjector{
		httpInjector: httpInjector{target: s.Target, fault: &resetFault{coin: newCoin(s.Seed, s.Probability)}},
		probability:  min(max(s.Probability, 0), 1),
	}
}

// abortInjector is an abort fault that can verify its effect.
type abortInjector struct {
	httpInjector
	probability float64
}

var (
	_ Injector = (*abortInjector)(nil)
	_ Verifier = (*abortInjector)(nil)
)

// Verify checks that the share of transport errors the router recorded
// during the fault is the probability (see httpShareEffect for the
// tolerance).
func (a *abortInjector) Verify(obs Observation) Effect {
	return httpShareEffect(obs, []int{0}, a.probability, "transport errors")
}

// resetFault resets the client's connection of the requests its coin
// picks; abort and partition share it. seen counts the requests it was
// asked about, picked or not.
type resetFault struct {
	coin *coin
	seen atomic.Int64
}

func (f *resetFault) Intercept(w http.ResponseWriter, _ *http.Request) bool {
	f.seen.Add(1)
	if !f.coin.flip() {
		return false
	}
	resetClient(w)
	return true
}

// resetClient takes the connection over from net/http and closes it with
// SO_LINGER 0, so that the kernel sends a RST: the client sees "connection
// reset by peer", not a clean end of stream, and the router records a
// transport error for the request.
func resetClient(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		// Not hijackable (HTTP/2): ErrAbortHandler is net/http's own way
		// to break a response off, a stream reset there; the router
		// records it as a transport error.
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(interface{ SetLinger(sec int) error }); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}
