package tlog

import (
	"errors"
	"regexp"
	"testing"

	f_log "github.com/transparency-dev/formats/log"
)

// TestInclusionMismatchInHex: a receipt whose proof does not reach the
// checkpoint's root names both roots in hex, not as decimal byte lists
// (issue 11.16).
func TestInclusionMismatchInHex(t *testing.T) {
	cp := &f_log.Checkpoint{Origin: "o", Size: 2, Hash: make([]byte, 32)}
	err := verifyInclusion(0, cp, []byte("leaf"), [][]byte{make([]byte, 32)})
	if !errors.Is(err, ErrInclusion) {
		t.Fatalf("mismatched proof: %v", err)
	}
	if !regexp.MustCompile(`calculated root [0-9a-f]{64} does not match the checkpoint's root 0{64}$`).MatchString(err.Error()) {
		t.Fatalf("roots not in hex: %v", err)
	}
}
