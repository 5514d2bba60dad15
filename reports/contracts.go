package reports

import (
	"fmt"
	"strconv"
)

// OutcomeBlocked: the release was not rolled out because a contract failed
// against a provider version before it. No traffic moved, so nothing was
// exposed, detected or recovered from.
const OutcomeBlocked Outcome = "blocked"

// Contract phases (ContractResult.Phase).
const (
	PhaseBefore = "before" // against each provider version before the rollout
	PhaseDuring = "during" // on the live pairs while the release rolled out
	PhaseAfter  = "after"  // after a rollback: the contract holds again
)

// ContractResult is one contract's verdict for one (consumer version,
// provider version) pair in one phase: a check before the rollout or
// after a rollback is one request, the live observation during it counts
// every matching answer.
type ContractResult struct {
	Contract        string `json:"contract"`
	ProviderVersion string `json:"provider_version"`
	// ConsumerVersion is "" when the check stood for no particular
	// consumer version, or live callers did not say theirs.
	ConsumerVersion string `json:"consumer_version"`
	Phase           string `json:"phase"`
	OK              bool   `json:"ok"`
	Checked         int    `json:"checked"`
	Failed          int    `json:"failed"`
	// Detail is the first failure, e.g. "GET /price?sku=SKU-1&qty=2:
	// body: missing property 'total_cents'"; "" when none failed.
	Detail string `json:"detail"`
}

// Compatibility is one cell of a release's compatibility matrix: the
// traffic one consumer version sent to one provider version through the
// provider's router.
type Compatibility struct {
	Consumer        string `json:"consumer"`
	ConsumerVersion string `json:"consumer_version"`
	Provider        string `json:"provider"`
	ProviderVersion string `json:"provider_version"`
	Requests        int64  `json:"requests"`
	// Failed counts the requests that failed (a 5xx or a transport
	// error), as the router's metrics count them.
	Failed int64 `json:"failed"`
	// ErrorRate is Failed/Requests, a fraction; 0 without requests.
	ErrorRate float64 `json:"error_rate"`
}

// NewCompatibility returns the cell with its error rate computed.
func NewCompatibility(consumer, consumerVersion, provider, providerVersion string, requests, failed int64) Compatibility {
	c := Compatibility{Consumer: consumer, ConsumerVersion: consumerVersion, Provider: provider,
		ProviderVersion: providerVersion, Requests: requests, Failed: failed}
	if requests > 0 {
		c.ErrorRate = float64(failed) / float64(requests)
	}
	return c
}

// mdContracts lists every contract result, failures with their detail.
func mdContracts(p *printer, r *Report) {
	if len(r.Contracts) == 0 {
		return
	}
	mdHeading(p, "Contracts")
	failed := 0
	var rows [][]string
	for _, c := range r.Contracts {
		if !c.OK {
			failed++
		}
		rows = append(rows, []string{inline(c.Contract), inline(c.Phase), orDash(inline(c.ConsumerVersion)),
			inline(c.ProviderVersion), okFail(c.OK), strconv.Itoa(c.Checked), strconv.Itoa(c.Failed), inline(c.Detail)})
	}
	switch {
	case r.Outcome == OutcomeBlocked:
		p.linef("The release was blocked: a contract failed before the rollout, and no traffic moved.")
	case failed == 0:
		p.linef("Every contract held.")
	default:
		p.linef("%d of %d contract results failed.", failed, len(r.Contracts))
	}
	p.linef("")
	mdTable(p, []string{"contract", "phase", "consumer version", "provider version", "result", "checked", "failed", "first failure"}, "lllllrrl", rows)
}

// mdCompatibility is the compatibility matrix: one row per (consumer
// version, provider version) pair that carried traffic.
func mdCompatibility(p *printer, r *Report) {
	if len(r.Compatibility) == 0 {
		return
	}
	mdHeading(p, "Compatibility")
	p.linef("Traffic between services per (consumer version → provider version) pair, as the provider's router counted it.")
	p.linef("")
	var rows [][]string
	for _, c := range r.Compatibility {
		rows = append(rows, []string{
			fmt.Sprintf("%s %s", inline(c.Consumer), orDash(inline(c.ConsumerVersion))),
			fmt.Sprintf("%s %s", inline(c.Provider), inline(c.ProviderVersion)),
			strconv.FormatInt(c.Requests, 10), strconv.FormatInt(c.Failed, 10), percent(c.ErrorRate)})
	}
	mdTable(p, []string{"consumer", "provider", "requests", "failed", "error rate"}, "llrrr", rows)
}

// orDash shows an empty value as "–" (an unknown version).
func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}
