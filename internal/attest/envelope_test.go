package attest

import (
	"errors"
	"testing"
)

func TestEnvelopeRoundTrip(t *testing.T) {
	report, chain := hopperVectors(t)
	ev := Evidence{TEE: SNP, Raw: readVector(t, "snp/test-report.bin"), Certs: readVector(t, "snp/test-vcek.der"),
		Parts: []Evidence{{TEE: NVIDIA, Raw: report, Certs: chain}}}
	b, err := MarshalEnvelope(ev)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseEnvelope(b)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Verify(back, Options{})
	if err != nil || len(c.Parts) != 2 {
		t.Fatalf("%+v %v", c, err)
	}
	_, err = ParseEnvelope([]byte(`{"tee":"snp","parts":[{"tee":"x","parts":[{"tee":"y"}]}]}`))
	mustRefuse(t, err, "itself composite")
	_, err = ParseEnvelope([]byte(`{"evidence": 7}`))
	mustRefuse(t, err, "does not decode")
}

func FuzzEnvelope(f *testing.F) {
	report, chain := hopperVectors(f)
	b, _ := MarshalEnvelope(Evidence{TEE: NVIDIA, Raw: report, Certs: chain})
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := ParseEnvelope(b)
		if err != nil {
			if !errors.Is(err, ErrRefused) {
				t.Fatal(err)
			}
			return
		}
		if _, err := Verify(ev, Options{}); err != nil && !errors.Is(err, ErrRefused) {
			t.Fatal(err)
		}
	})
}
