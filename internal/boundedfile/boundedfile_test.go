package boundedfile

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	ok := filepath.Join(dir, "ok.yaml")
	if err := os.WriteFile(ok, []byte("name: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, make([]byte, 11), 0o600); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "zero")
	if err := os.Symlink("/dev/zero", link); err != nil {
		t.Fatal(err)
	}
	if b, err := Read(ok, 10, "scenario"); err != nil || string(b) != "name: x\n" {
		t.Errorf("Read(ok) = %q, %v", b, err)
	}
	for path, want := range map[string]string{
		big:  "larger than 0 MiB, the most a scenario may be",
		fifo: "a named pipe (FIFO), not a regular file",
		link: "a device, not a regular file",
		dir:  "a directory, not a regular file",
	} {
		if _, err := Read(path, 10, "scenario"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Read(%s) error = %v, want %q", filepath.Base(path), err, want)
		}
	}
}
