package attest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha512"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"strconv"
	"strings"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// NVIDIA Hopper GPU evidence is an SPDM 1.1 GET_MEASUREMENTS exchange as
// the driver returns it: the 37-byte request (carrying the verifier's
// nonce) followed by the signed response. The layout is in
// docs/ATTESTATION.md; DMTF DSP0274 1.1 defines it.
const (
	spdmVersion11       = 0x11
	spdmGetMeasurements = 0xe0
	spdmMeasurements    = 0x60
	spdmRequestSize     = 37
	spdmNonceSize       = 32
	hopperSigSize       = 96 // raw ECDSA P-384 r||s
	dmtfMeasurementSpec = 0x01
)

// oidDiceAttestation is the TCG DICE extension in which NVIDIA device
// certificates carry the firmware identity (FWID).
var oidDiceAttestation = asn1.ObjectIdentifier{2, 23, 133, 5, 4, 1}

// NVIDIADevice is one GPU's evidence in Confidential Containers' format.
type NVIDIADevice struct {
	Arch        string `json:"arch"`
	UUID        string `json:"uuid"`
	Evidence    string `json:"evidence"`    // hex or base64 SPDM report
	Certificate string `json:"certificate"` // base64 of the PEM chain
}

// NVIDIAEvidence is a list of GPUs' evidence ({"device_evidence_list": [...]}).
type NVIDIAEvidence struct {
	Devices []NVIDIADevice `json:"device_evidence_list"`
}

// verifyNVIDIA verifies NVIDIA GPU evidence: either one SPDM report
// (binary or hex text) in ev.Raw with its PEM chain in ev.Certs, or an
// NVIDIAEvidence JSON document listing several GPUs, each with its chain.
func verifyNVIDIA(ev Evidence, opts Options) (Claims, error) {
	if len(ev.Raw) > maxEvidence {
		return Claims{}, Refusef("nvidia: evidence of %d bytes exceeds the %d-byte limit", len(ev.Raw), maxEvidence)
	}
	trimmed := bytes.TrimSpace(ev.Raw)
	if len(trimmed) > 0 && trimmed[0] == '{' {
		return verifyNVIDIAList(trimmed, opts)
	}
	report := trimmed
	if b, err := hex.DecodeString(string(trimmed)); err == nil {
		report = b
	} else {
		report = ev.Raw
	}
	return verifyHopper(report, ev.Certs, opts, "nvidia")
}

func verifyNVIDIAList(raw []byte, opts Options) (Claims, error) {
	var doc NVIDIAEvidence
	if err := json.Unmarshal(raw, &doc); err != nil {
		return Claims{}, Refusef("nvidia: evidence is not a device_evidence_list document: %v", err)
	}
	if len(doc.Devices) == 0 {
		return Claims{}, Refusef("nvidia: device_evidence_list is empty")
	}
	out := Claims{TEE: NVIDIA, Measurements: map[string]string{}}
	for i, d := range doc.Devices {
		what := fmt.Sprintf("nvidia gpu%d", i)
		if !strings.EqualFold(d.Arch, "hopper") {
			return Claims{}, Refusef("%s: architecture %q is not supported (only Hopper is verified locally)", what, d.Arch)
		}
		report, err := hex.DecodeString(d.Evidence)
		if err != nil {
			if report, err = base64.StdEncoding.DecodeString(d.Evidence); err != nil {
				return Claims{}, Refusef("%s: evidence is neither hex nor base64", what)
			}
		}
		chain, err := base64.StdEncoding.DecodeString(d.Certificate)
		if err != nil {
			return Claims{}, Refusef("%s: certificate is not base64", what)
		}
		c, err := verifyHopper(report, chain, opts, what)
		if err != nil {
			return Claims{}, err
		}
		c.Platform["uuid"] = d.UUID
		for k, v := range c.Measurements {
			out.Measurements[fmt.Sprintf("gpu%d.%s", i, k)] = v
		}
		out.Parts = append(out.Parts, c)
		if i == 0 {
			out.ReportData = c.ReportData
		}
	}
	return out, nil
}

// HopperReport is a decoded SPDM GET_MEASUREMENTS request and response.
type HopperReport struct {
	RequestNonce  []byte            // the verifier's nonce, in the signed request
	ResponseNonce []byte            // the responder's nonce
	Measurements  map[int][]byte    // block index -> DMTF measurement value
	Opaque        map[uint16][]byte // NVIDIA opaque data items by type
	Signed        []byte            // request || response up to the signature
	Signature     []byte            // raw r||s
}

