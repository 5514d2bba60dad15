package flags

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/drillhq/drill/reports"
)

// TestProve: a restored flag is proven only once every instance has
// served the restored revision; an instance still on an older revision
// keeps the proof open until the deadline and is named in its detail.
func TestProve(t *testing.T) {
	s := NewServer(map[string]*Flag{"f": boolFlag()})
	on := boolFlag()
	on.DefaultVariant = "on"
	if _, err := s.Set("f", on); err != nil {
		t.Fatal(err)
	}
	rev, err := s.Set("f", s.Original("f"))
	if err != nil {
		t.Fatal(err)
	}
	instance := func(e reports.FlagEvaluation) string {
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_ = json.NewEncoder(w).Encode(map[string]any{"flags": map[string]reports.FlagEvaluation{"f": e}})
		}))
		t.Cleanup(ts.Close)
		return ts.URL
	}
	good := instance(reports.FlagEvaluation{Variant: "off", Revision: rev})
	stale := instance(reports.FlagEvaluation{Variant: "on", Revision: rev - 1})

	p := Prove(context.Background(), s, "f", func() map[string]string { return map[string]string{"web.v1": good} }, time.Now().Add(time.Second))
	if !p.OK || !p.Published || !p.Served || len(p.Instances) != 1 || p.Instances[0].Instance != "web.v1" {
		t.Errorf("restored everywhere: %+v", p)
	}
	p = Prove(context.Background(), s, "f", func() map[string]string { return map[string]string{"web.v1": good, "web.v2": stale} }, time.Now().Add(200*time.Millisecond))
	if p.OK || !strings.Contains(p.Detail, "web.v2: last served on") {
		t.Errorf("one instance still on the change: %+v", p)
	}
}
