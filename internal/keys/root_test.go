package keys

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func mustRoot(t testing.TB, epoch uint32) *Root {
	t.Helper()
	r, err := NewRoot(epoch)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestNewRoot(t *testing.T) {
	r1, r2 := mustRoot(t, 1), mustRoot(t, 1)
	if err := r1.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if r1.Secret == r2.Secret {
		t.Fatal("two new roots have the same secret")
	}
	if r1.Fingerprint() == r2.Fingerprint() {
		t.Fatal("two new roots have the same fingerprint")
	}
	if r1.Equal(r2) || !r1.Equal(&Root{Epoch: 1, Secret: r1.Secret}) {
		t.Fatal("Equal is wrong")
	}
	if r1.Equal(&Root{Epoch: 2, Secret: r1.Secret}) {
		t.Fatal("Equal ignores the epoch")
	}
}

func TestRootFromSecret(t *testing.T) {
	good := mustRoot(t, 0).Secret
	for _, tc := range []struct {
		name   string
		secret []byte
		ok     bool
	}{
		{"valid", good[:], true},
		{"zero", make([]byte, 32), false},
		{"short", good[:31], false},
		{"long", append(good[:], 0), false},
		{"not reduced", bytes.Repeat([]byte{0xff}, 32), false},
		{"l", mustHex(t, "edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010"), false},
		{"l-1", mustHex(t, "ecd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010"), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := RootFromSecret(3, tc.secret)
			if (err == nil) != tc.ok {
				t.Fatalf("got err %v, want ok %v", err, tc.ok)
			}
			if tc.ok && (r.Epoch != 3 || !bytes.Equal(r.Secret[:], tc.secret)) {
				t.Fatalf("got %x, want %x", r.Secret, tc.secret)
			}
		})
	}
}

func TestDerivedKeysDeterministic(t *testing.T) {
	r := mustRoot(t, 1)
	same := &Root{Epoch: 1, Secret: r.Secret}
	pk1, err := r.PublicKEM()
	if err != nil {
		t.Fatal(err)
	}
	pk2, err := same.PublicKEM()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(pk1, pk2) || len(pk1) != 1216 {
		t.Fatalf("PublicKEM not deterministic or wrong size (%d)", len(pk1))
	}
	if !r.Signer().Equal(same.Signer()) {
		t.Fatal("Signer not deterministic")
	}
	if got := r.Fingerprint(); len(got) != 16 || got != same.Fingerprint() {
		t.Fatalf("Fingerprint %q not deterministic or wrong length", got)
	}
	// The two derived keys must be independent: no key material is shared.
	k, err := r.KEM()
	if err != nil {
		t.Fatal(err)
	}
	seed, err := k.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(seed, r.Signer().Seed()) || bytes.Equal(seed, r.Secret[:]) {
		t.Fatal("derived keys are not domain-separated")
	}
}

func TestRootRedaction(t *testing.T) {
	r := mustRoot(t, 42)
	secretForms := []string{
		hex.EncodeToString(r.Secret[:]),
		strings.ToUpper(hex.EncodeToString(r.Secret[:])),
		fmt.Sprint(r.Secret),
		fmt.Sprint(r.Secret[:]),
		string(r.Secret[:8]),
		fmt.Sprintf("%q", r.Secret[:8]),
	}
	var outputs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%d", "%x", "%X", "%q", "%10.3v", "%-x"} {
		outputs = append(outputs, fmt.Sprintf(verb, r), fmt.Sprintf(verb, *r))
	}
	outputs = append(outputs, r.String(), fmt.Sprint([]*Root{r}), fmt.Sprint(map[string]Root{"a": *r}),
		fmt.Sprintf("%v", struct{ R Root }{*r}))
	j, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	jv, err := json.Marshal(struct{ R Root }{*r})
	if err != nil {
		t.Fatal(err)
	}
	outputs = append(outputs, string(j), string(jv))
	var text, js bytes.Buffer
	slog.New(slog.NewTextHandler(&text, nil)).Info("root", "root", r, "value", *r)
	slog.New(slog.NewJSONHandler(&js, nil)).Info("root", "root", r, "value", *r)
	outputs = append(outputs, text.String(), js.String())

	for _, out := range outputs {
		if !strings.Contains(out, "REDACTED") {
			t.Errorf("output %q does not say REDACTED", out)
		}
		for _, s := range secretForms {
			if strings.Contains(out, s) {
				t.Errorf("output %q contains the secret", out)
			}
		}
	}
	if !strings.Contains(r.String(), r.Fingerprint()) || !strings.Contains(r.String(), "42") {
		t.Errorf("String %q lacks the epoch or fingerprint", r.String())
	}
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