// ParseHopperReport decodes b (binary) without verifying anything.
func ParseHopperReport(b []byte) (*HopperReport, error) {
	if len(b) < spdmRequestSize+8 {
		return nil, fmt.Errorf("report has %d bytes, shorter than an SPDM request and response header", len(b))
	}
	req := b[:spdmRequestSize]
	if req[0] != spdmVersion11 || req[1] != spdmGetMeasurements {
		return nil, fmt.Errorf("request is not an SPDM 1.1 GET_MEASUREMENTS (version 0x%02x, code 0x%02x)", req[0], req[1])
	}
	if req[2]&1 == 0 {
		return nil, fmt.Errorf("request did not ask for a signature")
	}
	r := &HopperReport{RequestNonce: req[4 : 4+spdmNonceSize], Measurements: map[int][]byte{}, Opaque: map[uint16][]byte{}}
	resp := b[spdmRequestSize:]
	if resp[0] != spdmVersion11 || resp[1] != spdmMeasurements {
		return nil, fmt.Errorf("response is not an SPDM 1.1 MEASUREMENTS (version 0x%02x, code 0x%02x)", resp[0], resp[1])
	}
	nblocks := int(resp[4])
	recLen := int(resp[5]) | int(resp[6])<<8 | int(resp[7])<<16
	off := 8
	if len(resp) < off+recLen {
		return nil, fmt.Errorf("measurement record of %d bytes overruns the report", recLen)
	}
	rec := resp[off : off+recLen]
	off += recLen
	for i := 0; i < nblocks; i++ {
		if len(rec) < 4 {
			return nil, fmt.Errorf("measurement block %d is truncated", i)
		}
		idx, spec, size := int(rec[0]), rec[1], int(binary.LittleEndian.Uint16(rec[2:4]))
		if spec != dmtfMeasurementSpec {
			return nil, fmt.Errorf("measurement block %d uses specification 0x%02x, not DMTF", idx, spec)
		}
		if len(rec) < 4+size || size < 3 {
			return nil, fmt.Errorf("measurement block %d is truncated", idx)
		}
		m := rec[4 : 4+size]
		vsize := int(binary.LittleEndian.Uint16(m[1:3]))
		if len(m) != 3+vsize {
			return nil, fmt.Errorf("measurement %d value size %d does not match its block", idx, vsize)
		}
		if _, dup := r.Measurements[idx]; dup {
			return nil, fmt.Errorf("measurement index %d appears twice", idx)
		}
		r.Measurements[idx] = m[3:]
		rec = rec[4+size:]
	}
	if len(rec) != 0 {
		return nil, fmt.Errorf("%d bytes follow the last measurement block", len(rec))
	}
	if len(resp) < off+spdmNonceSize+2 {
		return nil, fmt.Errorf("response nonce or opaque length is truncated")
	}
	r.ResponseNonce = resp[off : off+spdmNonceSize]
	off += spdmNonceSize
	olen := int(binary.LittleEndian.Uint16(resp[off:]))
	off += 2
	if len(resp) < off+olen {
		return nil, fmt.Errorf("opaque data of %d bytes overruns the report", olen)
	}
	od := resp[off : off+olen]
	off += olen
	for len(od) > 0 {
		if len(od) < 4 {
			return nil, fmt.Errorf("opaque data item header is truncated")
		}
		typ, size := binary.LittleEndian.Uint16(od), int(binary.LittleEndian.Uint16(od[2:]))
		if len(od) < 4+size {
			return nil, fmt.Errorf("opaque data item %d overruns the opaque data", typ)
		}
		if _, dup := r.Opaque[typ]; dup {
			return nil, fmt.Errorf("opaque data item %d appears twice", typ)
		}
		r.Opaque[typ] = od[4 : 4+size]
		od = od[4+size:]
	}
	if len(resp) != off+hopperSigSize {
		return nil, fmt.Errorf("report has %d bytes after the opaque data, a P-384 signature has %d", len(resp)-off, hopperSigSize)
	}
	r.Signed = b[:spdmRequestSize+off]
	r.Signature = resp[off:]
	return r, nil
}

// NVIDIA opaque data item types used in claims.
const (
	nvDriverVersion       = 3
	nvGPUInfo             = 4
	nvVBIOSVersion        = 6
	nvNVDEC0Status        = 11
	nvMeasurementCount    = 12
	nvCPRInfo             = 13
	nvBoardID             = 14
	nvChipSKU             = 15
	nvChipSKUMod          = 16
	nvProject             = 17
	nvProjectSKU          = 18
	nvProjectSKUMod       = 19
	nvFWID                = 20
	nvProtectedPCIeStatus = 21
)

