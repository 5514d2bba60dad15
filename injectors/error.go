package injectors

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
)

func init() { Register("error", errorKind{}) }

// ErrorParams configures the error kind.
type ErrorParams struct {
	Status int     `yaml:"status"`
	Rate   Percent `yaml:"rate"`
}

type errorKind struct{}

func (errorKind) Describe() Description {
	return Description{
		Name:    "error",
		Summary: "answer a share of requests with an HTTP error at the router",
		Targets: "service | service.version",
		Params: []Param{
			{Name: "status", Default: "500", Description: "HTTP status to answer (400-599)"},
			{Name: "rate", Default: "100%", Description: "share of requests that fail (combined with probability)"},
		},
	}
}

func (errorKind) Parse(decode func(any) error) (any, error) {
	p := ErrorParams{Status: http.StatusInternalServerError, Rate: 1}
	if err := decode(&p); err != nil {
		return nil, err
	}
	var errs []error
	if p.Status < 400 || p.Status > 599 {
		errs = append(errs, fmt.Errorf("error params.status %d is not an HTTP error status (400-599)", p.Status))
	}
	if p.Rate < 0 || p.Rate > 1 {
		errs = append(errs, errors.New("error params.rate must be between 0% and 100%"))
	}
	return p, errors.Join(errs...)
}

func (errorKind) New(s Spec) Injector {
	p := s.Params.(ErrorParams)
	q := s.Probability * float64(p.Rate)
	return &errorInjector{
		httpInjector: httpInjector{target: s.Target, fault: &errorFault{p: p, coin: newCoin(s.Seed, q)}},
		status:       p.Status,
		share:        min(max(q, 0), 1),
	}
}

// errorInjector is an error fault that can verify its effect.
type errorInjector struct {
	httpInjector
	status int
	share  float64 // rate × probability
}

var _ Verifier = (*errorInjector)(nil)

// Verify checks that the share of requests answered with the configured
// status during the fault is rate × probability (see httpShareEffect for the
// tolerance and the steady state's own errors of that status).
func (e *errorInjector) Verify(obs Observation) Effect {
	return httpShareEffect(obs, []int{e.status}, e.share, strconv.Itoa(e.status))
}

// errorFault answers the request itself with the configured status.
type errorFault struct {
	p    ErrorParams
	coin *coin
}

func (f *errorFault) Intercept(w http.ResponseWriter, _ *http.Request) bool {
	if !f.coin.flip() {
		return false
	}
	writeStatus(w, f.p.Status, "drill fault: error")
	return true
}
