package attest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"
)

// Known answers for tdx_quote_5.dat (TD report 1.5 body), as other
// verifiers of the same trustee vector report them: MRTD and report data
// (dstack's qvl tests), body 648 bytes, 702 signed bytes, FMSPC
// 90c06f000000.
func TestTDXQuoteV5(t *testing.T) {
	raw := readVector(t, "tdx_quote_5.dat")
	q, err := parseTDXQuoteV5(raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(q.body) != 648 || len(q.signed) != 702 || q.bodyType != tdxBodyTypeTD15 {
		t.Fatalf("body %d signed %d type %d", len(q.body), len(q.signed), q.bodyType)
	}
	c, err := Verify(Evidence{TEE: TDX, Raw: raw}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"mrtd":   "dfba221b48a22af8511542ee796603f37382800840dcd978703909bf8e64d4c8a1e9de86e7c9638bfcba422f3886400a",
		"mrseam": "1cc6a17ab799e9a693fac7536be61c12ee1e0fabada82d0c999e08ccee2aa86de77b0870f558c570e7ffe55d6d47fa04",
		"rtmr0":  "9b529f3689e2e8ebb899e9abbbc3dab394d6545e8cdb28a2abb9cc2f377b83a65c01ba56b824cd3ee885df20051f5128",
		"rtmr3":  strings.Repeat("00", 48),
	}
	for k, v := range want {
		if c.Measurements[k] != v {
			t.Errorf("%s = %s, want %s", k, c.Measurements[k], v)
		}
	}
	rd := "6d6ab13b046cff606ac0074be13981b07b6325dba10b5facc96febf551c0c3be2b75f92fe1f88f4bb996969ad0174b4b7a70261b7b85c844f4b33a4674fd049f"
	if hex.EncodeToString(c.ReportData) != rd {
		t.Errorf("report data %x", c.ReportData)
	}
	for k, v := range map[string]string{"fmspc": "90c06f000000", "version": "5", "body_type": "td_report_1.5", "td_attributes": "0000001000000000", "xfam": "e742060000000000", "td_attr_septve_disable": "true"} {
		if c.Platform[k] != v {
			t.Errorf("platform %s = %q, want %q", k, c.Platform[k], v)
		}
	}
	if c.TCB["tee_tcb_svn"] != "05010200000000000000000000000000" || len(c.Measurements["mrservicetd"]) != 96 || c.TCB["collateral"] != "false" || c.Debug {
		t.Errorf("tcb %v debug %v", c.TCB, c.Debug)
	}
	if _, err := Verify(Evidence{TEE: TDX, Raw: raw}, Options{Nonce: c.ReportData}); err != nil {
		t.Fatal(err)
	}
	wrong := bytes.Clone(c.ReportData)
	wrong[63] ^= 0x80
	_, err = Verify(Evidence{TEE: TDX, Raw: raw}, Options{Nonce: wrong})
	mustRefuse(t, err, "does not match the expected nonce")
}

// Every field of the v5 quote is bound: a bit flipped anywhere in the
// header, body type, TD report (MRTD, report data, MRSERVICETD), quote
// signature, attestation key, QE report, its signature, the QE
// authentication data or the PCK leaf is refused (the chain's copy of
// the root is not used: the trusted root is), as is any truncation or
// trailing byte, an unknown root and a revoked PCK certificate.
func TestTDXQuoteV5Tampered(t *testing.T) {
	raw := readVector(t, "tdx_quote_5.dat")
	q, err := parseTDXQuoteV5(raw)
	if err != nil {
		t.Fatal(err)
	}
	sd := 702 + 4 // start of the signature data
	cd := sd + 128 + 6
	offsets := map[string]int{
		"header pce svn": 10, "header vendor id": 12, "header user data": 40, "body type": 48, "body size": 50,
		"tee tcb svn": 54, "mrtd": 54 + 136, "report data": 54 + 520, "report data last": 54 + 583, "mrservicetd": 54 + 600,
		"signature size": 702, "quote signature": sd + 10, "attestation key": sd + 64 + 5, "cert data type": sd + 128,
		"qe report": cd + 100, "qe report data": cd + 330, "qe signature": cd + 384 + 3, "qe auth data": cd + 384 + 64 + 2,
		"pck leaf": len(raw) - len(q.pckPEM) + 300, "pck chain size": len(raw) - len(q.pckPEM) - 2,
	}
	for name, off := range offsets {
		bad := bytes.Clone(raw)
		bad[off] ^= 1
		_, err := Verify(Evidence{TEE: TDX, Raw: bad}, Options{})
		if !errors.Is(err, ErrRefused) {
			t.Errorf("flip %s at %d: %v", name, off, err)
		}
	}
	for _, n := range []int{4, 48, 54, 702, 706, 1000, len(raw) / 2, len(raw) - 1} {
		_, err := Verify(Evidence{TEE: TDX, Raw: raw[:n]}, Options{})
		mustRefuse(t, err, "tdx")
	}
	_, err = Verify(Evidence{TEE: TDX, Raw: append(bytes.Clone(raw), 0)}, Options{})
	mustRefuse(t, err, "does not match the")
	_, err = Verify(Evidence{TEE: TDX, Raw: raw}, Options{Roots: &Roots{Intel: defaultNVIDIA()}})
	mustRefuse(t, err, "does not verify")
	chain, _ := parseCerts(q.pckPEM)
	r := DefaultRoots()
	r.Revoke(chain[0].SerialNumber.Text(16))
	_, err = Verify(Evidence{TEE: TDX, Raw: raw}, Options{Roots: r})
	mustRefuse(t, err, "revoked")
	// An SGX body type is not a TD report.
	bad := bytes.Clone(raw)
	bad[48] = 1
	_, err = Verify(Evidence{TEE: TDX, Raw: bad}, Options{})
	mustRefuse(t, err, "not a TD report")
}

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newTestCA(t *testing.T, name string, parent *testCA) *testCA {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	pc, pk := tmpl, k
	if parent != nil {
		pc, pk = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, pc, &k.PublicKey, pk)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &testCA{c, k}
}

func (c *testCA) pem() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.cert.Raw})
}

