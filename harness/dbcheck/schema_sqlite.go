package dbcheck

import (
	"context"
	"database/sql"
	"strings"
)

// sqliteRels ends a catalog query over the relations m of the main schema,
// minus internal and bookkeeping ones.
const sqliteRels = ` WHERE m.type IN ('table', 'view') AND m.name NOT LIKE 'sqlite\_%' ESCAPE '\' AND m.name <> '` + migrationsTable + `'`

// sqliteSchema reads SQLite's catalog. Each query joins sqlite_master with
// table-valued pragmas, so all rows come from single statements: the
// harness's SQLite handle has one connection, and a query nested inside
// another's open rows would wait for it forever.
func sqliteSchema(ctx context.Context, db *sql.DB) ([]string, error) {
	return readCatalog(ctx, db, sqliteRelations, sqliteColumns, sqliteIndexes, sqliteForeignKeys, sqliteTriggers)
}

// sqliteRelations describes tables, with their options and CHECK
// constraints, and views.
func sqliteRelations(ctx context.Context, db *sql.DB) ([]string, error) {
	rows, err := queryStrings(ctx, db, `SELECT m.type, m.name, coalesce(m.sql, ''), t.wr, t.strict `+
		`FROM sqlite_master m JOIN pragma_table_list t ON t.schema = 'main' AND t.name = m.name`+sqliteRels)
	if err != nil {
		return nil, err
	}
	var lines []string
	for _, r := range rows {
		typ, name, text := r[0], r[1], r[2]
		if typ == "view" {
			// The SELECT after the first top-level AS; the view's own
			// name and column list come before it.
			def := text
			toks := sqlTokens(text)
			for i, t := range toks {
				if t.depth == 0 && strings.EqualFold(t.text(text), "AS") {
					def = squeeze(text, toks[i+1:])
					break
				}
			}
			lines = append(lines, "view "+name+" as "+def)
			continue
		}
		line := "table " + name
		if r[3] == "1" {
			line += " without rowid"
		}
		if r[4] == "1" {
			line += " strict"
		}
		lines = append(lines, line)
		lines = append(lines, sqliteChecks(name, text)...)
	}
	return lines, nil
}

// sqliteColumns describes columns, and the primary key with its members
// in declared order.
func sqliteColumns(ctx context.Context, db *sql.DB) ([]string, error) {
	rows, err := queryStrings(ctx, db, `SELECT m.name, p.name, p.type, p."notnull", p.dflt_value, p.pk `+
		`FROM sqlite_master m JOIN pragma_table_info(m.name) p`+sqliteRels+` ORDER BY m.name, p.pk`)
	if err != nil {
		return nil, err
	}
	var lines []string
	pk := map[string][]string{}
	for _, r := range rows {
		table, col, typ := r[0], r[1], strings.ToLower(r[2]) // types are case-insensitive
		if typ == "" {
			typ = "untyped"
		}
		line := "column " + table + "." + col + " " + typ + nullability(r[3] == "1")
		if r[4] != "" {
			line += " default " + r[4]
		}
		if r[5] != "0" {
			line += " primary key"
			pk[table] = append(pk[table], col)
		}
		lines = append(lines, line)
	}
	for table, cols := range pk {
		lines = append(lines, "primary key ("+strings.Join(cols, ", ")+") on "+table)
	}
	return lines, nil
}

// sqliteIndexes describes indexes with their key columns, read one row
// per column. The primary key's autoindex is left out: the primary key
// line says it all.
func sqliteIndexes(ctx context.Context, db *sql.DB) ([]string, error) {
	rows, err := queryStrings(ctx, db, `SELECT m.name, l.name, l."unique", l.origin, coalesce(s.sql, ''), x.cid, x.name, x."desc", x.coll `+
		`FROM sqlite_master m JOIN pragma_index_list(m.name) l JOIN pragma_index_xinfo(l.name) x `+
		`LEFT JOIN sqlite_master s ON s.type = 'index' AND s.name = l.name`+sqliteRels+` AND l.origin <> 'pk' AND x.key = 1 ORDER BY m.name, l.name, x.seqno`)
	if err != nil {
		return nil, err
	}
	var lines []string
	for _, index := range groups(rows) {
		lines = append(lines, sqliteIndex(index))
	}
	return lines, nil
}

