package attest

import (
	"bytes"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"testing"
)

const evSeparator = 0x4

// CCEL_data_ovmf is an OVMF event log of some TD. Replaying it is checked
// from inside: every separator event's digest is the hash of its data, so the
// parse is aligned; the replayed RTMRs are fixed known answers. It does not
// belong to tdx_quote_4.dat, whose RTMRs it therefore fails to reproduce.
func TestCCELReplay(t *testing.T) {
	log := readVector(t, "CCEL_data_ovmf")
	rtmr, events, err := ReplayCCEL(log)
	if err != nil {
		t.Fatal(err)
	}
	seps := 0
	for _, e := range events {
		if e.Type == evSeparator {
			seps++
			if d := sha512.Sum384(e.Data); !bytes.Equal(d[:], e.Digest) {
				t.Errorf("separator in RTMR%d: digest %x is not the hash of its data %x", e.MR-1, e.Digest, e.Data)
			}
		}
	}
	if len(events) != 20 || seps == 0 {
		t.Fatalf("%d events, %d separators", len(events), seps)
	}
	want := []string{
		"8566f998798db09443b244c62de9a3041fb02e2e6936c4396d784bba2e90177329ec5aba3bb484404f2ab9cc90abe193",
		"775b9f6bfe99f8a31396f0d0218e67ffa796d3b96ccf961cbb0deba48c79c00f082cda1a5567c1c16305f1fc210c13c6",
		"94eaf7a7bf398ed8d888c91057ae0261802e4f3df084213a76ca7f0b5055ac9d2241de43cd58d9e8b49c503bbf25f34a",
	}
	for i, w := range want {
		if hex.EncodeToString(rtmr[i][:]) != w {
			t.Errorf("rtmr%d = %x, want %s", i, rtmr[i], w)
		}
	}
	c, err := Verify(Evidence{TEE: TDX, Raw: readVector(t, "tdx_quote_4.dat")}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	mustRefuse(t, CheckCCEL(&c, log), "replays rtmr0")
	// A log that matches is accepted: claims made from the replay itself.
	match := Claims{Measurements: map[string]string{}}
	for i := range 4 {
		match.Measurements["rtmr"+string(rune('0'+i))] = hex.EncodeToString(rtmr[i][:])
	}
	if err := CheckCCEL(&match, log); err != nil || match.Platform["eventlog_events"] != "20" {
		t.Fatalf("%v %v", err, match.Platform)
	}
	// One flipped digest bit changes the replay.
	bad := bytes.Clone(log)
	off := bytes.Index(log, events[len(events)-1].Digest)
	bad[off] ^= 1
	mustRefuse(t, CheckCCEL(&match, bad), "replays rtmr")
}

func TestCCELGarbage(t *testing.T) {
	log := readVector(t, "CCEL_data_ovmf")
	end := len(bytes.TrimRight(log, "\xff"))
	for _, n := range []int{0, 4, 8, 31, 40, 100, end - 1} {
		if _, _, err := ReplayCCEL(log[:n]); err == nil && n < 40 {
			t.Errorf("truncated to %d accepted", n)
		}
	}
	var c Claims
	if err := CheckCCEL(&c, []byte("garbage")); !errors.Is(err, ErrRefused) {
		t.Fatalf("%v", err)
	}
}

func FuzzCCEL(f *testing.F) {
	log := readVector(f, "CCEL_data_ovmf")
	f.Add(log[:len(bytes.TrimRight(log, "\xff"))])
	f.Fuzz(func(t *testing.T, b []byte) {
		ReplayCCEL(b)
	})
}

// Confidential Containers' TDX evidence document: the quote alone verifies;
// with a CCEL that does not reproduce its RTMRs it is refused.
func TestTDXEvidenceDocument(t *testing.T) {
	q := base64.StdEncoding.EncodeToString(readVector(t, "tdx_quote_4.dat"))
	doc, _ := json.Marshal(map[string]string{"quote": q})
	if _, err := Verify(Evidence{TEE: TDX, Raw: doc}, Options{}); err != nil {
		t.Fatal(err)
	}
	doc, _ = json.Marshal(map[string]string{"quote": q, "cc_eventlog": base64.StdEncoding.EncodeToString(readVector(t, "CCEL_data_ovmf"))})
	_, err := Verify(Evidence{TEE: TDX, Raw: doc}, Options{})
	mustRefuse(t, err, "event log replays rtmr0")
	_, err = Verify(Evidence{TEE: TDX, Raw: []byte(`{"quote": 5}`)}, Options{})
	mustRefuse(t, err, "not a TDX evidence document")
}
