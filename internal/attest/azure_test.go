package attest

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestAzureSNPvTPM(t *testing.T) {
	for _, f := range []string{"az-snp-vtpm/evidence-v0.json", "az-snp-vtpm/evidence-v1.json"} {
		t.Run(f, func(t *testing.T) {
			raw := readVector(t, f)
			c, err := Verify(Evidence{TEE: AzSNPvTPM, Raw: raw}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if len(c.Measurements["measurement"]) != 96 || len(c.Measurements["pcr7"]) != 64 {
				t.Fatalf("measurements %v", c.Measurements)
			}
			if _, err := Verify(Evidence{TEE: AzSNPvTPM, Raw: raw}, Options{Nonce: []byte("challenge")}); err != nil {
				t.Fatal(err)
			}
			// The separately recorded VCEK bundle (VCEK, ASK, ARK of another
			// Milan chip) is AMD's, but does not sign this report.
			_, err = Verify(Evidence{TEE: AzSNPvTPM, Raw: raw, Certs: readVector(t, "az-snp-vtpm/vcek.pem")}, Options{})
			mustRefuse(t, err, "ECDSA verification failure")
			wrong := append([]byte(nil), c.ReportData...)
			wrong[0] ^= 1
			_, err = Verify(Evidence{TEE: AzSNPvTPM, Raw: raw}, Options{Nonce: wrong})
			mustRefuse(t, err, "does not match the expected nonce")
			// A VCEK of another chip does not sign this report.
			_, err = Verify(Evidence{TEE: AzSNPvTPM, Raw: raw, Certs: readVector(t, "snp/test-vcek.der")}, Options{})
			mustRefuse(t, err, "does not verify")
		})
	}
}

func TestAzureTDXvTPM(t *testing.T) {
	for _, f := range []string{"az-tdx-vtpm/evidence-v0.json", "az-tdx-vtpm/evidence-v1.json"} {
		t.Run(f, func(t *testing.T) {
			raw := readVector(t, f)
			c, err := Verify(Evidence{TEE: AzTDXvTPM, Raw: raw}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if len(c.Measurements["mrtd"]) != 96 || len(c.Measurements["pcr7"]) != 64 {
				t.Fatalf("measurements %v", c.Measurements)
			}
		})
	}
}

// The recorded bundle az-snp-vtpm/vcek.pem is a genuine Milan VCEK chain:
// its ARK is the one embedded, its ASK signs the VCEK.
func TestAzureVCEKBundle(t *testing.T) {
	certs, err := parseCerts(readVector(t, "az-snp-vtpm/vcek.pem"))
	if err != nil || len(certs) != 3 {
		t.Fatalf("%d certs, %v", len(certs), err)
	}
	roots, err := amdDefaultRoots()
	if err != nil {
		t.Fatal(err)
	}
	ark := roots["Milan"][0].ProductCerts.Ark
	if !certs[2].Equal(ark) {
		t.Fatal("bundle ARK is not AMD's Milan ARK")
	}
	if err := certs[0].CheckSignatureFrom(certs[1]); err != nil {
		t.Fatalf("VCEK not signed by the ASK: %v", err)
	}
	if err := certs[1].CheckSignatureFrom(ark); err != nil {
		t.Fatalf("ASK not signed by the ARK: %v", err)
	}
}

func editAzure(t *testing.T, raw []byte, f func(map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	f(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAzureTampered(t *testing.T) {
	raw := readVector(t, "az-snp-vtpm/evidence-v0.json")
	flipArr := func(key string, sub string, i int) func(map[string]any) {
		return func(m map[string]any) {
			v := m[key]
			if sub != "" {
				v = v.(map[string]any)[sub]
			}
			a := v.([]any)
			a[i] = float64(int(a[i].(float64)) ^ 1)
		}
	}
	cases := []struct {
		name, reason string
		edit         func(map[string]any)
	}{
		// A byte of the HCL runtime data (the AK lives there): the SNP report no longer binds it.
		{"runtime data", "does not bind the HCL runtime data", flipArr("report", "", 32+1184+20+100)},
		{"snp measurement", "does not verify", flipArr("report", "", 32+0x90)},
		{"quote message", "signature does not verify", flipArr("quote", "message", 50)},
		{"quote signature", "signature does not verify", flipArr("quote", "signature", 10)},
		{"pcr one bit", "PCR values do not match", func(m map[string]any) {
			p := m["quote"].(map[string]any)["pcrs"].([]any)[7].([]any)
			p[0] = float64(int(p[0].(float64)) ^ 1)
		}},
		{"no report", "lacks the HCL report", func(m map[string]any) { delete(m, "report") }},
		{"short report", "too short", func(m map[string]any) { m["report"] = m["report"].([]any)[:100] }},
		{"no vcek", "no VCEK", func(m map[string]any) { delete(m, "vcek") }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Verify(Evidence{TEE: AzSNPvTPM, Raw: editAzure(t, raw, tc.edit)}, Options{})
			mustRefuse(t, err, tc.reason)
		})
	}
	// The TDX flavour: a TD quote from another VM does not bind this HCL report.
	traw := readVector(t, "az-tdx-vtpm/evidence-v1.json")
	other := editAzure(t, traw, func(m map[string]any) { m["td_quote"] = readVector(t, "tdx_quote_4.dat") })
	_, err := Verify(Evidence{TEE: AzTDXvTPM, Raw: other}, Options{})
	mustRefuse(t, err, "differs from the HCL's TD report")
	// SNP evidence is not TDX evidence.
	_, err = Verify(Evidence{TEE: AzTDXvTPM, Raw: raw}, Options{})
	mustRefuse(t, err, "HCL report type 2")
}

func FuzzAzure(f *testing.F) {
	for _, v := range []string{"az-snp-vtpm/evidence-v0.json", "az-snp-vtpm/evidence-v1.json", "az-tdx-vtpm/evidence-v0.json", "az-tdx-vtpm/evidence-v1.json"} {
		f.Add(readVector(f, v))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, tee := range []TEE{AzSNPvTPM, AzTDXvTPM} {
			_, err := Verify(Evidence{TEE: tee, Raw: b}, Options{})
			if err != nil && !errors.Is(err, ErrRefused) {
				t.Fatalf("error does not wrap ErrRefused: %v", err)
			}
		}
	})
}

func BenchmarkVerifyAzSNP(b *testing.B) {
	raw := readVector(b, "az-snp-vtpm/evidence-v1.json")
	for b.Loop() {
		if _, err := Verify(Evidence{TEE: AzSNPvTPM, Raw: raw}, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyAzTDX(b *testing.B) {
	raw := readVector(b, "az-tdx-vtpm/evidence-v1.json")
	for b.Loop() {
		if _, err := Verify(Evidence{TEE: AzTDXvTPM, Raw: raw}, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
