package ledger

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/drillhq/drill/harness/internal/testdb"
)

func TestLedgerEntryFromBody(t *testing.T) {
	cols := []string{"sku", "qty", "gift", "note", "meta", "price"}
	tests := []struct {
		name     string
		body     string
		cols     []string
		wantKey  string
		wantCols map[string]string
		wantErr  string
	}{
		{name: "string key, every kind of column", body: `{"client_ref":"r-1","sku":"A","qty":3,"gift":true,"note":null,"meta":{"a":[1,2]},"price":2.5}`, cols: cols,
			wantKey: "r-1", wantCols: map[string]string{"sku": "A", "qty": "3", "gift": "1", "note": "", "meta": `{"a":[1,2]}`, "price": "2.5"}},
		{name: "false renders like a 0 column", body: `{"client_ref":"r","gift":false}`, cols: []string{"gift"},
			wantKey: "r", wantCols: map[string]string{"gift": "0"}},
		{name: "unsent column is left out, not empty", body: `{"client_ref":"r-2","sku":"B"}`, cols: []string{"sku", "qty"},
			wantKey: "r-2", wantCols: map[string]string{"sku": "B"}},
		{name: "number key", body: `{"client_ref":42}`, wantKey: "42"},
		{name: "float key without exponent", body: `{"client_ref":1e6}`, wantKey: "1000000"},
		{name: "whole float renders as an integer", body: `{"client_ref":"r","qty":3.0}`, cols: []string{"qty"},
			wantKey: "r", wantCols: map[string]string{"qty": "3"}},
		{name: "negative", body: `{"client_ref":"r","qty":-7}`, cols: []string{"qty"},
			wantKey: "r", wantCols: map[string]string{"qty": "-7"}},
		{name: "no columns asked", body: `{"client_ref":"r","sku":"A"}`, wantKey: "r"},
		{name: "key missing", body: `{"sku":"A"}`, wantErr: `no field "client_ref"`},
		{name: "key case differs", body: `{"Client_Ref":"r"}`, wantErr: `no field "client_ref"`},
		{name: "not JSON", body: `client_ref=r`, wantErr: "not a JSON object"},
		{name: "JSON array", body: `[{"client_ref":"r"}]`, wantErr: "not a JSON object"},
		{name: "JSON null", body: `null`, wantErr: `no field "client_ref"`},
		{name: "empty body", body: ``, wantErr: "not a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := entryFromBody([]byte(tt.body), "client_ref", tt.cols)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if e.Key != tt.wantKey {
				t.Errorf("Key = %q, want %q", e.Key, tt.wantKey)
			}
			if len(e.Columns) != 0 || len(tt.wantCols) != 0 {
				if !reflect.DeepEqual(e.Columns, tt.wantCols) {
					t.Errorf("Columns = %v, want %v", e.Columns, tt.wantCols)
				}
			}
			if e.At == 0 || e.Status != "" {
				t.Errorf("At %d, Status %q: want a time and no status yet", e.At, e.Status)
			}
		})
	}
}

// TestLedgerEntryFromBodyBigInteger: a JSON integer above 2^53 (a
// snowflake id, say) is decoded as float64 and rendered rounded, so the
// ledger records a key the database never held: a false "lost".
func TestLedgerEntryFromBodyBigInteger(t *testing.T) {
	e, err := entryFromBody([]byte(`{"client_ref":9007199254740993,"qty":9007199254740993}`), "client_ref", []string{"qty"})
	if err != nil {
		t.Fatal(err)
	}
	if e.Key != "9007199254740993" || e.Columns["qty"] != "9007199254740993" {
		t.Errorf("entry = %+v, want key and qty 9007199254740993", e)
	}
}