func signRS(t *testing.T, k *ecdsa.PrivateKey, msg []byte) []byte {
	t.Helper()
	d := sha256.Sum256(msg)
	r, s, err := ecdsa.Sign(rand.Reader, k, d[:])
	if err != nil {
		t.Fatal(err)
	}
	return append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...)
}

// buildTDXQuoteV5 assembles a version 5 quote with the given body type
// and body, signed by a fresh attestation key whose QE report is signed
// by pck; the chain is pck then root.
func buildTDXQuoteV5(t *testing.T, bodyType uint16, body []byte, pck, root *testCA) []byte {
	t.Helper()
	ak, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	akb, _ := ak.PublicKey.Bytes()
	le16 := func(v int) []byte { return binary.LittleEndian.AppendUint16(nil, uint16(v)) }
	le32 := func(v int) []byte { return binary.LittleEndian.AppendUint32(nil, uint32(v)) }
	hdr := make([]byte, 48)
	binary.LittleEndian.PutUint16(hdr, 5)
	binary.LittleEndian.PutUint16(hdr[2:], 2)
	binary.LittleEndian.PutUint32(hdr[4:], 0x81)
	copy(hdr[12:], intelQEVendorID)
	signed := append(append(append(hdr, le16(int(bodyType))...), le32(len(body))...), body...)
	auth := []byte("qe authentication data")
	qe := make([]byte, 384)
	h := sha256.Sum256(append(bytes.Clone(akb[1:]), auth...))
	copy(qe[320:], h[:])
	chain := append(pck.pem(), root.pem()...)
	pckData := append(append(le16(5), le32(len(chain))...), chain...)
	qeData := append(append(append(append(qe, signRS(t, pck.key, qe)...), le16(len(auth))...), auth...), pckData...)
	sig := append(append(append(signRS(t, ak, signed), akb[1:]...), le16(6)...), le32(len(qeData))...)
	sig = append(sig, qeData...)
	return append(append(signed, le32(len(sig))...), sig...)
}

