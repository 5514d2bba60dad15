package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/drillhq/drill/harness/provider"
	"github.com/drillhq/drill/harness/suite"
	"github.com/drillhq/drill/scenarios"
)

// validateFormats are the outputs of drill validate: text for people,
// json for tools, github for GitHub Actions annotations.
var validateFormats = []string{"text", "json", "github"}

func (c *cli) cmdValidate(_ context.Context, args []string) int {
	fs := newFlagSet(c, "validate")
	providerName := fs.String("provider", "", "check for this provider instead of environment.provider: "+strings.Join(provider.Names(), " or "))
	format := fs.String("format", "text", "output: "+strings.Join(validateFormats, ", ")+
		" (text: file:line:col: message on stderr; json and github: on stdout)")
	files, err := parseInterleaved(fs, args)
	if err != nil {
		return ExitInvalid
	}
	if !contains(validateFormats, *format) {
		c.errorf("unknown format %q (known: %s)", *format, strings.Join(validateFormats, ", "))
		c.tryf("drill validate --format github scenarios/*.yaml")
		return ExitInvalid
	}
	if len(files) == 0 {
		c.errorf("validate needs at least one scenario file")
		c.tryf("drill validate scenarios/*.yaml")
		return ExitInvalid
	}
	// A directory, DIR/... or a glob names the files drill run would run
	// as a suite.
	if files, err = expandScenarioArgs(files); err != nil {
		c.errorf("%v", err)
		c.tryf("drill validate scenarios/ (a directory), 'scenarios/*.yaml' (a glob) or scenarios/... (recursive)")
		return ExitInvalid
	}
	if *providerName != "" && !contains(provider.Names(), *providerName) {
		c.errorf("unknown provider %q (known: %v)", *providerName, provider.Names())
		return ExitInvalid
	}
	// validate also checks the disk around each file (build and migration
	// directories): what a run would otherwise find only once it builds.
	_, diags := c.check(files, *providerName, true)
	if *format != "text" {
		var render func(io.Writer, []string, []diagnostic) error = renderValidateJSON
		if *format == "github" {
			render = renderValidateGitHub
		}
		out := &watchedWriter{w: c.stdout}
		if err := render(out, files, diags); err != nil || out.err != nil {
			c.errorf("cannot write the %s output: %v", *format, cmp.Or(out.err, err))
			return ExitEnvironment
		}
	} else {
		c.printDiagnostics(diags)
	}
	if hasErrors(diags) {
		return ExitInvalid
	}
	if *format == "text" {
		for _, f := range files {
			fmt.Fprintf(c.stdout, "ok %s\n", f)
		}
	}
	return ExitOK
}

// expandScenarioArgs replaces each directory, DIR/... or glob among args
// by the scenario files it names (suite.Find); a file stays as written.
func expandScenarioArgs(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		if !namesMany(a) {
			out = append(out, a)
			continue
		}
		found, err := suite.Find([]string{a})
		if err != nil {
			return nil, err
		}
		for _, f := range found {
			out = append(out, f.File)
		}
	}
	return out, nil
}

// namesMany says whether a drill run or validate argument names many
// files: a directory, DIR/... or a glob.
func namesMany(a string) bool {
	if strings.HasSuffix(filepath.ToSlash(a), "/...") || strings.ContainsAny(a, "*?[") {
		return true
	}
	fi, err := os.Stat(a)
	return err == nil && fi.IsDir()
}

// loadAll loads every file and prints every problem of every file before
// anything runs, including what the provider a run would use (provider,
// or else the scenario's own) cannot run; ok is false when any file has a
// problem.
func (c *cli) loadAll(files []string, providerName string) ([]*scenarios.Scenario, bool) {
	scs, diags := c.check(files, providerName, false)
	c.printDiagnostics(diags)
	return scs, !hasErrors(diags)
}

// hasErrors says whether any of diags is an error: warnings are printed
// and never stop a command.
func hasErrors(diags []diagnostic) bool {
	return slices.ContainsFunc(diags, func(d diagnostic) bool { return d.Severity != severityWarning })
}

// diagnostic is one problem drill validate reports, in the shape its json
// output gives tools. Line and Col are 0 when the problem has no place
// in the file (the file cannot be read, its name is taken).
type diagnostic struct {
	File     string `json:"file"`
	Line     int    `json:"line"`
	Col      int    `json:"col"`
	Message  string `json:"message"`
	Hint     string `json:"hint"`
	Severity string `json:"severity"` // "error", or "warning" (scenarios.Problem.Warning: the file is valid)
	// text is how the text output prints it, as drill always has: a
	// Problem as file:line:col: message (and its hint), anything else as
	// an Error: line.
	text string
	// of is the file checked that the problem belongs to (File may be
	// spelled as the problem's position has it).
	of string
}

// Severities of a diagnostic.
const (
	severityError   = "error"
	severityWarning = "warning"
)

