package process

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
)

func TestFileDigest(t *testing.T) {
	p := filepath.Join(t.TempDir(), "bin")
	body := []byte("a build")
	if err := os.WriteFile(p, body, 0o755); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	d, err := fileDigest(p)
	if err != nil || d != "sha256:"+hex.EncodeToString(sum[:]) {
		t.Fatalf("fileDigest = %q, %v", d, err)
	}
	if _, err := fileDigest(filepath.Join(t.TempDir(), "gone")); err == nil {
		t.Fatal("a missing file has no digest")
	}
}
