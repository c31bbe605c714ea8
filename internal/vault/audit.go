package vault

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/digital-embassy/embassy/internal/evidence"
	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/repo"
	"github.com/digital-embassy/embassy/internal/tlog"
)

// AuditExport writes an auditor's evidence bundle for [from, to]
// (evidence.AuditFormat): first it logs any configuration change not yet
// logged (RecordConfig), then it exports the log's period with proofs
// and adds the documents its entries name: the signed report of every
// drill and the content of every configuration version, from the home's
// EvidenceDir. A document the home no longer has is declared unavailable
// in the bundle (its verification then reports a partial bundle).
func (v *Vault) AuditExport(ctx context.Context, from, to time.Time) ([]byte, *evidence.AuditBundle, error) {
	out, b, _, err := v.auditExport(ctx, from, to)
	return out, b, err
}

// auditExport is AuditExport, with the entries of the exported period.
func (v *Vault) auditExport(ctx context.Context, from, to time.Time) ([]byte, *evidence.AuditBundle, []tlog.Indexed, error) {
	if to.IsZero() || !to.Before(v.Now()) {
		if _, err := v.RecordConfig(ctx); err != nil {
			return nil, nil, nil, err
		}
	}
	rc := v.Recorder()
	rd, err := rc.Reader()
	if err != nil {
		return nil, nil, nil, err
	}
	lb, err := rd.Export(ctx, from, to, rc.Signer)
	if err != nil {
		return nil, nil, nil, hint.WithCode(err, hint.CodeDamaged)
	}
	_, ents, err := tlog.VerifyBundle(lb, rc.Policy)
	if err != nil {
		return nil, nil, nil, hint.WithCode(fmt.Errorf("the exported log does not verify: %w", err), hint.CodeDamaged)
	}
	b := &evidence.AuditBundle{Format: evidence.AuditFormat, Log: lb, Parts: evidence.PartsOf(ents), Documents: []evidence.AuditDocument{}}
	reports := drillReports(v)
	for _, w := range evidence.WantedDocuments(ents) {
		var content []byte
		switch w.Kind {
		case evidence.DocDrillReport:
			content = reports[w.Digest]
		case evidence.DocConfig:
			content, _ = os.ReadFile(ConfigVersionPath(v.Home, w.Digest))
		}
		sum := sha256.Sum256(content)
		if content == nil || hex.EncodeToString(sum[:]) != w.Digest {
			b.Unavailable = append(b.Unavailable, evidence.Unavailable{Index: w.Index,
				Why: fmt.Sprintf("the home has no %s with sha256 %s under %s", w.Kind, w.Digest, EvidenceDir(v.Home))})
			continue
		}
		b.Documents = append(b.Documents, evidence.AuditDocument{Index: w.Index, Kind: w.Kind, Name: w.Name, Digest: w.Digest, Content: content})
	}
	out, err := b.Marshal()
	return out, b, ents, err
}

// drillReports are the signed drill reports kept in the home, by SHA-256.
func drillReports(v *Vault) map[string][]byte {
	out := map[string][]byte{}
	files, _ := filepath.Glob(filepath.Join(EvidenceDir(v.Home), "drills", "*.json"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		sum := sha256.Sum256(b)
		out[hex.EncodeToString(sum[:])] = b
	}
	return out
}

// IsAuditBundle reports whether data is an audit bundle (evidence
// AuditFormat) rather than a plain log bundle.
func IsAuditBundle(data []byte) bool { return evidence.IsAudit(data) }

// VerifyAuditBundle checks an audit bundle offline against the log policy
// p (nil: the keys inside the bundle): the sealed log, each part recomputed
// from its entries, every document they name by digest, and the drill
// reports' signatures under the home key the entries name.
func VerifyAuditBundle(data []byte, p *tlog.Policy) (*evidence.AuditResult, error) {
	return evidence.VerifyAudit(data, p, repo.HomeIDFor)
}