func verifyHopper(report, certs []byte, opts Options, what string) (Claims, error) {
	rep, err := ParseHopperReport(report)
	if err != nil {
		return Claims{}, Refusef("%s: %v", what, err)
	}
	if len(certs) == 0 {
		return Claims{}, Refusef("%s: no device certificate chain given (pass the GPU's PEM chain with the evidence)", what)
	}
	chain, err := parseCerts(certs)
	if err != nil {
		return Claims{}, Refusef("%s: certificate chain: %v", what, err)
	}
	if len(chain) < 2 {
		return Claims{}, Refusef("%s: certificate chain too short: %d certificate(s), need the device leaf through the NVIDIA root", what, len(chain))
	}
	leaf := chain[0]
	certFWID, err := fwidOf(leaf)
	if err != nil {
		return Claims{}, Refusef("%s: no FWID in the first certificate (%q): %v; the device signing certificate must come first", what, leaf.Subject.CommonName, err)
	}
	roots := opts.roots()
	if err := verifyChain(chain, roots.NVIDIA, roots, opts.now(), x509.ExtKeyUsageAny); err != nil {
		return Claims{}, Refusef("%s: device certificate: %v", what, err)
	}
	pub, ok := leaf.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P384() {
		return Claims{}, Refusef("%s: the device certificate key is not ECDSA P-384", what)
	}
	digest := sha512.Sum384(rep.Signed)
	rr, ss := new(big.Int).SetBytes(rep.Signature[:48]), new(big.Int).SetBytes(rep.Signature[48:])
	if !ecdsa.Verify(pub, digest[:], rr, ss) {
		return Claims{}, Refusef("%s: the report signature does not verify with the device certificate", what)
	}
	reportFWID, ok := rep.Opaque[nvFWID]
	if !ok {
		return Claims{}, Refusef("%s: the report carries no FWID", what)
	}
	if !bytes.Equal(reportFWID, certFWID) {
		return Claims{}, Refusef("%s: FWID mismatch: certificate %x, report %x", what, certFWID, reportFWID)
	}
	if err := checkNonce(what+": request nonce", rep.RequestNonce, opts.Nonce); err != nil {
		return Claims{}, err
	}
	return hopperClaims(rep, leaf), nil
}

// fwidOf returns the firmware digest from the TCG DICE extension of c:
// CompositeDeviceID ::= SEQUENCE { version INTEGER, identity
// SubjectPublicKeyInfo, fwid SEQUENCE { hashAlg OID, digest OCTET STRING } }.
func fwidOf(c *x509.Certificate) ([]byte, error) {
	for _, e := range c.Extensions {
		if !e.Id.Equal(oidDiceAttestation) {
			continue
		}
		s := cryptobyte.String(e.Value)
		var seq, spki, fwid cryptobyte.String
		var version int64
		var alg asn1.ObjectIdentifier
		var digest []byte
		if !s.ReadASN1(&seq, cbasn1.SEQUENCE) || !seq.ReadASN1Integer(&version) ||
			!seq.ReadASN1(&spki, cbasn1.SEQUENCE) || !seq.ReadASN1(&fwid, cbasn1.SEQUENCE) ||
			!fwid.ReadASN1ObjectIdentifier(&alg) || !fwid.ReadASN1Bytes(&digest, cbasn1.OCTET_STRING) {
			return nil, fmt.Errorf("extension %s does not parse as a DICE CompositeDeviceID", oidDiceAttestation)
		}
		if !alg.Equal(asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}) || len(digest) != 48 {
			return nil, fmt.Errorf("FWID is not a SHA-384 digest")
		}
		return digest, nil
	}
	return nil, fmt.Errorf("certificate has no extension %s", oidDiceAttestation)
}

func hopperClaims(rep *HopperReport, leaf *x509.Certificate) Claims {
	c := Claims{
		TEE:          NVIDIA,
		Measurements: map[string]string{"fwid": hex.EncodeToString(rep.Opaque[nvFWID])},
		ReportData:   bytes.Clone(rep.RequestNonce),
		TCB:          map[string]string{},
		Platform:     map[string]string{"arch": "Hopper", "device_subject": leaf.Subject.String()},
	}
	for i, m := range rep.Measurements {
		c.Measurements["measurement"+strconv.Itoa(i)] = hex.EncodeToString(m)
	}
	str := func(b []byte) string { return strings.TrimRight(string(b), "\x00") }
	for typ, name := range map[uint16]string{nvDriverVersion: "driver_version", nvChipSKU: "chip_sku", nvChipSKUMod: "chip_sku_mod", nvProject: "project", nvProjectSKU: "project_sku"} {
		if v, ok := rep.Opaque[typ]; ok {
			c.Platform[name] = str(v)
		}
	}
	for typ, name := range map[uint16]string{nvGPUInfo: "gpu_info", nvCPRInfo: "cpr_info", nvBoardID: "board_id", nvNVDEC0Status: "nvdec0_status", nvProtectedPCIeStatus: "protected_pcie_status", nvProjectSKUMod: "project_sku_mod"} {
		if v, ok := rep.Opaque[typ]; ok {
			c.Platform[name] = hex.EncodeToString(v)
		}
	}
	if v, ok := rep.Opaque[nvVBIOSVersion]; ok && len(v) >= 2 {
		var parts []string
		for i := len(v)/2 - 1; i >= 0; i-- {
			parts = append(parts, fmt.Sprintf("%02x", v[i]))
		}
		c.TCB["vbios_version"] = strings.Join(parts, ".") + fmt.Sprintf(".%02x", v[len(v)/2])
	}
	if v, ok := c.Platform["driver_version"]; ok {
		c.TCB["driver_version"] = v
	}
	if v, ok := rep.Opaque[nvMeasurementCount]; ok {
		for i := 0; i+4 <= len(v); i += 4 {
			c.TCB["measurement_count"+strconv.Itoa(i/4+1)] = strconv.FormatUint(uint64(binary.LittleEndian.Uint32(v[i:])), 10)
		}
	}
	// The NVIDIA device in confidential-computing mode has no debug state in
	// the report; a debug-enabled device would not sign with its FMC key.
	return c
}
