// Package load is the drill's client traffic: a vegeta attack at the load
// target's router, with the scenario's weighted requests, placeholders
// rendered from a seeded stream (template.go), a constant or ramped rate,
// and the tracked writes sent through the ledger's transport.
//
// It counts every result, and apart those sent after T0 (MarkExposure),
// for the report's blast radius; the metrics of what it sees go to the
// recorder the drill gives it.
package load
