package attest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"strconv"

	tpb "github.com/google/go-tdx-guest/proto/tdx"
)

// Intel TDX DCAP quote version 5 (Intel TDX DCAP Quoting Library API,
// appendix "Quote Format", v5), parsed here because go-tdx-guest v0.3.x
// parses version 4 only. Layout, all integers little-endian:
//
//	header          48  version=5 u16, attestation key type=2 (ECDSA P-256) u16,
//	                    TEE type=0x81 (TDX) u32, QE SVN u16, PCE SVN u16,
//	                    QE vendor ID 16, user data 20
//	body type        2  2 = TD report 1.0 (584 bytes), 3 = TD report 1.5 (648)
//	body size        4  must match the body type
//	body          size  TD report (see tdxBody offsets below)
//	signature size   4  the rest of the quote, exactly
//	signature data      ECDSA signature 64 (r||s over SHA-256 of header, type,
//	                    size and body), attestation key 64 (P-256 X||Y),
//	                    certification data: type=6 u16, size u32, then
//	                      QE report 384 (SGX report body), QE report
//	                      signature 64 (by the PCK key), QE authentication
//	                      data size u16 + data, certification data type=5
//	                      u16, size u32, PCK certificate chain (PEM)
//
// Every size must consume its buffer exactly; trailing bytes are refused.
// The QE report's report data must be SHA-256(attestation key || QE
// authentication data) followed by 32 zero bytes.
const (
	tdxHeaderSize    = 48
	tdxBody10Size    = 584
	tdxBody15Size    = 648
	tdxQEReportSize  = 384
	tdxBodyTypeTD10  = 2
	tdxBodyTypeTD15  = 3
	tdxCertQEReport  = 6
	tdxCertPCKChain  = 5
	tdxTEETypeTDX    = 0x81
	tdxAttKeyP256    = 2
	tdxV5MinimumSize = tdxHeaderSize + 6 + tdxBody10Size + 4 + 64 + 64 + 6 + tdxQEReportSize + 64 + 2 + 6
)

// intelQEVendorID is the QE vendor ID of Intel's quoting enclave.
var intelQEVendorID = []byte{0x93, 0x9a, 0x72, 0x33, 0xf7, 0x9c, 0x4c, 0xa9, 0x94, 0x0a, 0x0d, 0xb3, 0x95, 0x7f, 0x06, 0x07}

// tdxQuoteV5 is a parsed version 5 quote; byte slices alias the input.
type tdxQuoteV5 struct {
	header     []byte // 48 bytes
	bodyType   uint16
	body       []byte // 584 or 648 bytes
	signed     []byte // header, body type, body size and body
	signature  []byte // 64, r||s
	attKey     []byte // 64, X||Y
	qeReport   []byte // 384
	qeSig      []byte // 64
	qeAuthData []byte
	pckPEM     []byte
}

// tdxReader reads little-endian fields and records the first shortfall.
type tdxReader struct {
	b   []byte
	off int
	err error
}

func (r *tdxReader) bytes(n int, what string) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || len(r.b)-r.off < n {
		r.err = fmt.Errorf("%s at offset %d needs %d bytes, %d remain", what, r.off, n, len(r.b)-r.off)
		return nil
	}
	v := r.b[r.off : r.off+n : r.off+n]
	r.off += n
	return v
}

func (r *tdxReader) u16(what string) uint16 {
	if b := r.bytes(2, what); b != nil {
		return binary.LittleEndian.Uint16(b)
	}
	return 0
}

