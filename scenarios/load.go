package scenarios

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/drillhq/drill/internal/boundedfile"
)

// Load reads the scenario file at path, a regular file of at most
// MaxFileSize bytes, and parses it with Parse.
func Load(path string) (*Scenario, error) {
	data, err := boundedfile.Read(path, MaxFileSize, "scenario")
	if err != nil {
		return nil, fmt.Errorf("load scenario: %w", err)
	}
	return Parse(path, data)
}

// MaxFileSize bounds a scenario file, in bytes: real scenarios are a few
// KB, and the bound keeps a runaway or hostile file (a link to /dev/zero)
// from filling memory before the parser even starts. Load also refuses
// anything but a regular file: a FIFO would block it forever.
const MaxFileSize = 64 << 20

// Parse parses and validates a scenario in format v1; file names it in
// diagnostics and becomes Scenario.Path. An invalid scenario yields a nil
// Scenario and a Problems error listing everything wrong with it, sorted
// by position; a valid one carries its warnings in Scenario.Warnings.
func Parse(file string, data []byte) (*Scenario, error) {
	p := &parser{file: file}
	s := p.document(data)
	if len(p.probs) > 0 {
		return nil, p.probs.sorted()
	}
	s.Warnings = p.warns.sorted()
	return s, nil
}

var yamlLineRE = regexp.MustCompile(`^yaml: line ([0-9]+): (.*)$`)

// document parses data into a node tree and walks it.
func (p *parser) document(data []byte) *Scenario {
	if !p.checkEncoding(data) {
		return nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			p.probs = append(p.probs, Problem{Pos: Pos{File: p.file, Line: 1, Col: 1}, Msg: "empty scenario file",
				Hint: "a scenario starts with version: 1 and name: NAME"})
			return nil
		}
		p.syntaxError(data, err)
		return nil
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		p.add(&extra, "put each scenario in its own file", "a scenario file holds one YAML document, found another")
	case !errors.Is(err, io.EOF):
		p.syntaxError(data, err)
	}
	root := &doc
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		root = doc.Content[0]
	}
	if !p.countNodes(root) {
		return nil
	}
	return p.scenario(root)
}

// parserError reports whether a yaml.v3 message comes from its parser
// rather than its scanner (see yaml_parser_set_parser_error).
func parserError(msg string) bool {
	return strings.HasPrefix(msg, "did not find expected") ||
		strings.HasPrefix(msg, "found duplicate %") ||
		msg == "found incompatible YAML document" ||
		msg == "found undefined tag handle"
}
