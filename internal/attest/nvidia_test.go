package attest

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

const hopperNonce = "931d8dd0add203ac3d8b4fbde75e115278eefcdceac5b87671a748f32364dfcb"
const hopperFWID = "f5c384aebb579217a2c66b17ed0f28e6a9b8d639041acd7b4721cec004f7275494ba94bb5cdfdb3055ee051762b1f75d"

func hopperVectors(t testing.TB) (report, chain []byte) {
	return readVector(t, "nvidia/hopperAttestationReport.txt"), readVector(t, "nvidia/hopper_cert_chain_case1.txt")
}

func TestNVIDIAHopperReport(t *testing.T) {
	report, chain := hopperVectors(t)
	nonce, _ := hex.DecodeString(hopperNonce)
	c, err := Verify(Evidence{TEE: NVIDIA, Raw: report, Certs: chain}, Options{Nonce: nonce})
	if err != nil {
		t.Fatal(err)
	}
	if c.Measurements["fwid"] != hopperFWID || hex.EncodeToString(c.ReportData) != hopperNonce {
		t.Fatalf("fwid %s report data %x", c.Measurements["fwid"], c.ReportData)
	}
	// Compare with the claims trustee derived from the same report.
	var want struct {
		Arch         string            `json:"arch"`
		Measurements map[string]string `json:"measurements"`
		Config       map[string]any    `json:"config"`
	}
	if err := json.Unmarshal(readVector(t, "nvidia/hopperAttestationReport-claims.txt"), &want); err != nil {
		t.Fatal(err)
	}
	if c.Platform["arch"] != want.Arch {
		t.Errorf("arch %q, want %q", c.Platform["arch"], want.Arch)
	}
	if len(want.Measurements) != 64 {
		t.Fatalf("expected claims have %d measurements", len(want.Measurements))
	}
	for i, v := range want.Measurements {
		if got := c.Measurements["measurement"+i]; got != v {
			t.Errorf("measurement %s: %s, want %s", i, got, v)
		}
	}
	got := map[string]string{}
	for k, v := range c.Platform {
		got[k] = v
	}
	for k, v := range c.TCB {
		got[k] = v
	}
	got["fwid"] = c.Measurements["fwid"]
	// trustee (at the recorded commit) printed these two one-byte status
	// items as text; 0x55 is "U". We keep them as hex.
	got["nvdec0_status"] = string(mustHex(t, got["nvdec0_status"]))
	got["protected_pcie_status"] = string(mustHex(t, got["protected_pcie_status"]))
	for k, v := range want.Config {
		if k == "measurement_count" {
			for i, n := range v.(map[string]any) {
				if g := got["measurement_count"+i]; g != fmt.Sprint(n) {
					t.Errorf("measurement_count %s: %s, want %v", i, g, n)
				}
			}
			continue
		}
		if got[k] != v {
			t.Errorf("config %s: %q, want %q", k, got[k], v)
		}
	}
}

func mustHex(t *testing.T, s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The four chain cases of the recorded vectors.
func TestNVIDIAChainCases(t *testing.T) {
	report, _ := hopperVectors(t)
	nonce, _ := hex.DecodeString(hopperNonce)
	for _, tc := range []struct{ file, reason string }{
		{"nvidia/hopper_cert_chain_case2.txt", "chain too short"},
		{"nvidia/hopper_cert_chain_case3.txt", "chain does not verify"},
		{"nvidia/hopper_cert_chain_case4.txt", "no FWID"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			_, err := Verify(Evidence{TEE: NVIDIA, Raw: report, Certs: readVector(t, tc.file)}, Options{Nonce: nonce})
			mustRefuse(t, err, tc.reason)
		})
	}
}

