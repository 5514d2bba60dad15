package scenarios

import (
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/drillhq/drill/harness/contract"
)

// contracts walks the top-level `contracts:` list (DESIGN.md, "Contracts"):
// what a consumer service relies on in a provider's answer. Each entry's
// problems are reported at their nodes; a schema that does not compile is
// reported at the schema with the compiler's message.
func (w *walk) contracts(o *object) []*Contract {
	items := o.list("contracts")
	var out []*Contract
	names := map[string]*yaml.Node{}
	for i, n := range items {
		co := w.object(nil, n, fmt.Sprintf("contracts[%d]", i), contractFields.known...)
		if !co.ok {
			continue
		}
		co.require(contractFields.required...)
		c := &Contract{Pos: w.pos(n)}
		if co.str("name", &c.Name) {
			switch first, dup := names[c.Name]; {
			case !entityNameRE.MatchString(c.Name):
				w.add(co.get("name"), "use letters, digits, - and _, e.g. orders-reads-price", "contract name %q is not valid", c.Name)
			case dup:
				w.add(co.get("name"), "give each contract its own name: reports list results by it",
					"duplicate contract name %q (first at line %d)", c.Name, first.Line)
			default:
				names[c.Name] = co.get("name")
			}
		}
		if co.str("consumer", &c.Consumer) {
			w.refService(co.get("consumer"), "consumer", c.Consumer)
		}
		if co.str("provider", &c.Provider) && w.refService(co.get("provider"), "provider", c.Provider) != nil &&
			c.Provider == c.Consumer {
			w.add(co.get("provider"), "a contract is between two services: the consumer calls the provider",
				"provider %q is the consumer itself", c.Provider)
		}
		c.Request = w.contractRequest(co.child("request", contractRequestFields.known...))
		c.Expect = w.contractExpect(co.child("expect", contractExpectFields.known...))
		out = append(out, c)
	}
	return out
}

func (w *walk) contractRequest(o *object) ContractRequest {
	r := ContractRequest{Pos: w.pos(o.at)}
	o.require(contractRequestFields.required...)
	if o.str("method", &r.Method) && !slices.Contains(methods, r.Method) {
		w.add(o.get("method"), didYouMean(r.Method, methods), "unknown method %q (known: %s)", r.Method, strings.Join(methods, ", "))
	}
	if o.str("path", &r.Path) {
		if !strings.HasPrefix(r.Path, "/") {
			w.add(o.get("path"), "the check goes to the provider's instance; give only the path and query, e.g. /price?sku=SKU-1&qty=2",
				"path: %q must start with /", r.Path)
		}
		w.printable(o.get("path"), "path", r.Path, "")
	}
	if n := o.get("body"); n != nil && n.Kind == yaml.MappingNode {
		w.add(n, "quote the body as a string: body: '{\"sku\":\"SKU-1\"}'", "body: expected a string, got a mapping")
	} else {
		o.str("body", &r.Body)
	}
	return r
}

func (w *walk) contractExpect(o *object) ContractExpect {
	e := ContractExpect{Pos: w.pos(o.at)}
	o.require(contractExpectFields.required...)
	if o.int("status", &e.Status) && (e.Status < 100 || e.Status > 599) {
		w.add(o.get("status"), "an HTTP status code, e.g. 200", "status: %d is outside 100..599", e.Status)
	}
	n := o.get("schema")
	if n == nil {
		return e
	}
	e.SchemaPos = w.pos(n)
	if n.Kind != yaml.MappingNode && !(n.Kind == yaml.ScalarNode && n.ShortTag() == "!!bool") {
		w.add(n, "a JSON Schema, e.g. {type: object, required: [total_cents]}",
			"schema: expected a mapping (or true/false), got %s", describe(n))
		return e
	}
	var v any
	if err := n.Decode(&v); err != nil {
		w.add(n, "", "schema: %v", err)
		return e
	}
	if _, err := contract.CompileSchema(v); err != nil {
		w.add(n, "see https://json-schema.org/understanding-json-schema/ (draft 2020-12)", "schema: %v", err)
		return e
	}
	e.Schema = v
	return e
}

// Compile turns the contract into the harness's form, its schema
// compiled: what the harness checks before, during and after a rollout
// (package harness/contract). A loaded scenario's contracts always
// compile.
func (c *Contract) Compile() (*contract.Contract, error) {
	return contract.Compile(contract.Contract{
		Name: c.Name, Consumer: c.Consumer, Provider: c.Provider,
		Request: contract.Request{Method: c.Request.Method, Path: c.Request.Path, Body: c.Request.Body},
		Expect:  contract.Expect{Status: c.Expect.Status, Schema: c.Expect.Schema},
	})
}
