package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/drillhq/drill/scenarios/templates"
)

// TestInitTemplatesValidateAndPlan: every template, written by drill
// init, goes through the real loader and file checks (validate, run from
// the repository root as the templates say) and drill plan.
func TestInitTemplatesValidateAndPlan(t *testing.T) {
	chdirRoot(t)
	for _, tmpl := range templates.Names() {
		t.Run(tmpl, func(t *testing.T) {
			dir := t.TempDir()
			name := "my-" + tmpl
			code, stdout, stderr := runCLI(t, "init", name, "--template", tmpl, "--dir", dir)
			path := filepath.Join(dir, name+".yaml")
			if code != ExitOK || stderr != "" {
				t.Fatalf("init: exit %d, stderr %s", code, stderr)
			}
			for _, want := range []string{"wrote " + path, "drill validate " + path, "drill plan " + path, "drill run " + path + " --auto-approve"} {
				if !strings.Contains(stdout, want) {
					t.Errorf("stdout lacks %q:\n%s", want, stdout)
				}
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(b, []byte("\nname: "+name+"\n")) || bytes.Contains(b, []byte(templates.Placeholder)) {
				t.Errorf("%s: want name: %s and no placeholder left", path, name)
			}
			if code, stdout, stderr := runCLI(t, "validate", path); code != ExitOK || stdout != "ok "+path+"\n" {
				t.Errorf("validate: exit %d\n%s%s", code, stdout, stderr)
			}
			code, stdout, stderr = runCLI(t, "plan", path)
			if code != ExitOK || !strings.Contains(stdout, name+": timeline") || !strings.Contains(stdout, "load starts: ") {
				t.Errorf("plan: exit %d\n%s%s", code, stdout, stderr)
			}
		})
	}
}

// TestInitDefaultTemplate: without --template, canary in the working
// directory.
func TestInitDefaultTemplate(t *testing.T) {
	t.Chdir(t.TempDir())
	if code, _, stderr := runCLI(t, "init", "first-drill"); code != ExitOK {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	got, err := os.ReadFile("first-drill.yaml")
	want, _ := templates.Render(templates.Default, "first-drill")
	if err != nil || !bytes.Equal(got, want) || templates.Default != "canary" {
		t.Errorf("first-drill.yaml is not the canary template (%v)", err)
	}
}

// TestInitRefusesToOverwrite: an existing file is kept (exit 2) unless
// --force.
func TestInitRefusesToOverwrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "mine.yaml")
	if err := os.WriteFile(path, []byte("my own work\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI(t, "init", "mine", "--dir", dir)
	if code != ExitInvalid || stdout != "" || !strings.Contains(stderr, path+" exists; not overwritten") || !strings.Contains(stderr, "Try: drill init mine --force") {
		t.Errorf("exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	if b, _ := os.ReadFile(path); string(b) != "my own work\n" {
		t.Errorf("the file was changed: %q", b)
	}
	if code, _, stderr := runCLI(t, "init", "--force", "mine", "--dir", dir, "--template", "release"); code != ExitOK {
		t.Fatalf("--force: exit %d\n%s", code, stderr)
	}
	want, _ := templates.Render("release", "mine")
	if b, _ := os.ReadFile(path); !bytes.Equal(b, want) {
		t.Errorf("--force did not write the release template")
	}
}

// TestInitBadUsage: a name the loader would refuse, an unknown template,
// no name or two: exit 2, nothing written.
func TestInitBadUsage(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"Orders"}, {"orders_canary"}, {"../escape"}, {"a b"}, {""}, {"x.yaml"},
		{"ok-name", "--template", "rolling"},
		{}, {"one", "two"},
	} {
		code, _, stderr := runCLI(t, append([]string{"init", "--dir", dir}, args...)...)
		if code != ExitInvalid || !strings.HasPrefix(stderr, "Error: ") {
			t.Errorf("init %q: exit %d, want 2\n%s", args, code, stderr)
		}
	}
	if _, _, stderr := runCLI(t, "init", "Orders_Canary", "--dir", dir); !strings.Contains(stderr, `scenario name "Orders_Canary" may only hold a-z, 0-9 and -`) ||
		!strings.Contains(stderr, "Try: drill init orders-canary") {
		t.Errorf("stderr:\n%s", stderr)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("written despite the errors: %v", left)
	}
}

// TestInitWriteFailure: a folder that cannot be made is the environment,
// exit 3.
func TestInitWriteFailure(t *testing.T) {
	file := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI(t, "init", "x", "--dir", filepath.Join(file, "sub"))
	if code != ExitEnvironment || !strings.Contains(stderr, "Error: write ") {
		t.Errorf("exit %d, want 3\n%s", code, stderr)
	}
}
