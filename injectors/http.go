package injectors

import (
	"context"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
)

// splitTarget splits "orders.v2" into ("orders", "v2"); a bare service
// gives version "".
func splitTarget(target string) (service, version string) {
	service, version, _ = strings.Cut(target, ".")
	return service, version
}

// coin decides per request, from the scenario seed, whether a fault with
// probability p acts. It is shared by the HTTP kinds so that every kind's
// `probability` means the same thing.
type coin struct {
	mu  sync.Mutex
	rng *rand.Rand
	p   float64
}

func newCoin(seed int64, p float64) *coin {
	return &coin{rng: rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15)), p: p}
}

// flip reports whether the fault acts on this request.
func (c *coin) flip() bool {
	if c.p >= 1 {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rng.Float64() < c.p
}

// float returns a uniform number in [0,1) from the same seeded stream.
func (c *coin) float() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rng.Float64()
}

// httpInjector installs one HTTPFault at the router of its target. It holds
// the remove function so Revert is idempotent and safe without Apply.
type httpInjector struct {
	target string
	fault  HTTPFault

	mu     sync.Mutex
	remove func()
}

func (h *httpInjector) Apply(_ context.Context, env Env) error {
	p, err := env.HTTP(h.target)
	if err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.remove != nil {
		return nil // already applied
	}
	h.remove = p.Install(h.fault)
	return nil
}

func (h *httpInjector) Revert(context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.remove != nil {
		h.remove()
		h.remove = nil
	}
	return nil
}

// writeStatus answers a request the router will not forward.
func writeStatus(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Drill-Fault", msg)
	w.WriteHeader(status)
	_, _ = w.Write([]byte(msg + "\n"))
}
