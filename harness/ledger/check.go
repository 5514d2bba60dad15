package ledger

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/drillhq/drill/scenarios"
)

// Result counts what the ledger check found.
type Result struct {
	Acknowledged  int64    `json:"acknowledged"`
	Lost          int64    `json:"lost"`
	Changed       int64    `json:"changed"`
	Duplicated    int64    `json:"duplicated"`
	Indeterminate int64    `json:"indeterminate"`
	Examples      []string `json:"examples,omitempty"` // a few findings, for the report
}

// batchSize is how many keys one query checks: memory stays bounded by
// it however many writes the drill acknowledged.
const batchSize = 500

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func quoteIdent(s string) (string, error) {
	if !identRE.MatchString(s) {
		return "", fmt.Errorf("%q is not a plain SQL identifier", s)
	}
	return `"` + s + `"`, nil
}

// Check reads the ledger file and looks every acknowledged key up in
// the database in batches: a key not found is lost, a key whose recorded
// columns differ is changed, a key found more than once is duplicated.
// Indeterminate writes (no answer) are counted apart, never as lost.
//
// The table's columns are read first, so a schema that lost part of what
// was acknowledged is a finding, not an error: without the table or its
// key column every acknowledged write is lost; without a recorded column
// (a down migration dropped it) every write that recorded a value for it
// is changed, its other columns still compared.
func Check(ctx context.Context, db *sql.DB, spec *scenarios.Ledger, path string) (Result, error) {
	var res Result
	table, err := quoteIdent(spec.Table)
	if err != nil {
		return res, err
	}
	key, err := quoteIdent(spec.Key)
	if err != nil {
		return res, err
	}
	for _, c := range spec.Columns {
		if _, err := quoteIdent(c); err != nil {
			return res, err
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return res, fmt.Errorf("open ledger: %w", err)
	}
	defer f.Close()
	b := &batcher{db: db, table: table, key: key, cols: spec.Columns, numbered: numberedParams(db)}
	defer b.close()
	have, err := tableColumns(ctx, db, table)
	switch {
	case errors.Is(err, errNoTable):
		b.gone = fmt.Sprintf("table %s missing", spec.Table)
	case err != nil:
		return res, err
	case !have.has(spec.Key):
		b.gone = fmt.Sprintf("key column %s missing", spec.Key)
	}
	b.init(have)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		k, status, err := b.decode(sc.Bytes())
		if err != nil {
			return res, fmt.Errorf("ledger line: %w", err)
		}
		if status != Acked {
			res.Indeterminate++
			continue
		}
		res.Acknowledged++
		if b.gone != "" {
			res.Lost++
			res.example("lost: %s (%s)", k, b.gone)
			continue
		}
		b.keys[b.n] = k
		b.n++
		if b.n == batchSize {
			if err := b.check(ctx, &res); err != nil {
				return res, err
			}
		}
	}
	if err := sc.Err(); err != nil {
		return res, fmt.Errorf("read ledger: %w", err)
	}
	return res, b.check(ctx, &res)
}

// errNoTable is tableColumns' answer for a table that does not exist.
var errNoTable = errors.New("no such table")

// columnSet is the column names of a table.
type columnSet struct {
	names []string
	fold  bool // names match case-insensitively (SQLite)
}

func (s columnSet) has(name string) bool {
	for _, n := range s.names {
		if n == name || s.fold && strings.EqualFold(n, name) {
			return true
		}
	}
	return false
}

// tableColumns lists the columns of table (a quoted identifier) with a
// query that returns none of its rows, the same on SQLite and PostgreSQL.
func tableColumns(ctx context.Context, db *sql.DB, table string) (columnSet, error) {
	numbered := numberedParams(db)
	rows, err := db.QueryContext(ctx, "SELECT * FROM "+table+" WHERE 1=0")
	if err != nil {
		if undefinedTable(err, numbered) {
			return columnSet{}, errNoTable
		}
		return columnSet{}, fmt.Errorf("ledger query: %w", err)
	}
	defer rows.Close()
	names, err := rows.Columns()
	if err != nil {
		return columnSet{}, fmt.Errorf("ledger query: %w", err)
	}
	// SQLite matches quoted identifiers without regard to case;
	// PostgreSQL's quoted identifiers are exact.
	return columnSet{names: names, fold: !numbered}, rows.Close()
}

// undefinedTable tells a missing table from any other failure (a database
// that cannot be reached must stay an error, not become lost writes).
func undefinedTable(err error, postgres bool) bool {
	if postgres {
		var pe *pgconn.PgError
		return errors.As(err, &pe) && pe.Code == "42P01" // undefined_table
	}
	return strings.Contains(err.Error(), "no such table")
}

// batcher holds up to batchSize acknowledged entries and checks
// them with one query. Its buffers are allocated once and reused, so the
// check's memory does not grow with the ledger, and no map or slice is
// allocated per entry or per row.
type batcher struct {
	db         *sql.DB
	table, key string
	cols       []string // the ledger's columns, in spec order
	numbered   bool
	gone       string // set when the table or key column is missing: every write is lost

	// col[i] is the index of cols[i] among the queried columns, or -1
	// when the table no longer has it.
	col   []int
	query string // for a full batch; built once
	sel   string // "SELECT key, cols FROM table WHERE key IN "

	n    int
	keys []string // n keys
	want []string // n*len(cols) acknowledged values
	sent []bool   // n*len(cols): whether the entry recorded the column

	scratch Entry // a line encoding/json decodes

	stmt *sql.Stmt // the full batch's query, prepared once

	slot  map[string]int // distinct key -> index into seen/got
	uniq  []any          // distinct keys, the query's arguments
	seen  []int          // rows found per distinct key
	got   []string       // first row's values per distinct key, nq each
	nq    int            // queried columns besides the key
	scan  []any
	vals  []any
	marks []string
}

