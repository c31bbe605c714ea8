package tpmquote

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"strings"
	"testing"
)

func openSim(t *testing.T) *Attester {
	t.Helper()
	a, err := OpenSimulator(1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

func TestQuoteVerifies(t *testing.T) {
	a := openSim(t)
	rd := sha256.Sum256([]byte("nonce and key"))
	ev, err := a.Quote(rd[:])
	if err != nil {
		t.Fatal(err)
	}
	c, err := Verify(ev, rd[:])
	if err != nil {
		t.Fatal(err)
	}
	if c.AK != a.Identity() || c.Measurements["tpm.ak"] != a.Identity() {
		t.Fatalf("ak claim %s, want %s", c.AK, a.Identity())
	}
	if len(c.Measurements) != len(DefaultPCRs)+1 || !bytes.Equal(c.ReportData, rd[:]) {
		t.Fatalf("claims %+v", c)
	}
}

func TestMeasureChangesPCR(t *testing.T) {
	a := openSim(t)
	rd := make([]byte, 32)
	ev1, _ := a.Quote(rd)
	c1, err := Verify(ev1, rd)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Measure(9, []byte("image v2")); err != nil {
		t.Fatal(err)
	}
	ev2, _ := a.Quote(rd)
	c2, err := Verify(ev2, rd)
	if err != nil {
		t.Fatal(err)
	}
	if c1.Measurements["pcr.sha256.9"] == c2.Measurements["pcr.sha256.9"] {
		t.Fatal("pcr 9 unchanged after Measure")
	}
	if c1.Measurements["pcr.sha256.0"] != c2.Measurements["pcr.sha256.0"] {
		t.Fatal("pcr 0 changed")
	}
}

func TestSameSeedSameIdentity(t *testing.T) {
	a := openSim(t)
	id := a.Identity()
	a.Close()
	b := openSim(t)
	if b.Identity() != id {
		t.Fatalf("identity changed across simulator restarts: %s then %s", id, b.Identity())
	}
}

// Each tampering must be refused.
func TestVerifyRefusesTampering(t *testing.T) {
	a := openSim(t)
	rd := make([]byte, 32)
	rd[0] = 7
	good, err := a.Quote(rd)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	otherAK, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	mut := func(f func(*Evidence)) []byte {
		var ev Evidence
		if err := json.Unmarshal(good, &ev); err != nil {
			t.Fatal(err)
		}
		f(&ev)
		b, _ := json.Marshal(ev)
		return b
	}
	wrongRD := append([]byte(nil), rd...)
	wrongRD[31] ^= 1
	for _, tc := range []struct {
		name string
		ev   []byte
		rd   []byte
		want string
	}{
		{"report data off by one bit", good, wrongRD, "qualifying data"},
		{"pcr value off by one bit", mut(func(e *Evidence) { e.PCRs["9"][0] ^= 1 }), rd, "do not match the quoted digest"},
		{"pcr dropped", mut(func(e *Evidence) { delete(e.PCRs, "9") }), rd, "PCRs but"},
		{"quote byte flipped", mut(func(e *Evidence) { e.Quote[len(e.Quote)-1] ^= 1 }), rd, "signature does not verify"},
		{"other key", mut(func(e *Evidence) { e.AK = otherAK }), rd, "signature does not verify"},
		{"bad format", mut(func(e *Evidence) { e.Format = "x" }), rd, "format"},
		{"bad index", mut(func(e *Evidence) { e.PCRs["09"] = e.PCRs["9"] }), rd, "PCR index"},
		{"trailing", append(append([]byte(nil), good...), '{'), rd, "trailing"},
		{"stray brace", append(append([]byte(nil), good...), '}'), rd, "tpm evidence: trailing data"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Verify(tc.ev, tc.rd)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
