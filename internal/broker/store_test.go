package broker

import (
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A bad state file is refused with the file and the problem named; nothing
// in it reaches the cedar policy unescaped.
func TestStoreRefusesBadFiles(t *testing.T) {
	for _, tc := range []struct{ name, file, text, want string }{
		{"unknown field", ReleaseFile, "rules:\n  - name: a\n    datasets: [x]\n    tee: [tpm]\n    refs: [r]\n    site: [lu]\n", "field site not found"},
		{"no tee", ReleaseFile, "rules:\n  - name: a\n    datasets: [x]\n    refs: [r]\n", "tee and refs are required"},
		{"bad hours", ReleaseFile, "rules:\n  - name: a\n    datasets: [x]\n    tee: [tpm]\n    refs: [r]\n    hours: 22-6\n", "hours"},
		{"no datasets", ReleaseFile, "rules:\n  - name: a\n    tee: [tpm]\n    refs: [r]\n", "name datasets or classes"},
		{"duplicate", ReleaseFile, "rules:\n  - {name: a, datasets: [x], tee: [tpm], refs: [r]}\n  - {name: a, datasets: [y], tee: [tpm], refs: [r]}\n", "two rules are named a"},
		{"cedar injection", ReleaseFile, "rules:\n  - name: a\n    datasets: ['x\"]) || true || ([\"']\n    tee: [tpm]\n    refs: [r]\n", "is not valid"},
		{"identity twice", WorkloadsFile, "workloads:\n  - {name: a, identity: ab, site: s}\n  - {name: b, identity: ab, site: s}\n", "pinned twice"},
		{"no site", WorkloadsFile, "workloads:\n  - {name: a, identity: ab}\n", "needs a name, a hex identity and a site"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			st, err := NewStore(dir, []ed25519.PublicKey{make([]byte, 32)})
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(dir, tc.file), []byte(tc.text), 0o600)
			_, err = st.Load()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestRevokeRefusesUnknownKind(t *testing.T) {
	st, _ := NewStore(t.TempDir(), nil)
	if err := st.Revoke("planet", "x"); err == nil || !strings.Contains(err.Error(), "want measurement, site, workload or dataset") {
		t.Fatalf("got %v", err)
	}
	if err := st.Revoke("site", `a"b`); err == nil {
		t.Fatal("a value with a quote was accepted")
	}
}
