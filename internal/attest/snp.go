package attest

import (
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/google/go-sev-guest/abi"
	"github.com/google/go-sev-guest/kds"
	spb "github.com/google/go-sev-guest/proto/sevsnp"
	"github.com/google/go-sev-guest/verify"
)

// verifySNP verifies an AMD SEV-SNP attestation report (ev.Raw, the
// 1184-byte ATTESTATION_REPORT) signed by a VCEK or VLEK. The endorsement
// key certificate comes from ev.Certs (DER or PEM; a VCEK or VLEK, with or
// without ASK/ARK, which are ignored in favour of the embedded AMD roots) or,
// for a VCEK, from opts.Cache under its AMD KDS URL. Nothing is fetched.
func verifySNP(ev Evidence, opts Options) (Claims, error) {
	return verifySNPReport("snp", ev.Raw, ev.Certs, opts)
}

func verifySNPReport(what string, raw, certs []byte, opts Options) (Claims, error) {
	if len(raw) != abi.ReportSize {
		return Claims{}, Refusef("%s: report has %d bytes, an SEV-SNP attestation report has %d", what, len(raw), abi.ReportSize)
	}
	rep, err := abi.ReportToProto(raw)
	if err != nil {
		return Claims{}, Refusef("%s: report does not parse: %v", what, err)
	}
	info, err := abi.ParseSignerInfo(rep.GetSignerInfo())
	if err != nil {
		return Claims{}, Refusef("%s: report signer info: %v", what, err)
	}
	chain := &spb.CertificateChain{Extras: map[string][]byte{}}
	var ek *x509.Certificate
	if len(certs) > 0 {
		cs, err := parseCerts(certs)
		if err != nil {
			return Claims{}, Refusef("%s: certificates: %v", what, err)
		}
		ek = cs[0] // the endorsement key certificate comes first
	} else if info.SigningKey == abi.VcekReportSigner {
		ek, err = cachedVCEK(rep, opts.Cache)
		if err != nil {
			return Claims{}, Refusef("%s: %v", what, err)
		}
	} else {
		return Claims{}, Refusef("%s: the report is signed by a %v and no certificate was given (a VLEK comes from the cloud provider, pass it with the evidence)", what, info.SigningKey)
	}
	switch info.SigningKey {
	case abi.VcekReportSigner:
		chain.VcekCert = ek.Raw
	case abi.VlekReportSigner:
		chain.VlekCert = ek.Raw
	default:
		return Claims{}, Refusef("%s: report signer %v is not a VCEK or VLEK", what, info.SigningKey)
	}
	roots := opts.roots()
	vopts := &verify.Options{DisableCertFetching: true, Now: opts.now()}
	vopts.TrustedRoots, err = amdRoots(roots.AMDExtra, info.SigningKey)
	if err != nil {
		return Claims{}, Refusef("%s: AMD roots: %v", what, err)
	}
	att := &spb.Attestation{Report: rep, CertificateChain: chain}
	if err := verify.SnpAttestation(att, vopts); err != nil {
		return Claims{}, Refusef("%s: report does not verify with the %v certificate to AMD's roots: %v", what, info.SigningKey, err)
	}
	if s, bad := roots.IsRevoked(append([]*x509.Certificate{ek}, amdIssuers(vopts.TrustedRoots, ek)...)); bad {
		return Claims{}, Refusef("%s: the %v certificate (%s) is revoked", what, info.SigningKey, s)
	}
	if err := checkNonce(what+": report data", rep.GetReportData(), opts.Nonce); err != nil {
		return Claims{}, err
	}
	return snpClaims(rep, info, ek), nil
}

func cachedVCEK(rep *spb.Report, cache CertCache) (*x509.Certificate, error) {
	if cache == nil {
		return nil, errors.New("no VCEK given and no offline VCEK cache configured")
	}
	lines := []string{"Milan", "Genoa", "Turin"}
	if fms := rep.GetCpuid1EaxFms(); fms != 0 {
		lines = []string{kds.ProductLineFromFms(fms)}
	}
	var tried string
	for _, pl := range lines {
		url := kds.VCEKCertURL(pl, rep.GetChipId(), kds.TCBVersion(rep.GetReportedTcb()))
		if der, ok := cache.Get(url); ok {
			c, err := parseCerts(der)
			if err != nil {
				return nil, fmt.Errorf("cached VCEK for %s: %v", url, err)
			}
			return c[0], nil
		}
		tried = url
	}
	return nil, fmt.Errorf("the VCEK for chip %s at this TCB is not in the offline cache (looked up %s)", short(rep.GetChipId()), tried)
}

// VCEKCacheKey returns the cache key (the AMD KDS URL) of the VCEK that
// signs the SNP report raw, so an operator can fill the offline cache.
func VCEKCacheKey(raw []byte, productLine string) (string, error) {
	rep, err := abi.ReportToProto(raw)
	if err != nil {
		return "", err
	}
	if fms := rep.GetCpuid1EaxFms(); fms != 0 {
		productLine = kds.ProductLineFromFms(fms)
	}
	return kds.VCEKCertURL(productLine, rep.GetChipId(), kds.TCBVersion(rep.GetReportedTcb())), nil
}