func TestNVIDIASigningCertFWID(t *testing.T) {
	certs, err := parseCerts(readVector(t, "nvidia/hopper_signing_cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	fwid, err := fwidOf(certs[0])
	if err != nil || hex.EncodeToString(fwid) != hopperFWID {
		t.Fatalf("fwid %x, %v", fwid, err)
	}
	// The signing certificate alone is not a chain.
	report, _ := hopperVectors(t)
	_, err = Verify(Evidence{TEE: NVIDIA, Raw: report, Certs: readVector(t, "nvidia/hopper_signing_cert.pem")}, Options{})
	mustRefuse(t, err, "too short")
}

func TestNVIDIARefusals(t *testing.T) {
	report, chain := hopperVectors(t)
	bin := mustHex(t, string(bytes.TrimSpace(report)))
	nonce, _ := hex.DecodeString(hopperNonce)
	flip := func(off int) []byte { b := bytes.Clone(bin); b[off] ^= 1; return b }
	wrong := bytes.Clone(nonce)
	wrong[31] ^= 0x80
	_, err := Verify(Evidence{TEE: NVIDIA, Raw: bin, Certs: chain}, Options{Nonce: wrong})
	mustRefuse(t, err, "does not match the expected nonce")
	// A measurement off by one bit (block 2's value starts at 37+8+55+7).
	_, err = Verify(Evidence{TEE: NVIDIA, Raw: flip(37 + 8 + 55 + 7), Certs: chain}, Options{Nonce: nonce})
	mustRefuse(t, err, "signature does not verify")
	_, err = Verify(Evidence{TEE: NVIDIA, Raw: flip(len(bin) - 1), Certs: chain}, Options{Nonce: nonce})
	mustRefuse(t, err, "signature does not verify")
	_, err = Verify(Evidence{TEE: NVIDIA, Raw: flip(4), Certs: chain}, Options{Nonce: nonce})
	mustRefuse(t, err, "signature does not verify")
	_, err = Verify(Evidence{TEE: NVIDIA, Raw: bin}, Options{})
	mustRefuse(t, err, "no device certificate chain")
	// Revoking the provisioner ICA stops every device under it.
	certs, _ := parseCerts(chain)
	r := DefaultRoots()
	r.Revoke(certs[2].SerialNumber.Text(16))
	_, err = Verify(Evidence{TEE: NVIDIA, Raw: bin, Certs: chain}, Options{Nonce: nonce, Roots: r})
	mustRefuse(t, err, "revoked")
	// An unknown root: a chain that verifies only to a different anchor.
	other := &Roots{NVIDIA: nil}
	_, err = Verify(Evidence{TEE: NVIDIA, Raw: bin, Certs: chain}, Options{Nonce: nonce, Roots: other})
	mustRefuse(t, err, "no trust anchor")
	for _, n := range []int{0, 36, 37, 45, 200, len(bin) - 1} {
		_, err := Verify(Evidence{TEE: NVIDIA, Raw: bin[:n], Certs: chain}, Options{})
		if !errors.Is(err, ErrRefused) {
			t.Fatalf("truncated to %d: %v", n, err)
		}
	}
	_, err = Verify(Evidence{TEE: NVIDIA, Raw: append(bytes.Clone(bin), 0), Certs: chain}, Options{})
	mustRefuse(t, err, "signature has")
}

func TestNVIDIADeviceList(t *testing.T) {
	report, chain := hopperVectors(t)
	nonce, _ := hex.DecodeString(hopperNonce)
	dev := NVIDIADevice{Arch: "HOPPER", UUID: "GPU-1", Evidence: strings.TrimSpace(string(report)), Certificate: base64.StdEncoding.EncodeToString(chain)}
	raw, _ := json.Marshal(NVIDIAEvidence{Devices: []NVIDIADevice{dev, dev}})
	c, err := Verify(Evidence{TEE: NVIDIA, Raw: raw}, Options{Nonce: nonce})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Parts) != 2 || c.Measurements["gpu1.fwid"] != hopperFWID || c.Parts[1].Platform["uuid"] != "GPU-1" {
		t.Fatalf("claims %+v", c)
	}
	bad := dev
	bad.Certificate = base64.StdEncoding.EncodeToString(readVector(t, "nvidia/hopper_cert_chain_case3.txt"))
	raw, _ = json.Marshal(NVIDIAEvidence{Devices: []NVIDIADevice{dev, bad}})
	_, err = Verify(Evidence{TEE: NVIDIA, Raw: raw}, Options{Nonce: nonce})
	mustRefuse(t, err, "gpu1")
	bl := dev
	bl.Arch = "BLACKWELL"
	raw, _ = json.Marshal(NVIDIAEvidence{Devices: []NVIDIADevice{bl}})
	_, err = Verify(Evidence{TEE: NVIDIA, Raw: raw}, Options{Nonce: nonce})
	mustRefuse(t, err, "not supported")
}

func FuzzNVIDIAReport(f *testing.F) {
	report, chain := hopperVectors(f)
	bin, _ := hex.DecodeString(string(bytes.TrimSpace(report)))
	f.Add(bin)
	f.Fuzz(func(t *testing.T, b []byte) {
		_, err := Verify(Evidence{TEE: NVIDIA, Raw: b, Certs: chain}, Options{})
		if err != nil && !errors.Is(err, ErrRefused) {
			t.Fatalf("error does not wrap ErrRefused: %v", err)
		}
	})
}

func FuzzNVIDIAChain(f *testing.F) {
	report, chain := hopperVectors(f)
	f.Add(chain)
	f.Add(readVector(f, "nvidia/hopper_cert_chain_case4.txt"))
	f.Fuzz(func(t *testing.T, c []byte) {
		_, err := Verify(Evidence{TEE: NVIDIA, Raw: report, Certs: c}, Options{})
		if err != nil && !errors.Is(err, ErrRefused) {
			t.Fatalf("error does not wrap ErrRefused: %v", err)
		}
	})
}

func BenchmarkVerifyNVIDIA(b *testing.B) {
	report, chain := hopperVectors(b)
	for b.Loop() {
		if _, err := Verify(Evidence{TEE: NVIDIA, Raw: report, Certs: chain}, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
