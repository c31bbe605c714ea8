package supply

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// FuzzParseApproval: an approval file is read from the home folder, which
// a stolen backup or a careless operator may have altered: no input
// panics, and whatever parses verifies and re-encodes to the same signing
// input.
func FuzzParseApproval(f *testing.F) {
	s, err := Sign(katApproval(), katKey())
	if err != nil {
		f.Fatal(err)
	}
	b, _ := s.Marshal()
	f.Add(b)
	f.Add([]byte(`{"format":"embassy.update-approval.v1"}`))
	f.Add([]byte(strings.Replace(string(b), "aa00", "AA00", 1)))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, in []byte) {
		p, err := ParseApproval(in, katFP, katKeys)
		if err != nil {
			return
		}
		if _, err := p.SigningInput(); err != nil {
			t.Fatalf("accepted approval has no signing input: %v", err)
		}
		if p.ID != s.ID {
			t.Fatalf("a forged approval %s verified", p.ID)
		}
	})
}

// FuzzParseVersion: the daemon's version answer is written by the host.
func FuzzParseVersion(f *testing.F) {
	v := NewVersion("embassyd", strings.Repeat("cd", 32), 100, testBinary().Info, time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC))
	b, _ := json.Marshal(v)
	f.Add(b)
	f.Add([]byte(`{"format":"embassy.daemon-version.v1","artifact":"embassyd","digest":""}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, in []byte) {
		p, err := ParseVersion(in)
		if err != nil {
			return
		}
		if len(p.Digest) != 64 || p.Format != VersionFormat {
			t.Fatalf("accepted a malformed answer: %+v", p)
		}
		set := &Set{}
		_ = set.CheckDigest(p.Artifact, p.Digest, time.Time{})
	})
}

// FuzzSBOMSubject: an SBOM given to 'update approve' may come from the
// vendor: no input panics, and a subject found is a SHA-256.
func FuzzSBOMSubject(f *testing.F) {
	for _, format := range []string{FormatCycloneDX, FormatSPDX} {
		b, _ := SBOM(testBinary(), format, time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC))
		f.Add(b)
	}
	f.Add([]byte(`{"spdxVersion":"SPDX-2.3","relationships":[{"spdxElementId":"SPDXRef-DOCUMENT","relationshipType":"DESCRIBES","relatedSpdxElement":"a"}]}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		d, err := SBOMSubject(in)
		if err == nil && !digestRE().MatchString(d) {
			t.Fatalf("subject %q is not a SHA-256", d)
		}
	})
}