// amdRoots returns the embedded and extra AMD roots that can issue the
// signer's certificate: ASK bundles for a VCEK, ASVK bundles for a VLEK
// (so a refusal names the real failure, not a missing ASVK).
func amdRoots(extra [][]byte, signer abi.ReportSigner) (map[string][]*verifyRoots, error) {
	def, err := amdDefaultRoots()
	if err != nil {
		return nil, err
	}
	all := map[string][]*verifyRoots{}
	for pl, rs := range def {
		all[pl] = append([]*verifyRoots(nil), rs...)
	}
	for _, b := range extra {
		if err := addAMDBundle(all, b); err != nil {
			return nil, err
		}
	}
	out := map[string][]*verifyRoots{}
	for pl, rs := range all {
		for _, r := range rs {
			pc := r.ProductCerts
			if pc != nil && ((signer == abi.VcekReportSigner && pc.Ask != nil) || (signer == abi.VlekReportSigner && pc.Asvk != nil)) {
				out[pl] = append(out[pl], r)
			}
		}
	}
	return out, nil
}

// addAMDBundle adds a PEM bundle of an ARK and its ASK and/or ASVK to out,
// filed under the product line named in the ARK ("ARK-Milan").
func addAMDBundle(out map[string][]*verifyRoots, b []byte) error {
	certs, err := parseCerts(b)
	if err != nil {
		return err
	}
	var ark *x509.Certificate
	for _, c := range certs {
		if c.Subject.String() == c.Issuer.String() && strings.HasPrefix(c.Subject.CommonName, "ARK-") {
			ark = c
		}
	}
	if ark == nil {
		return errors.New("bundle has no ARK")
	}
	pl := strings.TrimPrefix(ark.Subject.CommonName, "ARK-")
	n := 0
	for _, c := range certs {
		if c == ark {
			continue
		}
		r := newAMDRoots(pl)
		if err := r.Decode(c.Raw, ark.Raw); err != nil {
			return err
		}
		out[pl] = append(out[pl], r)
		n++
	}
	if n == 0 {
		return errors.New("bundle has no ASK or ASVK")
	}
	return nil
}

// amdIssuers returns the ASK/ASVK and ARK certificates of the product line
// that issued ek (its issuer is "SEV-Milan" or "SEV-VLEK-Milan"), so that
// revoking an ASK or ARK refuses every report under it.
func amdIssuers(roots map[string][]*verifyRoots, ek *x509.Certificate) []*x509.Certificate {
	cn := ek.Issuer.CommonName
	pl := cn[strings.LastIndex(cn, "-")+1:]
	var out []*x509.Certificate
	for _, r := range roots[pl] {
		if pc := r.ProductCerts; pc != nil {
			for _, c := range []*x509.Certificate{pc.Ask, pc.Asvk, pc.Ark} {
				if c != nil {
					out = append(out, c)
				}
			}
		}
	}
	return out
}

func snpClaims(rep *spb.Report, info abi.SignerInfo, ek *x509.Certificate) Claims {
	h := hex.EncodeToString
	tcb := func(v uint64) map[string]string {
		p := kds.DecomposeTCBVersion(kds.TCBVersion(v))
		return map[string]string{"bootloader": strconv.Itoa(int(p.BlSpl)), "tee": strconv.Itoa(int(p.TeeSpl)), "snp": strconv.Itoa(int(p.SnpSpl)), "microcode": strconv.Itoa(int(p.UcodeSpl))}
	}
	c := Claims{
		TEE: SNP,
		Measurements: map[string]string{
			"measurement": h(rep.GetMeasurement()),
			"host_data":   h(rep.GetHostData()),
			"family_id":   h(rep.GetFamilyId()),
			"image_id":    h(rep.GetImageId()),
		},
		ReportData: rep.GetReportData(),
		Debug:      rep.GetPolicy()&(1<<19) != 0,
		TCB:        map[string]string{},
		Platform: map[string]string{
			"chip_id":       h(rep.GetChipId()),
			"signer":        info.SigningKey.String(),
			"version":       strconv.Itoa(int(rep.GetVersion())),
			"policy":        strconv.FormatUint(rep.GetPolicy(), 16),
			"vmpl":          strconv.Itoa(int(rep.GetVmpl())),
			"guest_svn":     strconv.Itoa(int(rep.GetGuestSvn())),
			"ek_sha256":     fingerprint(ek.Raw),
			"ek_subject":    ek.Subject.CommonName,
			"platform_info": strconv.FormatUint(rep.GetPlatformInfo(), 16),
		},
	}
	for k, v := range tcb(rep.GetReportedTcb()) {
		c.TCB["reported_"+k] = v
	}
	for k, v := range tcb(rep.GetCommittedTcb()) {
		c.TCB["committed_"+k] = v
	}
	for k, v := range tcb(rep.GetCurrentTcb()) {
		c.TCB["current_"+k] = v
	}
	if ak := rep.GetAuthorKeyDigest(); len(ak) > 0 {
		c.Measurements["author_key_digest"] = h(ak)
	}
	if id := rep.GetIdKeyDigest(); len(id) > 0 {
		c.Measurements["id_key_digest"] = h(id)
	}
	return c
}
