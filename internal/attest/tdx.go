package attest

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"

	tabi "github.com/google/go-tdx-guest/abi"
	"github.com/google/go-tdx-guest/pcs"
	tpb "github.com/google/go-tdx-guest/proto/tdx"
	tverify "github.com/google/go-tdx-guest/verify"
)

// verifyTDX verifies an Intel TDX DCAP quote (ev.Raw, version 4) offline:
// the quote's ECDSA signature by the attestation key, the QE report
// signed by the PCK certificate, and the PCK chain (carried in the quote)
// to Intel's SGX root CA. When opts.Cache holds the Intel PCS collateral
// for the quote's FMSPC (TCB info and QE identity, see TDXCollateral), it is
// verified and the TCB status checked too. Version 5 quotes (TD report 1.0
// or 1.5 bodies) go to verifyTDXQuoteV5 (tdx5.go): go-tdx-guest v0.3.x does
// not parse them.
func verifyTDX(ev Evidence, opts Options) (Claims, error) {
	raw := bytes.TrimSpace(ev.Raw)
	if len(raw) == 0 || raw[0] != '{' {
		return verifyTDXQuote("tdx", ev.Raw, opts)
	}
	if len(raw) > maxEvidence {
		return Claims{}, Refusef("tdx: evidence of %d bytes exceeds the %d-byte limit", len(raw), maxEvidence)
	}
	var doc TDXEvidence
	if err := json.Unmarshal(raw, &doc); err != nil {
		return Claims{}, Refusef("tdx: evidence is not a TDX evidence document: %v", err)
	}
	c, err := verifyTDXQuote("tdx", doc.Quote, opts)
	if err != nil {
		return Claims{}, err
	}
	if len(doc.CCEventLog) > 0 {
		if err := CheckCCEL(&c, doc.CCEventLog); err != nil {
			return Claims{}, err
		}
	}
	return c, nil
}

// TDXEvidence is Confidential Containers' TDX evidence document: the quote
// and, optionally, the CCEL event log, each base64.
type TDXEvidence struct {
	Quote      flexBytes `json:"quote"`
	CCEventLog flexBytes `json:"cc_eventlog,omitempty"`
}

func verifyTDXQuote(what string, raw []byte, opts Options) (Claims, error) {
	if len(raw) < 4 {
		return Claims{}, Refusef("%s: quote of %d bytes is truncated", what, len(raw))
	}
	switch v := binary.LittleEndian.Uint16(raw); v {
	case 4:
	case 5:
		return verifyTDXQuoteV5(what, raw, opts)
	default:
		return Claims{}, Refusef("%s: TDX quote version %d is not supported (versions 4 and 5)", what, v)
	}
	if len(raw) > maxEvidence {
		return Claims{}, Refusef("%s: quote of %d bytes exceeds the %d-byte limit", what, len(raw), maxEvidence)
	}
	qa, err := tabi.QuoteToProto(raw)
	if err != nil {
		return Claims{}, Refusef("%s: quote does not parse: %v", what, err)
	}
	q, ok := qa.(*tpb.QuoteV4)
	if !ok {
		return Claims{}, Refusef("%s: quote type %T is not supported", what, qa)
	}
	roots := opts.roots()
	if roots.Intel == nil {
		return Claims{}, Refusef("%s: no Intel root CA configured", what)
	}
	vopts := &tverify.Options{Now: opts.now(), TrustedRoots: roots.Intel}
	collateral := false
	if opts.Cache != nil {
		g := collateralGetter{opts.Cache}
		switch fmspc, tcb, qe := g.has(q); {
		case tcb && qe:
			vopts.GetCollateral = true
			vopts.Getter = g
			collateral = true
		case tcb || qe:
			// Collateral is configured but incomplete for this platform:
			// refuse rather than silently skip the TCB check.
			return Claims{}, Refusef("%s: the offline collateral cache lacks the %s for this platform (FMSPC %s); add it (%s)", what,
				map[bool]string{true: "QE identity", false: "TCB info"}[tcb], fmspc, map[bool]string{true: TDXQEIdentityKey(), false: TDXTCBInfoKey(fmspc)}[tcb])
		}
	}
	if err := tverify.TdxQuote(q, vopts); err != nil {
		return Claims{}, Refusef("%s: quote does not verify: %v", what, err)
	}
	chain, err := tdxPCKChain(q)
	if err != nil {
		return Claims{}, Refusef("%s: %v", what, err)
	}
	if s, bad := roots.IsRevoked(chain); bad {
		return Claims{}, Refusef("%s: PCK certificate chain: certificate %s is revoked", what, s)
	}
	body := q.GetTdQuoteBody()
	if err := checkNonce(what+": report data", body.GetReportData(), opts.Nonce); err != nil {
		return Claims{}, err
	}
	return tdxClaims(q, chain, collateral), nil
}

// tdxPCKChain returns the PCK leaf, intermediate and root from the quote.
func tdxPCKChain(q *tpb.QuoteV4) ([]*x509.Certificate, error) {
	cd := q.GetSignedData().GetCertificationData().GetQeReportCertificationData().GetPckCertificateChainData()
	cs, err := parseCerts(cd.GetPckCertChain())
	if err != nil {
		return nil, fmt.Errorf("PCK certificate chain: %v", err)
	}
	return cs, nil
}

// oidPlatformInstanceID is Intel's SGX extension carrying a multi-package
// platform's instance ID inside the PCK certificate's SGX extensions.
var (
	oidSGXExtensions      = asn1.ObjectIdentifier{1, 2, 840, 113741, 1, 13, 1}
	oidPlatformInstanceID = asn1.ObjectIdentifier{1, 2, 840, 113741, 1, 13, 1, 6}
)

