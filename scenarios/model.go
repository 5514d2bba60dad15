// Package scenarios holds the drill scenario model (format v1 of
// docs/scenario-format.md), loads it from YAML with the position of every
// node, and validates it, reporting every problem at once as
// file:line:col: message.
//
// The types here are pure configuration: nothing in this package starts a
// process or opens a socket. The harness turns a Scenario into a running
// drill.
package scenarios

import (
	"fmt"
	"time"

	"github.com/drillhq/drill/harness/flags"
	"github.com/drillhq/drill/harness/judge"
	"github.com/drillhq/drill/harness/metrics"
)

// Pos is where a node stands in its scenario file. Every diagnostic carries
// one so that authors can jump straight to the problem.
type Pos struct {
	File string `json:"file,omitempty"`
	Line int    `json:"line,omitempty"`
	Col  int    `json:"col,omitempty"`
}

// String formats the position as file:line:col.
func (p Pos) String() string { return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col) }

// Scenario is one validated drill description.
type Scenario struct {
	Path        string // the file it was loaded from
	Version     int
	Name        string
	Description string
	Tags        []string
	Seed        int64

	Environment Environment
	// Flags are the feature flags drill's flag service serves, by key,
	// in flagd's flag-definition format; FlagKeys lists them sorted.
	Flags       map[string]*flags.Flag
	FlagKeys    []string
	Load        LoadSpec
	SteadyState SteadyState
	Rollout     Rollout
	// Stages are the environments the release is promoted through, in
	// order; empty: one environment.
	Stages []*Stage
	Faults []*Fault
	Verify Verify
	Expect Expect
	// Contracts are the consumer contracts checked before, during and
	// after the rollout, in file order.
	Contracts []*Contract
	// Artifacts is the run's artifact store (top-level `artifacts:`).
	Artifacts Artifacts
	// Rollback is how a rollback brings the baseline back (top-level
	// `rollback:`); Mode is RollbackSwitch unless the scenario says.
	Rollback RollbackSpec
	// GameDay is the top-level `game_day:` section: a person decides.
	GameDay GameDay
	// Warnings are what the loader found that runs but cannot do what it
	// seems to (a threshold check of a p99 over a few requests an
	// interval), sorted by position: drill validate, plan and run print
	// them and go on.
	Warnings Problems

	// loopbacks are problems an isolated provider (docker) has with the
	// scenario, literal loopback addresses in env: ProviderProblems
	// reports them for a run on such a provider.
	loopbacks []Problem
}

// Environment describes the system under test.
type Environment struct {
	Provider string // a registered provider (harness/provider); "process" by default
	// ProviderPos is where provider is written (the environment when it
	// is not): where an unknown provider is reported.
	ProviderPos Pos
	Databases   []*Database // in file order
	Services    []*Service  // in file order
}

// Database returns the database called name, or nil.
func (e *Environment) Database(name string) *Database {
	for _, d := range e.Databases {
		if d.Name == name {
			return d
		}
	}
	return nil
}