// TestScalarsAgree stores what a client sent in a real SQLite column and
// checks dbScalar renders the scanned value as jsonScalar renders the sent
// one: that string equality is what the ledger check relies on.
func TestScalarsAgree(t *testing.T) {
	tests := []struct {
		name    string
		sqlType string
		stored  string // SQL literal the service stored
		sent    string // JSON value the client sent
		want    string
	}{
		{name: "integer", sqlType: "INTEGER", stored: "3", sent: "3", want: "3"},
		{name: "bigint", sqlType: "BIGINT", stored: "123456789012", sent: "123456789012", want: "123456789012"},
		{name: "negative", sqlType: "INTEGER", stored: "-7", sent: "-7", want: "-7"},
		{name: "whole number sent as float", sqlType: "INTEGER", stored: "3", sent: "3.0", want: "3"},
		{name: "real", sqlType: "REAL", stored: "2.5", sent: "2.5", want: "2.5"},
		{name: "whole real", sqlType: "REAL", stored: "3", sent: "3", want: "3"},
		{name: "numeric", sqlType: "NUMERIC", stored: "19.99", sent: "19.99", want: "19.99"},
		{name: "text", sqlType: "TEXT", stored: "'SKU-1'", sent: `"SKU-1"`, want: "SKU-1"},
		{name: "digits as text", sqlType: "TEXT", stored: "'0042'", sent: `"0042"`, want: "0042"},
		{name: "number string into integer column", sqlType: "INTEGER", stored: "'42'", sent: `"42"`, want: "42"},
		{name: "empty text", sqlType: "TEXT", stored: "''", sent: `""`, want: ""},
		{name: "unicode text", sqlType: "TEXT", stored: "'crème brûlée'", sent: `"crème brûlée"`, want: "crème brûlée"},
		{name: "boolean true", sqlType: "BOOLEAN", stored: "1", sent: "true", want: "1"},
		{name: "boolean false", sqlType: "BOOLEAN", stored: "0", sent: "false", want: "0"},
		{name: "null", sqlType: "TEXT", stored: "NULL", sent: "null", want: ""},
		{name: "blob", sqlType: "BLOB", stored: "CAST('ab' AS BLOB)", sent: `"ab"`, want: "ab"},
		{name: "integer above 2^53", sqlType: "BIGINT", stored: "9007199254740993", sent: "9007199254740993", want: "9007199254740993"},
		{name: "timestamp", sqlType: "TIMESTAMP", stored: "'2025-01-02T03:04:05Z'", sent: `"2025-01-02T03:04:05Z"`, want: "2025-01-02T03:04:05Z"},
	}
	db := testdb.Open(t, testdb.SQLite(t))
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			table := fmt.Sprintf("scalar_%d", i)
			testdb.Exec(t, db, fmt.Sprintf(`CREATE TABLE %s (v %s)`, table, tt.sqlType))
			testdb.Exec(t, db, fmt.Sprintf(`INSERT INTO %s (v) VALUES (%s)`, table, tt.stored))
			var v any
			if err := db.QueryRow(`SELECT v FROM ` + table).Scan(&v); err != nil {
				t.Fatal(err)
			}
			// Decoded as entryFromBody decodes request bodies.
			var sent any
			dec := json.NewDecoder(strings.NewReader(tt.sent))
			dec.UseNumber()
			if err := dec.Decode(&sent); err != nil {
				t.Fatal(err)
			}
			fromDB, fromJSON := dbScalar(v), jsonScalar(sent)
			if fromDB != tt.want || fromJSON != tt.want {
				t.Errorf("dbScalar(%#v) = %q, jsonScalar(%s) = %q; want both %q", v, fromDB, tt.sent, fromJSON, tt.want)
			}
		})
	}
}

func TestLedgerWriterAfterClose(t *testing.T) {
	lw, err := Open(filepath.Join(t.TempDir(), "ledger.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	lw.Write(Entry{Key: "a", Status: Acked})
	lw.Flush()
	if got := readLedger(t, lw.path); len(got) != 1 {
		t.Errorf("after flush the file holds %d entries, want 1", len(got))
	}
	if err := lw.Close(); err != nil {
		t.Fatal(err)
	}
	lw.Write(Entry{Key: "b", Status: Acked}) // a late answer must not panic
	lw.Flush()
	if err := lw.Close(); err != nil {
		t.Errorf("second close = %v", err)
	}
	if got := readLedger(t, lw.path); len(got) != 1 || lw.acked != 1 || lw.Last() != "a" {
		t.Errorf("after close: %d entries, acked %d, last %q; want 1, 1, a", len(got), lw.acked, lw.Last())
	}
}

// TestKeepAcknowledged: a column the answer leaves out was not
// acknowledged; the body is handed on whole either way.
func TestKeepAcknowledged(t *testing.T) {
	tests := []struct {
		name, answer string
		want         map[string]string
	}{
		{"answer names every column", `{"client_ref":"r","sku":"A","channel":"web"}`, map[string]string{"sku": "A", "channel": "mobile"}},
		{"answer leaves channel out", `{"client_ref":"r","sku":"A"}`, map[string]string{"sku": "A"}},
		{"answer is not JSON", `created`, map[string]string{"sku": "A", "channel": "mobile"}},
		{"answer is a JSON array", `[1]`, map[string]string{"sku": "A", "channel": "mobile"}},
		{"answer is larger than the cap", `{"client_ref":"r","pad":"` + strings.Repeat("x", maxAckBody) + `"}`, map[string]string{"sku": "A", "channel": "mobile"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := Entry{Key: "r", Columns: map[string]string{"sku": "A", "channel": "mobile"}}
			body := keepAcknowledged(&e, io.NopCloser(strings.NewReader(tt.answer)))
			got, err := io.ReadAll(body)
			if err != nil || string(got) != tt.answer {
				t.Errorf("body handed on = %d bytes, %v; want the answer unchanged (%d bytes)", len(got), err, len(tt.answer))
			}
			if !reflect.DeepEqual(e.Columns, tt.want) {
				t.Errorf("columns = %v, want %v", e.Columns, tt.want)
			}
		})
	}
}

// readLedger decodes a closed ledger file.
func readLedger(t *testing.T, path string) []Entry {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []Entry
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e Entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("ledger line %q: %v", sc.Text(), err)
		}
		out = append(out, e)
	}
	return out
}
