package injectors

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"sync/atomic"
)

func init() { Register("first-n", firstNKind{}) }

// FirstNParams configures the first-n kind.
type FirstNParams struct {
	N      int `yaml:"n"`
	Status int `yaml:"status"`
}

type firstNKind struct{}

func (firstNKind) Describe() Description {
	return Description{
		Name:    "first-n",
		Summary: "fail the first n requests that reach the target, then let everything through (retry drills)",
		Targets: "service | service.version",
		Params: []Param{
			{Name: "n", Default: "(required)", Description: "how many requests fail, counted after probability, once per fault (a re-apply does not start over)"},
			{Name: "status", Default: "503", Description: "HTTP status of the failed requests (400-599)"},
		},
	}
}

func (firstNKind) Parse(decode func(any) error) (any, error) {
	p := FirstNParams{Status: http.StatusServiceUnavailable}
	if err := decode(&p); err != nil {
		return nil, err
	}
	var errs []error
	if p.N <= 0 {
		errs = append(errs, errors.New("first-n needs params.n > 0, the number of requests to fail (e.g. n: 3)"))
	}
	if p.Status < 400 || p.Status > 599 {
		errs = append(errs, fmt.Errorf("first-n params.status %d is not an HTTP error status (400-599)", p.Status))
	}
	return p, errors.Join(errs...)
}

func (firstNKind) New(s Spec) Injector {
	p := s.Params.(FirstNParams)
	f := &firstNFault{p: p, coin: newCoin(s.Seed, s.Probability)}
	return &firstNInjector{httpInjector: httpInjector{target: s.Target, fault: f}, f: f}
}

// firstNInjector is a first-n fault that can verify its effect. Its count
// lives as long as the injector: Revert removes the fault and resets
// nothing, so applying it again fails no more requests once n have failed.
type firstNInjector struct {
	httpInjector
	f *firstNFault
}

var (
	_ Injector = (*firstNInjector)(nil)
	_ Verifier = (*firstNInjector)(nil)
)

// Verify checks that n more requests than the steady state would explain
// were answered with the status during the fault. The allowance is one
// request for a failure recorded at the edge of the observation, plus
// three binomial standard deviations of the steady state's own answers
// with that status.
func (fi *firstNInjector) Verify(obs Observation) Effect {
	d := obs.During.Requests
	if d <= 0 {
		return httpNoTraffic
	}
	n := int64(fi.f.p.N)
	status := fi.f.p.Status
	var b float64
	if obs.Before.Requests > 0 {
		b = min(float64(obs.Before.ByStatus[status])/float64(obs.Before.Requests), 1)
	}
	got := obs.During.ByStatus[status]
	excess := float64(got) - b*float64(d)
	allow := 1 + 3*math.Sqrt(float64(d)*b*(1-b))
	msg := fmt.Sprintf("%d of %d requests answered %d", got, d, status)
	if b > 0 {
		msg += fmt.Sprintf(", %.0f expected from the steady state (%s): %.0f from the fault", b*float64(d), httpPct(b), excess)
	}
	msg += fmt.Sprintf(" (configured n=%d ±%.0f)", n, math.Floor(allow))
	if d < n {
		msg += fmt.Sprintf("; only %d requests came during the fault, fewer than n", d)
	}
	return Effect{Effective: d >= n && math.Abs(excess-float64(n)) <= allow, Measured: msg}
}

// firstNFault answers the first n requests its coin picks with the status.
type firstNFault struct {
	p      FirstNParams
	coin   *coin
	failed atomic.Int64 // requests picked so far; may run past n under concurrency
}

func (f *firstNFault) Intercept(w http.ResponseWriter, _ *http.Request) bool {
	n := int64(f.p.N)
	if f.failed.Load() >= n {
		return false // done: every later request passes, coin or not
	}
	if !f.coin.flip() {
		return false
	}
	if f.failed.Add(1) > n {
		return false // another request took the last one
	}
	writeStatus(w, f.p.Status, "drill fault: first-n")
	return true
}
