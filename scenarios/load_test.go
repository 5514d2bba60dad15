package scenarios

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/drillhq/drill/injectors"
)

// src drops the newline that follows the opening backquote, so that the
// YAML in a test starts on line 1.
func src(s string) []byte { return []byte(strings.TrimPrefix(s, "\n")) }

// want is one expected diagnostic: its exact line:col, a substring of its
// message and, when set, a substring of its hint.
type want struct {
	at   string
	msg  string
	hint string
}

func problemsOf(t *testing.T, yaml []byte) Problems {
	t.Helper()
	s, err := Parse("t.yaml", yaml)
	if err == nil {
		t.Fatalf("Parse succeeded, want problems")
	}
	if s != nil {
		t.Errorf("Parse returned a scenario along with problems")
	}
	var ps Problems
	if !errors.As(err, &ps) {
		t.Fatalf("error is %T, not Problems: %v", err, err)
	}
	return ps
}

// caret shows line:col of source with a caret under the column, so that
// a failing position can be checked by eye.
func caret(source []byte, line, col int) string {
	lines := strings.Split(string(source), "\n")
	if line < 1 || line > len(lines) || col < 1 {
		return ""
	}
	return "\n      | " + lines[line-1] + "\n      | " + strings.Repeat(" ", col-1) + "^"
}

// checkProblems asserts that ps, found in source, are exactly wants, in
// order.
func checkProblems(t *testing.T, source []byte, ps Problems, wants []want) {
	t.Helper()
	for i := 0; i < max(len(ps), len(wants)); i++ {
		switch {
		case i >= len(ps):
			t.Errorf("missing problem %s: %q", wants[i].at, wants[i].msg)
			continue
		case i >= len(wants):
			t.Errorf("unexpected problem: %v%s", ps[i], caret(source, ps[i].Pos.Line, ps[i].Pos.Col))
			continue
		}
		p, w := ps[i], wants[i]
		at := fmt.Sprintf("%d:%d", p.Pos.Line, p.Pos.Col)
		if at != w.at || !strings.Contains(p.Msg, w.msg) || !strings.Contains(p.Hint, w.hint) {
			t.Errorf("problem %d:\n got  %s: %s (hint: %s)%s\n want %s: …%s… (hint: …%s…)",
				i, at, p.Msg, p.Hint, caret(source, p.Pos.Line, p.Pos.Col), w.at, w.msg, w.hint)
		}
		if p.Pos.File != "t.yaml" {
			t.Errorf("problem %d: file %q, want t.yaml", i, p.Pos.File)
		}
	}
}

