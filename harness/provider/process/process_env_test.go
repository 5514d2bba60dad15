package process

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/drillhq/drill/harness/provider"
	"github.com/drillhq/drill/scenarios"
)

// startEnvService starts, through the process provider, a shell that
// writes its environment to a file and prints a few secrets before it
// becomes the helper service (TestHelperProcess), with scenario env extra.
func startEnvService(t *testing.T, extra map[string]string) (p *processProvider, envFile string, inst provider.Instance) {
	t.Helper()
	p = newProcessProvider(provider.Config{RunDir: t.TempDir(), TempDir: t.TempDir(), CacheDir: t.TempDir()})
	t.Cleanup(func() { _ = p.Close(context.Background()) })
	envFile = filepath.Join(t.TempDir(), "env")
	env := map[string]string{helperEnv: "serve", "ENV_OUT": envFile}
	for k, v := range extra {
		env[k] = v
	}
	script := `env > "$ENV_OUT"
echo "connecting to postgres://orders:pw-in-the-url@db:5432/orders"
echo "api token is $API_TOKEN"
exec "$0" -test.run='^TestHelperProcess$'`
	spec := provider.InstanceSpec{
		Service: &scenarios.Service{Name: "envsvc", Health: "/healthz"},
		Version: &scenarios.Version{Name: "v1", Command: []string{"sh", "-c", script, os.Args[0]}},
		Env:     env,
	}
	inst, err := p.StartInstance(context.Background(), spec)
	if err != nil {
		t.Fatalf("StartInstance: %v", err)
	}
	return p, envFile, inst
}

func readEnvFile(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			out[k] = v
		}
	}
	return out
}

// TestProcessChildEnvIsMinimal: a service gets the scenario's env and the
// documented minimal set of the harness's, not the harness's whole
// environment (a CI token set in the parent does not reach it).
func TestProcessChildEnvIsMinimal(t *testing.T) {
	t.Setenv("DRILL_TEST_CI_TOKEN", "ci-token-of-the-parent")
	t.Setenv("LANG", "C.UTF-8")
	_, envFile, _ := startEnvService(t, map[string]string{"FROM_SCENARIO": "yes"})
	env := readEnvFile(t, envFile)
	if _, ok := env["DRILL_TEST_CI_TOKEN"]; ok {
		t.Errorf("the service sees DRILL_TEST_CI_TOKEN from the harness's environment")
	}
	if env["FROM_SCENARIO"] != "yes" || env["PATH"] != os.Getenv("PATH") || env["LANG"] != "C.UTF-8" || env["PORT"] == "" {
		t.Errorf("service env %v: want the scenario's FROM_SCENARIO, the harness's PATH and LANG, and PORT", env)
	}
	allowed := map[string]bool{"FROM_SCENARIO": true, helperEnv: true, "ENV_OUT": true, "PORT": true, "HOST": true,
		"PWD": true, "SHLVL": true, "_": true} // the last three: sh's own
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "LANG", "LC_ALL"} { // the documented set
		allowed[k] = true
	}
	var extra []string
	for k := range env {
		if !allowed[k] {
			extra = append(extra, k)
		}
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		t.Errorf("the service sees %s, which neither the scenario nor the minimal set gives it", strings.Join(extra, ", "))
	}
}

// TestProcessChildListensOnLoopbackOnly: HOST is 127.0.0.1 whatever the
// scenario's env or the harness's environment say.
func TestProcessChildListensOnLoopbackOnly(t *testing.T) {
	t.Setenv("HOST", "0.0.0.0")
	_, envFile, inst := startEnvService(t, map[string]string{"HOST": "0.0.0.0"})
	if got := readEnvFile(t, envFile)["HOST"]; got != "127.0.0.1" {
		t.Errorf("service HOST = %q, want 127.0.0.1 (the scenario asked for 0.0.0.0)", got)
	}
	if !strings.HasPrefix(inst.URL(), "http://127.0.0.1:") {
		t.Errorf("instance URL %s", inst.URL())
	}
}

// TestProcessLogIsRedactedAndPrivate: what a service prints reaches its
// log with the password of a URL and the values of its secret env hidden;
// the log is 0600 in a 0700 logs/.
func TestProcessLogIsRedactedAndPrivate(t *testing.T) {
	p, _, inst := startEnvService(t, map[string]string{"API_TOKEN": "scenario-api-token-value"})
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(p.cfg.RunDir, "logs", inst.Name()+".log")
	b, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	log := string(b)
	for _, leak := range []string{"pw-in-the-url", "scenario-api-token-value"} {
		if strings.Contains(log, leak) {
			t.Errorf("log holds %q:\n%s", leak, log)
		}
	}
	if !strings.Contains(log, "postgres://orders:[REDACTED]@db:5432/orders") || !strings.Contains(log, "api token is [REDACTED]") ||
		!strings.Contains(log, "helper: listening on 127.0.0.1:") {
		t.Errorf("log lost more than the secrets:\n%s", log)
	}
	for path, want := range map[string]os.FileMode{logPath: 0o600, filepath.Dir(logPath): 0o700} {
		if st, err := os.Stat(path); err != nil || st.Mode().Perm() != want {
			t.Errorf("%s: mode %v, %v; want %v", path, st.Mode().Perm(), err, want)
		}
	}
}

// TestProcessFailedServiceHintIsRedacted: the log tail of a service that
// never became healthy, which the harness prints, hides its secrets.
func TestProcessFailedServiceHintIsRedacted(t *testing.T) {
	p := newProcessProvider(provider.Config{RunDir: t.TempDir(), TempDir: t.TempDir(), CacheDir: t.TempDir()})
	t.Cleanup(func() { _ = p.Close(context.Background()) })
	spec := provider.InstanceSpec{
		Service: &scenarios.Service{Name: "orders"},
		Version: &scenarios.Version{Name: "v1", Command: []string{"sh", "-c",
			`echo "cannot reach $DATABASE_URL with secret $DB_PASSWORD" >&2; exit 3`}},
		Env: map[string]string{"DATABASE_URL": "postgres://postgres:url-password-1@127.0.0.1:1/db", "DB_PASSWORD": "env-password-2"},
	}
	_, err := p.StartInstance(context.Background(), spec)
	var env *provider.EnvError
	if !errors.As(err, &env) {
		t.Fatalf("err = %v, want an *provider.EnvError", err)
	}
	for _, leak := range []string{"url-password-1", "env-password-2"} {
		if strings.Contains(env.Hint, leak) || strings.Contains(err.Error(), leak) {
			t.Errorf("error %q, hint %q: holds %q", err, env.Hint, leak)
		}
	}
	if !strings.Contains(env.Hint, "cannot reach postgres://postgres:[REDACTED]@127.0.0.1:1/db") {
		t.Errorf("hint %q: want the log tail, redacted", env.Hint)
	}
}

// TestWaitHealthyDoesNotFollowRedirects: a health path answering 302 is
// not healthy, and the check never goes where the redirect points.
func TestWaitHealthyDoesNotFollowRedirects(t *testing.T) {
	var followed atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/elsewhere" {
			followed.Add(1)
			return // 200
		}
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
	}))
	defer srv.Close()
	inst := &processInstance{name: "redirector", url: srv.URL, done: make(chan struct{})}
	err := waitHealthy(context.Background(), inst, "/healthz", 300*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "health answered 302") {
		t.Errorf("waitHealthy = %v, want not healthy: health answered 302", err)
	}
	if n := followed.Load(); n > 0 {
		t.Errorf("the health check followed the redirect %d times", n)
	}
}
