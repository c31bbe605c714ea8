package exit

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Known-answer test of the home-signed deletion certificate
// (docs/formats/exit.md §4): Ed25519 is deterministic, so a fixed key and
// body give exactly the golden file; its fields and signature are checked
// with crypto/ed25519 alone over the document's construction
// ("embassy.v1 signature" 0x00, context length, context, body), and it
// verifies with VerifyCertificate. -update-cert rewrites it.
var updateCert = flag.Bool("update-cert", false, "rewrite testdata/kat-certificate-home.json")

func TestCertificateKnownAnswer(t *testing.T) {
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0x42}, 32))
	c, err := SignHome(CertBody{Site: "ch", Home: "home-kat", Time: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC),
		ByKind: map[string]int64{}, Manifest: "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
		Note: "home attestation"}, priv)
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join("testdata", "kat-certificate-home.json")
	if *updateCert {
		os.MkdirAll("testdata", 0o755)
		os.WriteFile(p, got, 0o644)
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (generate with go test -run TestCertificateKnownAnswer -args -update-cert)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("the home-signed certificate changed: the format is pinned\n got  %s\n want %s", got, want)
	}
	var g struct {
		Body    json.RawMessage `json:"body"`
		Sig     []byte          `json:"sig"`
		SignKey []byte          `json:"sign_key"`
	}
	if err := json.Unmarshal(want, &g); err != nil {
		t.Fatal(err)
	}
	var body map[string]any
	json.Unmarshal(g.Body, &body)
	if body["format"] != "embassy.exit-certificate.v1" || body["signer"] != "home" || body["site"] != "ch" || body["remaining"] != 0.0 {
		t.Fatalf("golden body fields: %s", g.Body)
	}
	const ctx = "embassy.v1 exit-certificate"
	msg := append(append([]byte("embassy.v1 signature\x00"), byte(len(ctx))), ctx...)
	msg = append(msg, g.Body...)
	if !ed25519.Verify(ed25519.PublicKey(g.SignKey), msg, g.Sig) || !bytes.Equal(g.SignKey, priv.Public().(ed25519.PublicKey)) {
		t.Fatal("the golden signature does not verify by the document's construction")
	}
	var gc Certificate
	json.Unmarshal(want, &gc)
	if _, err := VerifyCertificate(&gc, Trust{HomeKey: priv.Public().(ed25519.PublicKey), Home: "home-kat", Site: "ch",
		Digest: "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"}); err != nil {
		t.Fatalf("the golden certificate does not verify: %v", err)
	}
}
