package supply

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"
)

// The known-answer vector of docs/formats/update-approval.md.
const (
	katPub   = "125a37681ea6681343deae3465e352ddf41d5295bf22f5e474a22bc38672cb85"
	katInput = "embassy.update-approval.v1\n" +
		`{"artifact":"embassyd","digest":"5e0f6b4c1b1e4f0a6f4a1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5","epoch":2,` +
		`"format":"embassy.update-approval.v1","home":"fp1-9ec7-69ad-2dd5-60b3-d2c5-4597-4dac-e4bc","issued":"2026-12-01T10:00:00Z",` +
		`"measurements":{"pcr.sha256.0":"aa00","snp.measurement":"bb11"},"not_after":"2027-03-01T00:00:00Z","note":"release 1.4.2",` +
		`"sbom":"0c1d2e3f405162738495a6b7c8d9eafb0c1d2e3f405162738495a6b7c8d9eafb"}`
	katID  = "u474d2914c7da0e26"
	katSig = "ac06344b66e84f88a591b07b7838c6e6c3be428ce110a21feec99683839f6fae5e169f09dacafc9b4515b12d83d066b8a09bc4767f62c3f689544fd499b0dd05"
	katFP  = "fp1-9ec7-69ad-2dd5-60b3-d2c5-4597-4dac-e4bc"
)

func katKey() ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("embassy update-approval KAT key"))
	return ed25519.NewKeyFromSeed(seed[:])
}

func katApproval() Approval {
	return Approval{Home: katFP, Epoch: 2, Artifact: "embassyd",
		Digest: "5e0f6b4c1b1e4f0a6f4a1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5", SBOM: "0c1d2e3f405162738495a6b7c8d9eafb0c1d2e3f405162738495a6b7c8d9eafb",
		Measurements: map[string]string{"pcr.sha256.0": "aa00", "snp.measurement": "bb11"},
		Issued:       time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC), NotAfter: time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC), Note: "release 1.4.2"}
}

func katKeys(e uint32) (ed25519.PublicKey, bool) {
	if e != 2 {
		return nil, false
	}
	return katKey().Public().(ed25519.PublicKey), true
}

func TestApprovalKAT(t *testing.T) {
	key := katKey()
	if got := hex.EncodeToString(key.Public().(ed25519.PublicKey)); got != katPub {
		t.Fatalf("public key %s, want %s", got, katPub)
	}
	s, err := Sign(katApproval(), key)
	if err != nil {
		t.Fatal(err)
	}
	in, err := s.SigningInput()
	if err != nil {
		t.Fatal(err)
	}
	if string(in) != katInput {
		t.Fatalf("signing input\n%s\nwant\n%s", in, katInput)
	}
	if s.ID != katID {
		t.Errorf("id %s, want %s", s.ID, katID)
	}
	if got := hex.EncodeToString(s.Signature); got != katSig {
		t.Errorf("signature %s, want %s", got, katSig)
	}
	// The signature verifies over the literal bytes with the stdlib alone.
	sig, _ := hex.DecodeString(katSig)
	pub, _ := hex.DecodeString(katPub)
	if !ed25519.Verify(pub, []byte(katInput), sig) {
		t.Fatal("the vector's signature does not verify over the vector's input")
	}
	b, err := s.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParseApproval(b, katFP, katKeys)
	if err != nil {
		t.Fatalf("parse the signed file: %v", err)
	}
	if p.ID != katID || p.Digest != s.Digest || p.Measurements["snp.measurement"] != "bb11" {
		t.Fatalf("parsed %+v", p)
	}
}

// Every change to a signed approval, and every wrong binding, is refused.
func TestApprovalTamperRefused(t *testing.T) {
	s, err := Sign(katApproval(), katKey())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := s.Marshal()
	_, other, _ := ed25519.GenerateKey(nil)
	otherSigned, _ := Sign(katApproval(), other)
	ob, _ := otherSigned.Marshal()
	for _, tc := range []struct {
		name string
		file []byte
		home string
		keys EpochKey
		want string
	}{
		{"digest changed", bytes.Replace(b, []byte(`"digest": "5e0f`), []byte(`"digest": "6e0f`), 1), katFP, katKeys, "signature does not verify"},
		{"validity stretched", bytes.Replace(b, []byte("2027-03-01"), []byte("2037-03-01"), 1), katFP, katKeys, "signature does not verify"},
		{"measurement changed", bytes.Replace(b, []byte(`"bb11"`), []byte(`"bb12"`), 1), katFP, katKeys, "signature does not verify"},
		{"another home", b, "fp1-0000-0000-0000-0000-0000-0000-0000-0000", katKeys, "not this home"},
		{"unknown epoch", bytes.Replace(b, []byte(`"epoch": 2`), []byte(`"epoch": 3`), 1), katFP, katKeys, "does not have"},
		{"signed by another key", ob, katFP, katKeys, "signer is not the signing key"},
		{"id changed", bytes.Replace(b, []byte(katID), []byte("u0000000000000000"), 1), katFP, katKeys, "does not match its contents"},
		{"unknown field", bytes.Replace(b, []byte(`"note"`), []byte(`"extra": 1, "note"`), 1), katFP, katKeys, "unknown field"},
		{"trailing data", append(bytes.Clone(b), []byte("{}")...), katFP, katKeys, "trailing data"},
		{"too large", bytes.Repeat([]byte(" "), MaxApprovalFile+1), katFP, katKeys, "at most"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseApproval(tc.file, tc.home, tc.keys)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error saying %q", err, tc.want)
			}
		})
	}
}

func TestApprovalValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Approval)
		want string
	}{
		{"nothing approved", func(a *Approval) { a.Digest, a.Measurements = "", nil }, "name a digest, measurements or both"},
		{"short digest", func(a *Approval) { a.Digest = "abcd" }, "64 lowercase hex"},
		{"upper-case measurement", func(a *Approval) { a.Measurements = map[string]string{"pcr.sha256.0": "AA"} }, "lowercase hex"},
		{"bad measurement name", func(a *Approval) { a.Measurements = map[string]string{"PCR 0": "aa"} }, "measurement name"},
		{"ends before it starts", func(a *Approval) { a.NotAfter = a.Issued.Add(-time.Hour) }, "the end must follow the start"},
		{"quote in note", func(a *Approval) { a.Note = `say "yes"` }, "note"},
		{"bad artifact", func(a *Approval) { a.Artifact = "Embassy D" }, "artifact"},
		{"bad home", func(a *Approval) { a.Home = "h123" }, "fingerprint"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := katApproval()
			tc.edit(&a)
			_, err := Sign(a, katKey())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func TestCheckDigestAndMeasurements(t *testing.T) {
	key := katKey()
	mk := func(edit func(*Approval)) *Signed {
		a := katApproval()
		edit(&a)
		s, err := Sign(a, key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	d1 := strings.Repeat("1", 64)
	d2 := strings.Repeat("2", 64)
	d3 := strings.Repeat("3", 64)
	inForce := mk(func(a *Approval) { a.Digest, a.Measurements = d1, nil })
	old := mk(func(a *Approval) {
		a.Digest, a.Measurements = d2, nil
		a.Issued, a.NotAfter = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	})
	revoked := mk(func(a *Approval) { a.Digest, a.Measurements = d3, nil })
	fw := mk(func(a *Approval) { a.Digest, a.Measurements = "", map[string]string{"pcr.sha256.0": "aa00"} })
	set := &Set{Approvals: []*Signed{inForce, old, revoked, fw}, Revoked: map[string]Revocation{revoked.ID: {ID: revoked.ID, Reason: "CVE"}}}
	now := time.Date(2026, 12, 15, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		digest, want string
	}{{d1, StatusApproved}, {d2, StatusExpired}, {d3, StatusRevoked}, {strings.Repeat("4", 64), StatusUnapproved}} {
		f := set.CheckDigest("embassyd", tc.digest, now)
		if f.Status != tc.want || f.OK() != (tc.want == StatusApproved) {
			t.Errorf("digest %s: %s (%s), want %s", tc.digest[:4], f.Status, f.Detail, tc.want)
		}
	}
	if f := set.CheckDigest("other", d1, now); f.Status != StatusUnapproved {
		t.Errorf("another artifact's digest: %s, want unapproved", f.Status)
	}
	if f := set.CheckDigest("embassyd", d1, inForce.Issued.Add(-time.Second)); f.Status != StatusExpired {
		t.Errorf("before the approval starts: %s, want expired (not valid yet)", f.Status)
	}
	if f := set.CheckMeasurements(map[string]string{"pcr.sha256.0": "aa00", "pcr.sha256.9": "77"}, now); !f.OK() || f.Approval.ID != fw.ID {
		t.Errorf("approved firmware: %+v", f)
	}
	f := set.CheckMeasurements(map[string]string{"pcr.sha256.0": "aa01"}, now)
	if f.OK() || f.Status != StatusUnapproved || !strings.Contains(f.Detail, "pcr.sha256.0 is aa01") {
		t.Errorf("changed firmware: %+v", f)
	}
	if f := set.CheckMeasurements(map[string]string{"pcr.sha256.9": "77"}, now); f.OK() || !strings.Contains(f.Detail, "missing from the evidence") {
		t.Errorf("firmware PCR absent: %+v", f)
	}
}