func (r *tdxReader) u32(what string) uint32 {
	if b := r.bytes(4, what); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

// parseTDXQuoteV5 parses raw as a version 5 TDX quote, checking every
// fixed field and that every size consumes its buffer exactly.
func parseTDXQuoteV5(raw []byte) (*tdxQuoteV5, error) {
	if len(raw) < tdxV5MinimumSize {
		return nil, fmt.Errorf("quote of %d bytes is shorter than the %d-byte minimum of a version 5 quote", len(raw), tdxV5MinimumSize)
	}
	r := &tdxReader{b: raw}
	q := &tdxQuoteV5{header: r.bytes(tdxHeaderSize, "header")}
	h := q.header
	if v := binary.LittleEndian.Uint16(h[0:]); v != 5 {
		return nil, fmt.Errorf("header: version %d, want 5", v)
	}
	if k := binary.LittleEndian.Uint16(h[2:]); k != tdxAttKeyP256 {
		return nil, fmt.Errorf("header: attestation key type %d is not ECDSA P-256 (2)", k)
	}
	if t := binary.LittleEndian.Uint32(h[4:]); t != tdxTEETypeTDX {
		return nil, fmt.Errorf("header: TEE type %#x is not TDX (0x81)", t)
	}
	if !bytes.Equal(h[12:28], intelQEVendorID) {
		return nil, fmt.Errorf("header: QE vendor ID %x is not Intel's", h[12:28])
	}
	q.bodyType = r.u16("body type")
	size := r.u32("body size")
	switch {
	case q.bodyType == tdxBodyTypeTD10 && size == tdxBody10Size, q.bodyType == tdxBodyTypeTD15 && size == tdxBody15Size:
	case q.bodyType == 1:
		return nil, errors.New("body type 1 (SGX enclave report) is not a TD report")
	case q.bodyType != tdxBodyTypeTD10 && q.bodyType != tdxBodyTypeTD15:
		return nil, fmt.Errorf("body type %d is unknown (2 = TD report 1.0, 3 = TD report 1.5)", q.bodyType)
	default:
		return nil, fmt.Errorf("body type %d has size %d, want %d", q.bodyType, size, map[uint16]int{tdxBodyTypeTD10: tdxBody10Size, tdxBodyTypeTD15: tdxBody15Size}[q.bodyType])
	}
	q.body = r.bytes(int(size), "body")
	q.signed = raw[:r.off:r.off]
	sigLen := r.u32("signature data size")
	if r.err == nil && int64(sigLen) != int64(len(raw)-r.off) {
		return nil, fmt.Errorf("signature data size %d does not match the %d bytes that follow", sigLen, len(raw)-r.off)
	}
	q.signature = r.bytes(64, "quote signature")
	q.attKey = r.bytes(64, "attestation key")
	if t := r.u16("certification data type"); r.err == nil && t != tdxCertQEReport {
		return nil, fmt.Errorf("certification data type %d, want 6 (QE report certification data)", t)
	}
	cdLen := r.u32("certification data size")
	if r.err == nil && int64(cdLen) != int64(len(raw)-r.off) {
		return nil, fmt.Errorf("certification data size %d does not match the %d bytes that follow", cdLen, len(raw)-r.off)
	}
	q.qeReport = r.bytes(tdxQEReportSize, "QE report")
	q.qeSig = r.bytes(64, "QE report signature")
	q.qeAuthData = r.bytes(int(r.u16("QE authentication data size")), "QE authentication data")
	if t := r.u16("PCK certification data type"); r.err == nil && t != tdxCertPCKChain {
		return nil, fmt.Errorf("PCK certification data type %d, want 5 (PCK certificate chain)", t)
	}
	pckLen := r.u32("PCK certificate chain size")
	if r.err == nil && int64(pckLen) != int64(len(raw)-r.off) {
		return nil, fmt.Errorf("PCK certificate chain size %d does not match the %d bytes that follow", pckLen, len(raw)-r.off)
	}
	q.pckPEM = r.bytes(int(pckLen), "PCK certificate chain")
	if r.err != nil {
		return nil, r.err
	}
	return q, nil
}

// p256Key turns a raw X||Y attestation key into an ECDSA key, refusing
// points not on the curve.
func p256Key(xy []byte) (*ecdsa.PublicKey, error) {
	k, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append([]byte{4}, xy...))
	if err != nil {
		return nil, fmt.Errorf("attestation key is not a P-256 point: %v", err)
	}
	return k, nil
}

func verifyRS(k *ecdsa.PublicKey, msg, sig []byte) bool {
	d := sha256.Sum256(msg)
	return ecdsa.Verify(k, d[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:]))
}

