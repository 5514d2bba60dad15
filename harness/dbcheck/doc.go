// Package dbcheck is the harness's own access to a drill's databases: it
// opens them apart from the services' pools (OpenDB), applies a service's
// golang-migrate files with the armed migration faults (Migrator; a
// database's armed faults are its FaultPoint), takes and compares schema
// snapshots (Snapshot, Diff), and reads a scenario's invariants
// (ProbeInvariant; Probes once per analysis interval, ReadInvariant at the
// end of the drill).
//
// It does not start databases (package provider does) and does not judge
// what it finds: the drill decides whether a schema was restored or an
// invariant broken.
package dbcheck
