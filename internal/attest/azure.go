package attest

import (
	"bytes"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"math/big"
	"strconv"

	"github.com/google/go-tpm/legacy/tpm2"
)

// Azure confidential VMs put the CPU TEE behind a paravisor (the HCL) and a
// vTPM. Their evidence is the HCL report (the SNP report, or the TDX TD
// report plus a TD quote, whose report data is a hash of the HCL's runtime
// data, which carries the vTPM's attestation key) and a quote from that vTPM
// over its PCRs with the verifier's nonce. Layout in docs/ATTESTATION.md.

// AzureEvidence is Confidential Containers' az-snp-vtpm / az-tdx-vtpm
// evidence document. Version 0 encodes bytes as JSON arrays of numbers;
// version 1 as hex (quote) and base64 (reports, VCEK).
type AzureEvidence struct {
	Version   int        `json:"version"`
	Quote     AzureQuote `json:"-"`
	HCLReport flexBytes  `json:"-"`
	TDQuote   flexBytes  `json:"td_quote"`
	VCEK      flexBytes  `json:"vcek"`
}

// AzureQuote is the vTPM quote: the TPMS_ATTEST message, the raw RSA
// signature and the SHA-256 PCR bank.
type AzureQuote struct {
	Message   flexBytes   `json:"message"`
	Signature flexBytes   `json:"signature"`
	PCRs      []flexBytes `json:"pcrs"`
}

func (a *AzureEvidence) UnmarshalJSON(b []byte) error {
	type plain AzureEvidence
	var aux struct {
		plain
		Quote0  *AzureQuote `json:"quote"`
		Quote1  *AzureQuote `json:"tpm_quote"`
		Report0 flexBytes   `json:"report"`
		Report1 flexBytes   `json:"hcl_report"`
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	*a = AzureEvidence(aux.plain)
	switch {
	case aux.Quote1 != nil:
		a.Quote = *aux.Quote1
	case aux.Quote0 != nil:
		a.Quote = *aux.Quote0
	}
	a.HCLReport = aux.Report1
	if len(a.HCLReport) == 0 {
		a.HCLReport = aux.Report0
	}
	return nil
}

// flexBytes decodes a JSON array of byte values, a hex string, or base64
// (standard or URL alphabet, padded or not); a PEM string stays as text.
type flexBytes []byte

func (f *flexBytes) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '[' {
		var nums []uint8
		if err := json.Unmarshal(b, &nums); err != nil {
			return fmt.Errorf("byte array: %w", err)
		}
		*f = nums
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	if bytes.HasPrefix([]byte(s), []byte("-----BEGIN")) {
		*f = []byte(s)
		return nil
	}
	if h, err := hex.DecodeString(s); err == nil {
		*f = h
		return nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if d, err := enc.DecodeString(s); err == nil {
			*f = d
			return nil
		}
	}
	return fmt.Errorf("value is not hex, base64 or a byte array")
}

// HCL report layout.
const (
	hclHeaderSize   = 32
	hclHWReportSize = 1184 // SNP report, or a 1024-byte TDREPORT padded
	hclIGVMHeader   = 20
	hclTypeSNP      = 2
	hclTypeTDX      = 4
	tdReportDataOff = 128 // REPORTDATA within the TDREPORT's REPORTMACSTRUCT
)

type hclReport struct {
	hw       []byte // hardware report
	varData  []byte // runtime data (JSON), hashed into the hardware report
	hashType uint32
	kind     uint32
}

func parseHCL(b []byte, want uint32) (*hclReport, error) {
	if len(b) < hclHeaderSize+hclHWReportSize+hclIGVMHeader {
		return nil, fmt.Errorf("HCL report has %d bytes, too short", len(b))
	}
	if string(b[:4]) != "HCLA" {
		return nil, fmt.Errorf("HCL report does not start with HCLA")
	}
	igvm := b[hclHeaderSize+hclHWReportSize:]
	r := &hclReport{hw: b[hclHeaderSize : hclHeaderSize+hclHWReportSize]}
	r.kind = binary.LittleEndian.Uint32(igvm[8:])
	r.hashType = binary.LittleEndian.Uint32(igvm[12:])
	vsize := binary.LittleEndian.Uint32(igvm[16:])
	if r.kind != want {
		return nil, fmt.Errorf("HCL report type %d, want %d", r.kind, want)
	}
	if uint64(vsize) > uint64(len(igvm)-hclIGVMHeader) {
		return nil, fmt.Errorf("HCL runtime data of %d bytes overruns the report", vsize)
	}
	r.varData = igvm[hclIGVMHeader : hclIGVMHeader+int(vsize)]
	return r, nil
}

// digest is the hash of the runtime data the hardware report binds.
func (r *hclReport) digest() ([]byte, error) {
	var h hash.Hash
	switch r.hashType {
	case 1:
		h = sha256.New()
	case 2:
		h = sha512.New384()
	case 3:
		h = sha512.New()
	default:
		return nil, fmt.Errorf("HCL runtime data hash type %d is unknown", r.hashType)
	}
	h.Write(r.varData)
	return h.Sum(nil), nil
}

type hclRuntime struct {
	Keys []struct {
		Kid string `json:"kid"`
		Kty string `json:"kty"`
		N   string `json:"n"`
		E   string `json:"e"`
	} `json:"keys"`
	VMConfig map[string]any `json:"vm-configuration"`
	UserData string         `json:"user-data"`
}

func (r *hclReport) akPub() (*rsa.PublicKey, *hclRuntime, error) {
	var rt hclRuntime
	if err := json.Unmarshal(r.varData, &rt); err != nil {
		return nil, nil, fmt.Errorf("HCL runtime data is not JSON: %v", err)
	}
	for _, k := range rt.Keys {
		if k.Kid != "HCLAkPub" {
			continue
		}
		if k.Kty != "RSA" {
			return nil, nil, fmt.Errorf("HCLAkPub is a %q key, not RSA", k.Kty)
		}
		n, err1 := base64.RawURLEncoding.DecodeString(k.N)
		e, err2 := base64.RawURLEncoding.DecodeString(k.E)
		if err1 != nil || err2 != nil || len(n) < 256 || len(e) == 0 || len(e) > 4 {
			return nil, nil, fmt.Errorf("HCLAkPub is not a usable RSA key")
		}
		ev := new(big.Int).SetBytes(e)
		return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(ev.Int64())}, &rt, nil
	}
	return nil, nil, fmt.Errorf("HCL runtime data has no HCLAkPub key")
}

