package reports

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestTableWidth keeps the terminal summary of every golden report within
// TableWidth columns (TestGolden checks its text).
func TestTableWidth(t *testing.T) {
	table, ok := Lookup("table")
	if !ok {
		t.Fatal(`renderer "table" not registered`)
	}
	for _, tt := range goldenReports() {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := table.Render(&buf, tt.report); err != nil {
				t.Fatalf("Render: %v", err)
			}
			for i, line := range strings.Split(buf.String(), "\n") {
				if n := utf8.RuneCountInString(line); n > TableWidth {
					t.Errorf("line %d is %d columns wide, more than %d:\n%s", i+1, n, TableWidth, line)
				}
			}
		})
	}
}

// checkGolden compares got with testdata/name, writing it there first
// with -update.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	golden := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./reports -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (run with -update if the change is intended)\ngot:\n%s", golden, got)
	}
}
