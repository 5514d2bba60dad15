//go:build !race

package judge

// raceEnabled: see race_on_test.go.
const raceEnabled = false
