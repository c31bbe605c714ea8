package workload

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestWipeRemovesEverything(t *testing.T) {
	dir, err := PrivateDir()
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
		t.Fatalf("plaintext folder mode %v, want 0700", fi.Mode().Perm())
	}
	sub := filepath.Join(dir, "data", "ro")
	os.MkdirAll(sub, 0o755)
	p := filepath.Join(sub, "weights.bin")
	os.WriteFile(p, []byte("secret weights"), 0o400)
	os.Chmod(sub, 0o500) // a read-only folder must not stop the wipe
	if err := Wipe(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s still exists: %v", dir, err)
	}
}
