package approval

import (
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
)

func keyPair(t testing.TB, name string) (note.Signer, note.Verifier) {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, name)
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

var sample = Decision{Home: "ee-home", Site: "lu", Request: "0123456789abcdef0123456789abcdef", Requester: "ee-home/role/operator/ops",
	Scope: "metadata", Approved: true, Expires: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}

// The decision's text is fixed (docs in decision.go): a known answer.
func TestDecisionText(t *testing.T) {
	want := "embassy-access-decision/v1\nhome ee-home\nsite lu\nrequest 0123456789abcdef0123456789abcdef\nrequester ee-home/role/operator/ops\nscope metadata\ndecision approved\nexpires 2026-11-25T12:00:00Z\n"
	if got := sample.Text(); got != want {
		t.Fatalf("text:\n%s\nwant:\n%s", got, want)
	}
	d, err := ParseDecision(want)
	if err != nil || d != sample {
		t.Fatalf("parse: %+v %v", d, err)
	}
}

// Only the pinned key's signature on a canonical decision opens.
func TestOpenDecision(t *testing.T) {
	home, hv := keyPair(t, "ee-home/access")
	other, _ := keyPair(t, "ee-home/access") // same name, another key
	msg, err := sample.Sign(home)
	if err != nil {
		t.Fatal(err)
	}
	if d, err := OpenDecision(msg, hv); err != nil || d != sample {
		t.Fatalf("open: %+v %v", d, err)
	}
	forged, _ := sample.Sign(other)
	tampered := []byte(strings.Replace(string(msg), "decision approved", "decision denied", 1))
	extra := []byte(strings.Replace(string(msg), "expires", "scope everything\nexpires", 1))
	for name, m := range map[string][]byte{"other key": forged, "tampered": tampered, "extra line": extra, "unsigned": []byte(sample.Text()), "empty": nil} {
		if _, err := OpenDecision(m, hv); err == nil {
			t.Errorf("%s: opened", name)
		}
	}
	if _, err := OpenDecision(msg, nil); err == nil || !strings.Contains(err.Error(), "--access-key") {
		t.Errorf("no key: %v", err)
	}
	bad := sample
	bad.Requester = "ops\nscope all"
	if _, err := bad.Sign(home); err == nil {
		t.Error("signed a field with a newline")
	}
	for _, text := range []string{"", DecisionHeader + "\n", strings.Replace(sample.Text(), "approved", "maybe", 1), strings.Replace(sample.Text(), "12:00:00Z", "12:00:00+00:00", 1)} {
		if _, err := ParseDecision(text); err == nil {
			t.Errorf("parsed %q", text)
		}
	}
}

func TestFilingCheck(t *testing.T) {
	ok := Filing{Reason: "host_initiated_service", Scope: "metadata", Duration: "2h", Who: "vendor", What: "migration"}
	if d, err := ok.Check(); err != nil || d != 2*time.Hour || ok.Reason != "HOST_INITIATED_SERVICE" {
		t.Fatalf("check: %v %v", d, err)
	}
	for name, f := range map[string]Filing{
		"home reason": {Reason: "HOME_INITIATED_SUPPORT", Scope: "metadata", Duration: "1h", Who: "a", What: "b"},
		"scope":       {Reason: "HOST_INITIATED_SERVICE", Scope: "root", Duration: "1h", Who: "a", What: "b"},
		"too long":    {Reason: "HOST_INITIATED_SERVICE", Scope: "metadata", Duration: "25h", Who: "a", What: "b"},
		"escapes":     {Reason: "HOST_INITIATED_SERVICE", Scope: "metadata", Duration: "1h", Who: "a\x1b[2J", What: "b"},
		"no who":      {Reason: "HOST_INITIATED_SERVICE", Scope: "metadata", Duration: "1h", What: "b"},
	} {
		if _, err := f.Check(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// FuzzOpenDecision: bytes a host sends as a decision never open without
// the key and never panic; whatever parses prints back to itself.
func FuzzOpenDecision(f *testing.F) {
	s, v := keyPair(f, "ee-home/access")
	msg, _ := sample.Sign(s)
	f.Add(msg)
	f.Add([]byte(sample.Text()))
	f.Add([]byte("embassy-access-decision/v1\n\n— x\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if d, err := ParseDecision(string(b)); err == nil && d.Text() != string(b) {
			t.Fatalf("parsed a non-canonical text %q", b)
		}
		if d, err := OpenDecision(b, v); err == nil && !strings.HasPrefix(string(b), d.Text()) {
			t.Fatalf("opened %q as %+v", b, d)
		}
	})
}
