package reports

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestWriteFormatsRendersFromTheReport: each file format lands in the run
// directory with the bytes its renderer gives for the report read back
// from report.json, and an unknown format is an error naming it while the
// others are still written.
func TestWriteFormatsRendersFromTheReport(t *testing.T) {
	dir := t.TempDir()
	rep := rolledBackReport()
	if err := Write(dir, rep); err != nil {
		t.Fatal(err)
	}
	saved, err := Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	// The shipped file formats, sorted; a renderer added in a file of its
	// own joins them without this test changing.
	got := FileFormats()
	if !slices.IsSorted(got) {
		t.Errorf("FileFormats = %v, want sorted", got)
	}
	for _, f := range []string{"html", "junit", "markdown"} {
		if !slices.Contains(got, f) {
			t.Errorf("FileFormats = %v, want %s among them", got, f)
		}
	}
	for _, f := range []string{"json", "table"} {
		if slices.Contains(got, f) {
			t.Errorf("FileFormats = %v: %s writes no file of its own", got, f)
		}
	}
	written, err := WriteFormats(dir, saved, []string{"markdown", "pdf", "junit", "html"})
	if err == nil || !strings.Contains(err.Error(), `format "pdf" writes no file`) {
		t.Errorf("err = %v, want the unknown format named", err)
	}
	want := []string{filepath.Join(dir, "report.md"), filepath.Join(dir, "junit.xml"), filepath.Join(dir, "report.html")}
	if !slices.Equal(written, want) {
		t.Errorf("written %v, want %v", written, want)
	}
	for name, file := range map[string]string{"markdown": "report.md", "junit": "junit.xml", "html": "report.html"} {
		got, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		r, _ := Lookup(name)
		var b strings.Builder
		if err := r.Render(&b, saved); err != nil {
			t.Fatal(err)
		}
		if string(got) != b.String() {
			t.Errorf("%s differs from a fresh rendering of report.json", file)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".tmp-*")); len(left) != 0 {
		t.Errorf("temp files left: %v", left)
	}
}
