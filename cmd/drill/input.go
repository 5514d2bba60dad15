package main

import "github.com/drillhq/drill/scenarios"

// loadScenario reads the scenario file at path through scenarios.Load: a
// regular file of at most scenarios.MaxFileSize bytes (a FIFO blocked the
// commands forever and /dev/zero never ended).
func loadScenario(path string) (*scenarios.Scenario, error) { return scenarios.Load(path) }
