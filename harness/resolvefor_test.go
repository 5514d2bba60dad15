package harness

import (
	"errors"
	"strings"
	"testing"

	"github.com/drillhq/drill/harness/provider"
	"github.com/drillhq/drill/harness/router"
)

// TestResolveFor substitutes service and database URLs in a service's env
// and keeps everything else as written: placeholders of other forms,
// names without a router or database, and an unterminated "${".
func TestResolveFor(t *testing.T) {
	rt := router.New("pricing", nil)
	defer rt.Close()
	sys := newSystem(nil, nil, nil, 0)
	sys.routers["pricing"] = rt
	sys.dbs["main"] = &provider.DatabaseHandle{Name: "main", URL: "sqlite:///tmp/main.db"}
	pricing, err := rt.CallerURL("orders")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ in, want string }{
		{"plain", "plain"},
		{"", ""},
		{"${services.pricing.url}/quote", pricing + "/quote"},
		{"${databases.main.url}", "sqlite:///tmp/main.db"},
		{"a=${services.pricing.url} b=${databases.main.url}", "a=" + pricing + " b=sqlite:///tmp/main.db"},
		{"${services.nope.url} ${databases.nope.url}", "${services.nope.url} ${databases.nope.url}"},
		{"${seq} ${rand:1:5} ${services.pricing.host} ${}", "${seq} ${rand:1:5} ${services.pricing.host} ${}"},
		{"${databases.main.url} ${databases.main.url", "sqlite:///tmp/main.db ${databases.main.url"},
		{"$${databases.main.url}}", "$sqlite:///tmp/main.db}"},
	} {
		got, err := sys.resolveFor("orders", tc.in)
		if got != tc.want || err != nil {
			t.Errorf("resolveFor(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	// A router entry that cannot be made is an environment error; the
	// rest is still substituted.
	got, err := sys.resolveFor("", "${services.pricing.url}|${databases.main.url}")
	var envErr *provider.EnvError
	if !errors.As(err, &envErr) || !strings.Contains(err.Error(), "pricing") || got != "|sqlite:///tmp/main.db" {
		t.Errorf("resolveFor with no caller = %q, %v; want an EnvError", got, err)
	}
}
