package exit

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/pki"
	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/site/mem"
)

// tarEntry is one entry of a hand-made archive.
type tarEntry struct {
	name string
	typ  byte
	data []byte
}

func makeTar(t *testing.T, es ...tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range es {
		typ := e.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		hdr := &tar.Header{Typeflag: typ, Name: e.name, Size: int64(len(e.data)), Mode: 0o644}
		if typ != tar.TypeReg {
			hdr.Size = 0
			hdr.Linkname = "x"
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if typ == tar.TypeReg {
			if _, err := tw.Write(e.data); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// signedManifest returns a stored manifest listing objs, signed by priv.
func signedManifest(t *testing.T, priv ed25519.PrivateKey, objs ...Object) []byte {
	t.Helper()
	raw, err := SignManifest(&Manifest{Home: "h1", Site: "lu", Objects: objs}, priv)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestReadRefusesHostileArchives: every way a host may shape an archive
// to hide, add or swap an object is refused, with the reason named.
func TestReadRefusesHostileArchives(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(nil)
	a, _ := testArchive(t)
	good, err := Read(bytes.NewReader(a), nil)
	if err != nil {
		t.Fatal(err)
	}
	obj := good.Manifest.Objects[0] // config/repo
	data := []byte(`{"x":1}`)
	if obj.Path != "config/repo" || obj.Size != int64(len(data)) {
		t.Fatalf("fixture: first object %+v", obj)
	}
	man := signedManifest(t, priv, obj)
	many := make([]Object, 0, 12)
	for i := range 12 {
		many = append(many, Object{Path: fmt.Sprintf("data/p%02d", i), Size: 1, BLAKE3: "00"})
	}
	cases := []struct {
		name    string
		entries []tarEntry
		is      error
		want    string
	}{
		{"entry after the manifest", []tarEntry{{name: "config/repo", data: data}, {name: ManifestName, data: man}, {name: "data/p1", data: []byte("x")}}, ErrMalformed, `entry "data/p1" after MANIFEST.json`},
		{"symlink", []tarEntry{{name: "config/repo", typ: tar.TypeSymlink}}, ErrMalformed, `entry "config/repo" is not a regular file`},
		{"no kind", []tarEntry{{name: "repo", data: data}}, ErrMalformed, `entry "repo" is not <kind>/<name>`},
		{"unknown kind", []tarEntry{{name: "etc/passwd", data: data}}, ErrMalformed, `entry "etc/passwd"`},
		{"bad name", []tarEntry{{name: "data/../x", data: data}}, ErrMalformed, `entry "data/../x"`},
		{"repeat", []tarEntry{{name: "config/repo", data: data}, {name: "config/repo", data: data}}, ErrMalformed, `entry "config/repo" repeats`},
		{"no manifest", []tarEntry{{name: "config/repo", data: data}}, ErrMalformed, "no MANIFEST.json"},
		{"listed but missing", []tarEntry{{name: ManifestName, data: man}}, ErrTampered, "config/repo: missing"},
		{"planted", []tarEntry{{name: "config/repo", data: data}, {name: "data/p1", data: []byte("x")}, {name: ManifestName, data: man}}, ErrTampered, "data/p1: not in the manifest"},
		{"swapped", []tarEntry{{name: "config/repo", data: []byte(`{"x":2}`)}, {name: ManifestName, data: man}}, ErrTampered, "config/repo: content differs from the manifest"},
		{"many missing", []tarEntry{{name: ManifestName, data: signedManifest(t, priv, many...)}}, ErrTampered, "and 2 more"},
		{"manifest not json", []tarEntry{{name: ManifestName, data: []byte("{")}}, ErrMalformed, "manifest"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Read(bytes.NewReader(makeTar(t, c.entries...)), nil)
			if !errors.Is(err, c.is) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want %v containing %q", err, c.is, c.want)
			}
		})
	}
	// The callback sees objects in order, and its error stops the read.
	stop := errors.New("stop here")
	var seen []string
	_, err = Read(bytes.NewReader(a), func(h site.Handle, b []byte) error {
		seen = append(seen, h.String())
		return stop
	})
	if !errors.Is(err, stop) || len(seen) != 1 || seen[0] != "config/repo" {
		t.Fatalf("callback error: %v after %v", err, seen)
	}
}

// TestOpenManifestRefusals: a manifest body that is not JSON, of another
// format, or signed by a key other than the one it names is refused.
func TestOpenManifestRefusals(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(nil)
	raw := signedManifest(t, priv)
	var s signed
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	mk := func(body []byte, sig []byte) []byte {
		b, _ := json.Marshal(signed{Body: body, Sig: sig})
		return b
	}
	other := bytes.Replace(s.Body, []byte(ManifestFormat), []byte("embassy.exit.v0"), 1)
	resigned := bytes.Replace(s.Body, []byte(`"home":"h1"`), []byte(`"home":"h2"`), 1)
	for _, c := range []struct {
		name string
		raw  []byte
		is   error
		want string
	}{
		{"body not an object", mk([]byte(`"x"`), s.Sig), ErrMalformed, "manifest body"},
		{"other format", mk(other, s.Sig), ErrMalformed, `manifest format "embassy.exit.v0"`},
		{"edited body", mk(resigned, s.Sig), ErrSignature, "manifest"},
	} {
		if _, err := OpenManifest(c.raw); !errors.Is(err, c.is) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %v containing %q", c.name, err, c.is, c.want)
		}
	}
	m, err := OpenManifest(raw)
	if err != nil || m.Home != "h1" || m.Site != "lu" {
		t.Fatalf("control: %+v %v", m, err)
	}
}

// failing is a backend whose List or Delete fail on demand.
type failing struct {
	*mem.Backend
	list, del error
	deletes   int
}

func (f *failing) List(ctx context.Context, k site.Kind, fn func(site.Info) error) error {
	if f.list != nil {
		return f.list
	}
	return f.Backend.List(ctx, k, fn)
}

func (f *failing) Delete(ctx context.Context, h site.Handle) error {
	f.deletes++
	if f.del != nil {
		return f.del
	}
	return f.Backend.Delete(ctx, h)
}

// TestWriteAndDeleteErrors: a site that cannot list is not exported as
// an empty archive; deletion failures are reported (at most ten), and a
// manifest naming an unknown kind deletes nothing.
func TestWriteAndDeleteErrors(t *testing.T) {
	ctx := t.Context()
	_, priv, _ := ed25519.GenerateKey(nil)
	boom := errors.New("site unreachable")
	f := &failing{Backend: mem.New(site.Properties{}), list: boom}
	var buf bytes.Buffer
	if _, err := Write(ctx, f, &buf, Manifest{}, priv); !errors.Is(err, boom) || !strings.Contains(err.Error(), "list ") {
		t.Fatalf("write with a failing list: %v", err)
	}
	if buf.Len() != 0 {
		t.Fatalf("wrote %d bytes of an archive of a site it could not list", buf.Len())
	}

	f = &failing{Backend: mem.New(site.Properties{}), del: boom}
	m := &Manifest{}
	for i := range 12 {
		m.Objects = append(m.Objects, Object{Path: fmt.Sprintf("data/p%02d", i)})
	}
	n, err := DeleteObjects(ctx, f, m)
	if n != 0 || !errors.Is(err, boom) || f.deletes != 10 || strings.Count(err.Error(), "site unreachable") != 10 {
		t.Fatalf("deleted %d after %d tries: %v", n, f.deletes, err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	f.deletes = 0
	if n, err := DeleteObjects(cctx, f, m); !errors.Is(err, context.Canceled) || n != 0 || f.deletes != 1 {
		t.Fatalf("cancelled: %d %v after %d tries", n, err, f.deletes)
	}
	if n, err := DeleteObjects(ctx, f, &Manifest{Objects: []Object{{Path: "etc/passwd"}}}); err == nil || n != 0 || f.deletes != 1 {
		t.Fatalf("unknown kind: %d %v", n, err)
	}
}

// TestCertificateRefusals: each claim of a deletion certificate is
// checked against what the home expects.
func TestCertificateRefusals(t *testing.T) {
	created := time.Now().UTC().Truncate(time.Second)
	ca, err := pki.Init(filepath.Join(t.TempDir(), "ca"), "h1", created.Add(-24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	lu := issueSite(t, ca, "lu", 0)
	m := &Manifest{Home: "h1", Site: "lu", SiteCert: CertSHA256(lu.der), Created: created}
	_, hk, _ := ed25519.GenerateKey(nil)
	tr := m.Trust(ca.Cert, hk.Public().(ed25519.PublicKey), "d")
	if tr.Home != "h1" || tr.Site != "lu" || tr.SiteCert != m.SiteCert || !tr.At.Equal(created) || tr.Digest != "d" || tr.CA != ca.Cert {
		t.Fatalf("trust of the manifest: %+v", tr)
	}
	at := created.Add(time.Minute)
	sign := func(b CertBody) *Certificate {
		c, err := SignSite(b, lu.key, lu.der)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	good := sign(CertBody{Site: "lu", Home: "h1", Time: at, Manifest: "d"})
	if b, err := VerifyCertificate(good, tr); err != nil || b.Signer != SignerSite {
		t.Fatalf("control: %+v %v", b, err)
	}
	forged := *good
	forged.Body = bytes.Replace(good.Body, []byte(`"remaining":0`), []byte(`"remaining":0 `), 1)
	noCA := tr
	noCA.CA = nil
	noPEM := *good
	noPEM.Certificate = ""
	badDER := *good
	badDER.Certificate = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
	home, _ := SignHome(CertBody{Site: "lu", Home: "h1", Manifest: "d"}, hk)
	_, stranger, _ := ed25519.GenerateKey(nil)
	byStranger, _ := SignHome(CertBody{Site: "lu", Home: "h1", Manifest: "d"}, stranger)
	homeEdited := *home
	homeEdited.Body = bytes.Replace(home.Body, []byte(`"manifest":"d"`), []byte(`"manifest":"d" `), 1)
	bad := func(body string) *Certificate { return &Certificate{Body: json.RawMessage(body)} }
	for _, c := range []struct {
		name string
		cert *Certificate
		tr   Trust
		want string
	}{
		{"body not an object", bad(`"x"`), tr, "certificate body"},
		{"other format", bad(`{"format":"x"}`), tr, `certificate format "x"`},
		{"unknown signer", bad(`{"format":"` + CertificateFormat + `","signer":"host"}`), tr, `unknown signer "host"`},
		{"no CA", good, noCA, "needs the home CA"},
		{"no PEM", &noPEM, tr, "no site certificate"},
		{"bad DER", &badDER, tr, "site certificate:"},
		{"forged body", &forged, tr, "signature does not verify"},
		{"names another site", sign(CertBody{Site: "ch", Home: "h1", Time: at, Manifest: "d"}), tr, `site certificate of "lu", certificate names site "ch"`},
		{"names another home", sign(CertBody{Site: "lu", Home: "h2", Time: at, Manifest: "d"}), tr, `site certificate of home "h1", certificate names "h2"`},
		{"another manifest", sign(CertBody{Site: "lu", Home: "h1", Time: at, Manifest: "e"}), tr, "certificate names manifest e"},
		{"objects remain", sign(CertBody{Site: "lu", Home: "h1", Time: at, Manifest: "d", Remaining: 3}), tr, "still lists 3 objects"},
		{"stranger's attestation", byStranger, tr, "another key than the home's"},
		{"edited attestation", &homeEdited, tr, "attestation: signature does not verify"},
		{"attestation for another home", home, Trust{Home: "h2"}, `certificate for home "h1", want "h2"`},
		{"attestation for another site", home, Trust{Site: "ch"}, `certificate for site "lu", want "ch"`},
	} {
		if _, err := VerifyCertificate(c.cert, c.tr); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error containing %q", c.name, err, c.want)
		}
	}
	if b, err := VerifyCertificate(home, tr); err != nil || b.Signer != SignerHome {
		t.Fatalf("home attestation control: %+v %v", b, err)
	}
}
