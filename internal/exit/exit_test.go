package exit

import (
	"bytes"
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/site/mem"
)

func testArchive(t testing.TB) ([]byte, ed25519.PrivateKey) {
	b := mem.New(site.Properties{})
	ctx := t.Context()
	b.Put(ctx, site.Handle{Kind: site.KindConfig, Name: "repo"}, site.Bytes(`{"x":1}`), site.PutOptions{})
	b.Put(ctx, site.Handle{Kind: site.KindPack, Name: "ab/cd"}, site.Bytes(bytes.Repeat([]byte{1}, 3000)), site.PutOptions{})
	_, priv, _ := ed25519.GenerateKey(nil)
	var buf bytes.Buffer
	if _, err := Write(ctx, b, &buf, Manifest{Home: "h1", Site: "lu", Created: time.Unix(1e9, 0).UTC()}, priv); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), priv
}

func TestRoundTripAndTamper(t *testing.T) {
	a, priv := testArchive(t)
	c, err := Read(bytes.NewReader(a), nil)
	if err != nil || len(c.Manifest.Objects) != 2 || !bytes.Equal(c.Manifest.SignKey, priv.Public().(ed25519.PublicKey)) {
		t.Fatalf("read: %v %+v", err, c)
	}
	bad := bytes.Clone(a)
	i := bytes.Index(bad, bytes.Repeat([]byte{1}, 100))
	bad[i] ^= 2
	if _, err := Read(bytes.NewReader(bad), nil); err == nil {
		t.Fatal("tampered archive read")
	}
	if _, err := Read(bytes.NewReader(a[:len(a)/2]), nil); err == nil {
		t.Fatal("truncated archive read")
	}
	cert, _ := SignHome(CertBody{Site: "lu", Home: "h1", Manifest: Digest(c.Raw)}, priv)
	if _, err := VerifyCertificate(cert, Trust{HomeKey: priv.Public().(ed25519.PublicKey), Home: "h1", Digest: Digest(c.Raw)}); err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyCertificate(cert, Trust{Digest: "00"}); err == nil {
		t.Fatal("certificate for another manifest accepted")
	}
	left, _ := SignHome(CertBody{Site: "lu", Home: "h1", Remaining: 1}, priv)
	if _, err := VerifyCertificate(left, Trust{}); err == nil {
		t.Fatal("certificate with objects remaining accepted")
	}
}

func FuzzRead(f *testing.F) {
	a, _ := testArchive(f)
	f.Add(a)
	f.Add(a[:700])
	f.Fuzz(func(t *testing.T, b []byte) {
		Read(bytes.NewReader(b), func(site.Handle, []byte) error { return nil })
		OpenManifest(b)
	})
}
