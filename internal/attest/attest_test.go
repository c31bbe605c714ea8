package attest

import (
	"encoding/hex"
	"errors"
	"testing"
)

// A CPU TEE plus its GPU in one request: every part must pass.
func TestCompositeCPUAndGPU(t *testing.T) {
	report, chain := hopperVectors(t)
	snp := Evidence{TEE: SNP, Raw: readVector(t, "snp/test-report.bin"), Certs: readVector(t, "snp/test-vcek.der")}
	gpu := Evidence{TEE: NVIDIA, Raw: report, Certs: chain}
	c, err := Verify(Evidence{TEE: Composite, Parts: []Evidence{snp, gpu}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if c.TEE != Composite || len(c.Parts) != 2 || c.Parts[0].TEE != SNP || c.Parts[1].TEE != NVIDIA {
		t.Fatalf("claims %+v", c)
	}
	flat := Flatten(c)
	if flat["part1.fwid"] != hopperFWID || len(flat["part0.measurement"]) != 96 {
		t.Fatalf("flattened %v", flat)
	}
	if err := Compare(c, map[string]string{"part1.fwid": hopperFWID, "part0.measurement": c.Parts[0].Measurements["measurement"]}); err != nil {
		t.Fatal(err)
	}
	mustRefuse(t, Compare(c, map[string]string{"part1.fwid": "00" + hopperFWID[2:]}), "part1.fwid is")
	mustRefuse(t, Compare(c, map[string]string{"part2.fwid": hopperFWID}), "part2.fwid missing")

	// The same form with the CPU evidence at the top level.
	c2, err := Verify(Evidence{TEE: SNP, Raw: snp.Raw, Certs: snp.Certs, Parts: []Evidence{gpu}}, Options{})
	if err != nil || len(c2.Parts) != 2 {
		t.Fatalf("%+v %v", c2, err)
	}

	// One failing GPU fails the whole request, naming the part.
	bad := Evidence{TEE: NVIDIA, Raw: report, Certs: readVector(t, "nvidia/hopper_cert_chain_case3.txt")}
	_, err = Verify(Evidence{TEE: Composite, Parts: []Evidence{snp, gpu, bad}}, Options{})
	mustRefuse(t, err, "composite part 2 (nvidia)")
	// A nonce is checked against every part: the GPU's request nonce is not
	// the SNP report's data, so one fresh nonce cannot satisfy both here.
	nonce, _ := hex.DecodeString(hopperNonce)
	_, err = Verify(Evidence{TEE: Composite, Parts: []Evidence{snp, gpu}}, Options{Nonce: nonce})
	mustRefuse(t, err, "composite part 0 (snp)")
	_, err = Verify(Evidence{TEE: Composite}, Options{})
	mustRefuse(t, err, "no parts")
	_, err = Verify(Evidence{TEE: Composite, Parts: []Evidence{{TEE: Composite, Parts: []Evidence{gpu}}}}, Options{})
	mustRefuse(t, err, "itself composite")
}

func TestUnknownTEE(t *testing.T) {
	_, err := Verify(Evidence{TEE: "sgx", Raw: []byte("x")}, Options{})
	mustRefuse(t, err, `no verifier for TEE type "sgx"`)
}

func TestRevokeNormalises(t *testing.T) {
	r := &Roots{}
	r.Revoke("00:0A:bc", "0", "sha256:ABCD")
	for _, k := range []string{"abc", "0", "sha256:abcd"} {
		if !r.Revoked[k] {
			t.Errorf("%s not revoked: %v", k, r.Revoked)
		}
	}
}

func TestNonceRules(t *testing.T) {
	long := make([]byte, 64)
	for i := range long {
		long[i] = byte(i)
	}
	if err := checkNonce("x", long[:32], long); err != nil {
		t.Errorf("32-byte field binding a 64-byte nonce's prefix: %v", err)
	}
	if err := checkNonce("x", long[:16], long); !errors.Is(err, ErrRefused) {
		t.Errorf("16-byte field accepted for a 64-byte nonce")
	}
	if err := checkNonce("x", nil, []byte{1}); !errors.Is(err, ErrRefused) {
		t.Errorf("empty field accepted")
	}
	if err := checkNonce("x", long, long[:8]); err != nil {
		t.Errorf("short nonce at the start of the field: %v", err)
	}
}

// The AMD root bundles recorded with the vectors are the ones go-sev-guest
// embeds (ARK identical; ASK and ASVK signed by it).
func TestAMDRootBundles(t *testing.T) {
	roots, err := amdDefaultRoots()
	if err != nil {
		t.Fatal(err)
	}
	for _, pl := range []string{"milan", "genoa", "turin"} {
		certs, err := parseCerts(readVector(t, "snp/"+pl+"_ask_ark_asvk.pem"))
		if err != nil {
			t.Fatal(err)
		}
		line := map[string]string{"milan": "Milan", "genoa": "Genoa", "turin": "Turin"}[pl]
		ark := roots[line][0].ProductCerts.Ark
		found := false
		for _, c := range certs {
			if c.Equal(ark) {
				found = true
				continue
			}
			if err := c.CheckSignatureFrom(ark); err != nil {
				t.Errorf("%s: %s not signed by the embedded ARK: %v", pl, c.Subject.CommonName, err)
			}
		}
		if !found {
			t.Errorf("%s: bundle lacks the embedded ARK", pl)
		}
		// Passing a bundle as extra roots keeps verification working.
		r := DefaultRoots()
		r.AMDExtra = [][]byte{readVector(t, "snp/"+pl+"_ask_ark_asvk.pem")}
		if _, err := Verify(Evidence{TEE: SNP, Raw: readVector(t, "snp/test-report.bin"), Certs: readVector(t, "snp/test-vcek.der")}, Options{Roots: r}); err != nil {
			t.Errorf("%s extra: %v", pl, err)
		}
	}
}

func BenchmarkVerifyComposite(b *testing.B) {
	report, chain := hopperVectors(b)
	ev := Evidence{TEE: Composite, Parts: []Evidence{
		{TEE: SNP, Raw: readVector(b, "snp/test-report.bin"), Certs: readVector(b, "snp/test-vcek.der")},
		{TEE: NVIDIA, Raw: report, Certs: chain},
	}}
	for b.Loop() {
		if _, err := Verify(ev, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
