package docker

import (
	"path/filepath"
	"slices"
	"testing"
)

// The orders fixture is built from its own folder and the module's
// packages it imports: the OFREP provider is one, and must be hashed.
func TestModuleDepsOfOrders(t *testing.T) {
	root, _ := filepath.Abs("../../..")
	deps, err := moduleDeps(filepath.Join(root, "fixtures/orders"), root)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(deps, filepath.Join(root, "fixtures/ofrep/provider.go")) {
		t.Errorf("deps %v: want fixtures/ofrep's files", deps)
	}
	for _, d := range deps {
		if filepath.Dir(d) == filepath.Join(root, "fixtures/orders") {
			t.Errorf("%s: the fixture's own files are hashed as its context already", d)
		}
	}
}
