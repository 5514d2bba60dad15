package harness

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/drillhq/drill/harness/contract"
	"github.com/drillhq/drill/harness/journal"
	"github.com/drillhq/drill/harness/judge"
	"github.com/drillhq/drill/harness/provider"
	"github.com/drillhq/drill/reports"
)

// contractClient sends the contract checks: to the drill's own instances
// only, each request bounded by contract.DefaultTimeout.
var contractClient = &http.Client{Timeout: contract.DefaultTimeout}

// compileContracts compiles the scenario's contracts (the loader already
// proved they compile) and installs each on its provider's router, which
// checks every matching live answer from then on (phase during).
func (sys *System) compileContracts() error {
	byProvider := map[string][]*contract.Contract{}
	for _, c := range sys.sc.Contracts {
		cc, err := c.Compile()
		if err != nil {
			return fmt.Errorf("contract %s: %w", c.Name, err)
		}
		sys.contracts = append(sys.contracts, cc)
		byProvider[c.Provider] = append(byProvider[c.Provider], cc)
	}
	for svc, cs := range byProvider {
		sys.routers[svc].SetContracts(cs)
	}
	return nil
}

// checkContracts checks every contract against each provider version
// running now, directly at its instance (so the answer is that version's,
// whatever the split), as the consumer's baseline version calls it.
// Before the rollout this is every version a release would serve; after
// a rollback, the baseline alone. It journals each result and returns
// them with the phase set.
func (d *drill) checkContracts(ctx context.Context, sys *System, phase string) []contract.Result {
	var out []contract.Result
	for _, c := range sys.contracts {
		consumer := sys.sc.Environment.Service(c.Consumer)
		caller := c.Consumer + "/" + consumer.Baseline
		for _, vi := range sortedInstances(sys, c.Provider) {
			if !vi.inst.Alive() {
				continue
			}
			r := c.Check(ctx, contractClient, vi.inst.URL(), caller)
			r.Phase, r.ProviderVersion = phase, vi.version
			out = append(out, r)
			d.j.Record(journal.ContractCheck, "contract", c.Name, "phase", phase, "provider", c.Provider,
				"provider_version", r.ProviderVersion, "consumer_version", r.ConsumerVersion, "ok", r.OK, "detail", r.Detail)
			if !r.OK {
				d.say("contract %s: %s %s FAILED (%s): %s", c.Name, c.Provider, r.ProviderVersion, phase, r.Detail)
			}
		}
	}
	return out
}

// versionInstance is one running version of a service.
type versionInstance struct {
	version string
	inst    provider.Instance
}

// sortedInstances are a service's running instances by version name.
func sortedInstances(sys *System, service string) []versionInstance {
	var out []versionInstance
	vs := sys.liveInstances()[service]
	for _, v := range sys.sc.Environment.Service(service).Versions {
		if inst, ok := vs[v.Name]; ok {
			out = append(out, versionInstance{version: v.Name, inst: inst})
		}
	}
	return out
}

// contractsBlock is the reason a release is blocked: the contracts that
// failed before the rollout; "" when every one held.
func contractsBlock(rs []contract.Result) string {
	var failed []string
	for _, r := range rs {
		if !r.OK {
			failed = append(failed, fmt.Sprintf("%s against %s: %s", r.Contract, r.ProviderVersion, r.Detail))
		}
	}
	return strings.Join(failed, "; ")
}

// contractReport is report.json's contracts: the checks before and after,
// and what each provider's router saw on the live pairs during.
func contractReport(sys *System, checked []contract.Result) []reports.ContractResult {
	all := append([]contract.Result(nil), checked...)
	if sys != nil {
		for _, s := range sys.sc.Environment.Services {
			if rt := sys.routers[s.Name]; rt != nil {
				for _, r := range rt.Observed() {
					r.Phase = contract.PhaseDuring
					all = append(all, r)
				}
			}
		}
	}
	return contract.ReportResults(all)
}

// compatibility is the release's compatibility matrix: every (consumer
// version, provider version) pair that carried traffic between services,
// as each provider's router counted it.
func compatibility(sys *System) []reports.Compatibility {
	out := []reports.Compatibility{}
	if sys == nil {
		return out
	}
	for _, s := range sys.sc.Environment.Services {
		rt := sys.routers[s.Name]
		if rt == nil {
			continue
		}
		for _, p := range rt.Pairs() {
			out = append(out, reports.NewCompatibility(p.Caller, p.CallerVersion, s.Name, p.Version, p.Requests, p.Failed))
		}
	}
	return out
}

// blockedKey marks the evidence of a decision that blocks the release: a
// contract failed before any traffic moved.
const blockedKey = "blocked_by_contracts"

// contractGate checks every contract against every provider version the
// release will serve, once the new versions run and before any traffic
// moves to them. A failure blocks the release: the decision it returns
// is undone like a rollback, and the outcome is blocked.
func (d *drill) contractGate(ctx context.Context, sys *System) *judge.Decision {
	if len(sys.contracts) == 0 {
		return nil
	}
	rs := d.checkContracts(ctx, sys, contract.PhaseBefore)
	sys.checked = append(sys.checked, rs...)
	why := contractsBlock(rs)
	if why == "" {
		d.say("contracts: %d checks before the rollout held", len(rs))
		return nil
	}
	d.j.Record(journal.ReleaseBlocked, "reason", why)
	return &judge.Decision{Verdict: judge.Rollback, Reason: "release blocked before any traffic moved: " + why,
		Evidence: map[string]any{blockedKey: true}}
}

// isBlock says whether dec is contractGate's.
func isBlock(dec *judge.Decision) bool {
	b, _ := dec.Evidence[blockedKey].(bool)
	return b
}
