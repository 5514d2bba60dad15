// Package templates holds the scenarios `drill init` writes: one
// commented, runnable scenario per kind of drill, embedded in the binary
// so that init works wherever drill is installed.
//
// Each template is a YAML file (NAME.yaml.tmpl) with {{name}} where the scenario's name
// goes. Nothing else is substituted: the scenario syntax has ${…}
// placeholders of its own, which a template engine would have to escape.
package templates

import (
	"embed"
	"fmt"
	"slices"
	"strings"
)

// Templates are *.yaml.tmpl, not *.yaml: with {{name}} in place they are
// not scenarios yet, and a suite run over scenarios/... must not find them.
//
//go:embed *.yaml.tmpl
var files embed.FS

const ext = ".yaml.tmpl"

// Default is the template `drill init` writes when none is named.
const Default = "canary"

// Placeholder stands for the scenario's name in a template.
const Placeholder = "{{name}}"

// Names lists the templates, sorted.
func Names() []string {
	entries, _ := files.ReadDir(".")
	var out []string
	for _, e := range entries {
		out = append(out, strings.TrimSuffix(e.Name(), ext))
	}
	slices.Sort(out)
	return out
}

// Render returns template tmpl with its name placeholders replaced by
// name. The caller checks name (scenarios.ValidName): a name is written
// into YAML as is.
func Render(tmpl, name string) ([]byte, error) {
	b, err := files.ReadFile(tmpl + ext)
	if err != nil || !slices.Contains(Names(), tmpl) {
		return nil, fmt.Errorf("unknown template %q (known: %s)", tmpl, strings.Join(Names(), ", "))
	}
	return []byte(strings.ReplaceAll(string(b), Placeholder, name)), nil
}
