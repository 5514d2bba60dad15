package scenarios

import (
	"net/http"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/drillhq/drill/harness/flags"
	"github.com/drillhq/drill/harness/judge"
)

// Defaults the loader fills in; the CLI may reuse them for flag help.
const (
	DefaultHealth            = "/healthz"
	DefaultTimeout           = 2 * time.Second
	DefaultMethod            = http.MethodGet
	DefaultWeight            = judge.DefaultWeight
	DefaultInterval          = time.Second
	DefaultJudge             = "sequential" // holds its false-rollback rate where threshold's per-interval bounds do not (docs/how-it-works.md#the-default-judge)
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
	DefaultRollbackMode      = RollbackSwitch
)

// Supported and planned values of the enumerated fields. Planned values
// are refused as "not supported yet" rather than unknown.
var (
	supportedEngines = []string{EngineSQLite, EnginePostgres}
	noDataPolicies   = []string{NoDataPause, NoDataFail, NoDataPass}
	failurePolicies  = []string{OnFailureRollback, OnFailureAbort, OnFailureContinue}
	outcomes         = []string{OutcomePromoted, OutcomeRolledBack, OutcomeAborted, OutcomeBlocked}
	languages        = []string{"go", "rust"}
	supportedMetrics = []string{MetricErrorRate, MetricLatencyP50, MetricLatencyP90, MetricLatencyP95, MetricLatencyP99, MetricThroughput}
	// instanceMetrics are sampled per instance (harness/resources):
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

// walk holds what later sections of the document need from earlier ones.
type walk struct {
	*parser
	env        *Environment
	haveLedger bool
	// invariantRefs are the invariant:NAME metrics of the analysis, checked
	// against verify.data.invariants once that section is read.
	invariantRefs []invariantRef
	ro            *Rollout // set once the rollout is read
	flags         map[string]*flags.Flag
	loadTarget    string // load.target, once the load is read
	// hasContracts says the scenario defines contracts (only they can
	// block a release: expect.outcome blocked needs them).
	hasContracts bool
	// loopbacks are the literal loopback addresses in env values: a
	// problem under the docker provider only (see parser.loopback).
	loopbacks []Problem
	// checkAt is where each analysis check's metric is written and
	// minSamplesAt where min_samples is (else the analysis, else the
	// rollout): the traffic warnings point there.
	checkAt      map[*Check]*yaml.Node
	minSamplesAt *yaml.Node
}

// invariantRef is one use of an invariant:NAME metric.
type invariantRef struct {
	name string
	n    *yaml.Node
}

// scenario walks the document's root mapping.
func (p *parser) scenario(root *yaml.Node) *Scenario {
	s := &Scenario{Path: p.file}
	o := p.object(nil, root, "", topLevelFields.known...)
	if !o.ok {
		return s
	}
	o.require(topLevelFields.required...)
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
	// Flags first: env values may name ${flags.url}.
	s.Flags, s.FlagKeys = p.flagDefs(o)
	p.hasFlags = len(s.Flags) > 0
	w := &walk{parser: p, env: &s.Environment, flags: s.Flags}
	w.environment(o.child("environment", environmentFields.known...))
	// Whether the loopbacks are problems depends on the provider a run
	// uses, which may be --provider's: ProviderProblems says.
	s.loopbacks = w.loopbacks
	s.Load = w.load(o.child("load", loadFields.known...))
	s.Contracts = w.contracts(o)
	w.hasContracts = len(s.Contracts) > 0
	s.SteadyState = w.steadyState(o.child("steady_state", steadyStateFields.known...))
	// A strategy's own settings field is known to the loader because a
	// registered strategy owns it (strategy.Fields), not from a list here.
	w.loadTarget = s.Load.Target
	s.Rollout = w.rollout(o.child("rollout", rolloutKnown()...))
	w.ro = &s.Rollout
	s.Stages = w.stages(o)
	s.Faults = w.faults(o, len(s.Rollout.Steps), s.Stages)
	s.Verify = w.verify(o.child("verify", verifyFields.known...))
	w.resolveInvariants(&s.Verify)
	s.Expect = w.expect(o.child("expect", expectFields.known...))
	s.Artifacts = w.artifacts(o.child("artifacts", artifactsFields.known...))
	s.Rollback = w.rollbackSpec(o.child("rollback", rollbackFields.known...))
	s.GameDay = w.gameDay(o.child("game_day", gameDayFields.known...))
	// Warnings read values the walk has checked: on a file with problems
	// they would be guesses, and it does not run anyway.
	if len(p.probs) == 0 {
		w.trafficWarnings(s)
	}
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