func TestProblems(t *testing.T) {
	tests := []struct {
		name  string
		yaml  string
		wants []want
	}{
		{
			name: "unknown fields with did-you-mean at every level",
			yaml: `
version: 1
name: typos
descripton: x
environment:
  services:
    api:
      biuld: fixtures/api
      versions: {v1: {}, v2: {enb: {}}}
load:
  target: api
  raet: 10/s
  requests: [{path: /, wieght: 2}]
rollout:
  service: api
  to: v2
  steps: [{weight: 50%, hodl: 1s}]
  anaylsis: {}
  zzzzzz: 1
`,
			wants: []want{
				{"3:1", `unknown field "descripton"`, `did you mean "description"?`},
				{"6:5", `service "api" needs one of build, image or command`, ""},
				{"7:7", `unknown field "biuld" in environment.services.api`, `did you mean "build"?`},
				{"8:31", `unknown field "enb" in environment.services.api.versions.v2`, `did you mean "env"?`},
				{"9:1", `missing required field "rate" (or "ramp") in load`, "rate: 200/s"},
				{"11:3", `unknown field "raet" in load`, `did you mean "rate"?`},
				{"12:24", `unknown field "wieght" in load.requests[0]`, `did you mean "weight"?`},
				{"16:25", `unknown field "hodl" in rollout.steps[0]`, `did you mean "hold"?`},
				{"17:3", `unknown field "anaylsis" in rollout`, `did you mean "analysis"?`},
				{"18:3", `unknown field "zzzzzz" in rollout`, "known fields: service, to, strategy, steps, analysis, on_failure"},
			},
		},
		{
			name: "missing required fields",
			yaml: `
version: 1
environment:
  services:
    api: {build: x, versions: {v1: {}}}
load:
  rate: 1/s
rollout:
  steps: []
faults:
  - {}
`,
			wants: []want{
				{"1:1", `missing required field "name"`, ""},
				{"5:1", `missing required field "target" in load`, ""},
				{"5:1", `missing required field "requests" in load`, ""},
				{"7:1", `missing required field "service" in rollout`, ""},
				{"7:1", `missing required field "to" in rollout`, ""},
				{"8:3", "rollout.steps: at least one step is required", "weight: 10%"},
				{"10:5", `missing required field "name" in faults[0]`, ""},
				{"10:5", `missing required field "kind" in faults[0]`, ""},
				{"10:5", `missing required field "target" in faults[0]`, ""},
			},
		},
		{
			name: "version, name and empty environment",
			yaml: `
version: 2
name: Orders_Canary
environment:
  services: {}
load: {target: api, rate: 1/s, requests: [{path: /}]}
rollout: {service: api, to: v2, steps: [{weight: 100%}]}
`,
			wants: []want{
				{"1:10", "unsupported scenario version 2", "version 1"},
				{"2:7", `name "Orders_Canary" may only hold a-z, 0-9 and -`, ""},
				{"4:3", "environment.services: at least one service is required", ""},
				{"5:16", `target: unknown service "api" (known: none)`, ""},
				{"6:20", `service: unknown service "api" (known: none)`, ""},
			},
		},
		{
			name: "wrong types",
			yaml: `
version: "1"
name: [a]
tags: canary
seed: 1.5
environment:
  services:
    api:
      build: {dir: x}
      command: ./run --fast
      env: [A=1]
      versions: {v1: {migration: two}}
load: {target: api, rate: 1/s, timeout: 1, requests: {path: /}}
rollout: {service: api, to: v1, steps: [{weight: 10%}]}
`,
			wants: []want{
				{"1:10", `version: expected an integer, got "1"`, ""},
				{"2:7", "name: expected a string, got a list", ""},
				{"3:7", `tags: expected a list, got "canary"`, ""},
				{"4:7", "seed: expected an integer, got 1.5", ""},
				{"8:14", "build: expected a string, got a mapping", ""},
				{"9:7", "set only one of build, image or command (found build and command)", ""},
				{"9:16", `command: expected a list of arguments, got "./run --fast"`, "command: [./run, --fast]"},
				{"10:12", "env: expected a mapping, got a list", ""},
				{"11:34", `migration: expected an integer, got "two"`, ""},
				{"12:41", `timeout: invalid duration "1"`, "Go syntax"},
				{"12:54", "requests: expected a list, got a mapping", ""},
				{"13:29", `to: "v1" is the baseline version of "api" already`, ""},
			},
		},
		{
			name: "fault kinds: unknown, wrong target class, and registered",
			yaml: `
version: 1
name: kinds
environment:
  services:
    api: {build: x, versions: {v1: {}, v2: {}}}
load: {target: api, rate: 1/s, requests: [{path: /}]}
rollout: {service: api, to: v2, steps: [{weight: 10%}]}
faults:
  - {name: a, kind: latncy, target: api}
  - {name: b, kind: migration-failure, target: api, params: {statement: 1}}
  - {name: c, kind: chaos-monkey, target: api}
  - {name: d, kind: latency, target: api, params: {delay: 10ms}}
`,
			wants: []want{
				{"9:21", `unknown fault kind "latncy" (known: `, `did you mean "latency"?`},
				{"10:48", `target: fault kind "migration-failure" acts on database, not on a service`, ""},
				{"11:21", `unknown fault kind "chaos-monkey"`, ""},
			},
		},
		{
			name: "migration faults need the rollout's migration",
			yaml: `
version: 1
name: migfaults
environment:
  databases: {db: {engine: sqlite}, other: {engine: sqlite}}
  services:
    api: {build: x, database: db, versions: {v1: {migration: 2}, v2: {migration: 2}, v3: {migration: 1}}, baseline: v1}
load: {target: api, rate: 1/s, requests: [{path: /}]}
rollout: {service: api, to: v2, steps: [{weight: 10%}]}
faults:
  - {name: a, kind: migration-failure, target: db, params: {statement: 0}}
  - {name: b, kind: migration-slow, target: other, params: {delay: 1s}}
  - {name: c, kind: migration-lock, target: db, params: {table: "x;y", mode: share lock, hold: 0s}}
  - {name: d, kind: down-failure, target: db, params: {statment: 2}}
`,
			wants: []want{
				{"10:48", `target: fault kind "migration-failure" needs a migration, and api v1 and v2 are both at migration 2`, "set api.v2's migration: to a version other than the baseline's (2)"},
				{"10:60", "migration-failure needs params.statement >= 1", ""},
				{"11:45", `target: fault kind "migration-slow" acts on the migrations the rollout runs; the rollout of api does not migrate "other"`, `api has database: "db"`},
				{"12:45", `fault kind "migration-lock" needs a migration`, ""},
				{"12:57", `migration-lock needs params.table, a plain table name (got "x;y")`, ""},
				{"12:57", `migration-lock params.mode "SHARE LOCK" is not a PostgreSQL lock mode`, ""},
				{"12:57", "migration-lock needs params.hold > 0", ""},
				{"13:43", `fault kind "down-failure" needs a migration`, ""},
				{"13:56", `unknown field "statment" in faults[3].params`, `did you mean "statement"?`},
			},
		},
		{
			name: "judges",
			yaml: `
version: 1
name: judges
environment:
  services:
    api: {build: x, versions: {v1: {}, v2: {}}}
load: {target: api, rate: 1/s, requests: [{path: /}]}
rollout:
  service: api
  to: v2
  steps: [{weight: 10%}]
  analysis:
    judge: mann-whitney
    pass_score: 80
    marginal_score: 120
    metrics:
      - {metric: error_rate, max_increase: 1%, weight: 0}
      - {metric: latency_p99, max_ratio: 2, critical: yes please}
`,
			wants: []want{
				{"14:21", "marginal_score: 120 is outside 0..100", "canary scores run from 0 to 100"},
				{"14:21", "marginal_score 120 is above pass_score 80", "the marginal band lies below the passing score"},
				{"16:56", "weight: must be positive, got 0", "leave the metric out"},
				{"17:55", "critical: expected true or false", "write true or false"},
			},
		},
		{
			name: "unknown judge, mann-whitney, policies and outcome",
			yaml: `
version: 1
name: policies
environment:
  services:
    api: {build: x, versions: {v1: {}, v2: {}}}
load: {target: api, rate: 1/s, requests: [{path: /}]}
rollout:
  service: api
  to: v2
  steps: [{weight: 10%}]
  analysis: {judge: treshold, on_no_data: ignore}
  on_failure: rollbak
expect: {outcome: rolledback}
---
rollout: {analysis: {judge: mann-whitney}}  # a second document is refused, not read
`,
			wants: []want{
				{"11:21", `unknown judge "treshold" (known: mann-whitney, sequential, threshold)`, `did you mean "threshold"?`},
				{"11:43", `unknown on_no_data policy "ignore" (known: pause, fail, pass)`, ""},
				{"12:15", `unknown on_failure policy "rollbak" (known: rollback, abort, continue)`, `did you mean "rollback"?`},
				{"13:19", `unknown outcome "rolledback" (known: promoted, rolled_back, aborted, blocked)`, `did you mean "rolled_back"?`},
				{"14:1", "a scenario file holds one YAML document, found another", ""},
			},
		},
		{
			name: "images load, a SQLite image does not, blue-green takes no steps",
			yaml: `
version: 1
name: docker
environment:
  provider: docker
  databases:
    db: {engine: postgres, image: postgres:16-alpine}
    lite: {engine: sqlite, image: nouchka/sqlite3}
  services:
    api:
      image: example/api
      versions: {v1: {}, v2: {image: example/api:2}}
load: {target: api, rate: 1/s, requests: [{path: /}]}
rollout: {service: api, to: v2, strategy: blue-green, steps: [{weight: 10%}]}
`,
			wants: []want{
				{"7:28", "image: applies to a postgres database, not to sqlite", "a SQLite database is a file"},
				{"13:55", `steps: strategy blue-green moves all traffic at once and takes no steps`, "leave steps out: blue-green's phases come from its own settings (blue_green)"},
			},
		},
		{
			name: "metrics not supported yet, unknown metric, bounds",
			yaml: `
version: 1
name: metrics
environment:
  services:
    api: {build: x, versions: {v1: {}, v2: {}}}
load: {target: api, rate: 1/s, requests: [{path: /}]}
steady_state:
  duration: 5s
  slo:
    - {metric: rss, max: 200MiB}
    - {metric: latncy_p99, max: 1s}
  attempts: 0
rollout:
  service: api
  to: v2
  steps: [{weight: 10%}]
  analysis:
    judge: threshold # the sequential judge tests error_rate unbounded
    metrics:
      - {metric: cpu, max: 80%}
      - {metric: "invariant:totals-match", max: 0}
      - {metric: error_rate}
      - {metric: "invariant:", max: 0}
      - {metric: latency_p99, max_ratio: 0, max: 1%}
      - {metric: error_rate, max_increase: 0.01, max: 150%}
`,
			wants: []want{
				{"10:16", `metric "rss" is not supported yet in steady_state.slo (supported: error_rate, latency_p50`, ""},
				{"11:16", `unknown metric "latncy_p99"`, `did you mean "latency_p99"?`},
				{"12:13", "attempts: must be at least 1, got 0", "measures the hypothesis once"},
				{"21:18", `metric "invariant:totals-match": unknown invariant "totals-match" (defined: none)`, "define it under verify.data.invariants"},
				{"22:9", "a metric check needs a bound", "set max, max_increase or max_ratio"},
				{"23:18", `metric "invariant:" names no invariant`, ""},
				{"24:42", "max_ratio: must be positive, got 0", ""},
				{"24:50", `max: invalid duration "1%"`, ""},
				{"25:44", `max_increase: invalid percentage "0.01"`, "0.5%"},
				{"25:55", "max: an error rate cannot exceed 100%, got 150%", ""},
			},
		},
		{
			name: "data checks: schema choice, invariant fields, invariant metrics",
			yaml: `
version: 1
name: data
environment:
  databases: {db: {engine: sqlite}}
  services:
    api: {build: x, database: db, versions: {v1: {}, v2: {}}}
load: {target: api, rate: 1/s, requests: [{path: /}]}
rollout:
  service: api
  to: v2
  steps: [{weight: 10%}]
  analysis:
    metrics:
      - {metric: "invariant:sum", max: 0}
      - {metric: "invariant:sums", max_ratio: 2, max_increase: 1}
verify:
  data:
    schema: latest
    invariants:
      - {name: sums, database: dbx, sql: SELECT 0}
      - {name: sums, database: db}
      - {name: blank, database: db, sql: " "}
steady_state: {duration: 1s, slo: [{metric: "invariant:sums", max: 0}]}
`,
			wants: []want{
				{"14:18", `metric "invariant:sum": unknown invariant "sum" (defined: sums, sums, blank)`, `did you mean "sums"?`},
				{"15:36", "max_ratio: an invariant metric takes an absolute bound only", "use max"},
				{"15:50", "max_increase: an invariant metric takes an absolute bound only", "use max"},
				{"18:13", `unknown schema check "latest"`, ""},
				{"20:32", `database: unknown database "dbx" (known: db)`, `did you mean "db"?`},
				{"21:9", `missing required field "sql" in verify.data.invariants[1]`, ""},
				{"21:16", `duplicate invariant name "sums" (first at line 20)`, ""},
				{"22:42", "sql: is empty", ""},
				{"23:45", `metric "invariant:sums" is not supported in steady_state.slo`, "rollout.analysis.metrics"},
			},
		},
		{
			name: "references to undefined services, versions and databases",
			yaml: `
version: 1
name: refs
environment:
  databases: {ordersdb: {engine: sqlite}}
  services:
    orders: {build: x, database: orderdb, baseline: v0, versions: {v1: {}, v2: {}}}
load: {target: order, rate: 1/s, requests: [{path: /, ledger: {key: id}}]}
rollout: {service: orders, to: v3, steps: [{weight: 10%}]}
verify:
  data:
    ledger: {database: orders, table: orders, key: id}
`,
			wants: []want{
				{"6:34", `database: unknown database "orderdb" (known: ordersdb)`, `did you mean "ordersdb"?`},
				{"6:53", `baseline: unknown version "v0" of service "orders" (known: v1, v2)`, `did you mean "v1"?`},
				{"7:16", `target: unknown service "order" (known: orders)`, `did you mean "orders"?`},
				{"8:32", `to: unknown version "v3" of service "orders" (known: v1, v2)`, ""},
				{"11:24", `database: unknown database "orders" (known: ordersdb)`, `did you mean "ordersdb"?`},
			},
		},
		{
			name: "fault targets",
			yaml: `
version: 1
name: targets
environment:
  databases: {db: {engine: sqlite}}
  services:
    api: {build: x, database: db, versions: {v1: {}, v2: {}}}
load: {target: api, rate: 1/s, requests: [{path: /}]}
rollout: {service: api, to: v2, steps: [{weight: 10%}]}
faults:
  - {name: a, kind: test-noparams, target: api}
  - {name: b, kind: test-noparams, target: api.v2}
  - {name: c, kind: test-noparams, target: db}
  - {name: d, kind: test-noparams, target: apj}
  - {name: e, kind: test-noparams, target: api.v3}
  - {name: f, kind: test-noparams, target: web.v1}
  - {name: g, kind: error, target: db}
  - {name: h, kind: test-dbonly, target: api.v1}
`,
			wants: []want{
				{"13:44", `target: unknown service or database "apj" (services: api; databases: db)`, `did you mean "api"?`},
				{"14:44", `target: unknown version "v3" of service "api" (known: v1, v2)`, ""},
				{"15:44", `target: unknown service "web" (known: api)`, ""},
				{"16:36", `target: fault kind "error" acts on service or service.version, not on a database`, ""},
				{"17:42", `target: fault kind "test-dbonly" acts on database, not on a service.version`, ""},
			},
		},
		{
			name: "connection faults need a PostgreSQL database",
			yaml: `
version: 1
name: dbfaults
environment:
  databases: {lite: {engine: sqlite}, pg: {engine: postgres}}
  services:
    api: {build: x, database: pg, versions: {v1: {}, v2: {}}}
load: {target: api, rate: 1/s, requests: [{path: /}]}
rollout: {service: api, to: v2, steps: [{weight: 10%}]}
faults:
  - {name: a, kind: db-blackhole, target: lite}
  - {name: b, kind: db-latency, target: lite, params: {delay: 10ms}}
  - {name: c, kind: db-reset, target: lite}
  - {name: d, kind: db-reset, target: pg}
  - {name: e, kind: db-blackhole, target: pg, duration: 3s}
  - {name: f, kind: db-latency, target: pg, params: {delay: 10ms, jitter: 2ms}}
  - {name: g, kind: db-reset, target: api}
  - {name: h, kind: db-latency, target: pg}
  - {name: i, kind: db-reset, target: pg, params: {rate: 5%}}
`,
			wants: []want{
				{"10:43", `target: fault kind "db-blackhole" acts on postgres databases only; "lite" is sqlite`,
					"a SQLite database is a file the service opens itself, with no connection to act on (use engine: postgres)"},
				{"11:41", `target: fault kind "db-latency" acts on postgres databases only; "lite" is sqlite`, "use engine: postgres"},
				{"12:39", `target: fault kind "db-reset" acts on postgres databases only; "lite" is sqlite`, "use engine: postgres"},
				{"16:39", `target: fault kind "db-reset" acts on database, not on a service`, ""},
				{"17:21", "db-latency needs params.delay > 0", ""},
				{"18:43", `fault kind "db-reset" takes no params`, ""},
			},
		},
		{
			name: "rollout steps",
			yaml: `
version: 1
name: steps
environment:
  services:
    api: {build: x, versions: {v1: {}, v2: {}}}
load: {target: api, rate: 1/s, requests: [{path: /}]}
rollout:
  service: api
  to: v2
  steps:
    - {weight: 50%, hold: 15x}
    - {weight: 50%}
    - {weight: 10%, approval: manual}
    - {approval: auto, hold: 1s}
    - {weight: 0%}
    - {weight: 150%}
    - {weight: 60}
    - {}
    - {weight: 100%, hold: -1s}
`,
			wants: []want{
				{"11:27", `hold: invalid duration "15x"`, "Go syntax"},
				{"12:16", "weight: 50% does not increase on the previous step's 50%", "strictly increase"},
				{"13:16", "weight: 10% does not increase on the previous step's 50%", ""},
				{"13:21", "a step has a weight or an approval, not both", "split it"},
				{"14:18", `unknown approval "auto" (known: manual)`, ""},
				{"14:24", "hold only applies to a weight step", ""},
				{"15:16", "weight: 0% is outside (0%, 100%]", ""},
				{"16:16", "weight: 150% is outside (0%, 100%]", ""},
				{"17:16", `weight: invalid percentage "60"`, "write it as a percentage: 60%"},
				{"18:7", "a step needs a weight or an approval", ""},
				{"19:28", "hold: duration -1s must not be negative", ""},
			},
		},
		{
			name: "load: rates, ramp, timeout, requests",
			yaml: `
version: 1
name: load
environment:
  services:
    api: {build: x, versions: {v1: {}, v2: {}}}
load:
  target: api
  rate: 0/s
  ramp: {from: 1.5/s, to: 10/h, over: 0s}
  timeout: 0s
  requests:
    - {name: a, method: post, path: orders, weight: 0}
    - {name: a, path: /b, body: {sku: 1}}
rollout: {service: api, to: v2, steps: [{weight: 10%}]}
`,
			wants: []want{
				{"8:9", "rate: must be positive, got 0/s", ""},
				{"9:3", "set rate or ramp, not both", ""},
				{"9:16", `from: invalid rate "1.5/s"`, "use N/m"},
				{"9:27", `to: invalid rate "10/h"`, "200/s"},
				{"9:39", "over: must be positive", ""},
				{"10:12", "timeout: must be positive", ""},
				{"12:25", `unknown method "post"`, `did you mean "POST"?`},
				{"12:37", `path: "orders" must start with /`, ""},
				{"12:53", "weight: must be at least 1, got 0", ""},
				{"13:14", `duplicate request name "a" (first at line 12)`, ""},
				{"13:33", "body: expected a string, got a mapping", "quote the body"},
			},
		},
		{
			name: "services: build/image/command, language, health, names",
			yaml: `
version: 1
name: services
environment:
  services:
    api:
      language: java
      build: x
      image: y
      health: healthz
      versions: {v1: {}, v2: {command: [], build: z}}
    web:
      versions: {"bad version": {}}
    my.svc:
      command: [./run]
      migrations: db/migrations
      versions: {v1: {migration: 3}}
    cmd:
      command: [./run]
      database: db
      versions: {v1: {migration: 1}}
  databases: {db: {engine: sqlite}}
load: {target: api, rate: 1/s, requests: [{path: /}]}
rollout: {service: api, to: v2, steps: [{weight: 10%}]}
`,
			wants: []want{
				{"6:17", `unknown language "java" (known: go, rust)`, "informational"},
				{"8:7", "set only one of build, image or command (found build and image)", ""},
				{"9:15", `health: "healthz" must be a path starting with /`, ""},
				{"10:31", "set only one of build, image or command (found build and command)", ""},
				{"10:40", "command: needs at least the program to run", ""},
				{"11:5", `service "web" needs one of build, image or command`, ""},
				{"12:18", `invalid version name "bad version"`, ""},
				{"13:5", `invalid service name "my.svc"`, "no dots"},
				{"15:7", `migrations: service "my.svc" has no database`, "set database"},
				{"16:34", `migration: service "my.svc" has no database to migrate`, "set database"},
				{"20:34", `migration: service "cmd" has no migrations directory`, "set migrations: DIR"},
			},
		},
		{
			name: "env placeholders",
			yaml: `
version: 1
name: env
environment:
  databases: {db: {engine: sqlite}}
  services:
    api:
      build: x
      env:
        PEER: ${services.web.url}
        DB: ${databases.db.url}
        BAD: ${services.wbe.url}
        NODB: ${databases.nodb.url}
        SEQ: id-${seq}
        TYPO: ${service.web.url}
        OPEN: ${services.web.url
      versions: {v1: {env: {X: "${uuid}"}}, v2: {}}
    web: {build: y, versions: {v1: {}}}
load: {target: api, rate: 1/s, requests: [{path: /}]}
rollout: {service: api, to: v2, steps: [{weight: 10%}]}
`,
			wants: []want{
				{"11:14", `env BAD: ${services.wbe.url} names unknown service "wbe" (known: api, web)`, `did you mean "web"?`},
				{"12:15", `env NODB: ${databases.nodb.url} names unknown database "nodb" (known: db)`, ""},
				{"13:14", "env SEQ: unknown placeholder ${seq}", "valid in env: ${services.NAME.url}, ${databases.NAME.url}"},
				{"14:15", "env TYPO: unknown placeholder ${service.web.url}", "did you mean ${services.web.url}?"},
				{"15:15", "env OPEN: unterminated placeholder", ""},
				{"16:32", "env X: unknown placeholder ${uuid}", ""},
			},
		},
		{
			name: "request placeholders",
			yaml: `
version: 1
name: placeholders
environment:
  services:
    api: {build: x, versions: {v1: {}, v2: {}}}
load:
  target: api
  rate: 1/s
  requests:
    - path: /orders/${ledger.last}
      body: '{"n":${rand:5:1},"m":${rand:a:9},"id":"${uid}","s":${seq},"u":"${uuid}","r":${rand:-3:3}}'
      headers: {X-Peer: "${services.api.url}", X-Ok: "${seq}"}
rollout: {service: api, to: v2, steps: [{weight: 10%}]}
`,
			wants: []want{
				{"10:13", "path: ${ledger.last} needs a request with a ledger", "add ledger: {key: FIELD}"},
				{"11:13", "body: ${rand:5:1}: MIN 5 is greater than MAX 1", "${rand:1:5}"},
				{"11:13", "body: ${rand:a:9}: MIN and MAX must be whole numbers", ""},
				{"11:13", "body: unknown placeholder ${uid}", "did you mean ${uuid}? valid in requests: ${seq}, ${uuid}, ${rand:MIN:MAX}, ${ledger.last}"},
				{"12:25", "header X-Peer: unknown placeholder ${services.api.url}", "valid in requests"},
			},
		},
		{
			name: "fault schedule, duration, probability, duplicates",
			yaml: `
version: 1
name: faults
environment:
  services:
    api: {build: x, versions: {v1: {}, v2: {}}}
load: {target: api, rate: 1/s, requests: [{path: /}]}
rollout: {service: api, to: v2, steps: [{weight: 10%}, {weight: 20%}]}
faults:
  - {name: a, kind: test-noparams, target: api, at: {step: 3}}
  - {name: a, kind: test-noparams, target: api, at: {after: boot}}
  - {name: c, kind: test-noparams, target: api, at: {step: 1, after: rollout.start}}
  - {name: d, kind: test-noparams, target: api, at: {step: 1, delay: 5s}}
  - {name: e, kind: test-noparams, target: api, at: {}}
  - {name: f, kind: test-noparams, target: api, at: soon}
  - {name: g, kind: test-noparams, target: api, at: [1]}
  - {name: h, kind: test-noparams, target: api, probability: 1.5, duration: 1d}
  - {name: i, kind: test-noparams, target: api, probability: 101%}
`,
			wants: []want{
				{"9:60", "step: no step 3 (the rollout has 2)", "count from 1"},
				{"10:12", `duplicate fault name "a" (first at line 9)`, ""},
				{"10:61", `unknown event "boot" (known: rollout.start, step.start, decision.rollback, rollback.done)`, ""},
				{"11:63", "set only one of step or after (found step and after)", ""},
				{"12:63", "delay only applies with after", ""},
				{"13:53", "at: needs step or after", ""},
				{"14:53", `at: invalid duration "soon"`, ""},
				{"15:53", "at: expected a duration or a mapping, got a list", ""},
				{"16:62", "probability: 1.5 is outside [0, 1]", ""},
				{"16:77", `duration: invalid duration "1d"`, ""},
				{"17:62", "probability: 101% is outside [0, 1]", ""},
			},
		},
		{
			name: "params decode strictly, positioned at their keys",
			yaml: `
version: 1
name: params
environment:
  services:
    api: {build: x, versions: {v1: {}, v2: {}}}
load: {target: api, rate: 1/s, requests: [{path: /}]}
rollout: {service: api, to: v2, steps: [{weight: 10%}]}
faults:
  - name: a
    kind: test-params
    target: api
    params:
      dealy: 1s
      delay: 2x
      share: lots
      codes: [500, five]
      match: {path: /x, methd: GET}
      labels: {a: 1, b: two}
      verbose: maybe
      note: fine
      ignored: x
  - name: b
    kind: latency
    target: api
    params: {delay: 200ms, jitter: -1ms, distribution: poisson}
  - name: c
    kind: latency
    target: api
  - name: d
    kind: test-noparams
    target: api
    params: {x: 1}
  - name: e
    kind: test-params
    target: api
    params: {delay: 0s}
  - name: f
    kind: error
    target: api
    params: [500]
`,
			wants: []want{
				{"13:7", `unknown field "dealy" in faults[0].params`, `did you mean "delay"?`},
				{"14:14", `faults[0].params.delay: invalid duration "2x"`, ""},
				{"15:14", `faults[0].params.share: invalid percentage "lots"`, ""},
				{"16:20", `faults[0].params.codes[1]: expected an integer, got "five"`, ""},
				{"17:25", `unknown field "methd" in faults[0].params.match`, `did you mean "method"?`},
				{"18:25", `faults[0].params.labels.b: expected an integer, got "two"`, ""},
				{"19:16", `faults[0].params.verbose: expected true or false, got "maybe"`, ""},
				{"21:7", `unknown field "ignored" in faults[0].params`, "known fields: note, delay, share, codes, match, labels, verbose"},
				{"25:13", "latency params.jitter must not be negative", ""},
				{"25:13", `unknown latency distribution "poisson"`, ""},
				{"27:11", "latency needs params.delay > 0", ""},
				{"32:5", `fault kind "test-noparams" takes no params`, ""},
				{"36:13", "test-params needs params.delay > 0", ""},
				{"36:13", "second complaint", ""},
				{"40:13", "faults[5].params: expected a mapping, got a list", ""},
			},
		},
		{
			name: "verify and expect",
			yaml: `
version: 1
name: expect
environment:
  databases: {db: {engine: sqlite}}
  services:
    api: {build: x, database: db, versions: {v1: {}, v2: {}}}
load: {target: api, rate: 1/s, requests: [{path: /}]}
rollout: {service: api, to: v2, steps: [{weight: 10%}]}
verify:
  recovery: {window: 10s, within: 5s}
  data:
    ledger: {database: db, table: orders}
expect: {min_score: 101, detect_within: soon, recover_within: -1s}
`,
			wants: []want{
				{"10:35", "within: 5s is shorter than window 10s", ""},
				{"12:5", `missing required field "key" in verify.data.ledger`, ""},
				{"12:5", "verify.data.ledger: no load request has a ledger", ""},
				{"13:21", "min_score: 101 is outside 0..100", ""},
				{"13:41", `detect_within: invalid duration "soon"`, ""},
				{"13:63", "recover_within: duration -1s must not be negative", ""},
			},
		},
		{
			name: "analysis numbers",
			yaml: `
version: 1
name: analysis
environment:
  services:
    api: {build: x, versions: {v1: {}, v2: {}}}
load: {target: api, rate: 1/s, requests: [{path: /}]}
rollout:
  service: api
  to: v2
  steps: [{weight: 10%}]
  analysis:
    interval: 0s
    false_positive_rate: 0.01
    failures: 0
    min_samples: -1
    metrics: [{metric: latency_p99, max_ratio: 150%}]
`,
			wants: []want{
				{"12:15", "interval: must be positive", ""},
				{"13:26", `false_positive_rate: invalid percentage "0.01"`, "write it as a percentage"},
				{"14:15", "failures: must be at least 1, got 0", ""},
				{"15:18", "min_samples: must be at least 1, got -1", ""},
				{"16:48", `max_ratio: expected a number, got "150%"`, "1.5"},
			},
		},
		{
			name: "duplicate keys and a name shared by a service and a database",
			yaml: `
version: 1
name: dups
name: again
environment:
  databases: {api: {engine: sqlite}}
  services:
    api: {build: x, versions: {v1: {}, v2: {}}}
load: {target: api, rate: 1/s, requests: [{path: /}]}
rollout: {service: api, to: v2, steps: [{weight: 10%}]}
`,
			wants: []want{
				{"3:1", `duplicate key "name" (first at line 2)`, ""},
				{"7:5", `service "api" has the name of a database`, ""},
			},
		},
		{
			name:  "YAML syntax error",
			yaml:  "version: 1\nname: [x\nenvironment: {}\n",
			wants: []want{{"2:7", "invalid YAML: did not find expected ',' or ']'", "not closed"}},
		},
		{
			name:  "tab indentation",
			yaml:  "version: 1\nenvironment:\n\tservices: {}\n",
			wants: []want{{"3:1", "invalid YAML: found character that cannot start any token", "spaces, never tabs"}},
		},
		{
			name:  "empty file",
			yaml:  "",
			wants: []want{{"1:1", "empty scenario file", "version: 1"}},
		},
		{
			name:  "not a mapping",
			yaml:  "- version: 1\n",
			wants: []want{{"1:1", "the scenario: expected a mapping, got a list", ""}},
		},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		if seen[tt.name] {
			t.Fatalf("duplicate test name %q", tt.name)
		}
		seen[tt.name] = true
		t.Run(tt.name, func(t *testing.T) {
			y := src(tt.yaml)
			checkProblems(t, y, problemsOf(t, y), tt.wants)
		})
	}
	if len(tests) < 20 {
		t.Errorf("only %d malformed scenarios; keep at least 20", len(tests))
	}
}

