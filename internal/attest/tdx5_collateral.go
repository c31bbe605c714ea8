package attest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/go-tdx-guest/pcs"
)

// tdxV5Collateral checks a version 5 quote against the Intel PCS collateral
// in opts.Cache (see TDXCollateral in tdx.go): the TCB info for the PCK
// certificate's FMSPC and the TDX QE identity, each signed by Intel's TCB
// signing key whose certificate chains to roots.Intel, current at opts.Now,
// matching the platform, with TCB status UpToDate (as go-tdx-guest requires
// of version 4 quotes). No collateral configured: false, nil. Only part of
// it: refused.
func tdxV5Collateral(q *tdxQuoteV5, pck *x509.Certificate, roots *Roots, opts Options) (bool, error) {
	if opts.Cache == nil {
		return false, nil
	}
	ext, err := pcs.PckCertificateExtensions(pck)
	if err != nil {
		return false, fmt.Errorf("PCK certificate: SGX extensions: %v", err)
	}
	tcbBody, tcb := opts.Cache.Get(TDXTCBInfoKey(ext.FMSPC))
	qeBody, qe := opts.Cache.Get(TDXQEIdentityKey())
	switch {
	case !tcb && !qe:
		return false, nil
	case !tcb:
		return false, fmt.Errorf("the offline collateral cache lacks the TCB info for this platform (FMSPC %s); add it (%s)", ext.FMSPC, TDXTCBInfoKey(ext.FMSPC))
	case !qe:
		return false, fmt.Errorf("the offline collateral cache lacks the QE identity for this platform (FMSPC %s); add it (%s)", ext.FMSPC, TDXQEIdentityKey())
	}
	now := opts.now()
	tcbChain, _ := opts.Cache.Get(TDXTCBInfoKey(ext.FMSPC) + IssuerChainSuffix)
	var info pcs.TdxTcbInfo
	if err := pcsSigned(tcbBody, tcbChain, "tcbInfo", roots, now, &info); err != nil {
		return false, fmt.Errorf("TCB info: %v", err)
	}
	qeChain, _ := opts.Cache.Get(TDXQEIdentityKey() + IssuerChainSuffix)
	var ident pcs.QeIdentity
	if err := pcsSigned(qeBody, qeChain, "enclaveIdentity", roots, now, &ident); err != nil {
		return false, fmt.Errorf("QE identity: %v", err)
	}
	if err := tdxV5TCB(q, ext, info.TcbInfo, now); err != nil {
		return false, fmt.Errorf("TCB info: %v", err)
	}
	if err := tdxV5QE(q, ident.EnclaveIdentity, now); err != nil {
		return false, fmt.Errorf("QE identity: %v", err)
	}
	return true, nil
}