func platformInstanceID(c *x509.Certificate) string {
	for _, e := range c.Extensions {
		if !e.Id.Equal(oidSGXExtensions) {
			continue
		}
		var items []asn1.RawValue
		if _, err := asn1.Unmarshal(e.Value, &items); err != nil {
			return ""
		}
		for _, it := range items {
			var kv struct {
				ID    asn1.ObjectIdentifier
				Value asn1.RawValue
			}
			if _, err := asn1.Unmarshal(it.FullBytes, &kv); err == nil && kv.ID.Equal(oidPlatformInstanceID) {
				return hex.EncodeToString(kv.Value.Bytes)
			}
		}
	}
	return ""
}

func tdxClaims(q *tpb.QuoteV4, chain []*x509.Certificate, collateral bool) Claims {
	b := q.GetTdQuoteBody()
	h := hex.EncodeToString
	c := Claims{
		TEE: TDX,
		Measurements: map[string]string{
			"mrtd":          h(b.GetMrTd()),
			"mrseam":        h(b.GetMrSeam()),
			"mrsignerseam":  h(b.GetMrSignerSeam()),
			"mrconfigid":    h(b.GetMrConfigId()),
			"mrowner":       h(b.GetMrOwner()),
			"mrownerconfig": h(b.GetMrOwnerConfig()),
		},
		ReportData: b.GetReportData(),
		Debug:      len(b.GetTdAttributes()) > 0 && b.GetTdAttributes()[0]&1 != 0,
		TCB: map[string]string{
			"tee_tcb_svn":     h(b.GetTeeTcbSvn()),
			"qe_svn":          h(q.GetHeader().GetQeSvn()),
			"pce_svn":         h(q.GetHeader().GetPceSvn()),
			"collateral":      strconv.FormatBool(collateral),
			"seam_attributes": h(b.GetSeamAttributes()),
		},
		Platform: map[string]string{
			"td_attributes": h(b.GetTdAttributes()),
			"xfam":          h(b.GetXfam()),
			"version":       strconv.Itoa(int(q.GetHeader().GetVersion())),
			"qe_vendor_id":  h(q.GetHeader().GetQeVendorId()),
			"user_data":     h(q.GetHeader().GetUserData()),
		},
	}
	if ta := b.GetTdAttributes(); len(ta) == 8 {
		v := binary.LittleEndian.Uint64(ta)
		for name, bit := range map[string]uint{"debug": 0, "septve_disable": 28, "protection_keys": 30, "key_locker": 31, "perfmon": 63} {
			c.Platform["td_attr_"+name] = strconv.FormatBool(v&(1<<bit) != 0)
		}
	}
	for i, r := range b.GetRtmrs() {
		c.Measurements["rtmr"+strconv.Itoa(i)] = h(r)
	}
	if len(chain) > 0 {
		if ext, err := pcs.PckCertificateExtensions(chain[0]); err == nil {
			c.Platform["fmspc"] = ext.FMSPC
			c.Platform["pce_id"] = ext.PCEID
		}
		if id := platformInstanceID(chain[0]); id != "" {
			c.Platform["platform_instance_id"] = id
		}
		c.Platform["pck_subject"] = chain[0].Subject.CommonName
	}
	return c
}

// TDXCollateral names the cache entries holding Intel PCS collateral: the
// TCB info and QE identity response bodies under their PCS URLs, and each
// response's issuer chain (the PCS "…-Issuer-Chain" header: PEM signing
// certificate then root) under the URL with IssuerChainSuffix appended.
const IssuerChainSuffix = "#issuer-chain"

// TDXTCBInfoKey and TDXQEIdentityKey return the cache keys for the
// collateral of a platform with the given FMSPC (hex).
func TDXTCBInfoKey(fmspc string) string { return pcs.TcbInfoURL(fmspc) }

// TDXQEIdentityKey returns the cache key for the TDX QE identity.
func TDXQEIdentityKey() string { return pcs.QeIdentityURL() }

type collateralGetter struct{ c CertCache }

// has reports the quote's FMSPC and whether the cache holds its TCB info
// and the QE identity.
func (g collateralGetter) has(q *tpb.QuoteV4) (fmspc string, tcb, qe bool) {
	_, qe = g.c.Get(TDXQEIdentityKey())
	chain, err := tdxPCKChain(q)
	if err != nil {
		return "", false, qe
	}
	ext, err := pcs.PckCertificateExtensions(chain[0])
	if err != nil {
		return "", false, qe
	}
	_, tcb = g.c.Get(TDXTCBInfoKey(ext.FMSPC))
	return ext.FMSPC, tcb, qe
}

// Get serves go-tdx-guest's collateral requests from the cache; anything
// else (CRLs) is unavailable offline.
func (g collateralGetter) Get(u string) (map[string][]string, []byte, error) {
	body, ok := g.c.Get(u)
	if !ok {
		return nil, nil, errors.New("not in the offline collateral cache: " + u)
	}
	chain, _ := g.c.Get(u + IssuerChainSuffix)
	esc := url.QueryEscape(string(chain))
	hdr := map[string][]string{
		"Tcb-Info-Issuer-Chain":             {esc},
		"Sgx-Enclave-Identity-Issuer-Chain": {esc},
	}
	return hdr, body, nil
}

func tdxQuoteChain(raw []byte) ([]*x509.Certificate, error) {
	qa, err := tabi.QuoteToProto(raw)
	if err != nil {
		return nil, err
	}
	q, ok := qa.(*tpb.QuoteV4)
	if !ok {
		return nil, fmt.Errorf("quote type %T", qa)
	}
	return tdxPCKChain(q)
}
