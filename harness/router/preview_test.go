package router

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/drillhq/drill/harness/metrics"
)

// The preview listener reaches green whatever the split, draws nothing
// from the split's sequence, and is recorded under green's label.
func TestPreviewReachesOnlyThePreviewVersion(t *testing.T) {
	rec := metrics.NewRecorder("router:orders")
	rt, base := start(t, rec, WithSeed(7))
	blue, green := newInstance(t, "blue"), newInstance(t, "green")
	must(t, rt.SetBackend("v1", blue.URL))
	must(t, rt.SetBackend("v2", green.URL))
	rt.SetSplit("v1", "", 0)
	preview, err := rt.PreviewURL()
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t)
	if r := get(t, c, preview, nil); r.status != http.StatusServiceUnavailable {
		t.Fatalf("preview before SetPreview: %d, want 503", r.status)
	}
	rt.SetPreview("v2")
	for range 20 {
		if r := get(t, c, preview, nil); r.body != "green" {
			t.Fatalf("preview request served by %q, want green", r.body)
		}
		if r := get(t, c, base, nil); r.body != "blue" {
			t.Fatalf("live request served by %q, want blue", r.body)
		}
	}
	// The live requests drew the first 20 numbers of the sequence: a
	// router with the same seed and no preview draws the same ones.
	if got, want := rt.draw(), func() float64 {
		r := New("x", nil, WithSeed(7))
		for range 20 {
			r.draw()
		}
		return r.draw()
	}(); got != want {
		t.Errorf("preview requests shifted the split sequence: next draw %v, want %v", got, want)
	}
	checkTally(t, recorded(t, rt, rec), tally{"v1": {20, 0}, "v2": {20, 0}, "": {1, 1}})
}

// Variants an instance stamps are recorded under their own labels beside
// the version, only when declared (the scenario's flags).
func TestVariantsRecordedWhenDeclared(t *testing.T) {
	rec := metrics.NewRecorder("router:pricing")
	rec.Declare("new-pricing=on")
	rec.Declare("new-pricing=off")
	rt, base := start(t, rec)
	n := 0
	inst := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n++
		switch {
		case n%3 == 0:
			w.Header().Set(HeaderVariant, "new-pricing=on, other=x")
			w.WriteHeader(http.StatusInternalServerError)
		case n%3 == 1:
			w.Header().Set(HeaderVariant, "new-pricing=off")
		}
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(inst.Close)
	must(t, rt.SetBackend("v1", inst.URL))
	rt.SetSplit("v1", "", 0)
	c := newClient(t)
	for range 9 {
		r := get(t, c, base, nil)
		if r.header.Get(HeaderVariant) == "" && r.status != http.StatusOK {
			t.Fatalf("unexpected %d", r.status)
		}
	}
	// "other=x" was never declared: not recorded, no label created.
	checkTally(t, recorded(t, rt, rec), tally{"v1": {9, 3}, "new-pricing=on": {3, 3}, "new-pricing=off": {3, 0}})
}
