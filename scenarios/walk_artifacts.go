package scenarios

import (
	"fmt"

	"github.com/drillhq/drill/injectors"
)

var (
	rollbackModes        = []string{RollbackSwitch, RollbackRedeploy}
	rollbackExpectations = []string{RollbackOK, RollbackFailed}
)

// artifacts walks the top-level `artifacts: {retain: N}`.
func (w *walk) artifacts(o *object) Artifacts {
	a := Artifacts{Pos: w.pos(o.at)}
	if o.int("retain", &a.Retain) && a.Retain < 1 {
		w.add(o.get("retain"), "leave artifacts: out to keep every build; retain: 1 keeps only the newest",
			"retain: %d keeps no build; it must be at least 1", a.Retain)
		a.Retain = 0
	}
	return a
}

// rollbackSpec walks the top-level `rollback: {mode: switch|redeploy}`.
func (w *walk) rollbackSpec(o *object) RollbackSpec {
	r := RollbackSpec{Mode: DefaultRollbackMode, Pos: w.pos(o.at)}
	var mode string
	if o.str("mode", &mode) && w.choice(o.get("mode"), "rollback mode", mode, rollbackModes, nil) {
		r.Mode = mode
	}
	return r
}

// paramVersion checks the version a kind's params name (artifact-missing's
// version) against its target service, at the param: a fault removing a
// version that does not exist would change nothing and pass silently.
func (w *walk) paramVersion(fo *object, kind injectors.Kind, f *Fault) {
	vp, ok := kind.(injectors.VersionParam)
	if !ok || f.Params == nil {
		return
	}
	svc := w.env.Service(f.Target)
	version := vp.ParamVersion(f.Params)
	if svc == nil || version == "" {
		return // the target's or the params' own problems are reported there
	}
	w.refVersion(nodeAt(fo.get("params"), []any{"version"}), fmt.Sprintf("params.version of fault kind %q", f.Kind), svc, version)
}
