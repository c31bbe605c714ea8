package pki

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// issueTPM makes an operator key inside the simulator seeded with seed,
// has the CA certify it as hardware-bound and saves ops.crt and
// ops.tpmkey (no private key file) in dir.
func issueTPM(t *testing.T, w *tlsWorld, seed string, dir string) *Issued {
	t.Helper()
	k, err := CreateTPMKey("sim:" + seed)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	is, err := w.ca.Issue(Request{Role: RoleOperator, Name: "ops", Key: k, Hardware: true})
	if err != nil {
		t.Fatal(err)
	}
	is.TPM = &k.File
	if err := is.Save(dir, "ops", w.ca.Cert); err != nil {
		t.Fatal(err)
	}
	return is
}

// A client key made inside the TPM (simulator) signs the TLS handshake
// through crypto.Signer; its certificate says it is hardware-bound, and a
// server requiring hardware-bound operators accepts it and refuses a
// software-key operator certificate (the refusal reported).
func TestTPMClientKeyRequiredForRole(t *testing.T) {
	w := newTLSWorld(t)
	dir := filepath.Join(w.dir, "ops")
	is := issueTPM(t, w, "41", dir)
	if !HardwareBound(is.Cert) || len(is.KeyPEM) != 0 {
		t.Fatalf("hardware-bound %t, key PEM of %d bytes", HardwareBound(is.Cert), len(is.KeyPEM))
	}
	if _, err := os.Stat(filepath.Join(dir, "ops.key")); err == nil {
		t.Fatal("a private key file was written for a TPM key")
	}
	b, _ := os.ReadFile(filepath.Join(dir, "ops.tpmkey"))
	if strings.Contains(string(b), "PRIVATE") || !strings.Contains(string(b), TPMKeyFormat) {
		t.Fatalf("tpmkey file:\n%s", b)
	}
	pair, pool, err := TLSMaterial(Files{CA: filepath.Join(dir, CACertFile), Cert: filepath.Join(dir, "ops.crt"), Key: filepath.Join(dir, "ops.tpmkey")})
	if err != nil {
		t.Fatal(err)
	}
	tk, ok := pair.PrivateKey.(*TPMKey)
	if !ok {
		t.Fatalf("private key %T, want *TPMKey", pair.PrivateKey)
	}
	site, _ := w.pair(t, w.ca, RoleSite, "lu", "127.0.0.1")
	var refused []error
	server := ServerTLS(site, pool, PeerCheck{Home: "h1", Roles: []Role{RoleOperator}, Hardware: []Role{RoleOperator}}, func(_ Identity, err error) { refused = append(refused, err) })
	client := ClientTLS(pair, pool, "h1", "lu")
	client.ServerName = "127.0.0.1"
	if cerr, serr := handshake(t, client, server); cerr != nil || serr != nil {
		t.Fatalf("hardware-bound operator refused: %v / %v", cerr, serr)
	}
	tk.Close()
	soft, _ := w.pair(t, w.ca, RoleOperator, "ops2")
	client = ClientTLS(soft, pool, "h1", "lu")
	client.ServerName = "127.0.0.1"
	if _, serr := handshake(t, client, server); !errors.Is(serr, ErrNotHardware) {
		t.Fatalf("software-key operator: %v", serr)
	}
	if len(refused) != 1 || !errors.Is(refused[0], ErrNotHardware) {
		t.Fatalf("refusals reported: %v", refused)
	}
}

// The key reference is useless with another TPM: a simulator with another
// seed derives another key, and the pair does not load.
func TestTPMKeyBoundToItsTPM(t *testing.T) {
	w := newTLSWorld(t)
	dir := filepath.Join(w.dir, "ops")
	issueTPM(t, w, "42", dir)
	f, err := ReadTPMKeyFile(filepath.Join(dir, "ops.tpmkey"))
	if err != nil {
		t.Fatal(err)
	}
	f.TPM = "sim:43"
	b := []byte(`{"format":"` + TPMKeyFormat + `","tpm":"sim:43","unique":"` + f.Unique + `"}`)
	os.WriteFile(filepath.Join(dir, "other.tpmkey"), b, 0o600)
	_, _, err = TLSMaterial(Files{CA: filepath.Join(dir, CACertFile), Cert: filepath.Join(dir, "ops.crt"), Key: filepath.Join(dir, "other.tpmkey")})
	if err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("key of another TPM: %v", err)
	}
	if _, err := w.ca.Issue(Request{Role: RoleOperator, Name: "x", Hardware: true}); err == nil {
		t.Fatal("a hardware-bound certificate without a hardware key was issued")
	}
	for _, bad := range []TPMKeyFile{{Format: "x", TPM: "sim:1", Unique: f.Unique}, {Format: TPMKeyFormat, TPM: "sim:1", Unique: "00"}, {Format: TPMKeyFormat, TPM: "sim:x", Unique: f.Unique}} {
		if k, err := LoadTPMKey(bad); err == nil {
			k.Close()
			t.Errorf("%+v loaded", bad)
		}
	}
}