// A TD report 1.0 body (type 2, 584 bytes) verifies too; the quote is
// built here under a test root, since the recorded vector carries 1.5.
func TestTDXQuoteV5Body10(t *testing.T) {
	root := newTestCA(t, "test root", nil)
	pck := newTestCA(t, "test PCK", root)
	body := make([]byte, 584)
	copy(body[136:], bytes.Repeat([]byte{0xab}, 48)) // MRTD
	nonce := bytes.Repeat([]byte{7}, 64)
	copy(body[520:], nonce)
	raw := buildTDXQuoteV5(t, tdxBodyTypeTD10, body, pck, root)
	pool := x509.NewCertPool()
	pool.AddCert(root.cert)
	c, err := Verify(Evidence{TEE: TDX, Raw: raw}, Options{Roots: &Roots{Intel: pool}, Nonce: nonce})
	if err != nil {
		t.Fatal(err)
	}
	if c.Measurements["mrtd"] != strings.Repeat("ab", 48) || c.Platform["body_type"] != "td_report_1.0" || c.Measurements["mrservicetd"] != "" {
		t.Fatalf("claims %v %v", c.Measurements, c.Platform)
	}
	// The same under Intel's root: refused.
	_, err = Verify(Evidence{TEE: TDX, Raw: raw}, Options{})
	mustRefuse(t, err, "does not verify")
	// A 1.0 body declared as 1.5 is refused by size.
	bad := bytes.Clone(raw)
	bad[48] = tdxBodyTypeTD15
	_, err = Verify(Evidence{TEE: TDX, Raw: bad}, Options{Roots: &Roots{Intel: pool}})
	mustRefuse(t, err, "has size 584")
	// A QE report signed by another key than the PCK certificate's.
	other := newTestCA(t, "other", root)
	raw2 := buildTDXQuoteV5(t, tdxBodyTypeTD10, body, other, root)
	q2, _ := parseTDXQuoteV5(raw2)
	q1, _ := parseTDXQuoteV5(raw)
	// Put the first quote's PCK chain behind the second quote's QE report:
	// same length certificates are not guaranteed, so swap signatures instead.
	copy(q2.qeSig, q1.qeSig)
	_, err = Verify(Evidence{TEE: TDX, Raw: raw2}, Options{Roots: &Roots{Intel: pool}})
	mustRefuse(t, err, "QE report signature")
}

// pcsBody signs inner (the "tcbInfo" or "enclaveIdentity" object) with key
// as Intel PCS does.
func pcsBody(t *testing.T, field string, inner map[string]any, key *ecdsa.PrivateKey) []byte {
	t.Helper()
	b, err := json.Marshal(inner)
	if err != nil {
		t.Fatal(err)
	}
	return []byte(`{"` + field + `":` + string(b) + `,"signature":"` + hex.EncodeToString(signRS(t, key, b)) + `"}`)
}

