package incident

import (
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/digital-embassy/embassy/internal/approval"
)

func ackKeys(t testing.TB) (home, other note.Signer, hv note.Verifier) {
	t.Helper()
	mk := func() (note.Signer, note.Verifier) {
		skey, vkey, err := note.GenerateKey(rand.Reader, "ee-home/access")
		if err != nil {
			t.Fatal(err)
		}
		s, err := note.NewSigner(skey)
		if err != nil {
			t.Fatal(err)
		}
		v, err := note.NewVerifier(vkey)
		if err != nil {
			t.Fatal(err)
		}
		return s, v
	}
	home, hv = mk()
	other, _ = mk() // same key name, another key
	return home, other, hv
}

var sampleAck = Ack{Home: "ee-home", Site: "lu", Incident: "0123456789abcdef0123456789abcdef", At: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}

// The acknowledgement's text is fixed (docs/formats/access.md): a known answer.
func TestAckText(t *testing.T) {
	want := "embassy-incident-ack/v1\nhome ee-home\nsite lu\nincident 0123456789abcdef0123456789abcdef\nacknowledged 2026-11-25T12:00:00Z\n"
	if got := sampleAck.Text(); got != want {
		t.Fatalf("text:\n%s\nwant:\n%s", got, want)
	}
	a, err := ParseAck(want)
	if err != nil || a != sampleAck {
		t.Fatalf("parse: %+v %v", a, err)
	}
}

// Only the pinned key's signature on a canonical acknowledgement opens,
// and a signed access decision is no acknowledgement.
func TestOpenAck(t *testing.T) {
	home, other, hv := ackKeys(t)
	msg, err := sampleAck.Sign(home)
	if err != nil {
		t.Fatal(err)
	}
	if a, err := OpenAck(msg, hv); err != nil || a != sampleAck {
		t.Fatalf("open: %+v %v", a, err)
	}
	forged, _ := sampleAck.Sign(other)
	tampered := []byte(strings.Replace(string(msg), "site lu", "site ch", 1))
	decision, _ := approval.Decision{Home: "ee-home", Site: "lu", Request: sampleAck.Incident, Requester: "x", Scope: "metadata",
		Expires: sampleAck.At}.Sign(home)
	for name, m := range map[string][]byte{"other key": forged, "tampered": tampered, "decision": decision, "unsigned": []byte(sampleAck.Text()), "empty": nil} {
		if _, err := OpenAck(m, hv); err == nil {
			t.Errorf("%s: opened", name)
		}
	}
	if _, err := OpenAck(msg, nil); err == nil || !strings.Contains(err.Error(), "--access-key") {
		t.Errorf("no key: %v", err)
	}
	bad := sampleAck
	bad.Site = "lu\nsite ch"
	if _, err := bad.Sign(home); err == nil {
		t.Error("signed a field with a newline")
	}
	for _, text := range []string{"", AckHeader + "\n", strings.Replace(sampleAck.Text(), "12:00:00Z", "12:00:00+00:00", 1),
		strings.Replace(sampleAck.Text(), "home ", "home  ", 1)} {
		if a, err := ParseAck(text); err == nil {
			t.Errorf("parsed %q as %+v", text, a)
		}
	}
}

func FuzzOpenAck(f *testing.F) {
	s, _, v := ackKeys(f)
	msg, _ := sampleAck.Sign(s)
	f.Add(msg)
	f.Add([]byte(sampleAck.Text()))
	f.Add([]byte("embassy-incident-ack/v1\n\n— x\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if a, err := ParseAck(string(b)); err == nil && a.Text() != string(b) {
			t.Fatalf("parsed a non-canonical text %q", b)
		}
		if a, err := OpenAck(b, v); err == nil && !strings.HasPrefix(string(b), a.Text()) {
			t.Fatalf("opened %q as %+v", b, a)
		}
	})
}
