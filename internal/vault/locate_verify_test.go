package vault

import (
	"context"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/locate"
)

// TestVerifyLocationFile: 'site locate --verify' reads the evidence and,
// if given, the CA; a file or CA it cannot read is a usage error, evidence
// that does not verify is damage with a hint; a good file reports the
// home's signature, the bundle and the rechecked verdict.
func TestVerifyLocationFile(t *testing.T) {
	dir, o := newVault(t, "lu=LU")
	v := open(t, dir, o)
	d := newFactsDaemon(t, v)
	d.declare(&tallinn)
	res, err := v.Locate(context.Background(), LocateRequest{Site: "lu", HomeAt: tallinn, Samples: 2})
	if err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: HomeCA(v.Home).Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, caFile := range []string{"", ca} {
		c, err := VerifyLocationFile(res.Path, caFile)
		if err != nil {
			t.Fatalf("ca %q: %v", caFile, err)
		}
		if c.File != res.Path || c.Verified.Home != v.Home.Config.Home || c.Bundle.Site != "lu" || c.Result != locate.Consistent {
			t.Errorf("ca %q: %+v", caFile, c)
		}
	}
	garbage := filepath.Join(t.TempDir(), "garbage.json")
	if err := os.WriteFile(garbage, []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		file, ca string
		code     hint.Code
	}{
		{filepath.Join(dir, "missing.json"), "", hint.CodeUsage},
		{res.Path, filepath.Join(dir, "missing.crt"), hint.CodeUsage},
		{garbage, "", hint.CodeDamaged},
	} {
		_, err := VerifyLocationFile(c.file, c.ca)
		if hint.CodeOf(err) != c.code {
			t.Errorf("%s (ca %q): %v, want code %v", c.file, c.ca, err, c.code)
		}
		if c.code == hint.CodeDamaged && hint.Of(err) == "" {
			t.Errorf("%s: %v, want a hint", c.file, err)
		}
	}
}
