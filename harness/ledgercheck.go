package harness

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/stdlib"

	"github.com/drillhq/drill/scenarios"
)

// LedgerResult counts what the ledger check found.
type LedgerResult struct {
	Acknowledged  int64    `json:"acknowledged"`
	Lost          int64    `json:"lost"`
	Changed       int64    `json:"changed"`
	Duplicated    int64    `json:"duplicated"`
	Indeterminate int64    `json:"indeterminate"`
	Examples      []string `json:"examples,omitempty"` // a few findings, for the report
}

// ledgerBatch is how many keys one query checks: memory stays bounded by
// it however many writes the drill acknowledged.
const ledgerBatch = 500

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func quoteIdent(s string) (string, error) {
	if !identRE.MatchString(s) {
		return "", fmt.Errorf("%q is not a plain SQL identifier", s)
	}
	return `"` + s + `"`, nil
}

// checkLedger reads the ledger file and looks every acknowledged key up in
// the database in batches: a key not found is lost, a key whose recorded
// columns differ is changed, a key found more than once is duplicated.
// Indeterminate writes (no answer) are counted apart, never as lost.
func checkLedger(ctx context.Context, db *sql.DB, spec *scenarios.Ledger, path string) (LedgerResult, error) {
	var res LedgerResult
	table, err := quoteIdent(spec.Table)
	if err != nil {
		return res, err
	}
	key, err := quoteIdent(spec.Key)
	if err != nil {
		return res, err
	}
	cols := make([]string, len(spec.Columns))
	for i, c := range spec.Columns {
		if cols[i], err = quoteIdent(c); err != nil {
			return res, err
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return res, fmt.Errorf("open ledger: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	batch := make([]ledgerEntry, 0, ledgerBatch)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := checkBatch(ctx, db, table, key, cols, spec.Columns, batch, &res)
		batch = batch[:0]
		return err
	}
	for sc.Scan() {
		var e ledgerEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return res, fmt.Errorf("ledger line: %w", err)
		}
		if e.Status != ledgerAcked {
			res.Indeterminate++
			continue
		}
		res.Acknowledged++
		batch = append(batch, e)
		if len(batch) == ledgerBatch {
			if err := flush(); err != nil {
				return res, err
			}
		}
	}
	if err := sc.Err(); err != nil {
		return res, fmt.Errorf("read ledger: %w", err)
	}
	return res, flush()
}

func checkBatch(ctx context.Context, db *sql.DB, table, key string, qcols, cols []string, batch []ledgerEntry, res *LedgerResult) error {
	args := make([]any, len(batch))
	marks := make([]string, len(batch))
	numbered := numberedParams(db)
	for i, e := range batch {
		args[i] = e.Key
		marks[i] = "?"
		if numbered {
			marks[i] = "$" + strconv.Itoa(i+1)
		}
	}
	sel := append([]string{key}, qcols...)
	q := fmt.Sprintf("SELECT %s FROM %s WHERE %s IN (%s)", strings.Join(sel, ", "), table, key, strings.Join(marks, ","))
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("ledger query: %w", err)
	}
	defer rows.Close()
	found := make(map[string][]map[string]string, len(batch))
	vals := make([]any, len(sel))
	ptrs := make([]any, len(sel))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return fmt.Errorf("ledger scan: %w", err)
		}
		row := make(map[string]string, len(cols))
		for i, c := range cols {
			row[c] = dbScalar(vals[i+1])
		}
		k := dbScalar(vals[0])
		found[k] = append(found[k], row)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("ledger rows: %w", err)
	}
	for _, e := range batch {
		rowsFor := found[e.Key]
		switch {
		case len(rowsFor) == 0:
			res.Lost++
			res.example("lost: %s", e.Key)
			continue
		case len(rowsFor) > 1:
			res.Duplicated++
			res.example("duplicated: %s (%d rows)", e.Key, len(rowsFor))
		}
		for _, c := range cols {
			want, ok := e.Columns[c]
			if !ok {
				continue // the request did not send this column
			}
			if got := rowsFor[0][c]; got != want {
				res.Changed++
				res.example("changed: %s %s=%q, acknowledged %q", e.Key, c, got, want)
				break
			}
		}
	}
	return nil
}

// numberedParams reports whether db's driver wants $1, $2… placeholders
// (PostgreSQL) rather than ? (SQLite).
func numberedParams(db *sql.DB) bool {
	_, ok := db.Driver().(*stdlib.Driver)
	return ok
}

func (r *LedgerResult) example(format string, args ...any) {
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