// minimal is the smallest valid scenario; tests grow it with replace.
const minimal = `version: 1
name: minimal
environment:
  services:
    api:
      build: fixtures/api
      versions:
        v1: {}
        v2: {}
load:
  target: api
  rate: 10/s
  requests:
    - path: /
rollout:
  service: api
  to: v2
  steps:
    - {weight: 50%, hold: 1s}
`

// edit returns minimal with each old string replaced by the new one that
// follows it; it fails the test when one is missing, so edits cannot rot.
func edit(t *testing.T, pairs ...string) []byte {
	t.Helper()
	s := minimal
	for i := 0; i+1 < len(pairs); i += 2 {
		if !strings.Contains(s, pairs[i]) {
			t.Fatalf("edit: %q not in the minimal scenario", pairs[i])
		}
		s = strings.Replace(s, pairs[i], pairs[i+1], 1)
	}
	return []byte(s)
}

func mustParse(t *testing.T, data []byte) *Scenario {
	t.Helper()
	s, err := Parse("t.yaml", data)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return s
}

func TestDefaults(t *testing.T) {
	s := mustParse(t, edit(t,
		"versions:\n", "versions:\n",
		"load:", `    worker:
      command: [./worker, --fast]
      database: db
      versions: {w1: {}, w2: {}}
  databases:
    db: {engine: sqlite}
faults:
  - {name: f, kind: test-noparams, target: api}
load:`))

	if s.Path != "t.yaml" || s.Version != 1 || s.Name != "minimal" || s.Seed != 0 {
		t.Errorf("header: %+v", s)
	}
	if s.Environment.Provider != DefaultProvider {
		t.Errorf("provider %q, want process", s.Environment.Provider)
	}
	api, worker := s.Environment.Service("api"), s.Environment.Service("worker")
	if api.Health != "/healthz" || worker.Health != "/healthz" {
		t.Errorf("health %q, %q, want /healthz", api.Health, worker.Health)
	}
	if api.Baseline != "v1" || worker.Baseline != "w1" {
		t.Errorf("baseline %q, %q, want the first versions", api.Baseline, worker.Baseline)
	}
	if api.Migrations != "fixtures/api/migrations" {
		t.Errorf("migrations %q, want build + /migrations", api.Migrations)
	}
	if worker.Migrations != "" {
		t.Errorf("migrations %q for a command service, want none", worker.Migrations)
	}
	if got := worker.Command; !slices.Equal(got, []string{"./worker", "--fast"}) {
		t.Errorf("command %q", got)
	}
	l := s.Load
	if l.Timeout != 2*time.Second || l.Rate != (Rate{Freq: 10, Per: time.Second}) || l.Ramp != nil {
		t.Errorf("load %+v", l)
	}
	if r := l.Requests[0]; r.Method != "GET" || r.Weight != 1 || r.Ledger != nil || r.Name != "" {
		t.Errorf("request %+v", r)
	}
	ro := s.Rollout
	if ro.Strategy != StrategyCanary || ro.OnFailure != OnFailureRollback {
		t.Errorf("rollout strategy %q, on_failure %q", ro.Strategy, ro.OnFailure)
	}
	wantAnalysis := Analysis{Interval: time.Second, Judge: "sequential", FalsePositiveRate: 0.01,
		Failures: 2, MinSamples: 10, PassScore: 95, MarginalScore: 75, OnNoData: NoDataPause}
	if !reflect.DeepEqual(ro.Analysis, wantAnalysis) {
		t.Errorf("analysis\n got %+v\nwant %+v", ro.Analysis, wantAnalysis)
	}
	if f := s.Faults[0]; f.Probability != 1.0 || f.At != (Schedule{}) || f.Duration != 0 {
		t.Errorf("fault %+v", f)
	}
	if s.Verify.Recovery != nil || s.Verify.Data.Ledger != nil || s.Expect != (Expect{}) {
		t.Errorf("verify %+v, expect %+v: want nothing checked", s.Verify, s.Expect)
	}
	if s.SteadyState.Attempts != DefaultSteadyStateAttempts {
		t.Errorf("steady_state.attempts %d, want %d", s.SteadyState.Attempts, DefaultSteadyStateAttempts)
	}
}

