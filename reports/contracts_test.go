package reports

import (
	"bytes"
	"strings"
	"testing"
)

// blockedReport is a drill whose release a contract blocked before the
// rollout: no rollback, no exposure, no detection time.
func blockedReport(expect Outcome) *Report {
	return &Report{
		Outcome:  OutcomeBlocked,
		Expect:   Expect{Outcome: expect, DetectWithinSeconds: f64(10), RecoverWithinSeconds: f64(30)},
		Requests: Requests{Total: 4000, ExcludedTotal: 4000},
		Data:     Data{Ledger: Ledger{Acknowledged: 100, Checked: true}, SchemaRestored: boolp(true)},
		Contracts: []ContractResult{
			{Contract: "orders-reads-price", ProviderVersion: "v1", ConsumerVersion: "v1", Phase: PhaseBefore, OK: true, Checked: 1},
			{Contract: "orders-reads-price", ProviderVersion: "v2", ConsumerVersion: "v1", Phase: PhaseBefore, Checked: 1, Failed: 1,
				Detail: "GET /price?sku=SKU-1&qty=2: body: missing property 'total_cents'"},
		},
	}
}

func TestBlockedExpected(t *testing.T) {
	r := blockedReport(OutcomeBlocked)
	Evaluate(r)
	if !r.Passed || r.Score.Total != 100 {
		t.Errorf("passed %v, score %d: %+v\n%+v", r.Passed, r.Score.Total, r.Score.Details, r.Expectations)
	}
	if d := r.Score.Details.Detection; !strings.Contains(d, "blocked before the rollout") {
		t.Errorf("detection detail %q", d)
	}
	for _, e := range r.Expectations[1:] {
		if !e.OK || !strings.Contains(e.Detail, "not applicable: blocked") {
			t.Errorf("expectation %+v", e)
		}
	}
	// A block is what a drill without traffic exercised: it is scored.
	r.Requests = Requests{}
	if s := Score(r); s.Total != 100 {
		t.Errorf("blocked without traffic: score %d, %+v", s.Total, s.Details)
	}
}

// A good release blocked fails the drill on its outcome, and the report
// asks why.
func TestBlockedUnexpected(t *testing.T) {
	r := blockedReport(OutcomePromoted)
	Evaluate(r)
	if r.Passed || r.Expectations[0].OK || r.Expectations[0].Detail != "blocked, expected promoted" {
		t.Errorf("passed %v, %+v", r.Passed, r.Expectations)
	}
	var md bytes.Buffer
	if err := renderMarkdown(&md, r); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"The release was blocked: a contract failed before the rollout, and no traffic moved.",
		"| orders-reads-price | before | v1 | v2 | FAIL | 1 | 1 | GET /price?sku=SKU-1&qty=2: body: missing property 'total_cents' |",
		"blocked by a contract although promoted was expected",
	} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("markdown lacks %q:\n%s", want, md.String())
		}
	}
	// A rollback expected, a block got: the release was caught even
	// earlier, but not as the scenario said.
	r = blockedReport(OutcomeRolledBack)
	Evaluate(r)
	if r.Passed || r.Score.Parts.Detection != MaxDetection {
		t.Errorf("passed %v, detection %v", r.Passed, r.Score.Parts.Detection)
	}
}

func TestBlockedReportMatchesSchema(t *testing.T) {
	r := blockedReport(OutcomeBlocked)
	r.Compatibility = []Compatibility{NewCompatibility("orders", "", "pricing", "v1", 0, 0)}
	Evaluate(r)
	var b bytes.Buffer
	if err := Encode(&b, r); err != nil {
		t.Fatal(err)
	}
	if err := ValidateJSON(b.Bytes()); err != nil {
		t.Error(err)
	}
	if c := NewCompatibility("orders", "v2", "pricing", "v1", 40, 10); c.ErrorRate != 0.25 {
		t.Errorf("error rate %v", c.ErrorRate)
	}
}
