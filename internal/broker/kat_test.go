package broker

import (
	"bytes"
	"encoding/hex"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/keys"
)

// Known answers for the formats of docs/BROKER.md, computed independently
// (Python hashlib/hmac/json) from the specification.

func TestReportDataKAT(t *testing.T) {
	nonce := make([]byte, 32)
	for i := range nonce {
		nonce[i] = byte(i)
	}
	got := hex.EncodeToString(ReportData(nonce, []byte("workload-key")))
	if want := "81c2a5a6d27f14f1de5d9523f057f600d82074d8e0d6f080adc750dedaefa5b0"; got != want {
		t.Fatalf("report data %s, want %s", got, want)
	}
}

func TestRefsCanonicalKAT(t *testing.T) {
	r := RefValues{Format: RefsFormat, Name: "inference-v1", TEE: "tpm", Issued: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC),
		Measurements: map[string]string{"pcr.sha256.9": "ab01", "pcr.sha256.0": "00ff"}}
	got, err := r.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"format":"embassy.refs.v1","issued":"2026-12-01T12:00:00Z","measurements":{"pcr.sha256.0":"00ff","pcr.sha256.9":"ab01"},"name":"inference-v1","tee":"tpm"}`
	if string(got) != want {
		t.Fatalf("canonical\n got %s\nwant %s", got, want)
	}
}

func TestEARKeyKAT(t *testing.T) {
	r, err := keys.RootFromSecret(1, bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	got := hex.EncodeToString(DeriveEARKey(r).Seed())
	if want := "2e46e43dc74d5a26e8ccc404546479581488eaf03ac6abba8281d64e29051264"; got != want {
		t.Fatalf("ear seed %s, want %s", got, want)
	}
}

func TestMeasurementsDigestOrderIndependent(t *testing.T) {
	a := MeasurementsDigest(map[string]string{"b": "2", "a": "1"})
	b := MeasurementsDigest(map[string]string{"a": "1", "b": "2"})
	c := MeasurementsDigest(map[string]string{"a": "1", "b": "3"})
	if a != b || a == c {
		t.Fatalf("digests %s %s %s", a, b, c)
	}
}
