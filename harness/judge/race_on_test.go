//go:build race

package judge

// raceEnabled is set under -race: the long seeded simulations skip there,
// where the detector slows pure arithmetic several times over and has
// nothing to find, and make test runs them in full without it.
const raceEnabled = true
