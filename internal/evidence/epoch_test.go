package evidence

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"testing"
	"time"
)

func TestCheckEpochRefusesInventedAndRetiredKeys(t *testing.T) {
	_, signer, _ := ed25519.GenerateKey(rand.Reader)
	pub1, root1, _ := ed25519.GenerateKey(rand.Reader)
	pub2, _, _ := ed25519.GenerateKey(rand.Reader)
	_, invented, _ := ed25519.GenerateKey(rand.Reader)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	epochs := map[uint32]EpochKey{1: {pub1, t0}, 2: {pub2, t0.Add(24 * time.Hour)}}
	verify := func(root ed25519.PrivateKey, epoch uint32) *Verified {
		d, err := Sign(KindDrillReport, map[string]int{"x": 1}, signer, "h1", epoch, root)
		if err != nil {
			t.Fatal(err)
		}
		v, err := Verify(d, nil)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tc := range []struct {
		name  string
		root  ed25519.PrivateKey
		epoch uint32
		made  time.Time
		ok    bool
	}{
		{"epoch 1 before rotation", root1, 1, t0.Add(time.Hour), true},
		{"epoch 1 after rotation", root1, 1, t0.Add(48 * time.Hour), false},
		{"invented epoch 5", invented, 5, t0.Add(time.Hour), false},
		{"invented key for epoch 2", invented, 2, t0.Add(48 * time.Hour), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckEpoch(verify(tc.root, tc.epoch), tc.made, epochs)
			if tc.ok != (err == nil) || (err != nil && !errors.Is(err, ErrSignature)) {
				t.Fatalf("got %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
