package vault

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/keys"
	"github.com/digital-embassy/embassy/internal/repo"
)

// TestReadRecipient: a --custodian value is a recipient, a file with a
// recipient line or an identity file; anything else is a usage error.
func TestReadRecipient(t *testing.T) {
	dir := t.TempDir()
	id, rec, err := keys.GenerateIdentity(false)
	if err != nil {
		t.Fatal(err)
	}
	idFile, pubFile, empty := filepath.Join(dir, "alice.key"), filepath.Join(dir, "bob.pub"), filepath.Join(dir, "empty.txt")
	for f, b := range map[string][]byte{idFile: keys.IdentityFile(id, rec, testNow), pubFile: []byte("\n" + rec + "\n"), empty: []byte("nothing\n")} {
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, v := range []string{" " + rec + "\n", idFile, pubFile} {
		if got, err := ReadRecipient(v); err != nil || got != rec {
			t.Errorf("ReadRecipient(%q) = %q, %v; want the recipient", v, got, err)
		}
	}
	for _, v := range []string{empty, filepath.Join(dir, "missing")} {
		if _, err := ReadRecipient(v); hint.CodeOf(err) != hint.CodeUsage {
			t.Errorf("ReadRecipient(%q): %v, want a usage error", v, err)
		}
	}
	if got, err := ReadRecipients([]string{rec, pubFile}); err != nil || len(got) != 2 || got[0] != rec || got[1] != rec {
		t.Errorf("ReadRecipients = %q, %v", got, err)
	}
	if _, err := ReadRecipients([]string{rec, empty}); hint.CodeOf(err) != hint.CodeUsage {
		t.Errorf("ReadRecipients with a bad value: %v, want a usage error", err)
	}
}

// TestCreate: init makes the home, reports its fingerprint and writes a
// card holding it for each custodian, next to a custodian's file or in
// the home; it refuses a second home, unknown custodians and a missing
// threshold before creating anything.
func TestCreate(t *testing.T) {
	dir := t.TempDir()
	var args []string
	for _, name := range []string{"alice", "bob"} {
		id, rec, err := keys.GenerateIdentity(false)
		if err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(dir, name+".key")
		if err := os.WriteFile(f, keys.IdentityFile(id, rec, testNow), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, f)
	}
	_, rec3, err := keys.GenerateIdentity(false)
	if err != nil {
		t.Fatal(err)
	}
	args = append(args, rec3)
	ctx := context.Background()
	o := Options{Clock: func() time.Time { return testNow }, Warn: func(msg string) { t.Logf("warning: %s", msg) }}
	hdir := filepath.Join(dir, "home")
	for _, req := range []CreateRequest{
		{Dir: hdir, Config: home.Default(), CustodianArgs: append([]string{filepath.Join(dir, "nobody.key")}, args...), Threshold: 2},
		{Dir: hdir, Config: home.Default(), CustodianArgs: args},
	} {
		if _, err := Create(ctx, req, o); hint.CodeOf(err) != hint.CodeUsage {
			t.Errorf("Create(%v): %v, want a usage error", req.CustodianArgs, err)
		}
		if home.Exists(hdir) {
			t.Fatal("a refused init left a home behind")
		}
	}
	c, err := Create(ctx, CreateRequest{Dir: hdir, Config: home.Default(), CustodianArgs: args, Threshold: 2}, o)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Vault.Close()
	root, err := c.Vault.Home.LoadRoot(1)
	if err != nil {
		t.Fatal(err)
	}
	if c.Home == "" || c.Home != c.Vault.Home.Config.Home || c.Dir != hdir || c.Custodians != 3 || c.Threshold != 2 || c.Epoch != 1 ||
		c.RootFingerprint != root.Fingerprint() || c.Fingerprint != repo.HomeFingerprint(c.Home, root.SigningPublicKey()) {
		t.Errorf("created %+v", c)
	}
	want := []string{filepath.Join(dir, "custodian-alice.txt"), filepath.Join(dir, "custodian-bob.txt"), filepath.Join(hdir, "custodians", "custodian-3.txt")}
	if len(c.Cards) != len(want) {
		t.Fatalf("cards %q, want %q", c.Cards, want)
	}
	for i, p := range want {
		b, err := os.ReadFile(p)
		if err != nil || c.Cards[i] != p {
			t.Fatalf("card %d: %q, %v; want %s", i, c.Cards[i], err, p)
		}
		if fp, err := repo.ParseCard(b); err != nil || fp != c.Fingerprint {
			t.Errorf("card %s holds %q, %v; want the home fingerprint", p, fp, err)
		}
	}
	if _, err := Create(ctx, CreateRequest{Dir: hdir, Config: home.Default(), CustodianArgs: args, Threshold: 2}, o); err == nil || hint.Of(err) == "" {
		t.Errorf("a second init at %s: %v, want a refusal with a hint", hdir, err)
	}
}