// problemDiagnostic is a loader's problem or warning at its position in
// file f.
func problemDiagnostic(p scenarios.Problem, f string) diagnostic {
	sev := severityError
	if p.Warning {
		sev = severityWarning
	}
	return diagnostic{File: cmp.Or(p.Pos.File, f), Line: p.Pos.Line, Col: p.Pos.Col,
		Message: p.Msg, Hint: p.Hint, Severity: sev, text: p.Error(), of: f}
}

// oneLine is the problem on one line, its hint in parentheses: a suite's
// case lists an invalid file's problems this way.
func (d diagnostic) oneLine() string {
	s := strings.TrimPrefix(d.text, "Error: ")
	if d.Line > 0 {
		s = fmt.Sprintf("%s:%d:%d: %s", d.File, d.Line, d.Col, d.Message)
	}
	if d.Hint != "" {
		s += " (hint: " + d.Hint + ")"
	}
	return s
}

// check loads every file and returns what loaded and every problem of
// every file, in file order: the loader's, what the provider a run would
// use (provider, or else the scenario's own) cannot run and, with
// onDisk, the files the scenario needs that are not there
// (Scenario.FileProblems, looked up from the working directory as a run
// started here would).
func (c *cli) check(files []string, providerName string, onDisk bool) ([]*scenarios.Scenario, []diagnostic) {
	var out []*scenarios.Scenario
	var diags []diagnostic
	names := map[string]string{}
	for _, f := range files {
		sc, err := loadScenario(f)
		if err == nil {
			name := cmp.Or(providerName, sc.Environment.Provider)
			if onDisk {
				err = sc.Preflight(name, provider.Catalog(), "")
			} else {
				err = sc.ProviderProblems(name, provider.Catalog())
			}
		}
		if err != nil {
			var probs scenarios.Problems
			if errors.As(err, &probs) {
				for _, p := range probs {
					diags = append(diags, problemDiagnostic(p, f))
				}
			} else {
				diags = append(diags, diagnostic{File: f, Message: err.Error(), Severity: severityError, text: "Error: " + err.Error(), of: f})
			}
			continue
		}
		if prev, dup := names[sc.Name]; dup {
			msg := fmt.Sprintf("scenario name %q is also used by %s (names must be unique in a suite)", sc.Name, prev)
			diags = append(diags, diagnostic{File: f, Message: msg, Hint: "rename one of them",
				Severity: severityError, text: fmt.Sprintf("Error: %s: %s", f, msg), of: f})
			continue
		}
		names[sc.Name] = f
		out = append(out, sc)
		for _, p := range sc.Warnings {
			diags = append(diags, problemDiagnostic(p, f))
		}
	}
	return out, diags
}

// printDiagnostics prints diags to stderr as text.
func (c *cli) printDiagnostics(diags []diagnostic) {
	for _, d := range diags {
		fmt.Fprintln(c.stderr, d.text)
	}
}

// renderValidateJSON writes one JSON object: every file checked, whether
// it is ok, and every problem; problems is [] (never null) when there
// are none, so that a tool can read it without a special case.
func renderValidateJSON(w io.Writer, files []string, diags []diagnostic) error {
	type fileResult struct {
		File string `json:"file"`
		OK   bool   `json:"ok"`
	}
	bad := map[string]bool{}
	for _, d := range diags {
		bad[d.File] = bad[d.File] || d.Severity != severityWarning
	}
	doc := struct {
		Files    []fileResult `json:"files"`
		Problems []diagnostic `json:"problems"`
	}{Files: []fileResult{}, Problems: diags}
	if doc.Problems == nil {
		doc.Problems = []diagnostic{}
	}
	for _, f := range files {
		doc.Files = append(doc.Files, fileResult{File: f, OK: !bad[f]})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

// renderValidateGitHub writes one GitHub Actions workflow command per
// problem (::error file=F,line=L,col=C::message), which Actions shows as
// an annotation on that line of the pull request. The hint follows the
// message on its own line.
func renderValidateGitHub(w io.Writer, _ []string, diags []diagnostic) error {
	for _, d := range diags {
		props := "file=" + escapeGitHubProperty(d.File)
		if d.Line > 0 {
			props += fmt.Sprintf(",line=%d", d.Line)
			if d.Col > 0 {
				props += fmt.Sprintf(",col=%d", d.Col)
			}
		}
		msg := d.Message
		if d.Hint != "" {
			msg += "\nhint: " + d.Hint
		}
		if _, err := fmt.Fprintf(w, "::%s %s::%s\n", d.Severity, props, escapeGitHubData(msg)); err != nil {
			return err
		}
	}
	return nil
}

// escapeGitHubData escapes a workflow command's message as GitHub's
// toolkit does (@actions/core, escapeData): a raw newline would end the
// command and let the rest of a message be read as a command of its own.
func escapeGitHubData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

// escapeGitHubProperty escapes a property value (escapeProperty): also
// ":" and ",", which would end the properties or the value.
func escapeGitHubProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}
