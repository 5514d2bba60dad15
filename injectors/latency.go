package injectors

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"time"
)

func init() { Register("latency", latencyKind{}) }

// LatencyParams configures the latency kind.
type LatencyParams struct {
	Delay        Duration `yaml:"delay"`
	Jitter       Duration `yaml:"jitter"`
	Distribution string   `yaml:"distribution"` // uniform | normal
}

type latencyKind struct{}

func (latencyKind) Describe() Description {
	return Description{
		Name:    "latency",
		Summary: "delay requests at the router before they reach the instance",
		Targets: "service | service.version",
		Params: []Param{
			{Name: "delay", Default: "(required)", Description: "added delay, e.g. 200ms"},
			{Name: "jitter", Default: "0s", Description: "spread around delay"},
			{Name: "distribution", Default: "uniform", Description: "uniform (delay±jitter) | normal (σ = jitter)"},
		},
	}
}

func (latencyKind) Parse(decode func(any) error) (any, error) {
	p := LatencyParams{Distribution: "uniform"}
	if err := decode(&p); err != nil {
		return nil, err
	}
	var errs []error
	if p.Delay <= 0 {
		errs = append(errs, errors.New("latency needs params.delay > 0 (e.g. delay: 200ms)"))
	}
	if p.Jitter < 0 {
		errs = append(errs, errors.New("latency params.jitter must not be negative"))
	}
	if p.Distribution != "uniform" && p.Distribution != "normal" {
		errs = append(errs, fmt.Errorf("unknown latency distribution %q (known: uniform, normal)", p.Distribution))
	}
	return p, errors.Join(errs...)
}

func (latencyKind) New(s Spec) Injector {
	p := s.Params.(LatencyParams)
	return &latencyInjector{
		httpInjector: httpInjector{target: s.Target, fault: &latencyFault{p: p, coin: newCoin(s.Seed, s.Probability)}},
		p:            p,
		probability:  s.Probability,
	}
}

var _ Injector = (*httpInjector)(nil)

// latencyInjector is a latency fault that can verify its effect.
type latencyInjector struct {
	httpInjector
	p           LatencyParams
	probability float64
}

var _ Verifier = (*latencyInjector)(nil)

// Verify checks that the mean latency at the router rose by the mean
// injected delay (delay × probability, jitter clipped at zero) within
// ±25%, or three standard errors of the coin flips when fewer requests
// make that wider.
func (l *latencyInjector) Verify(obs Observation) Effect {
	mean, square := l.moments()
	q := min(max(l.probability, 0), 1)
	expected := q * mean
	var sd float64
	if n := obs.During.Requests; n > 0 {
		sd = math.Sqrt(max(q*square-expected*expected, 0) / float64(n))
	}
	configured := "configured " + time.Duration(l.p.Delay).String()
	if q < 1 {
		configured += fmt.Sprintf(" × %s = %s", httpPct(q), httpSeconds(expected))
	}
	return httpMeanEffect(obs, expected, sd, configured)
}

// moments returns the mean and mean square, in seconds, of the delay one
// affected request gets (delay ± jitter, never below zero).
func (l *latencyInjector) moments() (mean, square float64) {
	d, j := time.Duration(l.p.Delay).Seconds(), time.Duration(l.p.Jitter).Seconds()
	switch {
	case j == 0:
		return d, d * d
	case l.p.Distribution == "normal":
		// E[max(X, 0)] for X ~ N(d, j²).
		z := d / j
		phi := math.Exp(-z*z/2) / math.Sqrt(2*math.Pi)
		cdf := 0.5 * math.Erfc(-z/math.Sqrt2)
		return d*cdf + j*phi, d*d + j*j
	case j > d:
		// Uniform on [d−j, d+j], the part below zero clipped to zero.
		return (d + j) * (d + j) / (4 * j), (d + j) * (d + j) * (d + j) / (6 * j)
	default:
		return d, d*d + j*j/3
	}
}

// latencyFault sleeps before letting the request through; the wait ends
// early when the client goes away so a fault never pins goroutines.
type latencyFault struct {
	p    LatencyParams
	coin *coin
}

func (f *latencyFault) Intercept(_ http.ResponseWriter, r *http.Request) bool {
	if !f.coin.flip() {
		return false
	}
	d := f.delay()
	if d <= 0 {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Context().Done():
	}
	return false
}

func (f *latencyFault) delay() time.Duration {
	base, j := float64(f.p.Delay), float64(f.p.Jitter)
	if j == 0 {
		return time.Duration(base)
	}
	u := f.coin.float()
	var d float64
	if f.p.Distribution == "normal" {
		// Box-Muller needs two uniforms; the second comes from the same stream.
		u2 := f.coin.float()
		d = base + j*math.Sqrt(-2*math.Log(1-u))*math.Cos(2*math.Pi*u2)
	} else {
		d = base + j*(2*u-1)
	}
	return time.Duration(max(d, 0))
}
