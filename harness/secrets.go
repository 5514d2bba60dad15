package harness

import (
	"github.com/drillhq/drill/harness/redact"
	"github.com/drillhq/drill/scenarios"
)

// registerMarkedSecrets registers the values of the env entries the
// scenario marks `secret: true` on the service or the version, whatever
// they are called (resolved values: a placeholder's result is hidden too).
func registerMarkedSecrets(s *scenarios.Service, v *scenarios.Version, env map[string]string) {
	for k, val := range env {
		if s.SecretEnv[k] || v.SecretEnv[k] {
			redact.Register(val)
		}
	}
}
