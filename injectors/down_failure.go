package injectors

import "errors"

func init() { Register("down-failure", downFailureKind{}) }

// DownFailureParams configures the down-failure kind.
type DownFailureParams struct {
	// Statement is the 1-based statement of the down file that fails.
	Statement int `yaml:"statement"`
	// Version picks the migration whose down file fails; 0 is the first
	// the rollback runs (the canary version's).
	Version        uint  `yaml:"version"`
	MultiStatement *bool `yaml:"multi_statement"`
}

type downFailureKind struct{}

func (downFailureKind) Describe() Description {
	return Description{
		Name: "down-failure",
		Summary: "the rollback's down migration of the canary version fails at statement N: the rollback cannot restore " +
			"the schema, says where it is stuck, and the drill's data integrity scores 0",
		Targets: "database",
		Params: []Param{
			{Name: "statement", Default: "1", Description: "1-based statement of the down file that fails"},
			{Name: "version", Default: "the canary's", Description: "migration version whose down file fails"},
			{Name: "multi_statement", Default: "true", Description: "run the down file statement by statement, leaving the statements before N applied"},
		},
	}
}

func (downFailureKind) MigrationDirection() string { return "down" }

func (downFailureKind) Parse(decode func(any) error) (any, error) {
	p := DownFailureParams{Statement: 1}
	if err := decode(&p); err != nil {
		return nil, err
	}
	if p.Statement < 1 {
		return nil, errors.New("down-failure params.statement must be >= 1")
	}
	return p, nil
}

func (downFailureKind) New(s Spec) Injector {
	p := s.Params.(DownFailureParams)
	a := &armed{target: s.Target}
	a.fault = &statementFailure{a: a, up: false, statement: p.Statement, version: p.Version, multi: p.MultiStatement == nil || *p.MultiStatement}
	return a
}
