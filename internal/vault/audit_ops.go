package vault

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/digital-embassy/embassy/internal/atomicfile"
	"github.com/digital-embassy/embassy/internal/evidence"
	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/tlog"
)

// AuditExportRequest is what 'embassy audit export' writes: the audit
// bundle of [From, To] (zero: open ends) into Output.
type AuditExportRequest struct {
	From, To time.Time
	Output   string
}

// AuditExportResult is a written audit bundle.
type AuditExportResult struct {
	File    string
	Entries int // entries of the period, each with its proof
	Bytes   int
	Bundle  *evidence.AuditBundle // its parts, documents and the documents declared unavailable
}

// AuditExportTo writes the audit bundle of rq's period (AuditExport) to
// rq.Output, atomically.
func (v *Vault) AuditExportTo(ctx context.Context, rq AuditExportRequest) (*AuditExportResult, error) {
	if rq.Output == "" {
		return nil, hint.WithCode(errors.New("audit export: no output file"), hint.CodeUsage)
	}
	data, b, ents, err := v.auditExport(ctx, rq.From, rq.To)
	if err != nil {
		return nil, err
	}
	if err := atomicfile.Write(rq.Output, data, 0o644); err != nil {
		return nil, err
	}
	return &AuditExportResult{File: rq.Output, Entries: len(ents), Bytes: len(data), Bundle: b}, nil
}

// AuditReceiptRequest is what 'embassy audit receipt' writes: the receipt
// of the entry at Index into Output.
type AuditReceiptRequest struct {
	Index  uint64
	Output string
}

// AuditReceiptResult is a written receipt.
type AuditReceiptResult struct {
	File  string
	Index uint64
	Bytes int
}

// AuditReceipt writes a self-contained receipt (c2sp.org/tlog-proof) of
// one entry against the latest cosigned checkpoint, verified before it is
// written.
func (v *Vault) AuditReceipt(ctx context.Context, rq AuditReceiptRequest) (*AuditReceiptResult, error) {
	if rq.Output == "" {
		return nil, hint.WithCode(errors.New("audit receipt: no output file"), hint.CodeUsage)
	}
	r, err := v.Recorder().Reader()
	if err != nil {
		return nil, err
	}
	rc, err := r.Receipt(ctx, rq.Index)
	if err != nil {
		return nil, err
	}
	if err := atomicfile.Write(rq.Output, rc, 0o644); err != nil {
		return nil, err
	}
	return &AuditReceiptResult{File: rq.Output, Index: rq.Index, Bytes: len(rc)}, nil
}

// AuditCheckResult is the whole local log checked, with the alerts raised
// on both sides of the witnessing.
type AuditCheckResult struct {
	// Origin and TreeSize are the checked checkpoint's (when CheckErr is nil).
	Origin   string
	TreeSize uint64
	// CheckErr is why the log does not check (tlog.ErrEmpty: nothing
	// published yet, which is not damage).
	CheckErr error
	// WitnessAlerts are the checkpoints the home's witnesses refused
	// (forks, rollbacks, bad proofs), WitnessGroups the same grouped.
	WitnessAlerts []WitnessAlert
	WitnessGroups []WitnessAlertGroup
	// LogAlerts are the refusals the log got from any witness, LogGroups
	// the same grouped by witness and answer.
	LogAlerts []tlog.WitnessAlert
	LogGroups []tlog.AlertGroup
}

// Empty reports whether the log has no published checkpoint yet.
func (c *AuditCheckResult) Empty() bool { return errors.Is(c.CheckErr, tlog.ErrEmpty) }

// Alerts reports whether any alert was raised.
func (c *AuditCheckResult) Alerts() bool { return len(c.WitnessAlerts)+len(c.LogAlerts) > 0 }

// OK reports whether the log checks and no alert was raised.
func (c *AuditCheckResult) OK() bool { return c.CheckErr == nil && !c.Alerts() }

// Err is the damaged log (hint.CodeDamaged), or nil: an empty log is not
// damage, and alerts are reported, not failed on.
func (c *AuditCheckResult) Err() error {
	if c.CheckErr == nil || c.Empty() {
		return nil
	}
	return hint.WithCode(fmt.Errorf("the log is damaged: %w", c.CheckErr), hint.CodeDamaged)
}

// AuditCheck checks the home's log end to end (the published checkpoint
// against the policy, every entry against the Merkle root, the hash tiles
// through inclusion proofs) and gathers the witness alerts. A damaged log
// is in the result (CheckErr), not an error: its alerts are still shown.
func (v *Vault) AuditCheck(ctx context.Context) (*AuditCheckResult, error) {
	rc := v.Recorder()
	r, err := rc.Reader()
	if err != nil {
		return nil, err
	}
	res := &AuditCheckResult{}
	cp, cerr := r.Check(ctx)
	res.CheckErr = cerr
	if cerr == nil && cp != nil {
		res.Origin, res.TreeSize = cp.Origin, cp.Size
	}
	res.WitnessAlerts = HomeWitnessAlerts(rc.Dir)
	res.WitnessGroups = GroupWitnessAlerts(res.WitnessAlerts)
	res.LogAlerts, _ = tlog.ReadAlerts(filepath.Join(rc.Dir, tlog.AlertsFile))
	res.LogGroups = tlog.GroupAlerts(res.LogAlerts)
	return res, nil
}