// verifyTDXQuoteV5 verifies a version 5 quote: the quote signature by the
// attestation key, the attestation key's binding into the QE report, the
// QE report's signature by the PCK key, the PCK chain to Intel's root, and
// with collateral in opts.Cache, the TCB info and QE identity.
func verifyTDXQuoteV5(what string, raw []byte, opts Options) (Claims, error) {
	if len(raw) > maxEvidence {
		return Claims{}, Refusef("%s: quote of %d bytes exceeds the %d-byte limit", what, len(raw), maxEvidence)
	}
	q, err := parseTDXQuoteV5(raw)
	if err != nil {
		return Claims{}, Refusef("%s: version 5 quote does not parse: %v", what, err)
	}
	roots := opts.roots()
	if roots.Intel == nil {
		return Claims{}, Refusef("%s: no Intel root CA configured", what)
	}
	ak, err := p256Key(q.attKey)
	if err != nil {
		return Claims{}, Refusef("%s: quote does not verify: %v", what, err)
	}
	if !verifyRS(ak, q.signed, q.signature) {
		return Claims{}, Refusef("%s: quote does not verify: the quote signature over header and TD report is not the attestation key's", what)
	}
	h := sha256.Sum256(append(bytes.Clone(q.attKey), q.qeAuthData...))
	qrd := q.qeReport[320:384]
	if subtle.ConstantTimeCompare(qrd[:32], h[:]) != 1 || !bytes.Equal(qrd[32:], make([]byte, 32)) {
		return Claims{}, Refusef("%s: quote does not verify: the QE report does not bind the attestation key (report data %s)", what, short(qrd))
	}
	chain, err := parseCerts(q.pckPEM)
	if err != nil {
		return Claims{}, Refusef("%s: PCK certificate chain: %v", what, err)
	}
	if len(chain) < 2 {
		return Claims{}, Refusef("%s: PCK certificate chain has %d certificate(s); want leaf, intermediate and root", what, len(chain))
	}
	pck, ok := chain[0].PublicKey.(*ecdsa.PublicKey)
	if !ok || pck.Curve.Params().Name != "P-256" {
		return Claims{}, Refusef("%s: PCK certificate key is not ECDSA P-256", what)
	}
	if !verifyRS(pck, q.qeReport, q.qeSig) {
		return Claims{}, Refusef("%s: quote does not verify: the QE report signature is not the PCK certificate's", what)
	}
	if err := verifyChain(chain, roots.Intel, roots, opts.now(), x509.ExtKeyUsageAny); err != nil {
		return Claims{}, Refusef("%s: PCK certificate chain does not verify: %v", what, err)
	}
	collateral, err := tdxV5Collateral(q, chain[0], roots, opts)
	if err != nil {
		return Claims{}, Refusef("%s: %v", what, err)
	}
	body := q.body
	if err := checkNonce(what+": report data", body[520:584], opts.Nonce); err != nil {
		return Claims{}, err
	}
	c := tdxClaims(q.proto(), chain, collateral)
	c.Platform["body_type"] = map[uint16]string{tdxBodyTypeTD10: "td_report_1.0", tdxBodyTypeTD15: "td_report_1.5"}[q.bodyType]
	if q.bodyType == tdxBodyTypeTD15 {
		c.TCB["tee_tcb_svn_2"] = hex.EncodeToString(body[584:600])
		c.Measurements["mrservicetd"] = hex.EncodeToString(body[600:648])
	}
	c.TCB["qe_isvsvn"] = strconv.Itoa(int(binary.LittleEndian.Uint16(q.qeReport[258:])))
	return c, nil
}

// proto presents the header and the TD report 1.0 part of the body in
// go-tdx-guest's types, so v4 and v5 quotes yield the same claim names.
func (q *tdxQuoteV5) proto() *tpb.QuoteV4 {
	h, b := q.header, q.body
	f := func(off, n int) []byte { return bytes.Clone(b[off : off+n]) }
	return &tpb.QuoteV4{
		Header: &tpb.Header{
			Version:            uint32(binary.LittleEndian.Uint16(h[0:])),
			AttestationKeyType: uint32(binary.LittleEndian.Uint16(h[2:])),
			TeeType:            binary.LittleEndian.Uint32(h[4:]),
			QeSvn:              bytes.Clone(h[8:10]),
			PceSvn:             bytes.Clone(h[10:12]),
			QeVendorId:         bytes.Clone(h[12:28]),
			UserData:           bytes.Clone(h[28:48]),
		},
		TdQuoteBody: &tpb.TDQuoteBody{
			TeeTcbSvn:      f(0, 16),
			MrSeam:         f(16, 48),
			MrSignerSeam:   f(64, 48),
			SeamAttributes: f(112, 8),
			TdAttributes:   f(120, 8),
			Xfam:           f(128, 8),
			MrTd:           f(136, 48),
			MrConfigId:     f(184, 48),
			MrOwner:        f(232, 48),
			MrOwnerConfig:  f(280, 48),
			Rtmrs:          [][]byte{f(328, 48), f(376, 48), f(424, 48), f(472, 48)},
			ReportData:     f(520, 64),
		},
	}
}
