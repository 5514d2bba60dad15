package scenarios

import (
	"maps"
	"slices"

	"github.com/drillhq/drill/harness/strategy"
)

// fields are the keys one mapping of the scenario format may hold (known,
// in the order hints list them) and those the loader always requires
// (required; a field required only in some cases, such as rollout.steps,
// is left to its walker). The walker and the JSON Schema generator
// (schema.go) read these same values, so that scenario.schema.json cannot
// drift from what the loader accepts; the schema's drift test checks the
// walker uses them.
type fields struct{ known, required []string }

// topLevelFields are the sections of a scenario. Besides them, the
// document may hold keys starting with "x-" (as in Compose files): they
// exist to carry YAML anchors and are deliberately ignored.
var topLevelFields = fields{
	known: []string{"version", "name", "description", "tags", "seed",
		"environment", "flags", "load", "steady_state", "rollout", "stages", "faults", "verify", "expect", "contracts",
		"artifacts", "rollback", "game_day"},
	required: []string{"version", "name", "environment", "load", "rollout"},
}

// The mappings of each section, by section.
var (
	environmentFields = fields{known: []string{"provider", "databases", "services"}, required: []string{"services"}}
	databaseFields    = fields{known: []string{"engine", "image"}, required: []string{"engine"}}
	serviceFields     = fields{known: []string{"language", "build", "image", "command", "health",
		"database", "migrations", "env", "versions", "baseline"}}
	versionFields = fields{known: []string{"migration", "build", "image", "command", "env"}}
	// envValueFields are those of an env value written as a mapping.
	envValueFields = fields{known: []string{"value", "secret"}, required: []string{"value"}}

	loadFields          = fields{known: []string{"target", "rate", "ramp", "timeout", "requests"}, required: []string{"target", "requests"}}
	rampFields          = fields{known: []string{"from", "to", "over"}, required: []string{"from", "to", "over"}}
	requestFields       = fields{known: []string{"name", "method", "path", "body", "headers", "weight", "ledger"}, required: []string{"path"}}
	requestLedgerFields = fields{known: []string{"key"}, required: []string{"key"}}

	steadyStateFields = fields{known: []string{"duration", "warmup", "slo", "attempts"}, required: []string{"duration"}}
	sloFields         = fields{known: []string{"metric", "max"}, required: []string{"metric", "max"}}

	// rolloutFields are the rollout's own fields; the strategies' settings
	// fields come on top (rolloutKnown).
	rolloutFields  = fields{known: []string{"service", "to", "strategy", "steps", "analysis", "on_failure", "release"}}
	releaseFields  = fields{known: []string{"service", "to"}, required: []string{"service", "to"}}
	stepFields     = fields{known: []string{"weight", "hold", "approval", "timeout", "on_timeout"}}
	analysisFields = fields{known: []string{"interval", "judge", "false_positive_rate",
		"failures", "min_samples", "metrics", "on_no_data", "pass_score", "marginal_score"}}
	checkFields = fields{known: []string{"metric", "max", "max_increase", "max_ratio", "weight", "critical"}, required: []string{"metric"}}

	stageFields    = fields{known: []string{"name", "rate", "approval", "timeout", "on_timeout"}, required: []string{"name"}}
	faultFields    = fields{known: []string{"name", "kind", "target", "at", "duration", "probability", "params", "stage"}, required: []string{"name", "kind", "target"}}
	scheduleFields = fields{known: []string{"step", "after", "delay"}}

	verifyFields    = fields{known: []string{"recovery", "data"}}
	recoveryFields  = fields{known: []string{"window", "within"}, required: []string{"window", "within"}}
	dataFields      = fields{known: []string{"ledger", "schema", "invariants"}}
	ledgerFields    = fields{known: []string{"database", "table", "key", "columns"}, required: []string{"database", "table", "key"}}
	invariantFields = fields{known: []string{"name", "database", "sql", "expect"}, required: []string{"name", "database", "sql"}}

	expectFields = fields{known: []string{"outcome", "detect_within", "recover_within", "min_score", "rollback"}}

	// contractFields are the fields of one entry of `contracts:`.
	contractFields        = fields{known: []string{"name", "consumer", "provider", "request", "expect"}, required: []string{"name", "consumer", "provider", "request", "expect"}}
	contractRequestFields = fields{known: []string{"method", "path", "body"}, required: []string{"method", "path"}}
	contractExpectFields  = fields{known: []string{"status", "schema"}, required: []string{"status", "schema"}}

	artifactsFields = fields{known: []string{"retain"}}
	rollbackFields  = fields{known: []string{"mode"}}
	gameDayFields   = fields{known: []string{"dashboard", "judge", "hidden_faults"}}
)

// Enumerations read by the walker and the schema alike (the others are in
// walk.go, or come from a registry).
var (
	approvals         = []string{ApprovalManual}
	onTimeoutPolicies = []string{OnTimeoutReject, OnTimeoutApprove}
	gameDayJudges     = []string{JudgeAutomatic, JudgeAdvisory, JudgeOff}
	schemaChecks      = []string{SchemaBaseline}
)

// rolloutKnown returns the fields a rollout may hold: its own, then the
// settings field of each registered strategy (strategy.Fields), which the
// loader knows because a strategy owns it, not from a list here.
func rolloutKnown() []string {
	return append(slices.Clip(rolloutFields.known), slices.Sorted(maps.Keys(strategy.Fields()))...)
}
