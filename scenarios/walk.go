package scenarios

import (
	"errors"
	"fmt"
	"net/http"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/drillhq/drill/harness/judge"
	"github.com/drillhq/drill/harness/strategy"
	"github.com/drillhq/drill/injectors"
)

// Approval gates.
const ApprovalManual = "manual"

// SchemaBaseline asks that the schema after a rollback equal the schema
// before the rollout.
const SchemaBaseline = "baseline"

// AfterEvents are the events a fault can be scheduled after, with
// at: {after: EVENT, delay: D}.
var AfterEvents = []string{"rollout.start", "step.start", "decision.rollback", "rollback.done"}

// Defaults the loader fills in; the CLI may reuse them for flag help.
const (
	DefaultHealth            = "/healthz"
	DefaultTimeout           = 2 * time.Second
	DefaultMethod            = http.MethodGet
	DefaultWeight            = judge.DefaultWeight
	DefaultInterval          = time.Second
	DefaultJudge             = "threshold" // DESIGN.md: Flagger's style unless a scenario says otherwise
	DefaultFalsePositiveRate = judge.DefaultFalsePositiveRate
	DefaultFailures          = judge.DefaultFailures
	DefaultMinSamples        = judge.DefaultMinSamples
	DefaultPassScore         = judge.DefaultPassScore
	DefaultMarginalScore     = judge.DefaultMarginalScore
	DefaultOnNoData          = judge.DefaultOnNoData
	DefaultOnFailure         = OnFailureRollback
	DefaultProbability       = 1.0
	DefaultStrategy          = StrategyCanary
	DefaultProvider          = "process" // DESIGN.md: local processes unless a scenario says otherwise
)

// Supported and planned values of the enumerated fields. Planned values
// are refused as "not supported yet" rather than unknown.
var (
	supportedEngines = []string{EngineSQLite, EnginePostgres}
	// plannedStrategies are named in DESIGN.md v1.1 but not registered
	// yet (package harness/strategy): refused as "not supported yet".
	plannedStrategies = []string{StrategyBlueGreen}
	noDataPolicies    = []string{NoDataPause, NoDataFail, NoDataPass}
	failurePolicies   = []string{OnFailureRollback, OnFailureAbort, OnFailureContinue}
	outcomes          = []string{OutcomePromoted, OutcomeRolledBack, OutcomeAborted}
	languages         = []string{"go", "rust"}
	supportedMetrics  = []string{MetricErrorRate, MetricLatencyP50, MetricLatencyP90, MetricLatencyP95, MetricLatencyP99, MetricThroughput}
	// instanceMetrics are sampled per instance (harness/resources.go):
	// supported in analysis, where canary and baseline instances are
	// compared, but not yet in steady-state SLOs, which are checked on the
	// load's client-side view.
	instanceMetrics = []string{MetricCPU, MetricRSS}
	methods         = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions}
)

