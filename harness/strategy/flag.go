package strategy

import (
	"errors"
	"fmt"
	"reflect"

	"github.com/drillhq/drill/harness/flags"
)

func init() {
	Register("flag", "moves a growing fractional share of targeting keys to a flag's new variant (sticky: a key keeps its variant as the share grows); the rollback is the kill switch, the flag's definition before the drill",
		Kind{Field: "flag", Moves: MovesVariant, Parse: parseFlag,
			New: func(any) (Strategy, error) { return flagStrategy{}, nil }})
}

// Flags is the flag service a flag strategy changes: drill's OFREP server
// (package flags).
type Flags interface {
	// Set publishes a new definition of the flag key.
	Set(key string, f *flags.Flag) (revision int64, err error)
	// Published is the flag's definition as last published.
	Published(key string) (*flags.Flag, int64)
	// Original is the flag's definition before the drill.
	Original(key string) *flags.Flag
}

// parseFlag decodes `rollout.flag`: the key of a flag under `flags:` (the
// loader checks that it is one, and that `to` is one of its variants).
func parseFlag(decode func(any) error) (any, error) {
	var key string
	if err := decode(&key); err != nil {
		return nil, err
	}
	if key == "" {
		return nil, errors.New("rollout.flag: name a flag defined under flags:")
	}
	return key, nil
}

// flagStrategy changes what the flag service answers; the router and the
// instances stay as they are. It is how OpenFeature and flagd users
// release: the same build serves both code paths.
type flagStrategy struct{}

func (flagStrategy) Phases(steps []Phase) []Phase { return stepPhases(steps) }

// Labels are the variants' labels: the instances stamp X-Drill-Variant,
// and the router records each request under "flag=variant".
func (flagStrategy) Labels(rel Release) (string, string) {
	return rel.Flag + "=" + rel.Baseline, rel.Flag + "=" + rel.To
}

func (flagStrategy) Begin(Target, Release) error { return nil }

func (flagStrategy) Apply(t Target, rel Release, p Phase) (string, error) {
	if t.Flags == nil {
		return "", errors.New("no flag service")
	}
	orig := t.Flags.Original(rel.Flag)
	rev, err := t.Flags.Set(rel.Flag, flags.Share(orig, rel.To, p.Weight))
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s=%s for %.0f%% of targeting keys (revision %d)", rel.Flag, rel.To, p.Weight*100, rev), nil
}

// Promote makes the new variant the flag's default for every key.
func (flagStrategy) Promote(t Target, rel Release) error {
	if t.Flags == nil {
		return errors.New("no flag service")
	}
	f := t.Flags.Original(rel.Flag).Clone()
	f.DefaultVariant, f.Targeting = rel.To, nil
	_, err := t.Flags.Set(rel.Flag, f)
	return err
}

// Revert is the kill switch: the flag's definition before the drill.
func (flagStrategy) Revert(t Target, rel Release) (bool, string, error) {
	if t.Flags == nil {
		return false, "no flag service", nil
	}
	return RestoreFlag(t.Flags, rel.Flag)
}

// RestoreFlag publishes the flag's definition before the drill again,
// unless it is what the service publishes already.
func RestoreFlag(fs Flags, key string) (bool, string, error) {
	orig := fs.Original(key)
	cur, _ := fs.Published(key)
	if reflect.DeepEqual(orig, cur) {
		return false, key + " already at its definition before the drill", nil
	}
	rev, err := fs.Set(key, orig)
	if err != nil {
		return false, "", err
	}
	return true, fmt.Sprintf("%s restored to its definition before the drill (revision %d)", key, rev), nil
}