func TestExplicitValuesOverrideDefaults(t *testing.T) {
	s := mustParse(t, edit(t,
		"      build: fixtures/api\n", "      build: fixtures/api\n      health: /ready\n      baseline: v2\n      migrations: db/m\n      database: db\n",
		"        v2: {}\n", "        v2: {}\n        v3: {}\n  databases: {db: {engine: sqlite}}\n",
		"  rate: 10/s\n", "  rate: 10/s\n  timeout: 500ms\n",
		"    - path: /\n", "    - {path: /, method: DELETE, weight: 7}\n",
		"  to: v2\n", "  to: v3\n  on_failure: abort\n  analysis: {interval: 2s, judge: threshold, false_positive_rate: 5%, failures: 4, min_samples: 100, on_no_data: fail}\n",
	))
	api := s.Environment.Service("api")
	if api.Health != "/ready" || api.Baseline != "v2" || api.Migrations != "db/m" || api.Database != "db" {
		t.Errorf("service %+v", api)
	}
	if s.Load.Timeout != 500*time.Millisecond {
		t.Errorf("timeout %v", s.Load.Timeout)
	}
	if r := s.Load.Requests[0]; r.Method != "DELETE" || r.Weight != 7 {
		t.Errorf("request %+v", r)
	}
	a := s.Rollout.Analysis
	if a.Interval != 2*time.Second || a.FalsePositiveRate != 0.05 || a.Failures != 4 || a.MinSamples != 100 || a.OnNoData != NoDataFail {
		t.Errorf("analysis %+v", a)
	}
	if s.Rollout.OnFailure != OnFailureAbort {
		t.Errorf("on_failure %q", s.Rollout.OnFailure)
	}
	if v := s.BaselineVersion("api"); v == nil || v.Name != "v2" {
		t.Errorf("BaselineVersion(api) = %+v, want v2", v)
	}
}

