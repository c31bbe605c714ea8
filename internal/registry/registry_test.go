package registry

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/digital-embassy/embassy/internal/sample"
)

func TestLookupSample(t *testing.T) {
	dir := t.TempDir()
	if _, err := sample.Generate(dir, sample.Options{Rows: 2000, Documents: 1, DocSize: 1024}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		file  string
		keyOf func(string) (uint64, bool)
		col   string
	}{
		{sample.PopulationFile, PersonalKey, "personal_id"},
		{sample.LandFile, ParcelKey, "cadastral_id"},
	} {
		tab, err := Open(filepath.Join(dir, tc.file), tc.keyOf)
		if err != nil {
			t.Fatal(err)
		}
		f, _ := os.Open(filepath.Join(dir, tc.file))
		s := bufio.NewScanner(f)
		s.Scan()
		n := 0
		for s.Scan() {
			key := strings.SplitN(s.Text(), ",", 2)[0]
			rec, err := tab.Lookup(key)
			if err != nil || rec[tc.col] != key {
				t.Fatalf("%s %s: got %v, %v", tc.file, key, rec, err)
			}
			n++
		}
		f.Close()
		if n != tab.Len() {
			t.Fatalf("%s: %d rows, %d indexed", tc.file, n, tab.Len())
		}
		if _, err := tab.Lookup("00000000000"); err != ErrNotFound {
			t.Fatalf("missing key: got %v", err)
		}
		tab.Close()
	}
}
