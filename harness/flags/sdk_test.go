package flags_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/drillhq/drill/fixtures/ofrep"
	"github.com/drillhq/drill/harness/flags"
	"github.com/open-feature/go-sdk/openfeature"
)

// The Go fixture's path end to end: the real OpenFeature Go SDK client,
// the fixture's OFREP provider, the real Server over HTTP.
func TestOpenFeatureSDKAgainstServer(t *testing.T) {
	on := &flags.Flag{State: flags.Enabled, Variants: map[string]any{"on": true, "off": false}, DefaultVariant: "off",
		Defects: map[string]string{"on": "errors=5%"}}
	s := flags.NewServer(map[string]*flags.Flag{"new-pricing": on})
	base, err := s.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	shared := flags.Share(on, "on", 0.5)
	if _, err := s.Set("new-pricing", shared); err != nil {
		t.Fatal(err)
	}

	provider := ofrep.NewProvider(base, &http.Client{Timeout: 2 * time.Second})
	if err := openfeature.SetNamedProviderAndWait(t.Name(), provider); err != nil {
		t.Fatal(err)
	}
	client := openfeature.NewClient(t.Name())
	ctx := context.Background()
	eval := func(key, tk string, def bool) (openfeature.BooleanEvaluationDetails, error) {
		return client.BooleanValueDetails(ctx, key, def, openfeature.NewEvaluationContext(tk, nil))
	}

	seen := map[string]int{}
	for i := range 200 {
		tk := fmt.Sprintf("user-%d", i)
		d, err := eval("new-pricing", tk, false)
		if err != nil {
			t.Fatalf("%s: %v", tk, err)
		}
		want := flags.Evaluate("new-pricing", shared, map[string]any{"targetingKey": tk})
		if d.Variant != want.Variant || d.Value != want.Value || string(d.Reason) != want.Reason {
			t.Errorf("%s: SDK %s=%v (%s), server's evaluator %s=%v (%s)", tk, d.Variant, d.Value, d.Reason, want.Variant, want.Value, want.Reason)
		}
		if rev, err := d.FlagMetadata.GetInt(flags.MetaRevision); err != nil || rev != 1 {
			t.Errorf("%s: drill.revision %d %v", tk, rev, err)
		}
		defect, _ := d.FlagMetadata.GetString(flags.MetaDefects)
		if (d.Variant == "on") != (defect == "errors=5%") {
			t.Errorf("%s: variant %s with defects %q", tk, d.Variant, defect)
		}
		seen[d.Variant]++
	}
	if seen["on"] < 60 || seen["off"] < 60 {
		t.Errorf("a 50%% share over 200 keys gave %v", seen)
	}

	d, err := eval("no-such-flag", "user-1", true)
	if err == nil || d.Value != true || d.ErrorCode != openfeature.FlagNotFoundCode {
		t.Errorf("missing flag: %v %+v", err, d)
	}

	if err := s.Down(); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	d, err = eval("new-pricing", "user-1", false)
	if err == nil || d.Value != false || d.Reason != openfeature.ErrorReason {
		t.Errorf("service down: %v %+v, want the default with an error", err, d)
	}
	if took := time.Since(began); took > time.Second {
		t.Errorf("service down: the evaluation took %v, want a fast failure", took)
	}
	if err := s.Up(); err != nil {
		t.Fatal(err)
	}
	d, err = eval("new-pricing", "user-1", false)
	want := flags.Evaluate("new-pricing", shared, map[string]any{"targetingKey": "user-1"})
	if err != nil || d.Variant != want.Variant {
		t.Errorf("after Up: %v %+v, want variant %s", err, d, want.Variant)
	}
}
