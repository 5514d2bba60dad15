package reports

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestMarkdownReleaseSection(t *testing.T) {
	at := time.Date(2026, 12, 3, 3, 0, 0, 0, time.UTC)
	f, n, back := 0.0003, int64(0), 1.25
	restored := 2.004
	r := &Report{StartedAt: at, Release: &Release{Strategy: "blue-green", Service: "orders", From: "v1", To: "v2",
		SwitchSeconds: &f, SwitchFailed: &n, SwitchBack: "cold", RouteBackSeconds: &back}}
	var b bytes.Buffer
	if err := renderMarkdown(&b, r); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"## Release", "Strategy blue-green: orders v1 → v2.", "| switch_failed | 0 |", "| switch_back | cold |", "| route_back_seconds | 1.250 s |"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("markdown lacks %q:\n%s", want, b.String())
		}
	}
	r.Release = &Release{Strategy: "flag", Service: "pricing", From: "off", To: "on", Flag: "new-pricing", FlagsRestoredSeconds: &restored,
		Flags: []FlagProof{{Key: "new-pricing", Revision: 2, Published: true, Served: true, OK: true,
			Instances: []FlagEvaluation{{Instance: "pricing.v1", Variant: "off", Revision: 2, Since: at.Add(5 * time.Second)}}}}}
	b.Reset()
	if err := renderMarkdown(&b, r); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"flag new-pricing of pricing: off → on", "| flags_restored_seconds | 2.004 s |", "Flag new-pricing restored at revision 2", "| pricing.v1 | off | 2 |"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("markdown lacks %q:\n%s", want, b.String())
		}
	}
}
