package reports

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// schemaJSON is report.schema.json, the JSON Schema of report.json at
// SchemaVersion. It is embedded so that the binary validates against the
// schema it was built with, and so that the file users read in the
// repository is the one the tests hold the Go types to.
//
//go:embed report.schema.json
var schemaJSON []byte

// schemaURL is the schema's $id; the compiler is given the document under
// that URL, so it never loads anything from the network or the disk.
const schemaURL = "https://github.com/drillhq/drill/reports/report.schema.json"

// Schema returns the JSON Schema (draft 2020-12) of report.json at
// SchemaVersion, the bytes of reports/report.schema.json. The caller may
// modify the slice it gets.
func Schema() []byte { return bytes.Clone(schemaJSON) }

var (
	compileOnce sync.Once
	compiled    *jsonschema.Schema
	compileErr  error
)

// compiledSchema compiles the embedded schema the first time it is needed:
// compiling takes longer than validating a report, and the schema never
// changes within a process.
func compiledSchema() (*jsonschema.Schema, error) {
	compileOnce.Do(func() {
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schemaJSON))
		if err != nil {
			compileErr = fmt.Errorf("report schema: %w", err)
			return
		}
		c := jsonschema.NewCompiler()
		c.DefaultDraft(jsonschema.Draft2020)
		// Formats only annotate by default in draft 2020-12; a time that
		// is not RFC 3339 is a broken report, so date-time is asserted.
		c.AssertFormat()
		if err := c.AddResource(schemaURL, doc); err != nil {
			compileErr = fmt.Errorf("report schema: %w", err)
			return
		}
		compiled, compileErr = c.Compile(schemaURL)
		if compileErr != nil {
			compileErr = fmt.Errorf("report schema: %w", compileErr)
		}
	})
	return compiled, compileErr
}

// schemaPrinter words the validator's messages; English, as every other message
// of drill.
var schemaPrinter = message.NewPrinter(language.English)

// Violation is one place where a report does not match the schema.
type Violation struct {
	// Location is the JSON pointer (RFC 6901) of the offending value in
	// the report, e.g. "/requests/total"; "" is the whole document.
	Location string
	// Message says what is wrong there, as the validator words it.
	Message string
}

func (v Violation) String() string {
	loc := v.Location
	if loc == "" {
		loc = "(top level)"
	}
	return loc + ": " + v.Message
}

// SchemaError is the error ValidateJSON returns for a well-formed JSON
// document that does not match the schema. It lists every violation,
// rather than the first, so that one run of a check shows everything to
// fix.
type SchemaError struct {
	Violations []Violation
}

func (e *SchemaError) Error() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "report.json does not match the schema (reports/report.schema.json, schema_version %d): %d violation(s)", SchemaVersion, len(e.Violations))
	for _, v := range e.Violations {
		sb.WriteString("\n  at ")
		sb.WriteString(v.String())
	}
	return sb.String()
}

// ValidateJSON checks data, the bytes of a report.json, against the
// embedded schema. It returns nil when the report matches, a *SchemaError
// listing every violation with its JSON pointer when it does not, and
// another error when data is not JSON at all.
//
// The document is decoded with json.Number, not float64, so that an
// integer field holding 1.5 or an int64 beyond 2^53 is judged on its real
// value.
func ValidateJSON(data []byte) error {
	sch, err := compiledSchema()
	if err != nil {
		return err
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("report.json is not JSON: %w", err)
	}
	err = sch.Validate(inst)
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	return &SchemaError{Violations: violations(ve)}
}

// violations flattens the validator's error tree to its leaves: the inner
// nodes only say "this $ref failed" or "this object failed", which a user
// cannot act on. The leaves are sorted by location and deduplicated, so
// that the message is stable from run to run.
func violations(ve *jsonschema.ValidationError) []Violation {
	var out []Violation
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			out = append(out, Violation{Location: pointer(e.InstanceLocation), Message: e.ErrorKind.LocalizedString(schemaPrinter)})
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Location != out[j].Location {
			return out[i].Location < out[j].Location
		}
		return out[i].Message < out[j].Message
	})
	uniq := out[:0]
	for i, v := range out {
		if i == 0 || v != out[i-1] {
			uniq = append(uniq, v)
		}
	}
	return uniq
}

// pointer encodes a location as a JSON pointer, escaping "~" and "/" in
// keys (series sources and evidence keys are arbitrary strings).
func pointer(tokens []string) string {
	var sb strings.Builder
	for _, t := range tokens {
		sb.WriteByte('/')
		sb.WriteString(strings.NewReplacer("~", "~0", "/", "~1").Replace(t))
	}
	return sb.String()
}
