package judge

import (
	"strings"
	"testing"
)

// TestValidateIsTheJudgesOwn: mann-whitney validates its score bands, and a
// judge that does not read them does not object to them.
func TestValidateIsTheJudgesOwn(t *testing.T) {
	bad := Config{PassScore: 50, MarginalScore: 120}
	ps := Validate("mann-whitney", bad)
	if len(ps) != 2 || !strings.Contains(ps[0].Msg, "marginal_score: 120 is outside 0..100") ||
		ps[1].Fields[0] != "marginal_score" || !strings.Contains(ps[1].Msg, "above pass_score 50") {
		t.Errorf("mann-whitney Validate = %+v", ps)
	}
	if ps := Validate("mann-whitney", Config{PassScore: DefaultPassScore, MarginalScore: DefaultMarginalScore}); ps != nil {
		t.Errorf("defaults: %+v", ps)
	}
	if ps := Validate("threshold", bad); ps != nil {
		t.Errorf("threshold Validate = %+v, want nothing: it reads no score", ps)
	}
	if ps := Validate("no-such-judge", bad); ps != nil {
		t.Errorf("unknown judge: %+v", ps)
	}
}
