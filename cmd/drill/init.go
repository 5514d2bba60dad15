package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/drillhq/drill/scenarios"
	"github.com/drillhq/drill/scenarios/templates"
)

func (c *cli) cmdInit(_ context.Context, args []string) int {
	fs := newFlagSet(c, "init")
	tmpl := fs.String("template", templates.Default, "what the drill shows: "+strings.Join(templates.Names(), ", "))
	dir := fs.String("dir", ".", "the folder to write NAME.yaml in (created if missing)")
	force := fs.Bool("force", false, "overwrite NAME.yaml if it exists")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return ExitInvalid
	}
	if len(pos) != 1 {
		c.errorf("init needs one scenario name")
		c.tryf("drill init orders-canary-drill")
		return ExitInvalid
	}
	name := pos[0]
	if !scenarios.ValidName(name) {
		c.errorf("scenario name %q may only hold a-z, 0-9 and -", name)
		c.tryf("drill init %s", suggestName(name))
		return ExitInvalid
	}
	data, err := templates.Render(*tmpl, name)
	if err != nil {
		c.errorf("%v", err)
		return ExitInvalid
	}
	path := filepath.Join(*dir, name+".yaml")
	// A template that does not load would be a bug in drill, not the
	// user's: check before writing anything.
	if _, err := scenarios.Parse(path, data); err != nil {
		c.errorf("template %s does not load (a bug in drill):\n%v", *tmpl, err)
		return ExitInvalid
	}
	if err := writeNew(path, data, *force); err != nil {
		if errors.Is(err, os.ErrExist) {
			c.errorf("%s exists; not overwritten", path)
			c.tryf("drill init %s --force, or another name", name)
			return ExitInvalid
		}
		c.errorf("write %s: %v", path, err)
		return ExitEnvironment
	}
	fmt.Fprintf(c.stdout, "wrote %s (template %s)\n\nNext:\n", path, *tmpl)
	fmt.Fprintf(c.stdout, "  drill validate %s\n", path)
	fmt.Fprintf(c.stdout, "  drill plan %s\n", path)
	fmt.Fprintf(c.stdout, "  drill run %s --auto-approve\n", path)
	fmt.Fprintln(c.stdout, "\nIts build: paths (fixtures/…) are relative to drill's repository root: run it from there, or edit them.")
	return ExitOK
}

// writeNew writes data to path, creating its folder. Without force an
// existing path is refused by the open itself (O_EXCL), not by a check
// before it, so a file that appears in between is never overwritten.
func writeNew(path string, data []byte, force bool) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	if !force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_EXCL
	}
	f, err := os.OpenFile(path, flags, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// suggestName turns a rejected name into one the rule accepts, for the
// Try: line: lower case, anything else a dash.
func suggestName(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	s := strings.Trim(b.String(), "-")
	if s == "" {
		return "my-drill"
	}
	return s
}