func decodeAzure(what string, raw []byte) (*AzureEvidence, error) {
	if len(raw) > maxEvidence {
		return nil, Refusef("%s: evidence of %d bytes exceeds the %d-byte limit", what, len(raw), maxEvidence)
	}
	var doc AzureEvidence
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, Refusef("%s: evidence is not an Azure vTPM evidence document: %v", what, err)
	}
	if len(doc.HCLReport) == 0 || len(doc.Quote.Message) == 0 {
		return nil, Refusef("%s: evidence lacks the HCL report or the vTPM quote", what)
	}
	return &doc, nil
}

// verifyAzureVTPM checks the vTPM quote with the AK bound in the HCL
// runtime data and returns the PCR claims and the quote's nonce.
func verifyAzureVTPM(what string, doc *AzureEvidence, hcl *hclReport, opts Options) (quoteResult, *hclRuntime, error) {
	ak, rt, err := hcl.akPub()
	if err != nil {
		return quoteResult{}, nil, Refusef("%s: %v", what, err)
	}
	sig := &tpm2.Signature{Alg: tpm2.AlgRSASSA, RSA: &tpm2.SignatureRSA{HashAlg: tpm2.AlgSHA256, Signature: []byte(doc.Quote.Signature)}}
	pcrs := make([][]byte, len(doc.Quote.PCRs))
	for i, p := range doc.Quote.PCRs {
		pcrs[i] = p
	}
	if len(pcrs) > 24 {
		return quoteResult{}, nil, Refusef("%s: %d PCR values given, a bank has at most 24", what, len(pcrs))
	}
	q, err := verifyQuote(doc.Quote.Message, sig, ak, pcrs)
	if err != nil {
		return quoteResult{}, nil, Refusef("%s: vTPM %v", what, err)
	}
	if err := checkNonce(what+": vTPM quote extraData", q.extraData, opts.Nonce); err != nil {
		return quoteResult{}, nil, err
	}
	return q, rt, nil
}