// pcsSigned verifies a PCS response body {"<field>": {...}, "signature":
// hex r||s}: the issuer chain (signing certificate, root) to roots.Intel at
// now, and the signature over the exact bytes of the inner object; then
// decodes body into v.
func pcsSigned(body, chainPEM []byte, field string, roots *Roots, now time.Time, v any) error {
	chain, err := parseCerts(chainPEM)
	if err != nil {
		return fmt.Errorf("issuer chain: %v", err)
	}
	if err := verifyChain(chain, roots.Intel, roots, now, x509.ExtKeyUsageAny); err != nil {
		return fmt.Errorf("issuer chain: %v", err)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(body, &doc); err != nil {
		return fmt.Errorf("does not parse: %v", err)
	}
	var sigHex string
	if err := json.Unmarshal(doc["signature"], &sigHex); err != nil {
		return errors.New("has no signature")
	}
	sig, err := hex.DecodeString(sigHex)
	if err != nil || len(sig) != 64 {
		return errors.New("signature is not 64 hex-encoded bytes")
	}
	k, ok := chain[0].PublicKey.(*ecdsa.PublicKey)
	if !ok || len(doc[field]) == 0 || !verifyRS(k, doc[field], sig) {
		return errors.New("signature does not verify with the TCB signing certificate")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("does not parse: %v", err)
	}
	return nil
}

func current(issued, next, now time.Time) error {
	if now.Before(issued) {
		return fmt.Errorf("issued %s, after the verification time %s", issued.Format(time.RFC3339), now.Format(time.RFC3339))
	}
	if !now.Before(next) {
		return fmt.Errorf("expired: next update was due %s; fetch fresh collateral", next.Format(time.RFC3339))
	}
	return nil
}

func masked(mask, v []byte) []byte {
	out := make([]byte, len(v))
	for i := range v {
		out[i] = v[i] & mask[i]
	}
	return out
}

func tdxV5TCB(q *tdxQuoteV5, ext *pcs.PckExtensions, t pcs.TcbInfo, now time.Time) error {
	if t.ID != "TDX" || t.Version != 3 {
		return fmt.Errorf("id %q version %d, want TDX version 3", t.ID, t.Version)
	}
	if err := current(t.IssueDate, t.NextUpdate, now); err != nil {
		return err
	}
	if !strings.EqualFold(t.Fmspc, ext.FMSPC) || !strings.EqualFold(t.PceID, ext.PCEID) {
		return fmt.Errorf("for FMSPC %s PCE %s, but the PCK certificate has FMSPC %s PCE %s", t.Fmspc, t.PceID, ext.FMSPC, ext.PCEID)
	}
	b := q.body
	if !bytes.Equal(t.TdxModule.Mrsigner.Bytes, b[64:112]) {
		return fmt.Errorf("MRSIGNERSEAM %x is not the TDX module signer %x", b[64:112], t.TdxModule.Mrsigner.Bytes)
	}
	if len(t.TdxModule.AttributesMask.Bytes) != 8 || !bytes.Equal(masked(t.TdxModule.AttributesMask.Bytes, b[112:120]), t.TdxModule.Attributes.Bytes) {
		return fmt.Errorf("SEAM attributes %x do not match the TDX module's", b[112:120])
	}
	svn := b[0:16]
	level, err := tdxLevel(t.TcbLevels, ext, svn)
	if err != nil {
		return err
	}
	if level.TcbStatus != pcs.TcbComponentStatusUpToDate {
		return fmt.Errorf("platform TCB status is %s, not UpToDate (advisories %v)", level.TcbStatus, level.AdvisoryIDs)
	}
	if svn[1] > 0 {
		id := "TDX_" + hex.EncodeToString(svn[1:2])
		var found bool
		for _, m := range t.TdxModuleIdentities {
			if !strings.EqualFold(m.ID, id) {
				continue
			}
			found = true
			var ml *pcs.TcbLevel
			for i := range m.TcbLevels {
				if uint32(svn[0]) >= m.TcbLevels[i].Tcb.Isvsvn {
					ml = &m.TcbLevels[i]
					break
				}
			}
			if ml == nil {
				return fmt.Errorf("no TCB level of TDX module %s matches its SVN %d", id, svn[0])
			}
			if ml.TcbStatus != pcs.TcbComponentStatusUpToDate {
				return fmt.Errorf("TDX module %s TCB status is %s, not UpToDate", id, ml.TcbStatus)
			}
		}
		if !found {
			return fmt.Errorf("no TDX module identity %s", id)
		}
	}
	return nil
}

// tdxLevel returns the first TCB level (PCS lists them newest first) that
// the platform's CPU SVN, PCE SVN and TEE TCB SVN all meet.
func tdxLevel(levels []pcs.TcbLevel, ext *pcs.PckExtensions, svn []byte) (pcs.TcbLevel, error) {
	if len(levels) == 0 {
		return pcs.TcbLevel{}, errors.New("has no TCB levels")
	}
next:
	for _, l := range levels {
		if len(l.Tcb.SgxTcbcomponents) != len(ext.TCB.CPUSvnComponents) || len(l.Tcb.TdxTcbcomponents) != len(svn) || ext.TCB.PCESvn < l.Tcb.Pcesvn {
			continue
		}
		for i, c := range l.Tcb.SgxTcbcomponents {
			if ext.TCB.CPUSvnComponents[i] < c.Svn {
				continue next
			}
		}
		start := 0
		if svn[1] > 0 {
			start = 2 // the module's own SVN is judged by its identity
		}
		for i := start; i < len(svn); i++ {
			if svn[i] < l.Tcb.TdxTcbcomponents[i].Svn {
				continue next
			}
		}
		return l, nil
	}
	return pcs.TcbLevel{}, errors.New("no TCB level matches the platform's SVNs: its TCB is below every level Intel lists")
}

func tdxV5QE(q *tdxQuoteV5, id pcs.EnclaveIdentity, now time.Time) error {
	if id.ID != "TD_QE" || id.Version != 2 {
		return fmt.Errorf("id %q version %d, want TD_QE version 2", id.ID, id.Version)
	}
	if err := current(id.IssueDate, id.NextUpdate, now); err != nil {
		return err
	}
	r := q.qeReport
	if len(id.MiscselectMask.Bytes) != 4 || len(id.Miscselect.Bytes) != 4 ||
		!bytes.Equal(masked(id.MiscselectMask.Bytes, r[16:20]), id.Miscselect.Bytes) {
		return fmt.Errorf("QE MISCSELECT %x does not match", r[16:20])
	}
	if len(id.AttributesMask.Bytes) != 16 || !bytes.Equal(masked(id.AttributesMask.Bytes, r[48:64]), id.Attributes.Bytes) {
		return fmt.Errorf("QE attributes %x do not match", r[48:64])
	}
	if !bytes.Equal(id.Mrsigner.Bytes, r[128:160]) {
		return fmt.Errorf("QE MRSIGNER %x is not Intel's %x", r[128:160], id.Mrsigner.Bytes)
	}
	if p := binary.LittleEndian.Uint16(r[256:]); p != id.IsvProdID {
		return fmt.Errorf("QE ISVPRODID %d, want %d", p, id.IsvProdID)
	}
	isvsvn := uint32(binary.LittleEndian.Uint16(r[258:]))
	for _, l := range id.TcbLevels {
		if l.Tcb.Isvsvn <= isvsvn {
			if l.TcbStatus != pcs.TcbComponentStatusUpToDate {
				return fmt.Errorf("QE TCB status is %s, not UpToDate", l.TcbStatus)
			}
			return nil
		}
	}
	return fmt.Errorf("no TCB level matches the QE's ISVSVN %d", isvsvn)
}
