package scenarios

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/drillhq/drill/injectors"
)

// TestArtifactsProblems: every mistake in the artifact store's sections,
// artifact-missing's params and expect.rollback, reported at once, at its
// node, with a hint where one helps.
func TestArtifactsProblems(t *testing.T) {
	path := filepath.Join("testdata", "bad", "artifacts.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	checkProblems(t, data, problemsOf(t, data), []want{
		{"10:21", "retain: 0 keeps no build; it must be at least 1", "leave artifacts: out to keep every build"},
		{"10:24", `unknown field "keep" in artifacts`, "known fields: retain"},
		{"11:18", `unknown rollback mode "redploy" (known: switch, redeploy)`, `did you mean "redeploy"?`},
		{"13:76", `params.version of fault kind "artifact-missing": unknown version "v0" of service "orders" (known: v1, v2)`, ""},
		{"14:30", "artifact-missing needs params.version", ""},
		{"15:58", `target: fault kind "artifact-missing" acts on service, not on a service.version`, ""},
		{"16:42", `unknown rollback expectation "broken" (known: ok, failed)`, ""},
	})
}

func TestArtifactsDefaultsAndValues(t *testing.T) {
	s := mustParse(t, edit(t))
	if s.Artifacts.Retain != 0 || s.Rollback.Mode != RollbackSwitch || s.Expect.Rollback != "" {
		t.Errorf("defaults: artifacts %+v, rollback %+v, expect.rollback %q", s.Artifacts, s.Rollback, s.Expect.Rollback)
	}
	s = mustParse(t, edit(t, "load:", `artifacts: {retain: 2}
rollback: {mode: redeploy}
faults:
  - {name: gone, kind: artifact-missing, target: api, params: {version: v1}}
expect: {rollback: failed}
load:`))
	if s.Artifacts.Retain != 2 || s.Artifacts.Pos.Line != 10 || s.Rollback.Mode != RollbackRedeploy || s.Expect.Rollback != RollbackFailed {
		t.Errorf("artifacts %+v, rollback %+v, expect.rollback %q", s.Artifacts, s.Rollback, s.Expect.Rollback)
	}
	if len(s.Faults) != 1 || s.Faults[0].Params != (injectors.ArtifactMissingParams{Version: "v1"}) {
		t.Errorf("faults %+v", s.Faults)
	}
}
