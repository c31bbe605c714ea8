package keys

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"testing"
)

// fuzzSeeds returns the pinned envelope encoding, if available.
func fuzzSeeds(f *testing.F) [][]byte {
	b, err := os.ReadFile(katFile)
	if err != nil {
		f.Fatal(err)
	}
	var v katVectors
	if err := json.Unmarshal(b, &v); err != nil {
		f.Fatal(err)
	}
	return [][]byte{v.Envelope.Encoding}
}

func FuzzUnmarshalEnvelope(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
		f.Add(s[:len(s)-1])
		f.Add(append(bytes.Clone(s), 0))
	}
	f.Add([]byte("EMBSHARE\x01"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := UnmarshalEnvelope(b)
		if err != nil {
			return
		}
		// Strictness: an accepted input is valid and the unique encoding of
		// its envelope.
		if err := e.Validate(); err != nil {
			t.Fatalf("accepted an invalid envelope: %v", err)
		}
		if got := MarshalEnvelope(e); !bytes.Equal(got, b) {
			t.Fatalf("non-canonical encoding accepted:\n in  %x\n out %x", b, got)
		}
	})
}

func FuzzParseRecipient(f *testing.F) {
	for _, s := range []string{
		katRecipient,
		"age1pq1",
		"age1yubikey1qwt50d05nh5vutpdzmlg5wn80xq5negm4uj9ghv0snvdd3yysf5yw3rhl3t",
		"AGE-SECRET-KEY-1QQQ",
		"ssh-ed25519 AAAA",
		"",
	} {
		f.Add(s)
	}
	if _, hybrid, err := GenerateIdentity(false); err == nil {
		f.Add(hybrid)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRecipient(s)
		if err != nil {
			if r != nil {
				t.Fatal("non-nil recipient with an error")
			}
			return
		}
		str, ok := r.(fmt.Stringer)
		if !ok {
			t.Fatalf("recipient %T has no String", r)
		}
		// The canonical form parses to the same recipient.
		r2, err := ParseRecipient(str.String())
		if err != nil {
			t.Fatalf("canonical form %q does not parse: %v", str, err)
		}
		if r2.(fmt.Stringer).String() != str.String() {
			t.Fatal("canonical form is not stable")
		}
	})
}
