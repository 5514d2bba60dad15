// Package ledger is the drill's record of acknowledged writes and its
// check against the database.
//
// While the load runs, Transport sits under the load generator's HTTP
// client: every tracked write the service acknowledges (a 2xx answer) is
// appended by Writer to ledger.jsonl, with the columns the answer
// confirms; a write that got no answer is recorded as indeterminate. After
// the rollback, Check looks every acknowledged key up in the database and
// counts what was lost, changed or duplicated.
//
// Which requests are tracked is the load generator's business (package
// load); opening the database is the caller's (package dbcheck).
package ledger
