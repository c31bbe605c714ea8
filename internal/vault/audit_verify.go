package vault

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/digital-embassy/embassy/internal/evidence"
	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/tlog"
)

// Kinds of file AuditVerify checks.
const (
	AuditReceiptType = "receipt"      // one entry (c2sp.org/tlog-proof)
	AuditBundleType  = "bundle"       // every entry of a period (tlog bundle)
	AuditFullType    = "audit-bundle" // a bundle with its four parts and documents (evidence.AuditFormat)
)

// AuditEmbeddedPolicy names the trust anchor of a bundle checked against
// the keys it carries itself (no --policy and no home).
const AuditEmbeddedPolicy = "embedded in the bundle"

// AuditVerifyRequest is what 'embassy audit verify' checks, offline.
type AuditVerifyRequest struct {
	File string // the receipt or bundle
	// PolicyFile is the C2SP tlog-policy to trust; "" trusts the policy of
	// the home in HomeDir, if there is one.
	PolicyFile string
	HomeDir    string
	// Period: a bundle must cover [From, To] (zero: an open end), the
	// period the auditor asked for, so that one relabelled to a shorter
	// period is refused. Receipts ignore it.
	Period   bool
	From, To time.Time
	// Warn is told when a bundle is checked against its own keys (no
	// policy to trust), before it is checked. Nil: not told.
	Warn func(msg string)
}

// AuditVerifyResult is a verified receipt or bundle.
type AuditVerifyResult struct {
	Type string // AuditReceiptType, AuditBundleType or AuditFullType
	// Policy is the trust anchor; nil when a bundle was checked against
	// its own keys. PolicyFrom says where it came from (its file, or
	// AuditEmbeddedPolicy).
	Policy     *tlog.Policy
	PolicyFrom string

	// A receipt: its entry, the checkpoint's origin and size, and the
	// witnesses whose cosignatures verify.
	Entry     tlog.Indexed
	Origin    string
	TreeSize  uint64
	Cosigners []string

	// A bundle (AuditBundleType): the seal and its entries.
	Bundle  *tlog.Bundle
	Entries []tlog.Indexed

	// An audit bundle (AuditFullType).
	Audit *evidence.AuditResult
}

const receiptHeader = "c2sp.org/tlog-proof@v1\n"

// AuditTrust returns the trust anchor of an offline verification and the
// file it came from: policyFile, else the policy of the home in homeDir.
// A policy file that cannot be read or parsed is a usage error; no home,
// or a home without a log policy, is no anchor (nil, "").
func AuditTrust(policyFile, homeDir string) (*tlog.Policy, string, error) {
	if policyFile != "" {
		b, err := os.ReadFile(policyFile)
		if err != nil {
			return nil, "", hint.WithCode(err, hint.CodeUsage)
		}
		p, err := tlog.ParsePolicy(b)
		if err != nil {
			return nil, "", hint.WithCode(err, hint.CodeUsage)
		}
		return p, policyFile, nil
	}
	if homeDir == "" || !home.Exists(homeDir) {
		return nil, "", nil
	}
	f := filepath.Join(homeDir, "log", tlog.PolicyFile)
	b, err := os.ReadFile(f)
	if err != nil {
		return nil, "", nil
	}
	p, err := tlog.ParsePolicy(b)
	if err != nil {
		return nil, "", hint.WithCode(err, hint.CodeUsage)
	}
	return p, f, nil
}

// AuditVerify checks a receipt, a log bundle or an audit bundle with no
// network: the log's signature on the checkpoint, the witness quorum's
// cosignatures and every inclusion proof, against the trust anchor
// (AuditTrust). A receipt needs an anchor; a bundle without one is
// checked against the keys it carries (rq.Warn says so). A file that
// does not verify, or a bundle that does not cover rq's period, is
// damaged (hint.CodeDamaged) with the way out.
func AuditVerify(rq AuditVerifyRequest) (*AuditVerifyResult, error) {
	data, err := os.ReadFile(rq.File)
	if err != nil {
		return nil, err
	}
	p, from, err := AuditTrust(rq.PolicyFile, rq.HomeDir)
	if err != nil {
		return nil, err
	}
	damaged := func(err error) error {
		return hint.WithCode(hint.Wrap(fmt.Errorf("%s does not verify: %w", rq.File, err),
			"the file, the log or a witness was tampered with, or the trust anchor is wrong; get the policy from the sending state out of band"), hint.CodeDamaged)
	}
	res := &AuditVerifyResult{Policy: p, PolicyFrom: from}
	if bytes.HasPrefix(data, []byte(receiptHeader)) {
		if p == nil {
			return nil, hint.WithCode(hint.Wrap(errors.New("no policy to verify the receipt against"), "pass --policy FILE (the log's C2SP tlog-policy)"), hint.CodeUsage)
		}
		ent, cp, err := tlog.VerifyReceipt(data, p)
		if err != nil {
			return nil, damaged(err)
		}
		res.Type, res.Entry, res.Origin, res.TreeSize = AuditReceiptType, ent, cp.Origin, cp.Size
		if _, signed, ok := bytes.Cut(data, []byte("\n\n")); ok {
			res.Cosigners = p.Cosigners(signed)
		}
		return res, nil
	}
	if p == nil {
		if rq.Warn != nil {
			rq.Warn("no --policy and no home: trusting the keys inside the bundle")
		}
		res.PolicyFrom = AuditEmbeddedPolicy
	}
	var b *tlog.Bundle
	if IsAuditBundle(data) {
		a, err := VerifyAuditBundle(data, p)
		if err != nil {
			return nil, damaged(err)
		}
		res.Type, res.Audit, b = AuditFullType, a, a.Log
	} else {
		var ents []tlog.Indexed
		if b, ents, err = tlog.VerifyBundle(data, p); err != nil {
			return nil, damaged(err)
		}
		res.Type, res.Bundle, res.Entries = AuditBundleType, b, ents
	}
	if rq.Period {
		if err := b.Covers(rq.From, rq.To); err != nil {
			return nil, damaged(err)
		}
	}
	return res, nil
}
