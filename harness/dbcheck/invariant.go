package dbcheck

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/drillhq/drill/scenarios"
)

// invariantTimeout bounds one probe: a probe that outlives the analysis
// interval would stall the judge, and a probe stuck on a lock must not
// hang the drill.
const invariantTimeout = 2 * time.Second

// ProbeInvariant runs an invariant's SQL and returns its single numeric
// result. A query that returns no row, more than one column, NULL or a
// non-number is an error: an invariant that cannot be read must not pass.
func ProbeInvariant(ctx context.Context, db *sql.DB, inv *scenarios.Invariant) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, invariantTimeout)
	defer cancel()
	rows, err := db.QueryContext(ctx, inv.SQL)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return 0, err
	}
	if len(cols) != 1 {
		return 0, fmt.Errorf("the query returns %d columns; it must return one number", len(cols))
	}
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return 0, err
		}
		return 0, errors.New("the query returned no row; it must return one number")
	}
	var v any
	if err := rows.Scan(&v); err != nil {
		return 0, err
	}
	f, err := number(v)
	if err != nil {
		return 0, err
	}
	return f, rows.Close()
}

// number converts a scanned SQL value to a float64.
func number(v any) (float64, error) {
	switch x := v.(type) {
	case int64:
		return float64(x), nil
	case float64:
		return x, nil
	case bool:
		if x {
			return 1, nil
		}
		return 0, nil
	case []byte:
		return strconv.ParseFloat(strings.TrimSpace(string(x)), 64)
	case string:
		return strconv.ParseFloat(strings.TrimSpace(x), 64)
	case nil:
		return 0, errors.New("the query returned NULL; it must return a number (wrap it in COALESCE)")
	}
	return 0, fmt.Errorf("the query returned %T; it must return a number", v)
}