func TestDesignExample(t *testing.T) {
	t.Run("as written, it loads", func(t *testing.T) {
		path := filepath.Join("testdata", "design-example.yaml")
		s, err := Load(path)
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		if a := s.Rollout.Analysis; a.Judge != "sequential" || len(a.Metrics) != 3 || a.Metrics[2].Metric != "invariant:totals-match" {
			t.Errorf("analysis %+v", a)
		}
		if d := s.Verify.Data; d.Schema != SchemaBaseline || len(d.Invariants) != 1 || d.Invariants[0].Name != "totals-match" {
			t.Errorf("verify.data %+v", d)
		}
	})

	t.Run("adapted to what is supported, it loads", func(t *testing.T) {
		path := filepath.Join("testdata", "design-example-supported.yaml")
		s, err := Load(path)
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		at := func(line, col int) Pos { return Pos{File: path, Line: line, Col: col} }

		if s.Path != path || s.Version != 1 || s.Name != "orders-canary-latency" || s.Seed != 42 ||
			s.Description != "orders v2 slows down when pricing is slow; roll back at 10%." ||
			!slices.Equal(s.Tags, []string{"canary", "latency", "nightly"}) {
			t.Errorf("header %q %d %q %d %q %q", s.Path, s.Version, s.Name, s.Seed, s.Description, s.Tags)
		}

		env := s.Environment
		if env.Provider != "process" || len(env.Databases) != 1 || len(env.Services) != 2 {
			t.Fatalf("environment %+v", env)
		}
		if db := env.Databases[0]; *db != (Database{Name: "ordersdb", Engine: "sqlite", Pos: at(10, 5)}) {
			t.Errorf("database %+v", db)
		}
		pricing, orders := env.Services[0], env.Services[1]
		if pricing.Name != "pricing" || pricing.Language != "rust" || pricing.Build != "fixtures/pricing" ||
			pricing.Health != "/healthz" || pricing.Baseline != "v1" || pricing.Database != "" ||
			pricing.Migrations != "fixtures/pricing/migrations" || pricing.Pos != at(14, 5) {
			t.Errorf("pricing %+v", pricing)
		}
		if v2 := pricing.Version("v2"); v2 == nil || v2.Env["PRICING_DEFECT"] != "wrong-total=2%" || v2.Pos != at(20, 9) {
			t.Errorf("pricing v2 %+v", v2)
		}
		wantEnv := map[string]string{"PRICING_URL": "${services.pricing.url}", "DATABASE_URL": "${databases.ordersdb.url}"}
		if orders.Name != "orders" || orders.Language != "go" || orders.Database != "ordersdb" || orders.Baseline != "v1" ||
			!reflect.DeepEqual(orders.Env, wantEnv) {
			t.Errorf("orders %+v", orders)
		}
		if v := orders.Versions; len(v) != 2 || v[0].Migration != 1 || v[1].Migration != 2 || v[1].Env["ORDERS_DEFECT"] != "latency=300ms" {
			t.Errorf("orders versions %+v %+v", v[0], v[1])
		}

		l := s.Load
		if l.Target != "orders" || l.Rate.PerSecond() != 200 || l.Timeout != 2*time.Second || len(l.Requests) != 2 || l.Pos != at(34, 1) {
			t.Errorf("load %+v", l)
		}
		create, get := l.Requests[0], l.Requests[1]
		if create.Name != "create-order" || create.Method != "POST" || create.Path != "/orders" || create.Weight != 3 ||
			create.Ledger == nil || create.Ledger.Key != "client_ref" || create.Pos != at(39, 7) ||
			create.Body != `{"sku":"SKU-${seq}","qty":${rand:1:5},"client_ref":"${uuid}"}` {
			t.Errorf("create-order %+v", create)
		}
		if get.Name != "get-order" || get.Method != "GET" || get.Path != "/orders/${ledger.last}" || get.Weight != 1 || get.Ledger != nil {
			t.Errorf("get-order %+v", get)
		}

		ss := s.SteadyState
		if ss.Duration != 10*time.Second || len(ss.SLO) != 2 ||
			*ss.SLO[0] != (SLO{Metric: "error_rate", Max: Value{V: 0.01, Raw: "1%"}, Pos: at(53, 7)}) ||
			*ss.SLO[1] != (SLO{Metric: "latency_p99", Max: Value{V: 0.25, Raw: "250ms"}, Pos: at(54, 7)}) {
			t.Errorf("steady state %+v %+v", ss, ss.SLO)
		}

		r := s.Rollout
		if r.Service != "orders" || r.To != "v2" || r.Strategy != "canary" || r.OnFailure != "rollback" {
			t.Errorf("rollout %+v", r)
		}
		wantSteps := []Step{
			{Weight: 0.10, Hold: 15 * time.Second, Pos: at(61, 7)},
			{Weight: 0.50, Hold: 15 * time.Second, Pos: at(62, 7)},
			{Approval: "manual", Timeout: DefaultGateTimeout, OnTimeout: OnTimeoutReject, Pos: at(63, 7)},
			{Weight: 1, Hold: 10 * time.Second, Pos: at(64, 7)},
		}
		for i, st := range r.Steps {
			if *st != wantSteps[i] {
				t.Errorf("step %d: %+v, want %+v", i+1, *st, wantSteps[i])
			}
		}
		if !r.Steps[2].IsApproval() || r.Steps[0].IsApproval() {
			t.Errorf("IsApproval wrong")
		}
		a := r.Analysis
		if a.Interval != time.Second || a.Judge != "threshold" || a.FalsePositiveRate != 0.01 || a.OnNoData != "pause" || len(a.Metrics) != 2 {
			t.Errorf("analysis %+v", a)
		}
		if c := a.Metrics[0]; c.Metric != "error_rate" || c.Max != nil || c.MaxRatio != nil || *c.MaxIncrease != (Value{V: 0.005, Raw: "0.5%"}) {
			t.Errorf("check 1 %+v", c)
		}
		if c := a.Metrics[1]; c.Metric != "latency_p99" || c.Max != nil || c.MaxIncrease != nil || *c.MaxRatio != (Value{V: 1.5, Raw: "1.5"}) {
			t.Errorf("check 2 %+v", c)
		}

		if len(s.Faults) != 1 {
			t.Fatalf("faults %+v", s.Faults)
		}
		f := s.Faults[0]
		wantParams := injectors.LatencyParams{Delay: injectors.Duration(200 * time.Millisecond), Jitter: injectors.Duration(50 * time.Millisecond), Distribution: "uniform"}
		if f.Name != "slow-pricing" || f.Kind != "latency" || f.Target != "pricing" || f.At != (Schedule{Offset: 20 * time.Second}) ||
			f.Duration != 20*time.Second || f.Probability != 1 || f.Params != wantParams || f.Pos != at(77, 5) {
			t.Errorf("fault %+v", f)
		}

		if rec := s.Verify.Recovery; rec == nil || rec.Window != 10*time.Second || rec.Within != 30*time.Second {
			t.Errorf("recovery %+v", rec)
		}
		wantLedger := Ledger{Database: "ordersdb", Table: "orders", Key: "client_ref", Columns: []string{"sku", "qty"}, Pos: at(88, 5)}
		if !reflect.DeepEqual(s.Verify.Data.Ledger, &wantLedger) || s.Verify.Data.Schema != "" || s.Verify.Data.Invariants != nil {
			t.Errorf("data %+v, ledger %+v", s.Verify.Data, s.Verify.Data.Ledger)
		}
		wantExpect := Expect{Outcome: "rolled_back", DetectWithin: 10 * time.Second, RecoverWithin: 30 * time.Second, MinScore: 80}
		if s.Expect != wantExpect {
			t.Errorf("expect %+v", s.Expect)
		}

		if s.CanaryService() != orders || s.CanaryVersion() != orders.Versions[1] || s.BaselineVersion("orders") != orders.Versions[0] {
			t.Errorf("canary helpers wrong")
		}
	})
}