func (b *batcher) init(have columnSet) {
	b.col = make([]int, len(b.cols))
	sel := []string{b.key}
	for i, c := range b.cols {
		b.col[i] = -1
		if b.gone == "" && have.has(c) {
			b.col[i] = len(sel) - 1
			q, _ := quoteIdent(c) // checked by Check
			sel = append(sel, q)
		}
	}
	b.nq = len(sel) - 1
	b.sel = fmt.Sprintf("SELECT %s FROM %s WHERE %s IN ", strings.Join(sel, ", "), b.table, b.key)
	b.vals = make([]any, len(sel))
	b.scan = make([]any, len(sel))
	for i := range b.vals {
		b.scan[i] = &b.vals[i]
	}
	if b.gone != "" {
		return
	}
	nc := len(b.cols)
	b.keys = make([]string, batchSize)
	b.want = make([]string, batchSize*nc)
	b.sent = make([]bool, batchSize*nc)
	b.slot = make(map[string]int, batchSize)
	b.uniq = make([]any, 0, batchSize)
	b.seen = make([]int, batchSize)
	b.got = make([]string, batchSize*b.nq)
	b.marks = make([]string, batchSize)
	for i := range b.marks {
		b.marks[i] = "?"
		if b.numbered {
			b.marks[i] = "$" + strconv.Itoa(i+1)
		}
	}
	b.query = b.sel + "(" + strings.Join(b.marks, ",") + ")"
}

// decode reads one ledger line. The entry's recorded columns go to row
// b.n of the batch, which the caller then keeps (b.n++) or not.
func (b *batcher) decode(line []byte) (key, status string, err error) {
	if key, status, ok := b.decodeFast(line); ok {
		return key, status, nil
	}
	e := &b.scratch
	clear(e.Columns)
	e.Key, e.Status = "", ""
	if err := json.Unmarshal(line, e); err != nil {
		return "", "", err
	}
	if b.want != nil {
		row := b.n * len(b.cols)
		for j, c := range b.cols {
			b.want[row+j], b.sent[row+j] = e.Columns[c]
		}
	}
	return e.Key, e.Status, nil
}

// check looks the batch up and counts what it finds; the batch is empty
// afterwards.
func (b *batcher) check(ctx context.Context, res *Result) error {
	if b.n == 0 {
		return nil
	}
	defer b.reset()
	for _, k := range b.keys[:b.n] {
		if _, ok := b.slot[k]; !ok {
			b.slot[k] = len(b.uniq)
			b.uniq = append(b.uniq, k)
		}
	}
	var rows *sql.Rows
	var err error
	if len(b.uniq) == batchSize {
		if b.stmt == nil {
			if b.stmt, err = b.db.PrepareContext(ctx, b.query); err != nil {
				return fmt.Errorf("ledger query: %w", err)
			}
		}
		rows, err = b.stmt.QueryContext(ctx, b.uniq...)
	} else {
		q := b.sel + "(" + strings.Join(b.marks[:len(b.uniq)], ",") + ")"
		rows, err = b.db.QueryContext(ctx, q, b.uniq...)
	}
	if err != nil {
		return fmt.Errorf("ledger query: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := rows.Scan(b.scan...); err != nil {
			return fmt.Errorf("ledger scan: %w", err)
		}
		s, ok := b.slot[dbScalar(b.vals[0])]
		if !ok {
			continue // not a key that was asked for
		}
		if b.seen[s]++; b.seen[s] == 1 {
			for j := range b.nq {
				b.got[s*b.nq+j] = dbScalar(b.vals[j+1])
			}
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("ledger rows: %w", err)
	}
	nc := len(b.cols)
	for i, k := range b.keys[:b.n] {
		s := b.slot[k]
		switch n := b.seen[s]; {
		case n == 0:
			res.Lost++
			res.example("lost: %s", k)
			continue
		case n > 1:
			res.Duplicated++
			res.example("duplicated: %s (%d rows)", k, n)
		}
		for j, c := range b.cols {
			if !b.sent[i*nc+j] {
				continue // the request did not send this column
			}
			want := b.want[i*nc+j]
			if b.col[j] < 0 {
				res.Changed++
				res.example("changed: %s %s: column dropped, acknowledged %q", k, c, want)
				break
			}
			if got := b.got[s*b.nq+b.col[j]]; got != want {
				res.Changed++
				res.example("changed: %s %s=%q, acknowledged %q", k, c, got, want)
				break
			}
		}
	}
	return nil
}

func (b *batcher) close() {
	if b.stmt != nil {
		b.stmt.Close()
	}
}

func (b *batcher) reset() {
	clear(b.slot)
	clear(b.uniq)
	b.uniq = b.uniq[:0]
	clear(b.seen[:b.n])
	clear(b.keys[:b.n])
	clear(b.want[:b.n*len(b.cols)])
	b.n = 0
}

// numberedParams reports whether db's driver wants $1, $2… placeholders
// (PostgreSQL) rather than ? (SQLite).
func numberedParams(db *sql.DB) bool {
	_, ok := db.Driver().(*stdlib.Driver)
	return ok
}

func (r *Result) example(format string, args ...any) {
	if len(r.Examples) < 10 {
		r.Examples = append(r.Examples, fmt.Sprintf(format, args...))
	}
}

// dbScalar renders a scanned column value the way jsonScalar renders the
// value the client sent.
func dbScalar(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case []byte:
		return string(x)
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		if x {
			return "1"
		}
		return "0"
	case time.Time:
		// Drivers scan TIMESTAMP columns as time.Time; clients send RFC 3339.
		return x.UTC().Format(time.RFC3339Nano)
	}
	return fmt.Sprint(v)
}
