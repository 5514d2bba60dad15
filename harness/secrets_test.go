package harness

import (
	"strings"
	"testing"

	"github.com/drillhq/drill/harness/redact"
	"github.com/drillhq/drill/scenarios"
)

// TestSecretMarkedEnvIsRedacted: a value marked `secret: true` in the
// scenario is redacted though its name looks harmless.
func TestSecretMarkedEnvIsRedacted(t *testing.T) {
	sc, err := scenarios.Parse("secret.yaml", []byte(`version: 1
name: secret-env
environment:
  services:
    api:
      command: ["true"]
      env:
        UPSTREAM_AUTH: {value: "opaque-marked-value-1", secret: true}
        PLAIN: visible-value
      versions:
        v1: {}
        v2: {env: {SIGNING: {value: "opaque-marked-value-2", secret: true}}}
load: {target: api, rate: 1/s, requests: [{path: /}]}
steady_state: {duration: 1s}
rollout: {service: api, to: v2, steps: [{weight: 50%, hold: 1s}]}
`))
	if err != nil {
		t.Fatal(err)
	}
	s := sc.Environment.Service("api")
	v2 := s.Version("v2")
	if s.Env["UPSTREAM_AUTH"] != "opaque-marked-value-1" || !s.SecretEnv["UPSTREAM_AUTH"] || s.SecretEnv["PLAIN"] || !v2.SecretEnv["SIGNING"] {
		t.Fatalf("env %v, secret %v / %v", s.Env, s.SecretEnv, v2.SecretEnv)
	}
	env := map[string]string{"UPSTREAM_AUTH": "opaque-marked-value-1", "SIGNING": "opaque-marked-value-2", "PLAIN": "visible-value"}
	registerMarkedSecrets(s, v2, env)
	got := redact.String("auth opaque-marked-value-1 signing opaque-marked-value-2 plain visible-value")
	if strings.Contains(got, "opaque-marked") || !strings.Contains(got, "visible-value") {
		t.Errorf("redact = %q", got)
	}
}