// TestNotSupportedYet lists every refusal of a planned feature, so that
// none is silently dropped.
func TestNotSupportedYet(t *testing.T) {
	tests := []struct {
		name  string
		edits []string
		msg   string
	}{
		{"cpu in SLO", []string{"rollout:\n", "steady_state: {duration: 1s, slo: [{metric: cpu, max: 50%}]}\nrollout:\n"},
			`metric "cpu" is not supported yet in steady_state.slo`},
		{"rss in SLO", []string{"rollout:\n", "steady_state: {duration: 1s, slo: [{metric: rss, max: 1GiB}]}\nrollout:\n"},
			`metric "rss" is not supported yet in steady_state.slo`},
	}
	for _, kind := range injectors.Planned {
		tests = append(tests, struct {
			name  string
			edits []string
			msg   string
		}{"fault kind " + kind, []string{"rollout:\n", "faults: [{name: f, kind: " + kind + ", target: api}]\nrollout:\n"},
			fmt.Sprintf("fault kind %q is not supported yet (supported: ", kind)})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps := problemsOf(t, edit(t, tt.edits...))
			if len(ps) != 1 || !strings.Contains(ps[0].Msg, tt.msg) {
				t.Errorf("got %v\nwant one problem: %s", ps, tt.msg)
			}
		})
	}
}

// TestProviderDocker: `provider: docker` loads, SQLite included (the
// docker provider shares the run's TempDir with its containers).
func TestProviderDocker(t *testing.T) {
	src := edit(t, "environment:\n", "environment:\n  provider: docker\n  databases: {db: {engine: sqlite}}\n")
	s := mustParse(t, src)
	if s.Environment.Provider != "docker" || s.Environment.Database("db") == nil {
		t.Errorf("provider %q, databases %v", s.Environment.Provider, s.Environment.Databases)
	}
	// Which names are providers is the registry's to say: the file loads,
	// and the check against the registered providers points at the name.
	src = edit(t, "environment:\n", "environment:\n  provider: dockr\n")
	sc := mustParse(t, src)
	var ps Problems
	if err := sc.ProviderProblems(sc.Environment.Provider, shippedProviders); !errors.As(err, &ps) {
		t.Fatalf("provider dockr: %v", err)
	}
	checkProblems(t, src, ps, []want{{"4:13", `unknown provider "dockr" (known: docker, process)`, `did you mean "docker"`}})
}

func TestUnitConversions(t *testing.T) {
	tests := []struct {
		unit Unit
		in   string
		want float64
	}{
		{UnitFraction, "1%", 0.01},
		{UnitFraction, "0.5%", 0.005},
		{UnitFraction, ".5%", 0.005},
		{UnitFraction, "100%", 1},
		{UnitFraction, "0%", 0},
		{UnitFraction, "250%", 2.5}, // cpu: 2.5 cores
		{UnitSeconds, "250ms", 0.25},
		{UnitSeconds, "1m30s", 90},
		{UnitSeconds, "1.5s", 1.5},
		{UnitSeconds, "100us", 0.0001},
		{UnitSeconds, "0", 0},
		{UnitPerSecond, "100/s", 100},
		{UnitPerSecond, "120/m", 2},
		{UnitPerSecond, "30/m", 0.5},
		{UnitPerSecond, "0.5/s", 0.5},
		{UnitBytes, "1024", 1024},
		{UnitBytes, "512MB", 512e6},
		{UnitBytes, "200MiB", 200 << 20},
		{UnitBytes, "1.5KiB", 1536},
		{UnitBytes, "1kB", 1000},
		{UnitBytes, "2GiB", 2 << 30},
		{UnitBytes, "1TB", 1e12},
		{UnitBytes, "1TiB", 1 << 40},
		{UnitBytes, "64 B", 64},
		{UnitBytes, "3mib", 3 << 20},
		{UnitNumber, "0", 0},
		{UnitNumber, "3", 3},
		{UnitNumber, "2.5", 2.5},
		{UnitNumber, "-1", -1},
	}
	for _, tt := range tests {
		got, err := parseThreshold(tt.unit, tt.in)
		if err != nil || math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("parseThreshold(%d, %q) = %v, %v; want %v", tt.unit, tt.in, got, err, tt.want)
		}
	}

	bad := []struct {
		unit Unit
		in   string
	}{
		{UnitFraction, "0.01"}, {UnitFraction, "1"}, {UnitFraction, "%"}, {UnitFraction, "-1%"}, {UnitFraction, "1 %"},
		{UnitSeconds, "250"}, {UnitSeconds, "1%"}, {UnitSeconds, "1d"},
		{UnitPerSecond, "100"}, {UnitPerSecond, "1/h"}, {UnitPerSecond, "/s"},
		{UnitBytes, "200XB"}, {UnitBytes, "MiB"}, {UnitBytes, "-5MB"},
		{UnitNumber, "abc"}, {UnitNumber, "1%"}, {UnitNumber, "NaN"}, {UnitNumber, "Inf"},
	}
	for _, tt := range bad {
		if got, err := parseThreshold(tt.unit, tt.in); err == nil {
			t.Errorf("parseThreshold(%d, %q) = %v, want an error", tt.unit, tt.in, got)
		}
	}

	for metric, want := range map[string]Unit{
		MetricErrorRate: UnitFraction, MetricCPU: UnitFraction,
		MetricLatencyP50: UnitSeconds, MetricLatencyP90: UnitSeconds, MetricLatencyP95: UnitSeconds, MetricLatencyP99: UnitSeconds,
		MetricThroughput: UnitPerSecond, MetricRSS: UnitBytes, "invariant:totals-match": UnitNumber,
	} {
		if got := MetricUnit(metric); got != want {
			t.Errorf("MetricUnit(%q) = %d, want %d", metric, got, want)
		}
	}
}

