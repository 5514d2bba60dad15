package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/drillhq/drill/harness/provider"
	"github.com/drillhq/drill/scenarios"
)

func (c *cli) cmdValidate(_ context.Context, args []string) int {
	fs := newFlagSet(c, "validate")
	providerName := fs.String("provider", "", "check for this provider instead of environment.provider: "+strings.Join(provider.Names(), " or "))
	files, err := parseInterleaved(fs, args)
	if err != nil {
		return ExitInvalid
	}
	if len(files) == 0 {
		c.errorf("validate needs at least one scenario file")
		c.tryf("drill validate scenarios/*.yaml")
		return ExitInvalid
	}
	if *providerName != "" && !contains(provider.Names(), *providerName) {
		c.errorf("unknown provider %q (known: %v)", *providerName, provider.Names())
		return ExitInvalid
	}
	if _, ok := c.loadAll(files, *providerName); !ok {
		return ExitInvalid
	}
	for _, f := range files {
		fmt.Fprintf(c.stdout, "ok %s\n", f)
	}
	return ExitOK
}

// loadAll loads every file and prints every problem of every file before
// anything runs, including what the provider a run would use (provider,
// or else the scenario's own) cannot run; ok is false when any file has a
// problem.
func (c *cli) loadAll(files []string, providerName string) ([]*scenarios.Scenario, bool) {
	var out []*scenarios.Scenario
	ok := true
	names := map[string]string{}
	for _, f := range files {
		sc, err := loadScenario(f)
		if err == nil {
			err = sc.ProviderProblems(cmp.Or(providerName, sc.Environment.Provider), provider.Catalog())
		}
		if err != nil {
			ok = false
			var probs scenarios.Problems
			if errors.As(err, &probs) {
				fmt.Fprintln(c.stderr, probs.Error())
			} else {
				c.errorf("%v", err)
			}
			continue
		}
		if prev, dup := names[sc.Name]; dup {
			ok = false
			c.errorf("%s: scenario name %q is also used by %s (names must be unique in a suite)", f, sc.Name, prev)
			continue
		}
		names[sc.Name] = f
		out = append(out, sc)
	}
	return out, ok
}
