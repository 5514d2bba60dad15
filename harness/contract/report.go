package contract

import "github.com/drillhq/drill/reports"

// ReportResults converts results to report.json's contracts entries
// (reports.Report.Contracts), in the same order.
func ReportResults(rs []Result) []reports.ContractResult {
	out := make([]reports.ContractResult, 0, len(rs))
	for _, r := range rs {
		out = append(out, reports.ContractResult{Contract: r.Contract, ProviderVersion: r.ProviderVersion,
			ConsumerVersion: r.ConsumerVersion, Phase: r.Phase, OK: r.OK, Checked: r.Checked, Failed: r.Failed, Detail: r.Detail})
	}
	return out
}