func TestParseRatePercentDuration(t *testing.T) {
	for in, want := range map[string]Rate{
		"200/s": {200, time.Second}, "30/m": {30, time.Minute}, "0/s": {0, time.Second},
	} {
		if got, err := parseRate(in); err != nil || got != want {
			t.Errorf("parseRate(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"200", "1.5/s", "200/h", "-1/s", "200 /s", "/s"} {
		if _, err := parseRate(in); err == nil {
			t.Errorf("parseRate(%q) succeeded", in)
		}
	}
	if r := (Rate{Freq: 30, Per: time.Minute}); r.PerSecond() != 0.5 || r.String() != "30/m" {
		t.Errorf("Rate 30/m: %v per second, %q", r.PerSecond(), r.String())
	}
	for in, want := range map[string]float64{"10%": 0.10, "0.5%": 0.005, "100%": 1, "50%": 0.5} {
		if got, err := parsePercent(in); err != nil || got != want {
			t.Errorf("parsePercent(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for in, want := range map[string]time.Duration{"250ms": 250 * time.Millisecond, "1m30s": 90 * time.Second, "0": 0} {
		if got, err := parseDuration(in); err != nil || got != want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := parseDuration("-1s"); err == nil {
		t.Errorf("parseDuration(-1s) succeeded")
	}
}

// TestLoaderConverts checks that thresholds, weights, rates and
// probabilities written in the scenario arrive converted.
func TestLoaderConverts(t *testing.T) {
	s := mustParse(t, edit(t,
		"  rate: 10/s\n", "  ramp: {from: 30/m, to: 400/s, over: 1m30s}\n",
		"    - {weight: 50%, hold: 1s}\n", `    - {weight: 0.5%, hold: 1m30s}
    - {weight: 10%, hold: 500ms}
  analysis:
    false_positive_rate: 0.5%
    metrics:
      - {metric: error_rate, max: 2%, max_increase: 0.5%}
      - {metric: latency_p90, max: 1.5s, max_increase: 50ms, max_ratio: 2}
      - {metric: latency_p50, max: 250ms}
      - {metric: latency_p95, max: 1m}
      - {metric: throughput, max_increase: 120/m, max_ratio: 0.75}
steady_state:
  duration: 1m
  slo:
    - {metric: throughput, max: 2000/s}
    - {metric: latency_p99, max: 250ms}
faults:
  - {name: a, kind: error, target: api.v2, probability: 50%, params: {status: 503, rate: 5%}}
  - {name: b, kind: error, target: api, probability: 0.25, duration: 1m}
  - {name: c, kind: error, target: api, probability: 0}
`))
	if r := s.Load.Ramp; r == nil || r.From != (Rate{30, time.Minute}) || r.To != (Rate{400, time.Second}) || r.Over != 90*time.Second || s.Load.Rate != (Rate{}) {
		t.Errorf("ramp %+v, rate %+v", r, s.Load.Rate)
	}
	if st := s.Rollout.Steps; st[0].Weight != 0.005 || st[0].Hold != 90*time.Second || st[1].Weight != 0.1 || st[1].Hold != 500*time.Millisecond {
		t.Errorf("steps %+v %+v", st[0], st[1])
	}
	if fpr := s.Rollout.Analysis.FalsePositiveRate; fpr != 0.005 {
		t.Errorf("false_positive_rate %v", fpr)
	}
	v := func(p *Value) float64 {
		if p == nil {
			return math.NaN()
		}
		return p.V
	}
	m := s.Rollout.Analysis.Metrics
	checks := []struct {
		name      string
		got, want float64
	}{
		{"error_rate max", v(m[0].Max), 0.02},
		{"error_rate max_increase", v(m[0].MaxIncrease), 0.005},
		{"latency_p90 max", v(m[1].Max), 1.5},
		{"latency_p90 max_increase", v(m[1].MaxIncrease), 0.05},
		{"latency_p90 max_ratio", v(m[1].MaxRatio), 2},
		{"latency_p50 max", v(m[2].Max), 0.25},
		{"latency_p95 max", v(m[3].Max), 60},
		{"throughput max_increase", v(m[4].MaxIncrease), 2},
		{"throughput max_ratio", v(m[4].MaxRatio), 0.75},
		{"slo throughput", s.SteadyState.SLO[0].Max.V, 2000},
		{"slo latency_p99", s.SteadyState.SLO[1].Max.V, 0.25},
		{"probability 50%", s.Faults[0].Probability, 0.5},
		{"probability 0.25", s.Faults[1].Probability, 0.25},
		{"probability 0", s.Faults[2].Probability, 0},
		{"error params rate", float64(s.Faults[0].Params.(injectors.ErrorParams).Rate), 0.05},
	}
	for _, c := range checks {
		if math.Abs(c.got-c.want) > 1e-12 || math.IsNaN(c.got) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if raw := m[1].MaxIncrease.Raw; raw != "50ms" {
		t.Errorf("Raw %q, want the text as written", raw)
	}
	if p := s.Faults[0].Params.(injectors.ErrorParams); p.Status != 503 {
		t.Errorf("error params %+v", p)
	}
	if s.Faults[1].Duration != time.Minute {
		t.Errorf("duration %v", s.Faults[1].Duration)
	}
}

func TestSchedules(t *testing.T) {
	s := mustParse(t, edit(t, "rollout:\n", `faults:
  - {name: a, kind: test-noparams, target: api, at: 20s}
  - {name: b, kind: test-noparams, target: api, at: {step: 2}}
  - {name: c, kind: test-noparams, target: api, at: {after: rollout.start, delay: 5s}}
  - {name: d, kind: test-noparams, target: api, at: {after: decision.rollback}}
rollout:
`, "    - {weight: 50%, hold: 1s}\n", "    - {weight: 50%, hold: 1s}\n    - {approval: manual}\n"))
	want := []Schedule{
		{Offset: 20 * time.Second},
		{Step: 2},
		{After: "rollout.start", Delay: 5 * time.Second},
		{After: "decision.rollback"},
	}
	for i, f := range s.Faults {
		if f.At != want[i] {
			t.Errorf("fault %s: at %+v, want %+v", f.Name, f.At, want[i])
		}
	}
	for _, ev := range AfterEvents {
		mustParse(t, edit(t, "rollout:\n", "faults: [{name: a, kind: test-noparams, target: api, at: {after: "+ev+"}}]\nrollout:\n"))
	}
}

func TestParamsReachTheKind(t *testing.T) {
	s := mustParse(t, edit(t, "rollout:\n", `faults:
  - name: a
    kind: test-params
    target: api
    params:
      note: inline
      delay: 1s
      share: 25%
      codes: [500, 503]
      match: {path: /x, method: POST}
      labels: {a: 1}
      verbose: true
  - {name: b, kind: test-params, target: api}
  - {name: c, kind: test-params, target: api, params: {}}
rollout:
`))
	want := testParams{
		testCommon: testCommon{Note: "inline"},
		Delay:      injectors.Duration(time.Second),
		Share:      0.25,
		Codes:      []int{500, 503},
		Match:      &testMatch{Path: "/x", Method: "POST"},
		Labels:     map[string]int{"a": 1},
		Verbose:    true,
	}
	if got := s.Faults[0].Params; !reflect.DeepEqual(got, want) {
		t.Errorf("params\n got %+v\nwant %+v", got, want)
	}
	// Absent or empty params leave the kind's defaults in place.
	for _, f := range s.Faults[1:] {
		if got := f.Params.(testParams); got.Delay != injectors.Duration(5*time.Millisecond) {
			t.Errorf("fault %s: delay %v, want the kind's default", f.Name, got.Delay)
		}
	}
}

func TestDecodeStrict(t *testing.T) {
	type inner struct {
		N int `yaml:"n"`
	}
	type params struct {
		Name  string           `yaml:"name,omitempty"`
		Inner inner            `yaml:"inner"`
		Rest  map[string]int   `yaml:",inline"`
		Any   any              `yaml:"any"`
		List  []inner          `yaml:"list"`
		Ptr   *inner           `yaml:"ptr"`
		Bytes []byte           `yaml:"bytes"`
		Deep  map[string]inner `yaml:"deep"`
	}
	node := func(s string) *yamlNode {
		t.Helper()
		return parseNode(t, s)
	}
	var p params
	if ps := decodeStrict("p.yaml", node("{name: a, inner: {n: 1}, extra: 2, any: [x, {y: 1}], list: [{n: 2}], ptr: {n: 3}, deep: {k: {n: 4}}}"), "params", &p); ps != nil {
		t.Fatalf("decodeStrict: %v", ps)
	}
	if p.Name != "a" || p.Inner.N != 1 || p.Rest["extra"] != 2 || p.List[0].N != 2 || p.Ptr.N != 3 || p.Deep["k"].N != 4 || p.Any == nil {
		t.Errorf("decoded %+v", p)
	}

	ps := decodeStrict("p.yaml", node("{inner: {m: 1}, list: [{n: x}], deep: {k: {nn: 1}}, extra: no}"), "params", &p)
	var msgs []string
	for _, pr := range ps {
		msgs = append(msgs, fmt.Sprintf("%d:%d %s", pr.Pos.Line, pr.Pos.Col, pr.Msg))
	}
	want := []string{
		`1:10 unknown field "m" in params.inner`,
		`1:28 params.list[0].n: expected an integer, got "x"`,
		`1:44 unknown field "nn" in params.deep.k`,
		`1:60 params.extra: expected an integer, got "no"`,
	}
	if !slices.Equal(msgs, want) {
		t.Errorf("problems\n got %q\nwant %q", msgs, want)
	}

	if ps := decodeStrict("p.yaml", nil, "params", &p); ps != nil {
		t.Errorf("nil node: %v", ps)
	}
	if ps := decodeStrict("p.yaml", node("{}"), "params", p); len(ps) != 1 || !strings.Contains(ps[0].Msg, "not a non-nil pointer") {
		t.Errorf("non-pointer: %v", ps)
	}
}

func TestAnchorsAndExtensionKeys(t *testing.T) {
	s := mustParse(t, edit(t,
		"version: 1\n", "version: 1\nx-step: &step {weight: 10%, hold: 5s}\nx-env: &env {A: \"1\", B: \"2\"}\n",
		"      build: fixtures/api\n", "      build: fixtures/api\n      env: {<<: *env, B: \"3\"}\n",
		"    - {weight: 50%, hold: 1s}\n", "    - *step\n    - {<<: *step, weight: 50%}\n"))
	if st := s.Rollout.Steps; len(st) != 2 || st[0].Weight != 0.1 || st[1].Weight != 0.5 || st[1].Hold != 5*time.Second {
		t.Errorf("steps %+v %+v", st[0], st[1])
	}
	if env := s.Environment.Service("api").Env; env["A"] != "1" || env["B"] != "3" {
		t.Errorf("env %v", env)
	}
	// Only the top level takes x- keys.
	ps := problemsOf(t, edit(t, "  target: api\n", "  target: api\n  x-note: hi\n"))
	checkProblems(t, nil, ps, []want{{"12:3", `unknown field "x-note" in load`, ""}})

	// A list of merged mappings (earlier ones win), bad merges, and an
	// anchor that includes itself, which must not hang the walk.
	y := src(`
version: 1
name: merge
x-a: &a {weight: 10%}
x-b: &b {hold: 2s, weight: 20%}
x-self: &self {hold: 1s, <<: *self}
environment:
  services:
    api: {build: x, versions: {v1: {}, v2: {}}}
load: {target: api, rate: 1/s, requests: [{path: /}]}
rollout:
  service: api
  to: v2
  steps:
    - {<<: [*a, *b]}
    - {<<: 5}
    - {<<: [5], weight: 30%}
    - *self
`)
	checkProblems(t, y, problemsOf(t, y), []want{
		{"5:9", "a step needs a weight or an approval", ""},
		{"5:26", "<< merges a mapping that includes this merge (line 5)", "cannot merge itself"},
		{"15:7", "a step needs a weight or an approval", ""},
		{"15:12", "<< merges mappings, got 5", ""},
		{"16:13", "<< merges mappings, got 5", ""},
	})
	merged := mustParse(t, []byte(strings.Replace(string(y), "    - {<<: 5}\n    - {<<: [5], weight: 30%}\n    - *self\n", "", 1)))
	if st := merged.Rollout.Steps[0]; st.Weight != 0.1 || st.Hold != 2*time.Second {
		t.Errorf("merged step %+v, want weight 10%% from *a and hold 2s from *b", st)
	}
}

func TestManyProblemsSortedByPosition(t *testing.T) {
	// Sections are walked in dependency order (environment first); the
	// report must still follow the file.
	y := src(`
faults: [{name: f, kind: nope, target: api}]
rollout: {service: api, to: v9, steps: [{weight: 10%}]}
load: {target: api, rate: 1/x, requests: [{path: /}]}
environment:
  services:
    api: {build: x, versions: {v1: {}, v2: {}}, healthz: /}
version: 1
name: sorted
`)
	ps := problemsOf(t, y)
	checkProblems(t, y, ps, []want{
		{"1:26", `unknown fault kind "nope"`, ""},
		{"2:29", `to: unknown version "v9"`, ""},
		{"3:27", `rate: invalid rate "1/x"`, ""},
		{"6:49", `unknown field "healthz" in environment.services.api`, `did you mean "health"?`},
	})
	if !slices.IsSortedFunc(ps, func(a, b Problem) int { return a.Pos.Line*1000 + a.Pos.Col - b.Pos.Line*1000 - b.Pos.Col }) {
		t.Errorf("not sorted: %v", ps)
	}
}

func TestProblemFormat(t *testing.T) {
	p := Problem{Pos: Pos{File: "a.yaml", Line: 3, Col: 7}, Msg: `unknown fault kind "latncy" (known: error, latency)`, Hint: `did you mean "latency"?`}
	want := "a.yaml:3:7: unknown fault kind \"latncy\" (known: error, latency)\n    hint: did you mean \"latency\"?"
	if p.Error() != want {
		t.Errorf("Problem.Error()\n got %q\nwant %q", p.Error(), want)
	}
	q := Problem{Pos: Pos{File: "a.yaml", Line: 9, Col: 1}, Msg: "no hint"}
	if q.Error() != "a.yaml:9:1: no hint" {
		t.Errorf("Problem.Error() = %q", q.Error())
	}
	var err error = Problems{p, q}
	if err.Error() != want+"\na.yaml:9:1: no hint" {
		t.Errorf("Problems.Error() = %q", err.Error())
	}
}

func TestLoad(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "missing.yaml"))
	var ps Problems
	if !errors.Is(err, fs.ErrNotExist) || errors.As(err, &ps) {
		t.Errorf("Load(missing) = %v, want a not-exist error that is not Problems", err)
	}
	path := filepath.Join(t.TempDir(), "s.yaml")
	if err := os.WriteFile(path, []byte(minimal), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Load(path)
	if err != nil || s.Path != path || s.Rollout.Steps[0].Pos != (Pos{File: path, Line: 19, Col: 7}) {
		t.Errorf("Load = %+v, %v", s, err)
	}
}

func TestPlaceholders(t *testing.T) {
	exprs := func(s string) []string {
		var out []string
		for _, seg := range Segments(s) {
			if seg.Placeholder() {
				out = append(out, seg.Expr)
			}
		}
		return out
	}
	got := exprs(`{"sku":"SKU-${seq}","qty":${rand:1:5},"id":"${uuid}"} ${ledger.last} $notone ${open`)
	if want := []string{"seq", "rand:1:5", "uuid", "ledger.last"}; !slices.Equal(got, want) {
		t.Errorf("placeholders = %q, want %q", got, want)
	}
	if got := exprs("plain"); got != nil {
		t.Errorf("placeholders(plain) = %q", got)
	}
}

func TestClosest(t *testing.T) {
	known := []string{"latency", "error", "kill", "on_failure", "hold", "weight"}
	for word, want := range map[string]string{
		"latncy": "latency", "eror": "error", "On-Failure": "on_failure", "hodl": "hold",
		"wieght": "weight", "kil": "kill", "banana": "", "x": "",
	} {
		if got := closest(word, known); got != want {
			t.Errorf("closest(%q) = %q, want %q", word, got, want)
		}
	}
	for _, c := range []struct {
		a, b string
		d    int
	}{{"", "", 0}, {"abc", "abc", 0}, {"abc", "acb", 1}, {"kitten", "sitting", 3}, {"", "abc", 3}} {
		if got := editDistance(c.a, c.b); got != c.d {
			t.Errorf("editDistance(%q, %q) = %d, want %d", c.a, c.b, got, c.d)
		}
	}
}

func TestEffective(t *testing.T) {
	s := mustParse(t, edit(t,
		"      build: fixtures/api\n", "      build: fixtures/api\n      env: {A: \"1\", B: \"2\"}\n",
		"        v2: {}\n", "        v2: {command: [./v2], env: {B: \"3\"}}\n"))
	api := s.Environment.Service("api")
	v1, v2 := api.Effective("v1"), api.Effective("v2")
	if v1.Build != "fixtures/api" || v1.Command != nil || !reflect.DeepEqual(v1.Env, map[string]string{"A": "1", "B": "2"}) {
		t.Errorf("v1 %+v", v1)
	}
	if v2.Build != "" || !slices.Equal(v2.Command, []string{"./v2"}) || !reflect.DeepEqual(v2.Env, map[string]string{"A": "1", "B": "3"}) {
		t.Errorf("v2 %+v", v2)
	}
	v2.Env["A"] = "changed"
	v2.Command[0] = "changed"
	if api.Env["A"] != "1" || api.Version("v2").Command[0] != "./v2" {
		t.Errorf("Effective shares state with the scenario")
	}
	if api.Effective("v9") != nil || s.BaselineVersion("nope") != nil {
		t.Errorf("unknown names should give nil")
	}
}

// TestInstanceMetricsInAnalysis: cpu and rss are sampled per instance and
// accepted as analysis checks, converted to their canonical units.
func TestInstanceMetricsInAnalysis(t *testing.T) {
	s := mustParse(t, edit(t, "  to: v2\n",
		"  to: v2\n  analysis: {metrics: [{metric: cpu, max_ratio: 2}, {metric: rss, max: 200MiB}, {metric: cpu, max: 150%, max_increase: 20%}]}\n"))
	ms := s.Rollout.Analysis.Metrics
	if len(ms) != 3 {
		t.Fatalf("got %d checks, want 3", len(ms))
	}
	if ms[0].Metric != MetricCPU || ms[0].MaxRatio == nil || ms[0].MaxRatio.V != 2 || ms[0].Max != nil {
		t.Errorf("cpu check = %+v, want max_ratio 2", ms[0])
	}
	if ms[1].Metric != MetricRSS || ms[1].Max == nil || ms[1].Max.V != 200<<20 {
		t.Errorf("rss check = %+v, want max 200MiB = %d bytes", ms[1], 200<<20)
	}
	if ms[2].Max == nil || ms[2].Max.V != 1.5 || ms[2].MaxIncrease == nil || ms[2].MaxIncrease.V != 0.2 {
		t.Errorf("cpu check = %+v, want max 1.5 cores and max_increase 0.2", ms[2])
	}
}

// TestProviderProblems: an image needs the docker provider, a command the
// process provider; each problem points at the version that cannot run.
func TestProviderProblems(t *testing.T) {
	src := []byte(`version: 1
name: mixed
environment:
  services:
    api:
      build: fixtures/api
      versions:
        v1: {}
        v2: {image: example/api:2}
    tool:
      command: [./tool]
      versions: {t1: {}, t2: {build: fixtures/tool}}
load: {target: api, rate: 1/s, requests: [{path: /}]}
rollout: {service: api, to: v2, steps: [{weight: 10%}]}
`)
	sc := mustParse(t, src)
	tests := []struct {
		provider string
		wants    []want
	}{
		{"process", []want{{"9:9", `service "api" version "v2" runs image "example/api:2", which needs the docker provider`, "--provider docker"}}},
		{"docker", []want{{"12:18", `service "tool" version "t1" runs command "./tool", a local program the docker provider cannot put in a container`, "build: DIR"}}},
	}
	for _, tc := range tests {
		t.Run(tc.provider, func(t *testing.T) {
			var ps Problems
			if err := sc.ProviderProblems(tc.provider, shippedProviders); !errors.As(err, &ps) {
				t.Fatalf("ProviderProblems(%s) = %v, want Problems", tc.provider, err)
			}
			checkProblems(t, src, ps, tc.wants)
		})
	}
	if p := sc.Environment.Service("tool").Program(sc.Environment.Service("tool").Version("t2")); p.Build != "fixtures/tool" || p.Command != nil {
		t.Errorf("a version's build replaces the service's command: %+v", p)
	}
}

// shippedProviders are the capabilities harness/provider/process and
// harness/provider/docker register (cmd/drill checks the same through
// the registry), as data: this package cannot import them.
var shippedProviders = map[string]ProviderCaps{
	"process": {Build: true, Command: true},
	"docker":  {Build: true, Image: true, Isolated: true},
}
