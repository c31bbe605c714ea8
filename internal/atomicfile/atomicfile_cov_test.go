package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

// TestWriteFailuresLeaveNothing: a write that cannot complete leaves the
// old content (or nothing) and no temporary file behind.
func TestWriteFailuresLeaveNothing(t *testing.T) {
	dir := t.TempDir()
	if err := Write(filepath.Join(dir, "missing", "f"), []byte("x"), 0o600); err == nil {
		t.Fatal("wrote into a folder that does not exist")
	}
	// A folder in the way: the rename fails, the folder stays as it was.
	target := filepath.Join(dir, "taken")
	os.MkdirAll(filepath.Join(target, "inner"), 0o700)
	if err := Write(target, []byte("x"), 0o600); err == nil {
		t.Fatal("replaced a non-empty folder")
	}
	if fi, err := os.Stat(filepath.Join(target, "inner")); err != nil || !fi.IsDir() {
		t.Fatalf("the folder in the way changed: %v", err)
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if IsTemp(e.Name()) {
			t.Fatalf("a failed write left %s", e.Name())
		}
	}
}
