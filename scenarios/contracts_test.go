package scenarios

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const contractScenario = `version: 1
name: contracted
environment:
  services:
    orders: {build: fixtures/orders, versions: {v1: {}, v2: {}}}
    pricing: {build: fixtures/pricing, versions: {v1: {}, v2: {}}}
load: {target: orders, rate: 1/s, requests: [{path: /}]}
rollout: {service: pricing, to: v2, steps: [{weight: 50%}]}
contracts:
  - name: orders-reads-price
    consumer: orders
    provider: pricing
    request: {method: GET, path: "/price?sku=SKU-1&qty=2"}
    expect: {status: 200, schema: {type: object, required: [unit_price_cents, total_cents]}}
expect: {outcome: OUTCOME}
`

func TestContractsLoad(t *testing.T) {
	sc, err := Parse("c.yaml", []byte(strings.Replace(contractScenario, "OUTCOME", "blocked", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if sc.Expect.Outcome != OutcomeBlocked || len(sc.Contracts) != 1 {
		t.Fatalf("expect %+v, contracts %+v", sc.Expect, sc.Contracts)
	}
	c := sc.Contracts[0]
	want := &Contract{Name: "orders-reads-price", Consumer: "orders", Provider: "pricing",
		Request: ContractRequest{Method: "GET", Path: "/price?sku=SKU-1&qty=2", Pos: Pos{"c.yaml", 13, 5}},
		Expect: ContractExpect{Status: 200, Pos: Pos{"c.yaml", 14, 5}, SchemaPos: Pos{"c.yaml", 14, 35},
			Schema: map[string]any{"type": "object", "required": []any{"unit_price_cents", "total_cents"}}},
		Pos: Pos{"c.yaml", 10, 5}}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("contract\n%#v\nwant\n%#v", c, want)
	}
	// The harness compiles the kept schema again.
	cc, err := c.Compile()
	if err != nil {
		t.Fatal(err)
	}
	if err := cc.Validate(200, []byte(`{"unit_price_cents":1,"total":2}`)); err == nil || err.Error() != "body: missing property 'total_cents'" {
		t.Errorf("compiled contract: %v", err)
	}
}

func TestBlockedNeedsContracts(t *testing.T) {
	y := strings.Replace(contractScenario, "OUTCOME", "blocked", 1)
	y = y[:strings.Index(y, "contracts:")] + "expect: {outcome: blocked}\n"
	ps := problemsOf(t, []byte(y))
	checkProblems(t, []byte(y), ps, []want{
		{"9:19", `outcome "blocked": only a failing contract blocks a release`, "contracts:"},
	})
}

func TestContractProblems(t *testing.T) {
	path := filepath.Join("testdata", "bad", "contracts.yaml")
	source, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ps := problemsOf(t, source)
	checkProblems(t, source, ps, []want{
		{"11:15", `consumer: unknown service "order"`, `did you mean "orders"?`},
		{"13:23", `unknown method "GTE"`, `did you mean "GET"?`},
		{"13:34", `path: "price" must start with /`, "/price?sku=SKU-1"},
		{"14:22", `status: 700 is outside 100..599`, ""},
		{"14:35", `at /type: value must be one of 'array', 'boolean'`, "json-schema.org"},
		{"15:11", `duplicate contract name "orders-reads-price" (first at line 10)`, ""},
		{"17:15", `provider "orders" is the consumer itself`, ""},
		{"18:48", `body: expected a string, got a mapping`, "quote the body"},
		{"19:35", `schema: expected a mapping (or true/false), got a list`, "JSON Schema"},
		{"23:5", `missing required field "method" in contracts[2].request`, ""},
		{"24:35", `schema: invalid schema: at /required: got string, want array`, ""},
		{"24:60", `unknown field "statsu" in contracts[2].expect`, `did you mean "status"?`},
	})
}

func TestReleaseAndStageProblems(t *testing.T) {
	path := filepath.Join("testdata", "bad", "release.yaml")
	source, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ps := problemsOf(t, source)
	checkProblems(t, source, ps, []want{
		{"9:3", `service: a rollout moves either release: or service/to, not both`, "release:"},
		{"11:30", `to: unknown version "v3" of service "pricing"`, `did you mean "v1"?`},
		{"12:29", `to: "v1" is the baseline version of "orders" already`, "roll out another version"},
		{"13:17", `service: pricing is already in this release`, "list each service once"},
		{"14:7", `missing required field "service" in rollout.release[3]`, ""},
		{"14:7", `missing required field "to" in rollout.release[3]`, ""},
		{"14:8", `unknown field "servce" in rollout.release[3]`, `did you mean "service"?`},
		{"17:27", `rate: must be positive, got 0/s`, ""},
		{"18:12", `name: duplicate stage "staging" (first at line 17)`, "its own name"},
		{"18:31", `unknown approval "manaul"`, `did you mean "manual"?`},
		{"19:5", `missing required field "name" in stages[2]`, ""},
		{"21:53", `stage: unknown stage "prod" (stages: staging)`, ""},
	})
}

// TestGameDayProblems: the game_day section and the gates' timeouts,
// every problem at its field.
func TestGameDayProblems(t *testing.T) {
	path := filepath.Join("testdata", "bad", "gameday.yaml")
	source, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ps := problemsOf(t, source)
	checkProblems(t, source, ps, []want{
		{"11:31", `rollout.steps[0]: timeout only applies to an approval gate`, "approval: manual"},
		{"12:35", `rollout.steps[1]: timeout must be positive`, "timeout: 5m"},
		{"12:51", `rollout.steps[1]: unknown on_timeout "aprove"`, `did you mean "approve"?`},
		{"13:32", `rollout.steps[2]: on_timeout only applies to an approval gate`, "approval: manual"},
		{"15:21", `stages[0]: timeout only applies to an approval gate`, "approval: manual"},
		{"17:14", `dashboard`, ""},
		{"18:10", `game_day.judge: unknown mode "advisor"`, `did you mean "advisory"?`},
		{"19:3", `unknown field "hidden" in game_day`, `hidden_faults`},
	})
}
