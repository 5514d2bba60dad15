package scenarios

// ValidName reports whether name is a valid scenario name (top-level
// `name:`, [a-z0-9-]+): the rule the loader applies, for tools that make
// a scenario from a name (drill init).
func ValidName(name string) bool { return scenarioNameRE.MatchString(name) }