var (
	scenarioNameRE = regexp.MustCompile(`^[a-z0-9-]+$`)
	// Service and database names appear in placeholders and fault targets
	// between dots, so they cannot hold one.
	entityNameRE  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]*$`)
	versionNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
)

// topLevelFields are the sections of a scenario. Besides them, the
// document may hold keys starting with "x-" (as in Compose files): they
// exist to carry YAML anchors and are deliberately ignored.
var topLevelFields = []string{"version", "name", "description", "tags", "seed",
	"environment", "load", "steady_state", "rollout", "faults", "verify", "expect"}

// walk holds what later sections of the document need from earlier ones.
type walk struct {
	*parser
	env        *Environment
	haveLedger bool
	// invariantRefs are the invariant:NAME metrics of the analysis, checked
	// against verify.data.invariants once that section is read.
	invariantRefs []invariantRef
	ro            *Rollout // set once the rollout is read
	// loopbacks are the literal loopback addresses in env values: a
	// problem under the docker provider only (see parser.loopback).
	loopbacks []Problem
}

// invariantRef is one use of an invariant:NAME metric.
type invariantRef struct {
	name string
	n    *yaml.Node
}

// scenario walks the document's root mapping.
func (p *parser) scenario(root *yaml.Node) *Scenario {
	s := &Scenario{Path: p.file}
	o := p.object(nil, root, "", topLevelFields...)
	if !o.ok {
		return s
	}
	o.require("version", "name", "environment", "load", "rollout")
	var version int64
	if o.int64("version", &version) {
		s.Version = int(version)
		if version != 1 {
			p.add(o.get("version"), "this drill reads format version 1", "unsupported scenario version %d", version)
		}
	}
	if o.str("name", &s.Name) && !scenarioNameRE.MatchString(s.Name) {
		p.add(o.get("name"), "use lowercase letters, digits and dashes, e.g. orders-canary-latency",
			"name %q may only hold a-z, 0-9 and -", s.Name)
	}
	if o.str("description", &s.Description) {
		// A description may run over lines; nothing else unprintable.
		p.printable(o.get("description"), "description", s.Description, "\n\t")
	}
	if o.strList("tags", &s.Tags) {
		for i, n := range o.list("tags") {
			p.printable(n, "tag", s.Tags[i], "")
		}
	}
	o.int64("seed", &s.Seed)

	// Sections are walked in dependency order, not file order: everything
	// refers to the environment, faults refer to rollout steps.
	w := &walk{parser: p, env: &s.Environment}
	w.environment(o.child("environment", "provider", "databases", "services"))
	// Whether the loopbacks are problems depends on the provider a run
	// uses, which may be --provider's: ProviderProblems says.
	s.loopbacks = w.loopbacks
	s.Load = w.load(o.child("load", "target", "rate", "ramp", "timeout", "requests"))
	s.SteadyState = w.steadyState(o.child("steady_state", "duration", "warmup", "slo", "attempts"))
	s.Rollout = w.rollout(o.child("rollout", "service", "to", "strategy", "steps", "analysis", "on_failure"))
	w.ro = &s.Rollout
	s.Faults = w.faults(o, len(s.Rollout.Steps))
	s.Verify = w.verify(o.child("verify", "recovery", "data"))
	w.resolveInvariants(&s.Verify)
	s.Expect = w.expect(o.child("expect", "outcome", "detect_within", "recover_within", "min_score"))
	return s
}

// refService resolves a reference to a service, reporting an unknown one.
func (w *walk) refService(n *yaml.Node, field, name string) *Service {
	if s := w.env.Service(name); s != nil {
		return s
	}
	names := serviceNames(w.env)
	w.add(n, didYouMean(name, names), "%s: unknown service %q (known: %s)", field, name, orNone(names))
	return nil
}

// refDatabase resolves a reference to a database, reporting an unknown one.
func (w *walk) refDatabase(n *yaml.Node, field, name string) *Database {
	if d := w.env.Database(name); d != nil {
		return d
	}
	names := databaseNames(w.env)
	w.add(n, didYouMean(name, names), "%s: unknown database %q (known: %s)", field, name, orNone(names))
	return nil
}

// refVersion resolves a version of s, reporting an unknown one.
func (w *walk) refVersion(n *yaml.Node, field string, s *Service, name string) *Version {
	if v := s.Version(name); v != nil {
		return v
	}
	var names []string
	for _, v := range s.Versions {
		names = append(names, v.Name)
	}
	w.add(n, didYouMean(name, names), "%s: unknown version %q of service %q (known: %s)", field, name, s.Name, orNone(names))
	return nil
}

// orList renders "a, b or c".
func orList(xs []string) string {
	if len(xs) < 2 {
		return strings.Join(xs, "")
	}
	return strings.Join(xs[:len(xs)-1], ", ") + " or " + xs[len(xs)-1]
}

// notSupported refuses a field that is planned but not built yet.
func (w *walk) notSupported(o *object, k, hint, what string) {
	if o.has(k) {
		w.add(o.key(k), hint, "%s is not supported yet", what)
	}
}

// exclusive reports when more than one of keys is set and returns how
// many are.
func (w *walk) exclusive(o *object, keys ...string) int {
	var set []string
	for _, k := range keys {
		if o.has(k) {
			set = append(set, k)
		}
	}
	if len(set) > 1 {
		w.add(o.key(set[1]), "", "set only one of %s (found %s and %s)", orList(keys), set[0], set[1])
	}
	return len(set)
}

func (w *walk) environment(o *object) {
	e := w.env
	e.Provider = DefaultProvider
	o.require("services")
	// Which names are providers is the registry's to say (ProviderProblems).
	e.ProviderPos = w.pos(o.at)
	if o.str("provider", &e.Provider) {
		e.ProviderPos = w.pos(o.get("provider"))
	}
	for _, kv := range o.entries("databases") {
		e.Databases = append(e.Databases, w.database(kv, join(o.where, "databases")))
	}
	services := o.entries("services")
	if n := o.get("services"); n != nil && len(services) == 0 && (isNull(n) || n.Kind == yaml.MappingNode) {
		w.add(o.key("services"), "", "environment.services: at least one service is required")
	}
	// All services first, then the checks that need them all: an env
	// placeholder may name a service defined further down.
	var later []func()
	for _, kv := range services {
		s, check := w.service(kv, join(o.where, "services"))
		e.Services = append(e.Services, s)
		later = append(later, check)
	}
	for _, check := range later {
		check()
	}
}

func (w *walk) checkEntityName(k *yaml.Node, what string) {
	if !entityNameRE.MatchString(k.Value) {
		w.add(k, "use letters, digits, '-' and '_' (no dots: names appear in targets like svc.version)",
			"invalid %s name %q", what, k.Value)
	}
}

func (w *walk) database(e kv, where string) *Database {
	d := &Database{Name: e.k.Value, Pos: w.pos(e.k)}
	w.checkEntityName(e.k, "database")
	o := w.object(e.k, e.v, join(where, d.Name), "engine", "image")
	o.require("engine")
	if o.str("engine", &d.Engine) {
		w.choice(o.get("engine"), "engine", d.Engine, supportedEngines, nil)
	}
	if o.str("image", &d.Image) && d.Engine == EngineSQLite {
		w.add(o.key("image"), "leave image out: a SQLite database is a file the services share",
			"image: applies to a postgres database, not to %s", d.Engine)
	}
	return d
}

// service walks one service; the returned check validates what depends on
// the whole environment.
func (w *walk) service(e kv, where string) (*Service, func()) {
	s := &Service{Name: e.k.Value, Health: DefaultHealth, Pos: w.pos(e.k)}
	w.checkEntityName(e.k, "service")
	where = join(where, s.Name)
	o := w.object(e.k, e.v, where, "language", "build", "image", "command", "health",
		"database", "migrations", "env", "versions", "baseline")

	if o.str("language", &s.Language) && !slices.Contains(languages, s.Language) {
		w.add(o.get("language"), "language is informational: leave it out for services in other languages",
			"unknown language %q (known: go, rust)", s.Language)
	}
	o.str("build", &s.Build)
	o.str("image", &s.Image)
	o.command("command", &s.Command)
	if w.exclusive(o, "build", "image", "command") == 0 && o.present && o.ok {
		w.add(o.at, "e.g. build: fixtures/orders, or command: [./bin/orders, --flag]",
			"service %q needs one of build, image or command", s.Name)
	}
	if o.str("health", &s.Health) && !strings.HasPrefix(s.Health, "/") {
		w.add(o.get("health"), "", "health: %q must be a path starting with /", s.Health)
	}
	o.str("database", &s.Database)
	if o.str("migrations", &s.Migrations) && s.Database == "" {
		w.add(o.key("migrations"), "set database: NAME to say which database they apply to",
			"migrations: service %q has no database", s.Name)
	} else if !o.has("migrations") && s.Build != "" {
		s.Migrations = path.Join(s.Build, "migrations")
	}
	env := o.envMap("env", &s.Env, &s.SecretEnv)

	var versionEnvs []kv
	versions := o.entries("versions")
	if o.present && o.ok && len(versions) == 0 {
		w.add(o.at, "e.g. versions: {v1: {}, v2: {env: {DEFECT: latency=300ms}}}",
			"service %q needs at least one version", s.Name)
	}
	for _, kv := range versions {
		v, venv := w.version(kv, join(where, "versions"), s)
		s.Versions = append(s.Versions, v)
		versionEnvs = append(versionEnvs, venv...)
	}
	if len(s.Versions) > 0 {
		s.Baseline = s.Versions[0].Name
	}
	if o.str("baseline", &s.Baseline) && len(s.Versions) > 0 {
		w.refVersion(o.get("baseline"), "baseline", s, s.Baseline)
	}

	return s, func() {
		if s.Database != "" {
			w.refDatabase(o.get("database"), "database", s.Database)
		}
		for _, kv := range append(env, versionEnvs...) {
			w.checkEnvPlaceholders(kv.v, "env "+kv.k.Value, kv.v.Value, w.env)
			w.loopbacks = append(w.loopbacks, w.loopback(kv.v, "env "+kv.k.Value, kv.v.Value)...)
		}
		if w.env.Database(s.Name) != nil {
			w.add(e.k, "rename one of them", "service %q has the name of a database: fault targets would be ambiguous", s.Name)
		}
	}
}

func (w *walk) version(e kv, where string, s *Service) (*Version, []kv) {
	v := &Version{Name: e.k.Value, Pos: w.pos(e.k)}
	if !versionNameRE.MatchString(v.Name) {
		w.add(e.k, "use letters, digits, '.', '-' and '_'", "invalid version name %q", v.Name)
	}
	o := w.object(e.k, e.v, join(where, v.Name), "migration", "build", "image", "command", "env")
	var migration int64
	if o.int64("migration", &migration) {
		switch {
		case migration < 0:
			w.add(o.get("migration"), "", "migration: must not be negative, got %d", migration)
		case migration > 0 && s.Database == "":
			w.add(o.get("migration"), "set database: NAME on the service",
				"migration: service %q has no database to migrate", s.Name)
		case migration > 0 && s.Migrations == "":
			w.add(o.get("migration"), "set migrations: DIR on the service (the default, BUILD/migrations, needs build)",
				"migration: service %q has no migrations directory", s.Name)
		default:
			v.Migration = uint(migration)
		}
	}
	o.str("build", &v.Build)
	o.str("image", &v.Image)
	o.command("command", &v.Command)
	w.exclusive(o, "build", "image", "command")
	return v, o.envMap("env", &v.Env, &v.SecretEnv)
}

func (w *walk) load(o *object) LoadSpec {
	l := LoadSpec{Timeout: DefaultTimeout, Pos: w.pos(o.at)}
	o.require("target", "requests")
	if o.str("target", &l.Target) {
		w.refService(o.get("target"), "target", l.Target)
	}
	switch {
	case o.has("rate") && o.has("ramp"):
		w.add(o.key("ramp"), "", "set rate or ramp, not both")
	case !o.has("rate") && !o.has("ramp") && o.present && o.ok:
		w.add(o.at, "e.g. rate: 200/s, or ramp: {from: 50/s, to: 400/s, over: 30s}",
			"missing required field \"rate\" (or \"ramp\") in load")
	}
	if o.rate("rate", &l.Rate) && l.Rate.Freq <= 0 {
		w.add(o.get("rate"), "", "rate: must be positive, got %s", l.Rate)
	}
	if o.has("ramp") {
		l.Ramp = w.ramp(o.child("ramp", "from", "to", "over"))
	}
	if o.duration("timeout", &l.Timeout) && l.Timeout <= 0 {
		w.add(o.get("timeout"), "", "timeout: must be positive")
	}

	items := o.list("requests")
	if n := o.get("requests"); n != nil && len(items) == 0 && (isNull(n) || n.Kind == yaml.SequenceNode) {
		w.add(o.key("requests"), "", "load.requests: at least one request is required")
	}
	type text struct {
		n     *yaml.Node
		field string
	}
	var texts []text
	names := map[string]*yaml.Node{}
	for i, n := range items {
		r := &Request{Method: DefaultMethod, Weight: DefaultWeight, Pos: w.pos(n)}
		ro := w.object(nil, n, fmt.Sprintf("load.requests[%d]", i), "name", "method", "path", "body", "headers", "weight", "ledger")
		ro.require("path")
		if ro.str("name", &r.Name) && w.printable(ro.get("name"), "request name", r.Name, "") {
			if first, dup := names[r.Name]; dup {
				w.add(ro.get("name"), "", "duplicate request name %q (first at line %d)", r.Name, first.Line)
			} else {
				names[r.Name] = ro.get("name")
			}
		}
		if ro.str("method", &r.Method) && !slices.Contains(methods, r.Method) {
			w.add(ro.get("method"), didYouMean(r.Method, methods), "unknown method %q (known: %s)", r.Method, strings.Join(methods, ", "))
		}
		if ro.str("path", &r.Path) {
			if !strings.HasPrefix(r.Path, "/") {
				w.add(ro.get("path"), "the load goes to the target's router; give only the path, e.g. /orders",
					"path: %q must start with /", r.Path)
			}
			texts = append(texts, text{ro.get("path"), "path"})
		}
		if n := ro.get("body"); n != nil && n.Kind == yaml.MappingNode {
			w.add(n, "quote the body as a string: body: '{\"sku\":\"SKU-${seq}\"}'", "body: expected a string, got a mapping")
		} else if ro.str("body", &r.Body) {
			texts = append(texts, text{ro.get("body"), "body"})
		}
		for _, h := range ro.strMap("headers", &r.Headers) {
			texts = append(texts, text{h.v, "header " + h.k.Value})
		}
		if ro.int("weight", &r.Weight) && r.Weight < 1 {
			w.add(ro.get("weight"), "weights are relative shares of the load mix, e.g. 3 and 1",
				"weight: must be at least 1, got %d", r.Weight)
		}
		if ro.has("ledger") {
			lo := ro.child("ledger", "key")
			lo.require("key")
			r.Ledger = &LedgerKey{}
			lo.str("key", &r.Ledger.Key)
			w.haveLedger = true
		}
		l.Requests = append(l.Requests, r)
	}
	for _, t := range texts {
		w.checkRequestPlaceholders(t.n, t.field, t.n.Value, w.haveLedger)
	}
	return l
}

func (w *walk) ramp(o *object) *Ramp {
	r := &Ramp{}
	o.require("from", "to", "over")
	o.rate("from", &r.From)
	if o.rate("to", &r.To) && r.To.Freq <= 0 {
		w.add(o.get("to"), "", "to: must be positive, got %s", r.To)
	}
	if o.duration("over", &r.Over) && r.Over <= 0 {
		w.add(o.get("over"), "", "over: must be positive")
	}
	return r
}

func (w *walk) steadyState(o *object) SteadyState {
	ss := SteadyState{Pos: w.pos(o.at), Attempts: DefaultSteadyStateAttempts, Warmup: DefaultWarmup}
	o.require("duration")
	if o.duration("duration", &ss.Duration) && ss.Duration <= 0 {
		w.add(o.get("duration"), "", "duration: must be positive")
	}
	o.duration("warmup", &ss.Warmup) // 0s: none
	if o.int("attempts", &ss.Attempts) && ss.Attempts < 1 {
		w.add(o.get("attempts"), "1 measures the hypothesis once and gives up at the first miss", "attempts: must be at least 1, got %d", ss.Attempts)
	} else if ss.Attempts > MaxSteadyStateAttempts {
		// The run's length is attempts × duration: bounded, it cannot
		// overflow.
		w.add(o.get("attempts"), "a system that misses this many measurements is not in a steady state",
			"attempts: at most %d, got %d", MaxSteadyStateAttempts, ss.Attempts)
	}
	for i, n := range o.list("slo") {
		slo := &SLO{Pos: w.pos(n)}
		so := w.object(nil, n, fmt.Sprintf("steady_state.slo[%d]", i), "metric", "max")
		so.require("metric", "max")
		known := false
		if so.str("metric", &slo.Metric) {
			known = w.metric(so.get("metric"), slo.Metric, false)
		}
		if known && so.has("max") {
			if v := w.threshold(so.get("max"), "max", slo.Metric); v != nil {
				slo.Max = *v
			}
		}
		ss.SLO = append(ss.SLO, slo)
	}
	return ss
}

// metric checks a metric name and reports whether its unit is known (it
// is supported, or planned and refused). analysis says whether the metric
// is an analysis check (instance metrics are supported there) rather than
// a steady-state SLO.
func (w *walk) metric(n *yaml.Node, m string, analysis bool) bool {
	supported := supportedMetrics
	if analysis {
		supported = append(slices.Clip(supportedMetrics), instanceMetrics...)
	}
	switch {
	case slices.Contains(supported, m):
		return true
	case slices.Contains(instanceMetrics, m):
		w.add(n, "", "metric %q is not supported yet in steady_state.slo (supported: %s; it is supported in rollout.analysis.metrics)", m, strings.Join(supported, ", "))
		return true
	case strings.HasPrefix(m, InvariantPrefix):
		name := strings.TrimPrefix(m, InvariantPrefix)
		if name == "" {
			w.add(n, "write invariant:NAME, naming one of verify.data.invariants", "metric %q names no invariant", m)
			return false
		}
		if !analysis {
			w.add(n, "invariants are checked at every analysis interval (rollout.analysis.metrics) and at the end (verify.data.invariants)",
				"metric %q is not supported in steady_state.slo", m)
			return false
		}
		w.invariantRefs = append(w.invariantRefs, invariantRef{name, n})
		return true
	}
	known := append(slices.Clip(supportedMetrics), instanceMetrics...)
	w.add(n, didYouMean(m, known), "unknown metric %q (known: %s, invariant:NAME)", m, strings.Join(known, ", "))
	return false
}

// threshold reads a bound on metric, converting it to the metric's
// canonical unit.
func (w *walk) threshold(n *yaml.Node, name, metric string) *Value {
	unit := MetricUnit(metric)
	if !w.scalar(n, name, "a threshold") {
		return nil
	}
	v, err := parseThreshold(unit, n.Value)
	if err != nil {
		w.addErr(n, name, err)
		return nil
	}
	if v < 0 && unit != UnitNumber {
		w.add(n, "", "%s: must not be negative, got %s", name, n.Value)
		return nil
	}
	if metric == MetricErrorRate && v > 1 {
		w.add(n, "", "%s: an error rate cannot exceed 100%%, got %s", name, n.Value)
		return nil
	}
	return &Value{V: v, Raw: n.Value}
}

func (w *walk) rollout(o *object) Rollout {
	r := Rollout{Strategy: DefaultStrategy, OnFailure: DefaultOnFailure, Pos: w.pos(o.at)}
	o.require("service", "to", "steps")
	var svc *Service
	if o.str("service", &r.Service) {
		svc = w.refService(o.get("service"), "service", r.Service)
	}
	if o.str("to", &r.To) && svc != nil && len(svc.Versions) > 0 {
		if w.refVersion(o.get("to"), "to", svc, r.To) != nil && r.To == svc.Baseline {
			w.add(o.get("to"), "roll out another version, or set the service's baseline",
				"to: %q is the baseline version of %q already", r.To, svc.Name)
		}
	}
	if o.str("strategy", &r.Strategy) {
		// The strategies are asked, not listed: each registers itself.
		w.choice(o.get("strategy"), "strategy", r.Strategy, strategy.Names(), plannedStrategies)
	}
	steps := o.list("steps")
	if n := o.get("steps"); n != nil && len(steps) == 0 && (isNull(n) || n.Kind == yaml.SequenceNode) {
		w.add(o.key("steps"), "e.g. steps: [{weight: 10%, hold: 15s}, {weight: 100%, hold: 10s}]",
			"rollout.steps: at least one step is required")
	}
	last := 0.0
	for i, n := range steps {
		r.Steps = append(r.Steps, w.step(n, i, &last))
	}
	r.Analysis = w.analysis(o.child("analysis", "interval", "judge", "false_positive_rate",
		"failures", "min_samples", "metrics", "on_no_data", "pass_score", "marginal_score"))
	if !o.has("analysis") {
	}
	if o.str("on_failure", &r.OnFailure) {
		w.choice(o.get("on_failure"), "on_failure policy", r.OnFailure, failurePolicies, nil)
	}
	return r
}

// step walks one rollout step; last is the highest weight so far.
func (w *walk) step(n *yaml.Node, i int, last *float64) *Step {
	st := &Step{Pos: w.pos(n)}
	o := w.object(nil, n, fmt.Sprintf("rollout.steps[%d]", i), "weight", "hold", "approval")
	hasWeight, hasApproval := o.has("weight"), o.has("approval")
	switch {
	case hasWeight && hasApproval:
		w.add(o.key("approval"), "split it into two steps", "a step has a weight or an approval, not both")
	case !hasWeight && !hasApproval && o.present && o.ok:
		w.add(o.at, "e.g. {weight: 10%, hold: 15s} or {approval: manual}", "a step needs a weight or an approval")
	}
	if o.percent("weight", &st.Weight) {
		switch {
		case st.Weight <= 0 || st.Weight > 1:
			w.add(o.get("weight"), "", "weight: %s is outside (0%%, 100%%]", o.get("weight").Value)
		case st.Weight <= *last:
			w.add(o.get("weight"), "step weights must strictly increase",
				"weight: %s does not increase on the previous step's %s", o.get("weight").Value, percentString(*last))
		default:
			*last = st.Weight
		}
	}
	if o.duration("hold", &st.Hold) && hasApproval && !hasWeight {
		w.add(o.key("hold"), "an approval step waits for the operator", "hold only applies to a weight step")
	}
	if o.str("approval", &st.Approval) && st.Approval != ApprovalManual {
		w.add(o.get("approval"), didYouMean(st.Approval, []string{ApprovalManual}),
			"unknown approval %q (known: manual)", st.Approval)
	}
	return st
}

func percentString(f float64) string {
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.4f", f*100), "0"), ".") + "%"
}

func (w *walk) analysis(o *object) Analysis {
	a := Analysis{
		Interval:          DefaultInterval,
		Judge:             DefaultJudge,
		FalsePositiveRate: DefaultFalsePositiveRate,
		Failures:          DefaultFailures,
		MinSamples:        DefaultMinSamples,
		OnNoData:          DefaultOnNoData,
	}
	if o.duration("interval", &a.Interval) && a.Interval <= 0 {
		w.add(o.get("interval"), "", "interval: must be positive")
	}
	if o.str("judge", &a.Judge) {
		// The judges are asked, not listed: each registers itself.
		w.choice(o.get("judge"), "judge", a.Judge, judge.Names(), nil)
	}
	if o.percent("false_positive_rate", &a.FalsePositiveRate) && (a.FalsePositiveRate <= 0 || a.FalsePositiveRate >= 1) {
		w.add(o.get("false_positive_rate"), "", "false_positive_rate: must be between 0%% and 100%%, exclusive")
	}
	if o.int("failures", &a.Failures) && a.Failures < 1 {
		w.add(o.get("failures"), "", "failures: must be at least 1, got %d", a.Failures)
	}
	if o.int("min_samples", &a.MinSamples) && a.MinSamples < 1 {
		w.add(o.get("min_samples"), "", "min_samples: must be at least 1, got %d", a.MinSamples)
	}
	a.PassScore, a.MarginalScore = DefaultPassScore, DefaultMarginalScore
	okPass := o.number("pass_score", &a.PassScore)
	okMarginal := o.number("marginal_score", &a.MarginalScore)
	for _, f := range []struct {
		k  string
		ok bool
		v  float64
	}{{"pass_score", okPass, a.PassScore}, {"marginal_score", okMarginal, a.MarginalScore}} {
		if f.ok && (f.v < 0 || f.v > 100) {
			w.add(o.get(f.k), "canary scores run from 0 to 100", "%s: %g is outside 0..100", f.k, f.v)
		}
	}
	if (okPass || okMarginal) && a.MarginalScore > a.PassScore {
		w.add(o.get(map[bool]string{true: "marginal_score", false: "pass_score"}[okMarginal]), "the marginal band lies below the passing score",
			"marginal_score %g is above pass_score %g", a.MarginalScore, a.PassScore)
	}
	for i, n := range o.list("metrics") {
		a.Metrics = append(a.Metrics, w.check(n, fmt.Sprintf("rollout.analysis.metrics[%d]", i), a.Judge))
	}
	if o.str("on_no_data", &a.OnNoData) {
		w.choice(o.get("on_no_data"), "on_no_data policy", a.OnNoData, noDataPolicies, nil)
	}
	return a
}

func (w *walk) check(n *yaml.Node, where, judgeName string) *Check {
	c := &Check{Weight: DefaultWeight}
	o := w.object(nil, n, where, "metric", "max", "max_increase", "max_ratio", "weight", "critical")
	o.require("metric")
	if o.number("weight", &c.Weight) && c.Weight <= 0 {
		w.add(o.get("weight"), "a metric's share of the mann-whitney score; leave the metric out instead of weighting it 0",
			"weight: must be positive, got %g", c.Weight)
	}
	o.boolean("critical", &c.Critical)
	known := false
	if o.str("metric", &c.Metric) {
		known = w.metric(o.get("metric"), c.Metric, true)
	}
	// A judge may test a metric on its own terms (the sequential judge:
	// errors, and latency through the share of slow requests): then the
	// check needs no bound.
	unbounded := judge.Unbounded(judgeName, c.Metric)
	if !o.has("max") && !o.has("max_increase") && !o.has("max_ratio") && o.present && o.ok && !unbounded {
		w.add(o.at, "set max, max_increase or max_ratio", "a metric check needs a bound")
	}
	if known && strings.HasPrefix(c.Metric, InvariantPrefix) {
		// An invariant is a query over the whole database, not a
		// per-version measurement: there is no baseline side to compare.
		for _, f := range []string{"max_increase", "max_ratio"} {
			if o.has(f) {
				w.add(o.key(f), "use max: an invariant's value is database-wide, not per version",
					"%s: an invariant metric takes an absolute bound only", f)
			}
		}
		if o.has("max") {
			c.Max = w.threshold(o.get("max"), "max", c.Metric)
		}
		return c
	}
	if known {
		if o.has("max") {
			c.Max = w.threshold(o.get("max"), "max", c.Metric)
		}
		if o.has("max_increase") {
			c.MaxIncrease = w.threshold(o.get("max_increase"), "max_increase", c.Metric)
		}
	}
	if n := o.get("max_ratio"); n != nil {
		if w.scalar(n, "max_ratio", "a number like 1.5") {
			if v, err := parseNumber(n.Value); err != nil {
				w.add(n, "a ratio of canary to baseline, e.g. 1.5", "max_ratio: expected a number, got %s", describe(n))
			} else if v <= 0 {
				w.add(n, "", "max_ratio: must be positive, got %s", n.Value)
			} else {
				c.MaxRatio = &Value{V: v, Raw: n.Value}
			}
		}
	}
	return c
}

func (w *walk) faults(o *object, steps int) []*Fault {
	var out []*Fault
	names := map[string]*yaml.Node{}
	for i, n := range o.list("faults") {
		where := fmt.Sprintf("faults[%d]", i)
		f := &Fault{Probability: DefaultProbability, Pos: w.pos(n)}
		fo := w.object(nil, n, where, "name", "kind", "target", "at", "duration", "probability", "params")
		fo.require("name", "kind", "target")
		if fo.str("name", &f.Name) && w.printable(fo.get("name"), "fault name", f.Name, "") {
			if first, dup := names[f.Name]; dup {
				w.add(fo.get("name"), "", "duplicate fault name %q (first at line %d)", f.Name, first.Line)
			} else {
				names[f.Name] = fo.get("name")
			}
		}
		var kind injectors.Kind
		if fo.str("kind", &f.Kind) {
			kind = w.kind(fo.get("kind"), f.Kind)
		}
		if fo.str("target", &f.Target) {
			class := w.faultTarget(fo.get("target"), f.Target)
			if kind != nil && class != "" {
				w.targetClass(fo.get("target"), f.Kind, kind.Describe().Targets, class)
			}
			if kind != nil && class == targetDatabase {
				w.targetEngine(fo.get("target"), f.Kind, kind, w.env.Database(f.Target))
				if dir := injectors.MigrationDirection(kind); dir != "" {
					w.migrationTarget(fo.get("target"), f.Kind, dir, f.Target)
				}
			}
		}
		if fo.has("at") {
			w.schedule(fo.key("at"), fo.get("at"), where+".at", steps, &f.At)
		}
		fo.duration("duration", &f.Duration)
		if p := fo.get("probability"); p != nil {
			w.probability(p, &f.Probability)
		}
		if kind != nil {
			f.Params = w.params(fo, f.Kind, kind, where+".params")
		}
		out = append(out, f)
	}
	return out
}

// migrationTarget checks that a migration fault's database is the one the
// rollout migrates, in the direction the kind acts on: a fault waiting for
// a migration that never runs would pass silently.
func (w *walk) migrationTarget(n *yaml.Node, kind, dir, db string) {
	ro := w.ro
	svc := w.env.Service(ro.Service)
	if svc == nil || ro.To == "" {
		return // the rollout's own problems are reported there
	}
	if svc.Database != db {
		w.add(n, fmt.Sprintf("target the rollout service's database (%s has database: %q)", svc.Name, svc.Database),
			"target: fault kind %q acts on the migrations the rollout runs; the rollout of %s does not migrate %q", kind, svc.Name, db)
		return
	}
	base, to := svc.Version(svc.Baseline), svc.Version(ro.To)
	if base == nil || to == nil {
		return
	}
	switch {
	case to.Migration == base.Migration:
		w.add(n, fmt.Sprintf("set %s.%s's migration: to a version other than the baseline's (%d)", svc.Name, to.Name, base.Migration),
			"target: fault kind %q needs a migration, and %s %s and %s are both at migration %d", kind, svc.Name, base.Name, to.Name, base.Migration)
	case dir == "down" && to.Migration < base.Migration:
		w.add(n, "", "target: fault kind %q acts on the rollback's down migration, but %s migrates down to %d and back up on rollback",
			kind, to.Name, to.Migration)
	}
}

func (w *walk) probability(n *yaml.Node, dst *float64) {
	var v float64
	var ok bool
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str" {
		v, ok = w.percent(n, "probability")
	} else {
		v, ok = w.number(n, "probability")
	}
	if !ok {
		return
	}
	if v < 0 || v > 1 {
		w.add(n, "write it like 0.5 or 50%", "probability: %s is outside [0, 1]", n.Value)
		return
	}
	*dst = v
}

// Classes of fault targets, as injectors.Description.Targets names them.
const (
	targetService        = "service"
	targetServiceVersion = "service.version"
	targetDatabase       = "database"
)

// faultTarget checks a fault target — a service, service.version, or a
// database — and returns its class, or "" when it names nothing.
func (w *walk) faultTarget(n *yaml.Node, t string) string {
	if svc, ver, ok := strings.Cut(t, "."); ok {
		if s := w.refService(n, "target", svc); s != nil && w.refVersion(n, "target", s, ver) != nil {
			return targetServiceVersion
		}
		return ""
	}
	switch {
	case w.env.Service(t) != nil:
		return targetService
	case w.env.Database(t) != nil:
		return targetDatabase
	}
	known := append(serviceNames(w.env), databaseNames(w.env)...)
	w.add(n, didYouMean(t, known), "target: unknown service or database %q (services: %s; databases: %s)",
		t, orNone(serviceNames(w.env)), orNone(databaseNames(w.env)))
	return ""
}

// targetClass checks that a kind acts on targets of class, as its
// description's Targets ("service | service.version") says. A Targets
// text that is not such a list is documentation only and checks nothing.
func (w *walk) targetClass(n *yaml.Node, kind, targets, class string) {
	var classes []string
	for _, c := range strings.FieldsFunc(targets, func(r rune) bool { return r == '|' || r == ',' }) {
		c = strings.TrimSpace(c)
		if c != targetService && c != targetServiceVersion && c != targetDatabase {
			return
		}
		classes = append(classes, c)
	}
	if len(classes) == 0 || slices.Contains(classes, class) {
		return
	}
	w.add(n, "", "target: fault kind %q acts on %s, not on a %s", kind, orList(classes), class)
}

// targetEngine refuses a database target whose engine the kind cannot act
// on (a connection fault on SQLite), with the kind's reason as the hint.
func (w *walk) targetEngine(n *yaml.Node, kind string, k injectors.Kind, db *Database) {
	el, ok := k.(injectors.EngineLimited)
	if !ok || db == nil || !slices.Contains(supportedEngines, db.Engine) {
		return // an unknown engine is reported where it is set
	}
	engines, why := el.Engines()
	if slices.Contains(engines, db.Engine) {
		return
	}
	w.add(n, why, "target: fault kind %q acts on %s databases only; %q is %s",
		kind, orList(engines), db.Name, db.Engine)
}

// kind looks a fault kind up in the registry; planned kinds are refused
// as not supported yet.
func (w *walk) kind(n *yaml.Node, name string) injectors.Kind {
	if k, ok := injectors.Lookup(name); ok {
		return k
	}
	supported := injectors.Kinds()
	if slices.Contains(injectors.Planned, name) {
		w.add(n, "", "fault kind %q is not supported yet (supported: %s)", name, orNone(supported))
	} else {
		w.add(n, didYouMean(name, append(supported, injectors.Planned...)),
			"unknown fault kind %q (known: %s)", name, orNone(supported))
	}
	return nil
}

// schedule reads at: a duration from the start of load, {step: N} or
// {after: EVENT, delay: D}.
func (w *walk) schedule(k, n *yaml.Node, where string, steps int, at *Schedule) {
	if n.Kind == yaml.ScalarNode && !isNull(n) {
		if d, ok := w.duration(n, "at"); ok {
			at.Offset = d
		}
		return
	}
	if n.Kind != yaml.MappingNode {
		w.add(n, "e.g. at: 20s, at: {step: 2} or at: {after: rollout.start, delay: 5s}",
			"at: expected a duration or a mapping, got %s", describe(n))
		return
	}
	o := w.object(k, n, where, "step", "after", "delay")
	if w.exclusive(o, "step", "after") == 0 {
		w.add(n, "e.g. {step: 2} or {after: rollout.start, delay: 5s}", "at: needs step or after")
	}
	if o.int("step", &at.Step) && (at.Step < 1 || (steps > 0 && at.Step > steps)) {
		w.add(o.get("step"), "steps count from 1", "step: no step %d (the rollout has %d)", at.Step, steps)
	}
	if o.str("after", &at.After) {
		w.choice(o.get("after"), "event", at.After, AfterEvents, nil)
	}
	if o.duration("delay", &at.Delay) && !o.has("after") {
		w.add(o.key("delay"), "", "delay only applies with after")
	}
}

// params hands the fault's params to the kind's own decoder, strictly.
func (w *walk) params(fo *object, kind string, k injectors.Kind, where string) any {
	pn := fo.get("params")
	at := pn
	if at == nil {
		at = fo.get("kind")
	}
	called := false
	decode := func(v any) error {
		called = true
		probs := w.decodeStrict(pn, where, v)
		w.probs = append(w.probs, probs...)
		if len(probs) > 0 {
			return probs
		}
		return nil
	}
	v, err := k.Parse(decode)
	for _, err := range flatten(err) {
		// Problems from decode were recorded already (duplicates are
		// dropped when sorting); anything else is about the params, and
		// the kind's message names them.
		var probs Problems
		var prob Problem
		switch {
		case errors.As(err, &probs):
			w.probs = append(w.probs, probs...)
		case errors.As(err, &prob):
			w.probs = append(w.probs, prob)
		default:
			w.add(at, "", "%v", err)
		}
	}
	if !called && pn != nil && !isNull(pn) {
		w.add(fo.key("params"), "", "fault kind %q takes no params", kind)
	}
	return v
}

func (w *walk) verify(o *object) Verify {
	var v Verify
	if o.has("recovery") {
		ro := o.child("recovery", "window", "within")
		r := &Recovery{Pos: w.pos(ro.at)}
		ro.require("window", "within")
		okWindow := ro.duration("window", &r.Window)
		okWithin := ro.duration("within", &r.Within)
		if okWindow && r.Window <= 0 {
			w.add(ro.get("window"), "", "window: must be positive")
		}
		if okWindow && okWithin && r.Within < r.Window {
			w.add(ro.get("within"), "the recovery window must fit in the deadline",
				"within: %s is shorter than window %s", r.Within, r.Window)
		}
		v.Recovery = r
	}
	if !o.has("data") {
		return v
	}
	do := o.child("data", "ledger", "schema", "invariants")
	if do.has("ledger") {
		lo := do.child("ledger", "database", "table", "key", "columns")
		l := &Ledger{Pos: w.pos(lo.at)}
		lo.require("database", "table", "key")
		if lo.str("database", &l.Database) {
			w.refDatabase(lo.get("database"), "database", l.Database)
		}
		lo.str("table", &l.Table)
		lo.str("key", &l.Key)
		lo.strList("columns", &l.Columns)
		if !w.haveLedger {
			w.add(do.key("ledger"), "add ledger: {key: FIELD} to the load request that creates the records",
				"verify.data.ledger: no load request has a ledger")
		}
		v.Data.Ledger = l
	}
	if do.str("schema", &v.Data.Schema) {
		w.choice(do.get("schema"), "schema check", v.Data.Schema, []string{SchemaBaseline}, nil)
	}
	names := map[string]*yaml.Node{}
	for i, n := range do.list("invariants") {
		iv := w.object(nil, n, fmt.Sprintf("verify.data.invariants[%d]", i), "name", "database", "sql", "expect")
		inv := &Invariant{Pos: w.pos(n)}
		iv.require("name", "database", "sql")
		if iv.str("name", &inv.Name) && w.printable(iv.get("name"), "invariant name", inv.Name, "") {
			if first, dup := names[inv.Name]; dup {
				w.add(iv.get("name"), "", "duplicate invariant name %q (first at line %d)", inv.Name, first.Line)
			} else {
				names[inv.Name] = iv.get("name")
			}
		}
		if iv.str("database", &inv.Database) {
			w.refDatabase(iv.get("database"), "database", inv.Database)
		}
		if iv.str("sql", &inv.SQL) && strings.TrimSpace(inv.SQL) == "" {
			w.add(iv.get("sql"), "a query whose single result is a number, e.g. SELECT count(*) FROM orders WHERE total_cents < 0", "sql: is empty")
		}
		iv.number("expect", &inv.Expect)
		v.Data.Invariants = append(v.Data.Invariants, inv)
	}
	return v
}

// resolveInvariants checks that every invariant:NAME metric names an
// invariant of verify.data.invariants.
func (w *walk) resolveInvariants(v *Verify) {
	var names []string
	for _, inv := range v.Data.Invariants {
		names = append(names, inv.Name)
	}
	for _, r := range w.invariantRefs {
		if !slices.Contains(names, r.name) {
			hint := didYouMean(r.name, names)
			if hint == "" {
				hint = "define it under verify.data.invariants: [{name, database, sql, expect}]"
			}
			w.add(r.n, hint, "metric %q: unknown invariant %q (defined: %s)", InvariantPrefix+r.name, r.name, orNone(names))
		}
	}
}

func (w *walk) expect(o *object) Expect {
	var e Expect
	if o.str("outcome", &e.Outcome) {
		w.choice(o.get("outcome"), "outcome", e.Outcome, outcomes, nil)
	}
	o.duration("detect_within", &e.DetectWithin)
	o.duration("recover_within", &e.RecoverWithin)
	if o.int("min_score", &e.MinScore) && (e.MinScore < 0 || e.MinScore > 100) {
		w.add(o.get("min_score"), "scores run from 0 to 100", "min_score: %d is outside 0..100", e.MinScore)
	}
	return e
}

// flatten splits an errors.Join tree into its leaves, so that each of a
// kind's complaints becomes a problem of its own.
func flatten(err error) []error {
	if err == nil {
		return nil
	}
	if _, ok := err.(Problems); ok {
		return []error{err}
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}
