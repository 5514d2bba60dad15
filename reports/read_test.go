package reports

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestReadRefusesWhatIsNotARegularFile: a report.json that is a link to
// /dev/zero was read until memory ran out, and a FIFO blocked forever;
// both, a directory and a file over MaxReportSize are refused before a
// byte is read.
func TestReadRefusesWhatIsNotARegularFile(t *testing.T) {
	dir := t.TempDir()
	link := func(name, target string) string {
		d := filepath.Join(dir, name)
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, filepath.Join(d, FileName)); err != nil {
			t.Fatal(err)
		}
		return d
	}
	fifo := filepath.Join(dir, "fifo.json")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	nested := filepath.Join(dir, "nested")
	if err := os.MkdirAll(filepath.Join(nested, FileName), 0o755); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.json")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	// Sparse: no disk space, and Read must not read it to find out.
	if err := f.Truncate(MaxReportSize + 1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	valid := filepath.Join(dir, "valid.json")
	if err := os.WriteFile(valid, []byte(`{"schema_version":1}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, path, want string
	}{
		{"run dir whose report.json links to /dev/zero", link("zero", "/dev/zero"), "is a device, not a regular file"},
		{"link to /dev/zero", filepath.Join(dir, "zero", FileName), "is a device, not a regular file"},
		{"FIFO", fifo, "is a named pipe (FIFO), not a regular file"},
		{"run dir whose report.json is a directory", nested, "is a directory, not a regular file"},
		{"over the size limit", big, "larger than 512 MiB"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Read(tt.path)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Read(%s) = %v, want an error containing %q", tt.path, err, tt.want)
			}
		})
	}
	// A link to a regular file is read: run directories get copied around
	// with links.
	if _, err := Read(link("ok", valid)); err != nil {
		t.Errorf("Read through a link to a regular file: %v", err)
	}
}

// TestDecode: bytes that are not a drill report are an error.
func TestDecode(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"", "unexpected end of JSON input"},
		{"null", "no schema_version"},
		{"[]", "cannot unmarshal array"},
		{`{"schema_version":1} {}`, "invalid character"},
		{`{"schema_version":-1}`, "schema_version -1 is not a version"},
		{`{"schema_version":2}`, "schema_version 2 is newer"},
		{`{"schema_version":1,"started_at":"yesterday"}`, "cannot parse"},
	} {
		r, err := Decode([]byte(tt.in))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Decode(%q) = %v, %v; want an error containing %q", tt.in, r, err, tt.want)
		}
	}
	r, err := Decode([]byte(`{"schema_version":1,"scenario":"x"}`))
	if err != nil || r.Scenario != "x" || r.Faults == nil || r.Series == nil {
		t.Errorf("Decode(minimal) = %+v, %v", r, err)
	}
}

// FuzzDecode feeds Decode, the parser behind Read (`drill report`,
// `drill compare`), arbitrary bytes, seeded with the golden reports of
// every renderer (report.json and the other formats, which must all be
// refused). It must never panic; bytes that are not JSON are an error;
// and a report it accepts encodes, and decodes again to the same bytes,
// as `drill report --format json` re-renders it.
func FuzzDecode(f *testing.F) {
	addGoldenSeeds(f, "*.golden")
	f.Add([]byte(`{"schema_version":1}`))
	f.Add([]byte(`{"schema_version":1,"decision":{"evidence":{"p":1e308,"n":[null,{}]}},"series":{"a":{"b":[{"start":"2026-11-01T12:00:00+14:00"}]}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Decode(data)
		if err != nil {
			if r != nil {
				t.Errorf("Decode returned a report with the error %v", err)
			}
			return
		}
		if !json.Valid(data) {
			t.Fatalf("Decode accepted bytes that are not JSON: %q", data)
		}
		if r.SchemaVersion < 1 || r.SchemaVersion > SchemaVersion {
			t.Fatalf("Decode accepted schema_version %d", r.SchemaVersion)
		}
		if r.Faults == nil || r.Timeline == nil || r.Series == nil || r.Leftovers == nil || r.Artifacts == nil {
			t.Fatalf("Decode left nil lists: %+v", r)
		}
		var first bytes.Buffer
		if err := Encode(&first, r); err != nil {
			t.Fatalf("a report Decode accepted does not encode: %v\ninput: %q", err, data)
		}
		again, err := Decode(first.Bytes())
		if err != nil {
			t.Fatalf("Decode refuses what Encode wrote: %v\n%s", err, first.Bytes())
		}
		var second bytes.Buffer
		if err := Encode(&second, again); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(first.Bytes(), second.Bytes()) {
			t.Fatalf("encode, decode, encode changes the report:\n%s\n%s", first.Bytes(), second.Bytes())
		}
	})
}

// FuzzRender renders every report Decode accepts with every registered
// renderer, as `drill report --format F` does with any report.json it is
// given. A renderer may refuse a report with an error (drill report exits
// 2) but must never panic.
func FuzzRender(f *testing.F) {
	addGoldenSeeds(f, "json_*.golden")
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Decode(data)
		if err != nil {
			return
		}
		for _, name := range Names() {
			rd, _ := Lookup(name)
			_ = rd.Render(io.Discard, r)
		}
	})
}

// addGoldenSeeds adds every golden file matching pattern in testdata as a
// fuzz seed.
func addGoldenSeeds(f *testing.F, pattern string) {
	seeds, err := filepath.Glob(filepath.Join("testdata", pattern))
	if err != nil || len(seeds) == 0 {
		f.Fatalf("no seeds %s: %v", pattern, err)
	}
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}
