package scenarios

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestLoopbackEnv: the docker provider forwards every 127.0.0.1:N and
// localhost:N of a container's env to the host; a literal one (not
// produced by a ${services.X.url} or ${databases.X.url} placeholder)
// opened any host port to the container (localhost:2375 is the Docker
// API). It is refused under docker: by Parse when the file says docker,
// by ProviderProblems when --provider docker runs a process scenario.
// It used to validate.
func TestLoopbackEnv(t *testing.T) {
	y := src(`
version: 1
name: loopback
environment:
  provider: docker
  databases: {db: {engine: postgres}}
  services:
    api:
      image: example/api
      env:
        DOCKER_HOST: tcp://localhost:2375
        DB: "postgres://u@127.0.0.1:5432/x?sslmode=disable"
        OWN: "${services.api.url}/x ${databases.db.url}"
        HOSTNAME_ONLY: localhost
        NOT_LOOPBACK: "mylocalhost.example:80 128.0.0.1:80"
      versions:
        v1: {env: {V6: "http://[::1]:8080", LONG: "[0:0:0:0:0:0:0:1]:1", UPPER: "LOCALHOST:1", NET8: "127.1.2.3:9"}}
        v2: {}
load: {target: api, rate: 1/s, requests: [{path: /}]}
rollout: {service: api, to: v2, steps: [{weight: 50%}]}
`)
	hint := "use ${services.NAME.url} or ${databases.NAME.url}"
	wants := []want{
		{"10:22", `env DOCKER_HOST: "localhost:2375" is a port on the host's loopback, which the docker provider would open to the container`, hint},
		{"11:13", `env DB: "127.0.0.1:5432" is a port on the host's loopback`, hint},
		{"16:24", `env V6: "[::1]:8080"`, hint},
		{"16:51", `env LONG: "[0:0:0:0:0:0:0:1]:1"`, hint},
		{"16:81", `env UPPER: "LOCALHOST:1"`, hint},
		{"16:102", `env NET8: "127.1.2.3:9"`, hint},
	}
	sc, err := Parse("t.yaml", y)
	if err != nil {
		t.Fatalf("the file loads; its provider decides: %v", err)
	}
	var ps Problems
	if err := sc.ProviderProblems("docker", shippedProviders); !errors.As(err, &ps) {
		t.Fatalf("ProviderProblems(docker) = %v", err)
	}
	checkProblems(t, y, ps, wants)
	// The process provider runs the same services on the host, where the
	// addresses mean what they say (its problem is the image).
	if err := sc.ProviderProblems("process", shippedProviders); err == nil || strings.Contains(err.Error(), "loopback") {
		t.Errorf("ProviderProblems(process) = %v, want only the image refused", err)
	}
}

// TestWarmup: steady_state.warmup is a duration, 3s when absent, 0s
// meaning none, bounded like every duration. It used to be an unknown
// field.
func TestWarmup(t *testing.T) {
	if w := mustParse(t, []byte(minimal)).SteadyState.Warmup; w != DefaultWarmup || DefaultWarmup != 3*time.Second {
		t.Errorf("default warmup %s", w)
	}
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{{"0s", 0}, {"10s", 10 * time.Second}, {"24h", 24 * time.Hour}} {
		y := edit(t, "rollout:\n", "steady_state: {duration: 5s, warmup: "+tc.in+"}\nrollout:\n")
		if w := mustParse(t, y).SteadyState.Warmup; w != tc.want {
			t.Errorf("warmup: %s read as %s", tc.in, w)
		}
	}
	y := edit(t, "rollout:\n", "steady_state:\n  duration: 5s\n  warmup: -1s\nrollout:\n")
	checkProblems(t, y, problemsOf(t, y), []want{{"17:11", "warmup: duration -1s must not be negative", ""}})
	y = edit(t, "rollout:\n", "steady_state: {duration: 5s, warmup: 25h}\nrollout:\n")
	checkProblems(t, y, problemsOf(t, y), []want{{"15:38", "warmup: duration 25h is longer than 24h", "at most 24h"}})
	y = edit(t, "rollout:\n", "steady_state: {duration: 5s, warmup: soon}\nrollout:\n")
	checkProblems(t, y, problemsOf(t, y), []want{{"15:38", `warmup: invalid duration "soon"`, "1m30s"}})
}

// TestRandRange: the harness draws lo + IntN(hi-lo+1); a range of more
// than MaxInt64 values overflowed that into a negative count and panicked
// the load generator mid-run. It used to validate.
func TestRandRange(t *testing.T) {
	for _, tc := range []struct {
		expr string
		ok   bool
	}{
		{"rand:1:9223372036854775807", true},
		{"rand:-9223372036854775808:-2", true},
		{"rand:-9223372036854775808:-1", false},
		{"rand:0:9223372036854775807", false},
		{"rand:-1:9223372036854775806", false},
		{"rand:-9223372036854775808:9223372036854775807", false},
	} {
		_, _, isRand, err := parseRand(tc.expr)
		if !isRand || (err == nil) != tc.ok {
			t.Errorf("parseRand(%q) = %v, want ok %v", tc.expr, err, tc.ok)
		}
	}
	y := edit(t, "    - path: /\n", "    - path: /${rand:0:9223372036854775807}\n")
	checkProblems(t, y, problemsOf(t, y), []want{{"14:13", "too wide a range", "${rand:1:5}"}})
}

// TestSecretEnvEntries: an env value may be {value, secret}; anything else
// in it, or no value, is a positioned problem.
func TestSecretEnvEntries(t *testing.T) {
	base := strings.Replace(minimal, "versions:", "env: {TOKENISH: {value: abc-secret, secret: true}, OTHER: {value: x}}\n      versions:", 1)
	sc := mustParse(t, []byte(base))
	s := sc.Environment.Services[0]
	if s.Env["TOKENISH"] != "abc-secret" || !s.SecretEnv["TOKENISH"] || s.Env["OTHER"] != "x" || s.SecretEnv["OTHER"] {
		t.Errorf("env %v, secret %v", s.Env, s.SecretEnv)
	}
	bad := strings.Replace(minimal, "versions:", "env: {A: {secret: true}, B: {value: x, secrte: true}}\n      versions:", 1)
	_, err := Parse("bad.yaml", []byte(bad))
	for _, want := range []string{`missing required field "value"`, `unknown field "secrte"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v, want %q", err, want)
		}
	}
}
