package restorer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/digital-embassy/embassy/internal/repo"
)

// TestNotesOncePerKind: attributes the target refuses are counted and
// reported in one note, not silently dropped and not fatal.
func TestNotesOncePerKind(t *testing.T) {
	dir := t.TempDir()
	m := &metaApplier{}
	for _, name := range []string{"a", "b", "c"} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		// No file system has the namespace "nosuchns": every set fails.
		m.apply(p, &repo.Node{Type: repo.NodeFile, Mode: 0o640, Xattrs: []repo.Xattr{{Name: "nosuchns.x", Value: []byte("v")}}})
	}
	notes := m.notes()
	if len(notes) != 1 || !strings.HasPrefix(notes[0], "3 extended attributes or ACLs could not be set") || !strings.Contains(notes[0], "nosuchns.x") {
		t.Errorf("notes %q, want one counting 3 refused attributes and naming the first", notes)
	}
	fi, err := os.Stat(filepath.Join(dir, "c"))
	if err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("mode after a refused attribute: %v, %v", fi.Mode(), err)
	}
}