// With collateral for the recorded v5 quote's platform (FMSPC
// 90c06f000000; Intel's real PCS answers for it are not among the recorded
// vectors, so a test TCB signing chain signs them), the TCB info and QE
// identity are checked: current, matching, UpToDate. Each mismatch is
// refused with its reason.
func TestTDXQuoteV5Collateral(t *testing.T) {
	raw := readVector(t, "tdx_quote_5.dat")
	q, _ := parseTDXQuoteV5(raw)
	root := newTestCA(t, "test TCB root", nil)
	signer := newTestCA(t, "test TCB signing", root)
	roots := DefaultRoots()
	roots.Intel = roots.Intel.Clone()
	roots.Intel.AddCert(root.cert)
	now := time.Now()
	comps := func(n int) []map[string]any {
		out := make([]map[string]any, 16)
		for i := range out {
			out[i] = map[string]any{"svn": n}
		}
		return out
	}
	tcb := func(status string, sgxSVN int, fmspc string) map[string]any {
		return map[string]any{"id": "TDX", "version": 3, "issueDate": now.Add(-time.Hour), "nextUpdate": now.Add(time.Hour),
			"fmspc": fmspc, "pceId": "0000", "tcbType": 0,
			"tdxModule":           map[string]any{"mrsigner": strings.Repeat("00", 48), "attributes": "0000000000000000", "attributesMask": "FFFFFFFFFFFFFFFF"},
			"tdxModuleIdentities": []any{map[string]any{"id": "TDX_01", "mrsigner": strings.Repeat("00", 48), "attributes": "0000000000000000", "attributesMask": "FFFFFFFFFFFFFFFF", "tcbLevels": []any{map[string]any{"tcb": map[string]any{"isvsvn": 2}, "tcbStatus": "UpToDate"}}}},
			"tcbLevels":           []any{map[string]any{"tcb": map[string]any{"sgxtcbcomponents": comps(sgxSVN), "pcesvn": 0, "tdxtcbcomponents": comps(0)}, "tcbStatus": status}},
		}
	}
	qr := q.qeReport
	ident := func(isvsvn int) map[string]any {
		return map[string]any{"id": "TD_QE", "version": 2, "issueDate": now.Add(-time.Hour), "nextUpdate": now.Add(time.Hour),
			"miscselect": hex.EncodeToString(qr[16:20]), "miscselectMask": "FFFFFFFF", "attributes": hex.EncodeToString(qr[48:64]), "attributesMask": strings.Repeat("FF", 16),
			"mrsigner": hex.EncodeToString(qr[128:160]), "isvprodid": binary.LittleEndian.Uint16(qr[256:]),
			"tcbLevels": []any{map[string]any{"tcb": map[string]any{"isvsvn": isvsvn}, "tcbStatus": "UpToDate"}}}
	}
	chain := append(signer.pem(), root.pem()...)
	cache := func(tcbInfo, qe map[string]any) MapCache {
		return MapCache{
			TDXTCBInfoKey("90c06f000000"):                     pcsBody(t, "tcbInfo", tcbInfo, signer.key),
			TDXTCBInfoKey("90c06f000000") + IssuerChainSuffix: chain,
			TDXQEIdentityKey():                                pcsBody(t, "enclaveIdentity", qe, signer.key),
			TDXQEIdentityKey() + IssuerChainSuffix:            chain,
		}
	}
	good := cache(tcb("UpToDate", 0, "90C06F000000"), ident(6))
	c, err := Verify(Evidence{TEE: TDX, Raw: raw}, Options{Roots: roots, Cache: good})
	if err != nil {
		t.Fatal(err)
	}
	if c.TCB["collateral"] != "true" {
		t.Fatalf("collateral %q", c.TCB["collateral"])
	}
	for name, tc := range map[string]struct {
		cache  MapCache
		now    time.Time
		reason string
	}{
		"out of date":  {cache(tcb("OutOfDate", 0, "90C06F000000"), ident(6)), now, "OutOfDate"},
		"other fmspc":  {cache(tcb("UpToDate", 0, "00A06D080000"), ident(6)), now, "for FMSPC 00A06D080000"},
		"sgx svn high": {cache(tcb("UpToDate", 255, "90C06F000000"), ident(6)), now, "no TCB level matches"},
		"qe svn high":  {cache(tcb("UpToDate", 0, "90C06F000000"), ident(7)), now, "ISVSVN 6"},
		"expired":      {good, now.Add(2 * time.Hour), "expired"},
	} {
		_, err := Verify(Evidence{TEE: TDX, Raw: raw}, Options{Roots: roots, Cache: tc.cache, Now: tc.now})
		if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), tc.reason) {
			t.Errorf("%s: %v, want a refusal mentioning %q", name, err, tc.reason)
		}
	}
	// A tampered body no longer carries the signer's signature.
	bad := MapCache{}
	for k, v := range good {
		bad[k] = v
	}
	k := TDXTCBInfoKey("90c06f000000")
	bad[k] = bytes.Replace(good[k], []byte(`"UpToDate"`), []byte(`"UpToDate" `), 1)
	_, err = Verify(Evidence{TEE: TDX, Raw: raw}, Options{Roots: roots, Cache: bad})
	mustRefuse(t, err, "signature does not verify")
	// Collateral signed under a root we do not trust.
	_, err = Verify(Evidence{TEE: TDX, Raw: raw}, Options{Cache: good})
	mustRefuse(t, err, "issuer chain")
	// Half the collateral is a refusal, not a silent skip.
	delete(bad, TDXQEIdentityKey())
	bad[k] = good[k]
	_, err = Verify(Evidence{TEE: TDX, Raw: raw}, Options{Roots: roots, Cache: bad})
	mustRefuse(t, err, "lacks the QE identity")
}

func FuzzTDXQuoteV5(f *testing.F) {
	raw := readVector(f, "tdx_quote_5.dat")
	f.Add(raw)
	f.Add(raw[:702])
	f.Add(raw[:1200])
	f.Fuzz(func(t *testing.T, b []byte) {
		if q, err := parseTDXQuoteV5(b); err == nil {
			if len(q.header) != 48 || (len(q.body) != 584 && len(q.body) != 648) || len(q.qeReport) != 384 || len(q.signed) != 54+len(q.body) {
				t.Fatalf("parse accepted inconsistent sizes")
			}
		}
		if _, err := Verify(Evidence{TEE: TDX, Raw: b}, Options{}); err != nil && !errors.Is(err, ErrRefused) {
			t.Fatalf("error does not wrap ErrRefused: %v", err)
		}
	})
}
