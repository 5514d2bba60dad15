//go:build !race

package judgesim

// raceEnabled: see race_on_test.go.
const raceEnabled = false
