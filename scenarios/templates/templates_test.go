package templates

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/drillhq/drill/scenarios"
)

func TestNames(t *testing.T) {
	want := []string{"blue-green", "canary", "flag", "migration", "release"}
	if got := Names(); !slices.Equal(got, want) {
		t.Errorf("Names() = %v, want %v", got, want)
	}
	if !slices.Contains(Names(), Default) {
		t.Errorf("Default %q is not a template", Default)
	}
}

// sectionRE matches a top-level key: the start of a section.
var sectionRE = regexp.MustCompile(`^[a-z_]+:`)

// TestTemplatesLoadAndTeach: every template renders into a scenario the
// loader accepts, with the name in place, and teaches: a comment right
// above every section, pointing into docs/scenario-format.md.
func TestTemplatesLoadAndTeach(t *testing.T) {
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			b, err := Render(name, "some-drill")
			if err != nil {
				t.Fatal(err)
			}
			sc, err := scenarios.Parse(name+".yaml", b)
			if err != nil {
				t.Fatalf("does not load:\n%v", err)
			}
			if sc.Name != "some-drill" || strings.Contains(string(b), Placeholder) {
				t.Errorf("name %q; want some-drill and no placeholder left", sc.Name)
			}
			text := string(b)
			if !strings.Contains(text, "docs/scenario-format.md") {
				t.Errorf("no pointer to docs/scenario-format.md")
			}
			lines := strings.Split(text, "\n")
			for i, l := range lines {
				// version, name, description, tags and seed share the
				// top level's comment.
				if !sectionRE.MatchString(l) || slices.Contains([]string{"name:", "description:", "tags:", "seed:"}, strings.Fields(l)[0]) {
					continue
				}
				if i == 0 || !strings.HasPrefix(lines[i-1], "#") {
					t.Errorf("line %d %q: no comment explains the section", i+1, l)
				}
			}
			// Short, because tests run them as real drills.
			if sc.SteadyState.Warmup.Seconds() > 2 || sc.SteadyState.Duration.Seconds() > 5 {
				t.Errorf("steady state %v + warm-up %v: keep templates short", sc.SteadyState.Duration, sc.SteadyState.Warmup)
			}
		})
	}
}

func TestRenderUnknown(t *testing.T) {
	for _, name := range []string{"rolling", "", "../canary", "canary.yaml"} {
		if _, err := Render(name, "x"); err == nil || !strings.Contains(err.Error(), "known: blue-green, canary") {
			t.Errorf("Render(%q): %v, want an unknown template error", name, err)
		}
	}
}
