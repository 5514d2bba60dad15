// Package contract checks consumer contracts: what a consumer service
// relies on in a provider's answer (a request, the status it expects and a
// JSON Schema of the body). drill checks each contract against every
// provider version before a release moves traffic (an incompatible
// release is blocked), on the live pairs while it rolls out, and after a
// rollback; this package is the check itself, one request and one
// verdict, and the validation the router applies to live answers.
package contract

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// Phases of a drill in which a contract is checked.
const (
	// PhaseBefore: against each provider version before the rollout.
	PhaseBefore = "before"
	// PhaseDuring: on the live (consumer version, provider version) pairs
	// while the release rolls out.
	PhaseDuring = "during"
	// PhaseAfter: after a rollback, proving the contract holds again.
	PhaseAfter = "after"
)

// HeaderCaller names the calling service and version on a request
// ("orders/v2"). The fixtures send it on every call to another service;
// Check sends it too, so that a provider sees a contract check as a call
// from the consumer version it stands for.
const HeaderCaller = "X-Drill-Caller"

// DefaultTimeout bounds one Check when the context has no earlier
// deadline: a provider that hangs fails the check instead of the drill.
const DefaultTimeout = 5 * time.Second

// MaxBody bounds the body Check reads and Validate is given by the router:
// an answer larger than this fails the check (a contract is about small
// API answers, and the router must not buffer big ones).
const MaxBody = 64 << 10

// Request is the request a contract's check sends.
type Request struct {
	// Method is an HTTP method, e.g. "GET".
	Method string
	// Path is the path and query, starting with "/", e.g.
	// "/price?sku=SKU-1&qty=2".
	Path string
	// Body is sent as is ("" for none).
	Body string
	// Headers are added to the request (may be nil).
	Headers map[string]string
}

// Expect is what the consumer relies on in the answer.
type Expect struct {
	// Status is the expected status code.
	Status int
	// Schema is a JSON Schema (draft 2020-12 unless it says otherwise)
	// as a decoded JSON value: map[string]any, []any, string, float64,
	// json.Number, bool or nil. nil means any body.
	Schema any
}

// Contract is one consumer contract, compiled by Compile.
type Contract struct {
	Name     string
	Consumer string
	Provider string
	Request  Request
	Expect   Expect

	schema *jsonschema.Schema // nil: any body
}

// Compile checks c and compiles its schema; the returned contract is ready
// for Check and Validate. c is copied, not modified.
func Compile(c Contract) (*Contract, error) {
	if c.Name == "" {
		return nil, errors.New("contract: empty name")
	}
	if c.Request.Method == "" || !strings.HasPrefix(c.Request.Path, "/") {
		return nil, fmt.Errorf("contract %q: request needs a method and a path starting with '/'", c.Name)
	}
	if c.Expect.Status < 100 || c.Expect.Status > 599 {
		return nil, fmt.Errorf("contract %q: expected status %d is not in 100..599", c.Name, c.Expect.Status)
	}
	if c.Expect.Schema != nil {
		s, err := CompileSchema(c.Expect.Schema)
		if err != nil {
			return nil, fmt.Errorf("contract %q: %w", c.Name, err)
		}
		c.schema = s
	}
	return &c, nil
}

// schemaURL names the one schema a compiler holds; a contract's schema
// cannot $ref anything outside itself.
const schemaURL = "drill:contract.schema.json"

// CompileSchema compiles a JSON Schema given as a decoded JSON value (see
// Expect.Schema). The value is normalized through JSON first, so any Go
// value encoding/json can marshal is accepted, e.g. a schema decoded from
// YAML with int numbers. The error is the compiler's message, e.g. that
// "objekt" is not a valid type.
func CompileSchema(schema any) (*jsonschema.Schema, error) {
	raw, err := json.Marshal(schema)
	if err != nil {
		return nil, fmt.Errorf("schema is not JSON: %w", err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("schema is not JSON: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	// No loader: a $ref to a URL or file must not make a drill fetch it.
	c.UseLoader(noLoader{})
	if err := c.AddResource(schemaURL, doc); err != nil {
		return nil, fmt.Errorf("invalid schema: %w", err)
	}
	s, err := c.Compile(schemaURL)
	if err != nil {
		return nil, fmt.Errorf("invalid schema: %s", schemaMessage(err))
	}
	return s, nil
}

// noLoader refuses every external reference.
type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("external reference %s: a contract's schema must be self-contained", url)
}

// schemaMessage words a compile error without the compiler's internal
// schema URL: the leaves of a validation against the meta-schema, or the
// error itself.
func schemaMessage(err error) string {
	var se *jsonschema.SchemaValidationError
	if errors.As(err, &se) {
		var ve *jsonschema.ValidationError
		if errors.As(se.Err, &ve) {
			return strings.Join(leaves(ve), "; ")
		}
	}
	return strings.ReplaceAll(err.Error(), schemaURL, "schema")
}

var printer = message.NewPrinter(language.English)

// leaves flattens a validation error to its leaves, "at /path: message",
// sorted and deduplicated so that the message is stable.
func leaves(ve *jsonschema.ValidationError) []string {
	var out []string
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			msg := e.ErrorKind.LocalizedString(printer)
			if len(e.InstanceLocation) > 0 {
				msg = "at /" + strings.Join(e.InstanceLocation, "/") + ": " + msg
			}
			out = append(out, msg)
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	sort.Strings(out)
	uniq := out[:0]
	for i, s := range out {
		if i == 0 || s != out[i-1] {
			uniq = append(uniq, s)
		}
	}
	return uniq
}

// Validate checks an answer against the contract: the status first, then
// the body against the schema. The error says precisely what is wrong,
// e.g. "body: missing property 'total_cents'" or "status 500, want 200".
func (c *Contract) Validate(status int, body []byte) error {
	if status != c.Expect.Status {
		return fmt.Errorf("status %d, want %d (body %s)", status, c.Expect.Status, snippet(body))
	}
	if c.schema == nil {
		return nil
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("body is not JSON: %s", snippet(body))
	}
	err = c.schema.Validate(inst)
	var ve *jsonschema.ValidationError
	if errors.As(err, &ve) {
		return fmt.Errorf("body: %s", strings.Join(leaves(ve), "; "))
	}
	return err
}

// snippet quotes the start of a body for a message.
func snippet(body []byte) string {
	const max = 200
	if len(body) > max {
		return fmt.Sprintf("%q…", body[:max])
	}
	return fmt.Sprintf("%q", body)
}

// MatchPath reports whether a request path (without its query) is the
// one the contract's request names (its path without the query): the
// router matches live requests this way, so "/price?sku=SKU-1&qty=2"
// covers every GET /price whatever its query.
func (c *Contract) MatchPath(path string) bool {
	p, _, _ := strings.Cut(c.Request.Path, "?")
	return path == p
}