func azureClaims(tee TEE, cpu Claims, q quoteResult, rt *hclRuntime) Claims {
	c := cpu
	c.TEE = tee
	c.ReportData = q.extraData
	c.Platform["cpu_report_data"] = hex.EncodeToString(cpu.ReportData)
	for k, v := range q.measurements {
		c.Measurements[k] = v
	}
	for k, v := range rt.VMConfig {
		c.Platform["vm_"+k] = fmt.Sprint(v)
	}
	if rt.UserData != "" {
		c.Platform["hcl_user_data"] = rt.UserData
	}
	c.TCB["vtpm_firmware_version"] = strconv.FormatUint(q.firmware, 16)
	return c
}

// verifyAzSNP verifies az-snp-vtpm evidence: the SNP report inside the HCL
// report with the VCEK (ev.Certs, else the document's vcek) to AMD's roots,
// the report data binding the HCL runtime data, and the vTPM quote signed
// by the AK that runtime data carries.
func verifyAzSNP(ev Evidence, opts Options) (Claims, error) {
	const what = "az-snp-vtpm"
	doc, err := decodeAzure(what, ev.Raw)
	if err != nil {
		return Claims{}, err
	}
	hcl, err := parseHCL(doc.HCLReport, hclTypeSNP)
	if err != nil {
		return Claims{}, Refusef("%s: %v", what, err)
	}
	certs := ev.Certs
	if len(certs) == 0 {
		certs = doc.VCEK
	}
	if len(certs) == 0 {
		return Claims{}, Refusef("%s: no VCEK in the evidence and none given", what)
	}
	cpu, err := verifySNPReport(what, hcl.hw, certs, Options{Now: opts.Now, Roots: opts.Roots, Cache: opts.Cache})
	if err != nil {
		return Claims{}, err
	}
	if err := bindHCL(what, hcl, cpu.ReportData); err != nil {
		return Claims{}, err
	}
	q, rt, err := verifyAzureVTPM(what, doc, hcl, opts)
	if err != nil {
		return Claims{}, err
	}
	return azureClaims(AzSNPvTPM, cpu, q, rt), nil
}

// verifyAzTDX verifies az-tdx-vtpm evidence: the TD quote (v4) to Intel's
// root, its report data binding the HCL runtime data (and equal to the TD
// report's), and the vTPM quote signed by the AK in that runtime data.
func verifyAzTDX(ev Evidence, opts Options) (Claims, error) {
	const what = "az-tdx-vtpm"
	doc, err := decodeAzure(what, ev.Raw)
	if err != nil {
		return Claims{}, err
	}
	hcl, err := parseHCL(doc.HCLReport, hclTypeTDX)
	if err != nil {
		return Claims{}, Refusef("%s: %v", what, err)
	}
	if len(doc.TDQuote) == 0 {
		return Claims{}, Refusef("%s: evidence lacks the TD quote", what)
	}
	cpu, err := verifyTDXQuote(what, doc.TDQuote, Options{Now: opts.Now, Roots: opts.Roots, Cache: opts.Cache})
	if err != nil {
		return Claims{}, err
	}
	if !bytes.Equal(hcl.hw[tdReportDataOff:tdReportDataOff+64], cpu.ReportData) {
		return Claims{}, Refusef("%s: the TD quote's report data differs from the HCL's TD report", what)
	}
	if err := bindHCL(what, hcl, cpu.ReportData); err != nil {
		return Claims{}, err
	}
	q, rt, err := verifyAzureVTPM(what, doc, hcl, opts)
	if err != nil {
		return Claims{}, err
	}
	return azureClaims(AzTDXvTPM, cpu, q, rt), nil
}

func bindHCL(what string, hcl *hclReport, reportData []byte) error {
	d, err := hcl.digest()
	if err != nil {
		return Refusef("%s: %v", what, err)
	}
	if len(reportData) < len(d) || subtle.ConstantTimeCompare(reportData[:len(d)], d) != 1 {
		return Refusef("%s: the hardware report does not bind the HCL runtime data (report data %s, hash %s)", what, short(reportData), short(d))
	}
	return nil
}
