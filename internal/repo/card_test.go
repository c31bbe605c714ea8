package repo

import (
	"errors"
	"strings"
	"testing"
)

func TestCardRoundTrip(t *testing.T) {
	c := &Card{Custodian: "alice", Index: 1, Of: 3, Threshold: 2, Home: "h0123", Fingerprint: "fp1-0123-4567-89ab-cdef-0123-4567-89ab-cdef", Recipient: "age1pq1x", Created: fixTime(0)}
	b := c.Encode()
	golden(t, "custodian-card.txt", b)
	fp, err := ParseCard(b)
	if err != nil || fp != c.Fingerprint {
		t.Fatalf("parse: %q %v", fp, err)
	}
	if !strings.Contains(string(b), "--expect-home "+c.Fingerprint) {
		t.Fatal("the card does not say how to check the home")
	}
	for _, bad := range []string{"", "fingerprint: " + c.Fingerprint + "\n", cardFormat + "\n", cardFormat + "\nfingerprint: " + c.Fingerprint + "\nfingerprint: " + c.Fingerprint + "\n"} {
		if _, err := ParseCard([]byte(bad)); !errors.Is(err, errFormat) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}
