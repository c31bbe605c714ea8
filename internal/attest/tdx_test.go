package attest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"maps"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestTDXQuoteV4(t *testing.T) {
	raw := readVector(t, "tdx_quote_4.dat")
	c, err := Verify(Evidence{TEE: TDX, Raw: raw}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var want struct {
		Quote struct {
			Body map[string]string `json:"body"`
		} `json:"quote"`
		ReportData         string          `json:"report_data"`
		TDAttributes       map[string]bool `json:"td_attributes"`
		PlatformInstanceID string          `json:"platform_instance_id"`
		InitData           string          `json:"init_data"`
	}
	if err := json.Unmarshal(readVector(t, "parse_tdx_claims_expected.json"), &want); err != nil {
		t.Fatal(err)
	}
	b := want.Quote.Body
	for name, key := range map[string]string{"mrtd": "mr_td", "mrseam": "mr_seam", "mrsignerseam": "mrsigner_seam", "mrconfigid": "mr_config_id",
		"mrowner": "mr_owner", "mrownerconfig": "mr_owner_config", "rtmr0": "rtmr_0", "rtmr1": "rtmr_1", "rtmr2": "rtmr_2", "rtmr3": "rtmr_3"} {
		if c.Measurements[name] != b[key] {
			t.Errorf("%s = %s, want %s", name, c.Measurements[name], b[key])
		}
	}
	if hex.EncodeToString(c.ReportData) != want.ReportData || hex.EncodeToString(c.ReportData) != b["report_data"] {
		t.Errorf("report data %x", c.ReportData)
	}
	if c.TCB["tee_tcb_svn"] != b["tcb_svn"] || c.Platform["td_attributes"] != b["td_attributes"] || c.Platform["xfam"] != b["xfam"] || c.TCB["seam_attributes"] != b["seam_attributes"] {
		t.Errorf("tcb %v platform %v", c.TCB, c.Platform)
	}
	if c.Debug != want.TDAttributes["debug"] {
		t.Errorf("debug %v", c.Debug)
	}
	for name, v := range want.TDAttributes {
		if c.Platform["td_attr_"+name] != strconv.FormatBool(v) {
			t.Errorf("td attribute %s = %q, want %v", name, c.Platform["td_attr_"+name], v)
		}
	}
	if c.Measurements["mrconfigid"] != want.InitData {
		t.Errorf("init_data %s, mrconfigid %s", want.InitData, c.Measurements["mrconfigid"])
	}
	// Trustee prints the PCK certificate's PlatformInstanceID byte-reversed;
	// we keep the certificate's byte order.
	pid := mustHex(t, c.Platform["platform_instance_id"])
	slices.Reverse(pid)
	if hex.EncodeToString(pid) != want.PlatformInstanceID {
		t.Errorf("platform_instance_id %q, want %q", c.Platform["platform_instance_id"], want.PlatformInstanceID)
	}
	if c.TCB["collateral"] != "false" {
		t.Errorf("collateral %q", c.TCB["collateral"])
	}
	if _, err := Verify(Evidence{TEE: TDX, Raw: raw}, Options{Nonce: c.ReportData}); err != nil {
		t.Fatal(err)
	}
	wrong := bytes.Clone(c.ReportData)
	wrong[5] ^= 4
	_, err = Verify(Evidence{TEE: TDX, Raw: raw}, Options{Nonce: wrong})
	mustRefuse(t, err, "does not match the expected nonce")
}

func TestTDXTampered(t *testing.T) {
	raw := readVector(t, "tdx_quote_4.dat")
	// header, MRTD (body offset 48+136), report data, the quote signature
	for _, off := range []int{10, 48 + 136, 48 + 520, 48 + 584 + 4 + 10} {
		bad := bytes.Clone(raw)
		bad[off] ^= 1
		_, err := Verify(Evidence{TEE: TDX, Raw: bad}, Options{})
		if !errors.Is(err, ErrRefused) {
			t.Fatalf("flip at %d: %v", off, err)
		}
	}
	for _, n := range []int{0, 3, 48, 632, len(raw) / 2, len(raw) - 1} {
		_, err := Verify(Evidence{TEE: TDX, Raw: raw[:n]}, Options{})
		mustRefuse(t, err, "tdx")
	}
	// An unknown root: the quote's PCK chain ends at Intel's root, not ours.
	_, err := Verify(Evidence{TEE: TDX, Raw: raw}, Options{Roots: &Roots{Intel: defaultNVIDIA()}})
	mustRefuse(t, err, "does not verify")
	// A revoked PCK certificate.
	q, _ := tdxQuoteChain(raw)
	r := DefaultRoots()
	r.Revoke(q[0].SerialNumber.Text(16))
	_, err = Verify(Evidence{TEE: TDX, Raw: raw}, Options{Roots: r})
	mustRefuse(t, err, "revoked")
}

func FuzzTDX(f *testing.F) {
	f.Add(readVector(f, "tdx_quote_4.dat"))
	f.Add(readVector(f, "tdx_quote_5.dat"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, err := Verify(Evidence{TEE: TDX, Raw: b}, Options{})
		if err != nil && !errors.Is(err, ErrRefused) {
			t.Fatalf("error does not wrap ErrRefused: %v", err)
		}
	})
}

func BenchmarkVerifyTDX(b *testing.B) {
	raw := readVector(b, "tdx_quote_4.dat")
	for b.Loop() {
		if _, err := Verify(Evidence{TEE: TDX, Raw: raw}, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// tdxCollateral builds an offline cache holding TCB info (for the given
// FMSPC key) and QE identity, with the Intel TCB signing chain.
func tdxCollateral(t *testing.T, fmspc, tcbFile, qeFile string) MapCache {
	chain := readVector(t, "go-tdx-guest/tcb_signing_chain.pem")
	return MapCache{
		TDXTCBInfoKey(fmspc):                     readVector(t, tcbFile),
		TDXTCBInfoKey(fmspc) + IssuerChainSuffix: chain,
		TDXQEIdentityKey():                       readVector(t, qeFile),
		TDXQEIdentityKey() + IssuerChainSuffix:   chain,
	}
}

// With Intel's collateral for the quote's platform (FMSPC 50806f000000),
// at a time when it was current, the TCB status is checked too.
func TestTDXCollateral(t *testing.T) {
	raw := readVector(t, "tdx_quote_4.dat")
	cache := tdxCollateral(t, "50806f000000", "go-tdx-guest/tcbInfo_50806f000000.json", "go-tdx-guest/qeIdentity.json")
	then := time.Date(2023, 7, 1, 0, 0, 0, 0, time.UTC)
	c, err := Verify(Evidence{TEE: TDX, Raw: raw}, Options{Cache: cache, Now: then})
	if err != nil {
		t.Fatal(err)
	}
	if c.TCB["collateral"] != "true" {
		t.Fatalf("collateral %q", c.TCB["collateral"])
	}
	// Out of date collateral is refused.
	_, err = Verify(Evidence{TEE: TDX, Raw: raw}, Options{Cache: cache, Now: then.AddDate(0, 2, 0)})
	mustRefuse(t, err, "expired")
	// Collateral whose signature does not verify is refused.
	bad := maps.Clone(cache)
	bad[TDXTCBInfoKey("50806f000000")] = bytes.Replace(cache[TDXTCBInfoKey("50806f000000")], []byte(`"tcbStatus":"UpToDate"`), []byte(`"tcbStatus":"OutOfDate"`), 1)
	_, err = Verify(Evidence{TEE: TDX, Raw: raw}, Options{Cache: bad, Now: then})
	mustRefuse(t, err, "does not verify")
	// Half the collateral is a refusal, not a silent skip.
	delete(bad, TDXQEIdentityKey())
	bad[TDXTCBInfoKey("50806f000000")] = cache[TDXTCBInfoKey("50806f000000")]
	_, err = Verify(Evidence{TEE: TDX, Raw: raw}, Options{Cache: bad, Now: then})
	mustRefuse(t, err, "lacks the QE identity")
}

// The recorded PCS samples (tcbInfo.json, enclaveIdentity.json) are for
// another platform (FMSPC 00A06D080000) and were issued in October 2025,
// after the only Intel TCB signing certificate we hold expired (May 2025).
// They cannot be used for tdx_quote_4.dat; each way of trying is refused
// with its reason.
func TestTDXRecordedCollateral(t *testing.T) {
	raw := readVector(t, "tdx_quote_4.dat")
	var tcb struct {
		TCBInfo struct {
			FMSPC string `json:"fmspc"`
		} `json:"tcbInfo"`
	}
	if err := json.Unmarshal(readVector(t, "tcbInfo.json"), &tcb); err != nil || tcb.TCBInfo.FMSPC != "00A06D080000" {
		t.Fatalf("tcbInfo.json fmspc %q: %v", tcb.TCBInfo.FMSPC, err)
	}
	// Filed under its own FMSPC: the quote's platform has no TCB info.
	cache := tdxCollateral(t, strings.ToLower(tcb.TCBInfo.FMSPC), "tcbInfo.json", "enclaveIdentity.json")
	_, err := Verify(Evidence{TEE: TDX, Raw: raw}, Options{Cache: cache})
	mustRefuse(t, err, "lacks the TCB info")
	// Filed under the quote's FMSPC: the library sees the mismatch or the
	// expired signing chain.
	cache = tdxCollateral(t, "50806f000000", "tcbInfo.json", "enclaveIdentity.json")
	_, err = Verify(Evidence{TEE: TDX, Raw: raw}, Options{Cache: cache, Now: time.Date(2025, 11, 1, 0, 0, 0, 0, time.UTC)})
	mustRefuse(t, err, "signing certificate has expired")
	// What can be verified is: both bodies carry Intel's TCB signing key's
	// signature (ECDSA P-256 over the inner JSON object).
	certs, err := parseCerts(readVector(t, "go-tdx-guest/tcb_signing_chain.pem"))
	if err != nil {
		t.Fatal(err)
	}
	for file, field := range map[string]string{"tcbInfo.json": "tcbInfo", "enclaveIdentity.json": "enclaveIdentity"} {
		var doc map[string]json.RawMessage
		if err := json.Unmarshal(readVector(t, file), &doc); err != nil {
			t.Fatal(err)
		}
		var sigHex string
		_ = json.Unmarshal(doc["signature"], &sigHex)
		sig := mustHex(t, sigHex)
		d := sha256.Sum256(doc[field])
		if len(sig) != 64 || !ecdsa.Verify(certs[0].PublicKey.(*ecdsa.PublicKey), d[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
			t.Errorf("%s is not signed by the Intel TCB signing key", file)
		}
	}
}

// go-tdx-guest's parser panics on some malformed quotes (found by FuzzTDX,
// seed testdata/fuzz/FuzzTDX/29cf3a934a099283); Verify turns it into a
// refusal.
func TestTDXParserPanicRefused(t *testing.T) {
	raw := readVector(t, "tdx_quote_4.dat")
	// A length field at offset 1218 (in the QE report certification data)
	// set to 0x7fff makes the library slice past the end.
	bad := bytes.Clone(raw)
	bad[1218], bad[1219] = 0xff, 0x7f
	_, err := Verify(Evidence{TEE: TDX, Raw: bad}, Options{})
	mustRefuse(t, err, "the parser failed")
}