// sqliteForeignKeys describes foreign keys, read one row per column pair.
func sqliteForeignKeys(ctx context.Context, db *sql.DB) ([]string, error) {
	rows, err := queryStrings(ctx, db, `SELECT m.name, f.id, f."table", f."from", coalesce(f."to", ''), f.on_update, f.on_delete, f.match `+
		`FROM sqlite_master m JOIN pragma_foreign_key_list(m.name) f`+sqliteRels+` ORDER BY m.name, f.id, f.seq`)
	if err != nil {
		return nil, err
	}
	var lines []string
	for _, fk := range groups(rows) {
		var from, to []string
		for _, r := range fk {
			from, to = append(from, r[3]), append(to, r[4])
		}
		r := fk[0]
		line := "foreign key (" + strings.Join(from, ", ") + ") on " + r[0] + " references " + r[2]
		if to[0] != "" { // empty: the parent's primary key, implicitly
			line += " (" + strings.Join(to, ", ") + ")"
		}
		for i, action := range []string{"on update", "on delete", "match"} {
			if v := strings.ToLower(r[5+i]); v != "no action" && v != "none" {
				line += " " + action + " " + v
			}
		}
		lines = append(lines, line)
	}
	return lines, nil
}

// sqliteTriggers describes triggers by their CREATE text.
func sqliteTriggers(ctx context.Context, db *sql.DB) ([]string, error) {
	return catalogLines(ctx, db, `SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name <> '`+migrationsTable+`'`, func(r []string) string {
		return "trigger " + r[0] + " on " + r[1] + ": " + squeeze(r[2], sqlTokens(r[2]))
	})
}

// sqliteIndex describes one index from its pragma_index_xinfo rows (see
// sqliteIndexes). Column names come from the pragma; expressions, which it
// reports as cid -2 with no name, and the partial predicate come from the
// CREATE INDEX text.
func sqliteIndex(rows [][]string) string {
	table, name, unique, origin, text := rows[0][0], rows[0][1], rows[0][2] == "1", rows[0][3], rows[0][4]
	var terms []string // the CREATE INDEX column list, split at its commas
	where := ""
	toks := sqlTokens(text)
	for i, t := range toks {
		if t.depth == 0 && t.text(text) == "(" {
			start := i + 1
			for j := start; j < len(toks) && toks[j].depth > 0; j++ {
				if toks[j].depth == 1 && toks[j].text(text) == "," {
					terms, start = append(terms, squeeze(text, toks[start:j])), j+1
				}
			}
			end := start
			for end < len(toks) && toks[end].depth > 0 {
				end++
			}
			terms = append(terms, squeeze(text, toks[start:end]))
			if end+1 < len(toks) && strings.EqualFold(toks[end+1].text(text), "WHERE") {
				where = squeeze(text, toks[end+2:])
			}
			break
		}
	}
	var cols []string
	for i, r := range rows {
		cid, col, desc, coll := r[5], r[6], r[7] == "1", r[8]
		switch {
		case cid == "-2" && i < len(terms):
			col = terms[i] // as written, with any COLLATE or DESC
		case cid == "-1":
			col = "rowid"
		default:
			if !strings.EqualFold(coll, "BINARY") {
				col += " collate " + coll
			}
			if desc {
				col += " desc"
			}
		}
		cols = append(cols, col)
	}
	list := "(" + strings.Join(cols, ", ") + ")"
	if origin == "u" { // a UNIQUE constraint's autoindex
		return "unique " + list + " on " + table
	}
	line := "index " + name + " on " + table + " " + list
	if unique {
		line += " unique"
	}
	if where != "" {
		line += " where " + where
	}
	return line
}

// sqliteChecks extracts the CHECK constraints of a CREATE TABLE text: SQLite
// has no pragma for them. A CHECK keyword directly inside the column list
// (depth 1: column constraint or table constraint alike) is always the
// constraint, since a column named check must be quoted.
func sqliteChecks(table, text string) []string {
	var out []string
	toks := sqlTokens(text)
	for i, t := range toks {
		if t.depth != 1 || !strings.EqualFold(t.text(text), "CHECK") || i+1 >= len(toks) || toks[i+1].text(text) != "(" {
			continue
		}
		end := i + 2
		for end < len(toks) && toks[end].depth > 1 {
			end++
		}
		line := "check (" + squeeze(text, toks[i+2:end]) + ") on " + table
		if i >= 2 && strings.EqualFold(toks[i-2].text(text), "CONSTRAINT") {
			line = "constraint " + toks[i-1].text(text) + " " + line
		}
		out = append(out, line)
	}
	return out
}

// groups splits rows into runs that agree on their first two columns
// (table and object), as the catalog queries return one row per column of
// an index or foreign key.
func groups(rows [][]string) [][][]string {
	var out [][][]string
	for len(rows) > 0 {
		n := 1
		for n < len(rows) && rows[n][0] == rows[0][0] && rows[n][1] == rows[0][1] {
			n++
		}
		out, rows = append(out, rows[:n]), rows[n:]
	}
	return out
}