// Service returns the service called name, or nil.
func (e *Environment) Service(name string) *Service {
	for _, s := range e.Services {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// Database engines.
const (
	EngineSQLite   = "sqlite"
	EnginePostgres = "postgres"
)

// Database is one database of the environment.
type Database struct {
	Name   string
	Engine string // EngineSQLite | EnginePostgres
	Image  string // docker only
	Pos    Pos
}

// Service is one service of the environment. Exactly one of Build, Image
// and Command is set (a version may override them).
type Service struct {
	Name       string
	Language   string   // "go" | "rust" | "" (informational; Build is probed)
	Build      string   // a directory holding a Go package or a Cargo project, relative to the scenario's repository root
	Image      string   // docker only
	Command    []string // process only: argv of any program
	Health     string   // HTTP path answering 200 when ready; default "/healthz"
	Database   string   // the database whose schema follows this service's versions
	Migrations string   // golang-migrate directory; default Build + "/migrations"
	Env        map[string]string
	// SecretEnv names the Env entries written as {value: …, secret: true}:
	// drill redacts their values everywhere it writes (journal, reports,
	// logs, messages), whatever the variable is called.
	SecretEnv map[string]bool
	Versions  []*Version // in file order
	Baseline  string     // the version running before the rollout; default: the first version
	Pos       Pos
	// BuildPos and MigrationsPos are where build: and migrations: are
	// written (zero when they are not): FileProblems reports a directory
	// that is not there at the value that names it.
	BuildPos, MigrationsPos Pos
}

// Version returns the version called name, or nil.
func (s *Service) Version(name string) *Version {
	for _, v := range s.Versions {
		if v.Name == name {
			return v
		}
	}
	return nil
}

// Version is one deployable version of a service.
type Version struct {
	Name      string
	Migration uint // schema version this version needs; 0 = none / unchanged
	Build     string
	Image     string
	Command   []string
	Env       map[string]string // merged over the service's Env
	SecretEnv map[string]bool   // as Service.SecretEnv
	Pos       Pos
	// BuildPos and MigrationPos are where the version's build: and
	// migration: are written (zero when they are not), for FileProblems.
	BuildPos, MigrationPos Pos
}

// Rate is a request rate: Freq requests every Per.
type Rate struct {
	Freq int
	Per  time.Duration
}

// PerSecond returns the rate in requests per second.
func (r Rate) PerSecond() float64 {
	if r.Per <= 0 {
		return 0
	}
	return float64(r.Freq) / r.Per.Seconds()
}

// String formats the rate as N/s or N/m.
func (r Rate) String() string {
	if r.Per == time.Minute {
		return fmt.Sprintf("%d/m", r.Freq)
	}
	return fmt.Sprintf("%d/s", r.Freq)
}

// Ramp is a linearly changing rate.
type Ramp struct {
	From, To Rate
	Over     time.Duration
}

// LoadSpec describes the generated traffic (the scenario's load section).
// It is not called Load because that is the package's loading function.
type LoadSpec struct {
	Target   string // a service name; traffic goes to its router
	Rate     Rate   // constant rate (zero when Ramp is set)
	Ramp     *Ramp
	Timeout  time.Duration // default 2s
	Requests []*Request
	Pos      Pos
}

// Request is one kind of request in the load mix. Path, Body and header
// values may hold placeholders (${seq}, ${uuid}, ${rand:MIN:MAX},
// ${ledger.last}).
type Request struct {
	Name    string
	Method  string // default GET
	Path    string
	Body    string
	Headers map[string]string
	Weight  int // default 1
	Ledger  *LedgerKey
	Pos     Pos
}

// LedgerKey marks a request as a tracked write: on a 2xx answer the value of
// the JSON body field Key is recorded as acknowledged.
type LedgerKey struct {
	Key string
}

// Metric names a judge or SLO can use, their units and thresholds: package
// metrics owns them (judges read them without the loader); these names
// are the loader's.
const (
	MetricErrorRate  = metrics.ErrorRate
	MetricLatencyP50 = metrics.LatencyP50
	MetricLatencyP90 = metrics.LatencyP90
	MetricLatencyP95 = metrics.LatencyP95
	MetricLatencyP99 = metrics.LatencyP99
	MetricThroughput = metrics.Throughput
	MetricCPU        = metrics.CPU
	MetricRSS        = metrics.RSS
	InvariantPrefix  = metrics.InvariantPrefix
)

// Unit is the canonical unit a metric's values are expressed in.
type Unit = metrics.Unit

// Canonical units.
const (
	UnitNumber    = metrics.UnitNumber
	UnitFraction  = metrics.UnitFraction
	UnitSeconds   = metrics.UnitSeconds
	UnitPerSecond = metrics.UnitPerSecond
	UnitBytes     = metrics.UnitBytes
)

// MetricUnit returns the canonical unit of a metric name.
func MetricUnit(metric string) Unit { return metrics.UnitOf(metric) }

// Value is a threshold in its metric's canonical unit.
type Value = metrics.Value

// SteadyState is the hypothesis checked before the rollout and after the
// rollback.
type SteadyState struct {
	Duration time.Duration
	// Warmup is how long load runs before the steady state is measured
	// (default DefaultWarmup; 0 for none). A freshly started system
	// opens its connections and fills its caches in its first seconds:
	// that is its start-up, not its steady state. Load during the warmup
	// is sent, not measured.
	Warmup time.Duration
	SLO    []*SLO
	// Attempts is how many consecutive measurements of Duration the
	// hypothesis gets before the drill gives up (default
	// DefaultSteadyStateAttempts). A host hiccup in the first one says
	// nothing about the system; a system that misses every attempt is
	// not in a steady state.
	Attempts int
	Pos      Pos
}

// DefaultWarmup is steady_state.warmup when it is not given: a few
// seconds, as Flagger and k6 users expect, enough for connection pools to
// fill. Write warmup: 0s for none.
const DefaultWarmup = 3 * time.Second

// DefaultSteadyStateAttempts is steady_state.attempts when it is not given.
const DefaultSteadyStateAttempts = 3

// MaxSteadyStateAttempts bounds steady_state.attempts, so that attempts ×
// duration (at most MaxDuration each) stays far from overflowing.
const MaxSteadyStateAttempts = 100

// SLO is an absolute bound on a metric of the load target, as the load
// generator sees it.
type SLO struct {
	Metric string
	Max    Value
	Pos    Pos
}

// Rollout strategies.
const (
	StrategyCanary    = "canary"
	StrategyBlueGreen = "blue-green"
)

// Failure policies.
const (
	OnFailureRollback = "rollback"
	OnFailureAbort    = "abort"
	OnFailureContinue = "continue"
)

// Rollout describes how the new version is rolled out.
type Rollout struct {
	Service  string
	To       string
	Strategy string
	// StrategyParams are the strategy's own settings (its rollout field,
	// e.g. blue_green), as its Kind.Parse decoded them; nil when none.
	StrategyParams any
	// Flag is the flag a `strategy: flag` rollout moves (its `flag:`
	// field); To is then one of its variants.
	Flag string
	// Release is every service the rollout moves, in the order they are
	// moved (providers before consumers): the `release:` list, or the one
	// service/to. Service and To are its first entry.
	Release   []*Move
	Steps     []*Step
	Analysis  Analysis
	OnFailure string // default rollback
	Pos       Pos
}

// Moves is every service the rollout moves, in order: Release, or the
// one service/to of a rollout built without the loader.
func (r *Rollout) Moves() []*Move {
	if len(r.Release) > 0 {
		return r.Release
	}
	return []*Move{{Service: r.Service, To: r.To, Pos: r.Pos}}
}

// Move is one service of a release and the version it moves to.
type Move struct {
	Service string
	To      string
	Pos     Pos
}

// Step is one rollout step: either a weight held for a while, or a manual
// approval gate.
type Step struct {
	Weight   float64       // fraction of traffic to the canary (0.1 == 10%); meaningless for approval steps
	Hold     time.Duration // how long the weight is held
	Approval string        // "manual" for an approval gate; "" otherwise
	// Timeout bounds an approval gate's wait (DefaultGateTimeout unless
	// written) and OnTimeout is what its expiry decides: reject (roll
	// back) or approve.
	Timeout   time.Duration
	OnTimeout string
	Pos       Pos
}

// IsApproval reports whether the step is an approval gate.
func (s *Step) IsApproval() bool { return s.Approval != "" }

// No-data policies (package judge owns them).
const (
	NoDataPause = judge.NoDataPause
	NoDataFail  = judge.NoDataFail
	NoDataPass  = judge.NoDataPass
)

// Analysis configures the canary judge: package judge owns its type, so
// that judges read it without importing the loader, and the loader can
// ask the judges' registry.
type Analysis = judge.Config

// Check is one canary analysis metric (see judge.Check).
type Check = judge.Check

// Fault is one scheduled fault injection. Params have been decoded and
// validated by the injector kind's own decoder (see package injectors).
type Fault struct {
	Name        string
	Kind        string
	Target      string // service, service.version, or database
	At          Schedule
	Duration    time.Duration // 0: until the end of the drill (or rollback)
	Probability float64       // default 1.0
	Params      any           // the kind's decoded parameter struct
	// Stage is the only stage the fault runs in; "": every stage.
	Stage string
	Pos   Pos
}

// Schedule says when a fault starts. Exactly one form is set.
type Schedule struct {
	Offset time.Duration // at: 20s — from the start of load
	Step   int           // at: {step: N} — 1-based rollout step
	After  string        // at: {after: EVENT, delay: D}
	Delay  time.Duration
}

// Verify configures the checks after a rollback.
type Verify struct {
	Recovery *Recovery
	Data     Data
}

// Recovery asks that, within Within after the rollback decision, a whole
// Window of load meets the steady-state baseline again.
type Recovery struct {
	Window time.Duration
	Within time.Duration
	Pos    Pos
}

// Data configures the data checks.
type Data struct {
	Ledger     *Ledger
	Schema     string // "baseline" or ""
	Invariants []*Invariant
}

// Ledger says where acknowledged writes must be found after the drill.
type Ledger struct {
	Database string
	Table    string
	Key      string
	Columns  []string
	Pos      Pos
}

// Invariant is a SQL probe whose single numeric result must equal Expect.
type Invariant struct {
	Name     string
	Database string
	SQL      string
	Expect   float64
	Pos      Pos
}

// Outcomes of a drill.
const (
	OutcomePromoted   = "promoted"
	OutcomeRolledBack = "rolled_back"
	OutcomeAborted    = "aborted"
	// OutcomeBlocked: the release was not rolled out because a contract
	// failed against a provider version before it.
	OutcomeBlocked = "blocked"
)

// Expect is what makes a drill pass.
type Expect struct {
	Outcome       string
	DetectWithin  time.Duration // 0: not checked
	RecoverWithin time.Duration // 0: not checked
	MinScore      int           // 0: not checked
	// Rollback is RollbackOK or RollbackFailed: whether every step of a
	// rollback that ran must succeed, or one must fail (a drill showing a
	// rollback failing loudly). "" checks that every step succeeded.
	Rollback string
}

// Values of expect.rollback.
const (
	RollbackOK     = "ok"
	RollbackFailed = "failed"
)

// Artifacts is the top-level `artifacts:` section.
type Artifacts struct {
	// Retain is how many builds of each service the run's artifact store
	// keeps, the newest (see provider.Evictions); 0 keeps every build.
	Retain int
	Pos    Pos
}

// Rollback modes (top-level `rollback: {mode: …}`).
const (
	// RollbackSwitch sends traffic back to the baseline still running.
	RollbackSwitch = "switch"
	// RollbackRedeploy starts the baseline again from the run's artifact
	// store and proves its digest is the recorded one.
	RollbackRedeploy = "redeploy"
)

// RollbackSpec is the top-level `rollback:` section.
type RollbackSpec struct {
	Mode string // RollbackSwitch (the default) or RollbackRedeploy
	Pos  Pos
}

// Contract is one entry of `contracts:`: what the consumer service relies
// on in the provider service's answer to one request. Compile gives the
// harness's checkable form.
type Contract struct {
	Name     string
	Consumer string // a service of the environment
	Provider string // another one
	Request  ContractRequest
	Expect   ContractExpect
	Pos      Pos
}

// ContractRequest is the request a contract's check sends.
type ContractRequest struct {
	Method string // one of the HTTP methods the load accepts
	Path   string // path and query, starting with "/"
	Body   string // "" for none
	Pos    Pos
}

// ContractExpect is what the consumer relies on in the answer.
type ContractExpect struct {
	Status int // 100..599
	// Schema is the JSON Schema as decoded from YAML (map[string]any,
	// []any, string, int, float64, bool, nil); it compiles (the loader
	// checked), and the harness compiles it again (Contract.Compile).
	Schema    any
	SchemaPos Pos
	Pos       Pos
}
