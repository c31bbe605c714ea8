package evidence

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// fixed keys: the tests and the fuzz seeds are deterministic.
func key(b byte) ed25519.PrivateKey { return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{b}, 32)) }

type drill struct {
	Dataset string `json:"dataset"`
	OK      bool   `json:"ok"`
	Seconds int    `json:"seconds"`
}

func signed(t testing.TB, endorse bool) (*Document, []byte) {
	t.Helper()
	var endorser ed25519.PrivateKey
	if endorse {
		endorser = key(2)
	}
	d, err := Sign(KindDrillReport, drill{"land", true, 42}, key(1), "home-1", 1, endorser)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return d, b
}

func TestSignVerify(t *testing.T) {
	d, b := signed(t, true)
	p, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	homeOf := func(pub ed25519.PublicKey) string {
		if pub.Equal(key(2).Public()) {
			return "home-1"
		}
		return "other"
	}
	v, err := Verify(p, homeOf)
	if err != nil {
		t.Fatal(err)
	}
	if v.Kind != KindDrillReport || v.Key != d.Key || !v.Endorsed || v.Home != "home-1" || v.Epoch != 1 || !v.HomeBound {
		t.Fatalf("verified: %+v", v)
	}
	var got drill
	if err := p.Decode(&got); err != nil || got != (drill{"land", true, 42}) {
		t.Fatalf("body: %+v %v", got, err)
	}
	// A pretty-printed file verifies: the body is compacted back.
	var pretty bytes.Buffer
	json.Indent(&pretty, b, "", "  ")
	if p2, err := Parse(pretty.Bytes()); err != nil {
		t.Fatal(err)
	} else if _, err := Verify(p2, nil); err != nil {
		t.Fatalf("pretty-printed document: %v", err)
	}
	// The endorsement binds the home: another home's root does not bind.
	if v, _ := Verify(p, func(ed25519.PublicKey) string { return "other" }); v.HomeBound {
		t.Error("endorsement is home-bound to a home whose key it is not")
	}
	// Not endorsed: verified but not endorsed.
	_, b2 := signed(t, false)
	p3, _ := Parse(b2)
	if v, err := Verify(p3, homeOf); err != nil || v.Endorsed || v.HomeBound {
		t.Fatalf("unendorsed: %+v %v", v, err)
	}
}

// TestVerifyRefusesTampering: every field an attacker might edit breaks
// verification with ErrSignature (or a format error), never a panic.
func TestVerifyRefusesTampering(t *testing.T) {
	for name, edit := range map[string]func(d *Document){
		"body":              func(d *Document) { d.Body = json.RawMessage(`{"dataset":"land","ok":false,"seconds":42}`) },
		"kind (context)":    func(d *Document) { d.Kind = KindActivation },
		"key":               func(d *Document) { d.Key = b64(key(3).Public().(ed25519.PublicKey)) },
		"signature":         func(d *Document) { d.Signature = d.Signature[:len(d.Signature)-4] + "AAA=" },
		"endorsement home":  func(d *Document) { d.Endorsement.Home = "home-2" },
		"endorsement epoch": func(d *Document) { d.Endorsement.Epoch = 2 },
		"endorsement key":   func(d *Document) { d.Endorsement.RootKey = b64(key(3).Public().(ed25519.PublicKey)) },
		"endorsement of another key": func(d *Document) {
			o, _ := Sign(KindDrillReport, drill{"land", true, 42}, key(4), "home-1", 1, key(2))
			d.Endorsement = o.Endorsement
		},
	} {
		d, _ := signed(t, true)
		edit(d)
		if _, err := Verify(d, nil); !errors.Is(err, ErrSignature) {
			t.Errorf("%s edited: %v, want %v", name, err, ErrSignature)
		}
	}
	for name, edit := range map[string]func(d *Document){
		"format":     func(d *Document) { d.Format = "embassy-evidence/2" },
		"short key":  func(d *Document) { d.Key = "AAAA" },
		"not base64": func(d *Document) { d.Key = "!!" },
		"bad body":   func(d *Document) { d.Body = json.RawMessage(`{`) },
	} {
		d, _ := signed(t, true)
		edit(d)
		if _, err := Verify(d, nil); err == nil {
			t.Errorf("%s: verified", name)
		}
	}
	if _, err := Parse([]byte(`{"format":`)); err == nil || !strings.HasPrefix(err.Error(), "evidence:") {
		t.Errorf("truncated document: %v", err)
	}
}

func TestJournal(t *testing.T) {
	p := filepath.Join(t.TempDir(), "journal.jsonl")
	if evs, err := ReadJournal(p); err != nil || evs != nil {
		t.Fatalf("missing journal: %v %v", evs, err)
	}
	j := Journal{Path: p}
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := j.Append(Event{Type: "drill", Summary: strings.Repeat("x", 1000+i)}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	evs, err := ReadJournal(p)
	if err != nil || len(evs) != 20 {
		t.Fatalf("%d events, %v", len(evs), err)
	}
	for _, e := range evs {
		if e.Time.IsZero() || e.Type != "drill" || len(e.Summary) < 1000 {
			t.Fatalf("event %+v", e)
		}
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Errorf("journal mode %v, want 0600", fi.Mode().Perm())
	}
	// A torn last line is an error naming the line, with the events before it.
	f, _ := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"type":"dri`)
	f.Close()
	evs, err = ReadJournal(p)
	if err == nil || !strings.Contains(err.Error(), "line 21") || len(evs) != 20 {
		t.Fatalf("torn journal: %d events, %v", len(evs), err)
	}
}

// FuzzParseVerify: any bytes an outsider hands over as evidence parse and
// verify without panicking, and nothing but the signed seed (modulo JSON
// whitespace) verifies under its key.
func FuzzParseVerify(f *testing.F) {
	d, b := signed(f, true)
	f.Add(b)
	_, b2 := signed(f, false)
	f.Add(b2)
	f.Add([]byte(`{"format":"embassy-evidence/1","kind":"x","body":null,"key":"","signature":""}`))
	f.Add([]byte(`{"endorsement":{}}`))
	want, _ := json.Marshal(drill{"land", true, 42})
	f.Fuzz(func(t *testing.T, in []byte) {
		p, err := Parse(in)
		if err != nil {
			return
		}
		v, err := Verify(p, func(ed25519.PublicKey) string { return "home-1" })
		if err != nil {
			return
		}
		if v.Key == d.Key {
			var body bytes.Buffer
			json.Compact(&body, p.Body)
			if p.Kind != KindDrillReport || !bytes.Equal(body.Bytes(), want) {
				t.Fatalf("a document with kind %q body %s verifies under the seed's key", p.Kind, body.Bytes())
			}
		}
	})
}
