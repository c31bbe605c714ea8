package vault

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/digital-embassy/embassy/internal/atomicfile"
	"github.com/digital-embassy/embassy/internal/broker"
	"github.com/digital-embassy/embassy/internal/class"
	"github.com/digital-embassy/embassy/internal/evidence"
	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/supply"
	"github.com/digital-embassy/embassy/internal/tlog"
)

// Supply-chain and update control (framework requirement 16): the
// sending state's signed update approvals live in <home>/updates:
//
//	approved/ID.json   signed approvals (docs/formats/update-approval.md)
//	revoked.json       revocations (ID, time, reason), logged as they are made
//	seen.json          the digest last alerted on per site (one alert per new digest)
//
// Each approval and revocation is logged; an unapproved daemon build found
// at a site is an alert, logged and kept in <home>/alerts.jsonl.

// Log entry kinds of update control (internal/supply names them).
const (
	KindUpdateApprove  = tlog.KindUpdateApprove
	KindUpdateRevoke   = tlog.KindUpdateRevoke
	KindUpdateAlert    = tlog.KindUpdateAlert
	KindUpdateResolved = tlog.KindUpdateResolved
)

// UpdateAlertKind is the kind of an unapproved-update alert in alerts.jsonl.
const UpdateAlertKind = "update-unapproved"

// KeyPolicyUpdateControl is the key policy whose classes require update
// control by default: their keys go only to attested workloads, so the
// attested measurements must be covered by an update approval.
const KeyPolicyUpdateControl = "attested-release"

// UpdatesDir is the home's folder of update approvals.
func UpdatesDir(h *home.Home) string { return filepath.Join(h.Dir, "updates") }

// UpdateApproval is what 'embassy update approve' asks for.
type UpdateApproval struct {
	Artifact     string
	Binary       string // a file whose SHA-256 is the approved digest
	Digest       string // or the digest itself
	SBOM         string // the SBOM file recorded with the approval
	Measurements map[string]string
	Until        time.Time
	Note         string
}

// epochKeys returns the home's signing key of each root epoch.
func (v *Vault) epochKeys() (supply.EpochKey, error) {
	if v.Repo == nil {
		return nil, errors.New("update approvals: the vault is not open")
	}
	keys := map[uint32]ed25519.PublicKey{}
	for _, ep := range v.Repo.Epochs() {
		if k, err := base64.StdEncoding.DecodeString(ep.SignKey); err == nil && len(k) == ed25519.PublicKeySize {
			keys[ep.Epoch] = k
		}
	}
	return func(e uint32) (ed25519.PublicKey, bool) { k, ok := keys[e]; return k, ok }, nil
}

// FileDigest is the lowercase hex SHA-256 of a file and its size.
func FileDigest(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// SBOM formats of BinarySBOM.
const (
	SBOMCycloneDX = supply.FormatCycloneDX // CycloneDX 1.6 JSON (the default)
	SBOMSPDX      = supply.FormatSPDX      // SPDX 2.3 JSON
)

// SBOMDigest is the digest an update approval records for an SBOM.
func SBOMDigest(sbom []byte) string { return supply.SBOMDigest(sbom) }

// BinarySBOM reads a Go binary (its digest and embedded build
// information) and returns its SBOM in format.
func BinarySBOM(path, name, format string, created time.Time) ([]byte, supply.Binary, error) {
	digest, size, err := FileDigest(path)
	if err != nil {
		return nil, supply.Binary{}, err
	}
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		return nil, supply.Binary{}, hint.Wrap(err, "give a Go binary built with module support (go build)")
	}
	if name == "" {
		name = strings.TrimSuffix(filepath.Base(path), ".exe")
	}
	b := supply.Binary{Name: name, Digest: digest, Size: size, Info: bi}
	out, err := supply.SBOM(b, format, created)
	if err != nil {
		return nil, b, hint.WithCode(err, hint.CodeUsage)
	}
	return out, b, nil
}

// ApproveUpdate signs an update approval with the home's current root
// signing key, stores it and logs it (the vault must be open with keys).
func (v *Vault) ApproveUpdate(ctx context.Context, rq UpdateApproval) (*supply.Signed, error) {
	if v.Repo == nil {
		return nil, errors.New("update approve: the vault is not open")
	}
	rq.Digest = strings.ToLower(rq.Digest)
	now := v.Now()
	a := supply.Approval{Format: supply.ApprovalFormat, Home: v.Repo.Fingerprint(), Epoch: v.Repo.CurrentEpoch().Epoch,
		Artifact: rq.Artifact, Digest: rq.Digest, Measurements: rq.Measurements, Issued: now, NotAfter: rq.Until, Note: rq.Note}
	if rq.Binary != "" {
		d, _, err := FileDigest(rq.Binary)
		if err != nil {
			return nil, err
		}
		if rq.Digest != "" && rq.Digest != d {
			return nil, hint.WithCode(fmt.Errorf("--digest %s is not the SHA-256 of %s (%s)", rq.Digest, rq.Binary, d), hint.CodeUsage)
		}
		a.Digest = d
	}
	if rq.SBOM != "" {
		b, err := os.ReadFile(rq.SBOM)
		if err != nil {
			return nil, err
		}
		subj, err := supply.SBOMSubject(b)
		if err != nil {
			return nil, hint.WithCode(fmt.Errorf("%s: %w", rq.SBOM, err), hint.CodeUsage)
		}
		if a.Digest != "" && subj != a.Digest {
			return nil, hint.WithCode(hint.Wrap(fmt.Errorf("SBOM %s describes the build %s, not %s: it describes another build", rq.SBOM, subj, a.Digest),
				"write the SBOM of the approved binary with 'embassy sbom --binary PATH'"), hint.CodeUsage)
		}
		if a.Digest == "" {
			a.Digest = subj
		}
		a.SBOM = supply.SBOMDigest(b)
	}
	if !rq.Until.After(now) {
		return nil, hint.WithCode(fmt.Errorf("--until %s is not in the future", rq.Until.UTC().Format(time.RFC3339)), hint.CodeUsage)
	}
	root, err := v.Home.LoadRoot(a.Epoch)
	if err != nil {
		return nil, err
	}
	s, err := supply.Sign(a, root.Signer())
	if err != nil {
		return nil, hint.WithCode(err, hint.CodeUsage)
	}
	b, err := s.Marshal()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(UpdatesDir(v.Home), "approved")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if err := atomicfile.Write(filepath.Join(dir, s.ID+".json"), b, 0o644); err != nil {
		return nil, err
	}
	det := map[string]string{"artifact": s.Artifact, "until": s.NotAfter.Format(time.RFC3339), "epoch": fmt.Sprint(s.Epoch)}
	if s.Digest != "" {
		det["digest"] = s.Digest
	}
	if s.SBOM != "" {
		det["sbom"] = s.SBOM
	}
	if len(s.Measurements) > 0 {
		det["measurements"] = broker.MeasurementsDigest(s.Measurements) // as the broker logs measurements
	}
	if err := v.Recorder().Append(ctx, tlog.Entry{Kind: KindUpdateApprove, Object: s.ID, Details: det}); err != nil {
		return s, hint.WithCode(fmt.Errorf("approval %s stored but not logged: %w", s.ID, err), hint.CodeDamaged)
	}
	return s, nil
}

// Updates reads the home's approvals, verifying each, and revocations. A
// file that does not verify is an error naming it: nothing in the folder
// is trusted without the home's signature.
func (v *Vault) Updates() (*supply.Set, error) {
	keys, err := v.epochKeys()
	if err != nil {
		return nil, err
	}
	set := &supply.Set{Revoked: map[string]supply.Revocation{}}
	dir := filepath.Join(UpdatesDir(v.Home), "approved")
	ents, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	fp := v.Repo.Fingerprint()
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".json") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		p := filepath.Join(dir, e.Name())
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		s, err := verifiedApproval(b, fp, keys)
		if err != nil {
			return nil, hint.WithCode(hint.Wrap(fmt.Errorf("%s: %w", p, err), "remove the file, or approve the update again with 'embassy update approve'"), hint.CodeDamaged)
		}
		set.Approvals = append(set.Approvals, s)
	}
	slices.SortFunc(set.Approvals, func(a, b *supply.Signed) int { return a.Issued.Compare(b.Issued) })
	revs, err := v.revocations()
	if err != nil {
		return nil, err
	}
	for _, r := range revs {
		set.Revoked[r.ID] = r
	}
	return set, nil
}

// States of an update approval (UpdateStates).
const (
	UpdateInForce     = "in-force"
	UpdateRevoked     = "revoked"
	UpdateExpired     = "expired"
	UpdateNotYetValid = "not-yet-valid"
)

// UpdateState is an update approval with its state at the vault's clock.
type UpdateState struct {
	*supply.Signed
	State string `json:"state"` // UpdateInForce, UpdateRevoked, UpdateExpired or UpdateNotYetValid
}

// UpdateStates lists the home's verified approvals (Updates), oldest
// first, each with its state now: revoked, expired (from NotAfter on), not
// yet valid (before Issued) or in force.
func (v *Vault) UpdateStates() ([]UpdateState, error) {
	set, err := v.Updates()
	if err != nil {
		return nil, err
	}
	now := v.Now()
	out := []UpdateState{}
	for _, s := range set.Approvals {
		st := UpdateInForce
		switch _, rev := set.Revoked[s.ID]; {
		case rev:
			st = UpdateRevoked
		case !now.Before(s.NotAfter):
			st = UpdateExpired
		case now.Before(s.Issued):
			st = UpdateNotYetValid
		}
		out = append(out, UpdateState{s, st})
	}
	return out, nil
}

// verified remembers approvals already verified, by home fingerprint and
// SHA-256 of the file's exact bytes: the broker reads the folder on every
// release (so that a revocation or a new approval applies at once) without
// verifying unchanged files again. Any change to a file is a new key.
var verified sync.Map // string -> *supply.Signed

func verifiedApproval(b []byte, fp string, keys supply.EpochKey) (*supply.Signed, error) {
	sum := sha256.Sum256(b)
	k := fp + " " + hex.EncodeToString(sum[:])
	if s, ok := verified.Load(k); ok {
		return s.(*supply.Signed), nil
	}
	s, err := supply.ParseApproval(b, fp, keys)
	if err != nil {
		return nil, err
	}
	verified.Store(k, s)
	return s, nil
}

func (v *Vault) revocations() ([]supply.Revocation, error) {
	p := filepath.Join(UpdatesDir(v.Home), "revoked.json")
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var revs []supply.Revocation
	if err := json.Unmarshal(b, &revs); err != nil {
		return nil, hint.WithCode(fmt.Errorf("%s: %w", p, err), hint.CodeDamaged)
	}
	return revs, nil
}

// RevokeUpdate withdraws an approval at once and logs it.
func (v *Vault) RevokeUpdate(ctx context.Context, id, reason string) error {
	set, err := v.Updates()
	if err != nil {
		return err
	}
	var found *supply.Signed
	for _, s := range set.Approvals {
		if s.ID == id {
			found = s
		}
	}
	if found == nil {
		return hint.WithCode(fmt.Errorf("no update approval %s: see 'embassy update list'", id), hint.CodeUsage)
	}
	if _, ok := set.Revoked[id]; ok {
		return nil
	}
	if len(reason) > 256 || strings.ContainsAny(reason, "\r\n\x00") {
		return hint.WithCode(errors.New("--reason: at most 256 characters on one line"), hint.CodeUsage)
	}
	revs, err := v.revocations()
	if err != nil {
		return err
	}
	revs = append(revs, supply.Revocation{ID: id, Time: v.Now(), Reason: reason})
	b, err := json.MarshalIndent(revs, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(UpdatesDir(v.Home), 0o700); err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(UpdatesDir(v.Home), "revoked.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	det := map[string]string{"artifact": found.Artifact}
	if found.Digest != "" {
		det["digest"] = found.Digest
	}
	if reason != "" {
		det["reason"] = reason
	}
	return v.Recorder().Append(ctx, tlog.Entry{Kind: KindUpdateRevoke, Object: id, Details: det})
}

// UpdateControlRequired reports whether a dataset of class cls may be
// released only to workloads whose attested measurements an update
// approval covers: classes with the attested-release key policy (C3 by
// default) do. A class that cannot be read is taken as requiring it.
func (v *Vault) UpdateControlRequired(cls string) bool {
	lbl, err := class.Parse(cls)
	if err != nil {
		return true
	}
	g, err := v.Gate()
	if err != nil {
		return true
	}
	s := g.Engine.Settings()
	return s.For(lbl).KeyPolicy == KeyPolicyUpdateControl
}

// CheckReleaseMeasurements is the broker's update-control check: nil when
// the class does not require update control or an approval valid now
// covers the attested measurements, else the reason to refuse.
func (v *Vault) CheckReleaseMeasurements(cls string, m map[string]string) error {
	if !v.UpdateControlRequired(cls) {
		return nil
	}
	set, err := v.Updates()
	if err != nil {
		return fmt.Errorf("update approvals unreadable: %v", err)
	}
	if f := set.CheckMeasurements(m, v.Now()); !f.OK() {
		if cls == "" {
			cls = "(none: an unlabelled dataset, which also never leaves home)"
		}
		return fmt.Errorf("class %s requires update control: %s", cls, f.Detail)
	}
	return nil
}

// UpdateCheck is one daemon site's running build against the approvals.
type UpdateCheck struct {
	Site      string `json:"site"`
	Artifact  string `json:"artifact,omitempty"`
	Digest    string `json:"digest,omitempty"`
	Main      string `json:"main,omitempty"`
	GoVersion string `json:"go_version,omitempty"`
	Status    string `json:"status"` // approved, unapproved, revoked, expired, error
	Approval  string `json:"approval,omitempty"`
	Detail    string `json:"detail"`
	Alerted   bool   `json:"alerted,omitempty"` // a new alert was logged by this check
}

// UpdateCheckError is the status of a site whose build could not be read.
const UpdateCheckError = "error"

// Unapproved reports whether the site runs a build no approval in force
// covers (unapproved, revoked or expired): an alert.
func (c UpdateCheck) Unapproved() bool {
	return c.Status != supply.StatusApproved && c.Status != UpdateCheckError
}

// UpdateCheckErr is the failure of a check that found sites running a
// build no approval in force covers (hint.CodeDamaged, naming them and
// the way out), or nil.
func UpdateCheckErr(res []UpdateCheck) error {
	var bad []string
	for _, r := range res {
		if r.Unapproved() {
			bad = append(bad, r.Site)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	return hint.WithCode(hint.Wrap(fmt.Errorf("unapproved update at %s (alert logged)", strings.Join(bad, ", ")),
		"approve the build with 'embassy update approve --artifact embassyd --digest DIGEST --until DATE' if the sending state vetted it, or have the host restore the approved one"),
		hint.CodeDamaged)
}

// CheckUpdates asks each daemon site (the named ones, or all) which build
// it runs and compares its digest with the approved set. An unapproved,
// revoked or expired digest is an alert: logged (update.alert, naming the
// site and the digest) and appended to alerts.jsonl the first time it is
// seen at that site, and reported in every check.
func (v *Vault) CheckUpdates(ctx context.Context, names ...string) ([]UpdateCheck, error) {
	set, err := v.Updates()
	if err != nil {
		return nil, err
	}
	seen := v.seenDigests()
	var out []UpdateCheck
	var alerts []tlog.Entry
	for _, sc := range v.Home.Config.Sites {
		if len(names) > 0 && !slices.Contains(names, sc.Name) {
			continue
		}
		if !IsDaemonSite(sc) {
			if len(names) > 0 {
				return nil, hint.WithCode(fmt.Errorf("site %s is not an embassy daemon site: only daemons report their build", sc.Name), hint.CodeUsage)
			}
			continue
		}
		res := UpdateCheck{Site: sc.Name}
		dv, err := v.daemonVersion(ctx, sc)
		if err != nil {
			res.Status, res.Detail = UpdateCheckError, err.Error()
			v.Warnf("site %s: version: %v", sc.Name, err)
			out = append(out, res)
			continue
		}
		res.Artifact, res.Digest, res.Main, res.GoVersion = dv.Artifact, dv.Digest, dv.Main, dv.GoVersion
		f := set.CheckDigest(dv.Artifact, dv.Digest, v.Now())
		res.Status, res.Detail = f.Status, f.Detail
		if f.Approval != nil {
			res.Approval = f.Approval.ID
		}
		if !f.OK() && seen[sc.Name] != f.Status+" "+dv.Digest {
			res.Alerted = true
			seen[sc.Name] = f.Status + " " + dv.Digest
			alerts = append(alerts, tlog.Entry{Kind: KindUpdateAlert, Site: sc.Name, Object: dv.Digest, Reason: f.Status,
				Details: map[string]string{"artifact": dv.Artifact, "main": clip(dv.Main, 512), "go": clip(dv.GoVersion, 512), "detail": clip(f.Detail, 512)}})
			rec := struct {
				Kind   string    `json:"kind"`
				Time   time.Time `json:"time"`
				Site   string    `json:"site"`
				Digest string    `json:"digest"`
				Status string    `json:"status"`
				Why    string    `json:"why"`
			}{UpdateAlertKind, v.Now(), sc.Name, dv.Digest, f.Status, f.Detail}
			if err := evidence.AppendLine(filepath.Join(v.Home.Dir, SiteAlertsFile), rec); err != nil {
				v.log.ErrorContext(ctx, "record update alert", "err", err)
			}
		} else if f.OK() && seen[sc.Name] != "" {
			delete(seen, sc.Name)
			alerts = append(alerts, tlog.Entry{Kind: KindUpdateResolved, Site: sc.Name, Object: dv.Digest, Reason: f.Status,
				Details: map[string]string{"artifact": dv.Artifact, "approval": f.Approval.ID}})
		}
		out = append(out, res)
	}
	if len(alerts) > 0 {
		if err := v.Recorder().Append(ctx, alerts...); err != nil {
			return out, err
		}
	}
	v.saveSeen(ctx, seen)
	return out, nil
}

func (v *Vault) daemonVersion(ctx context.Context, sc home.SiteConfig) (*supply.DaemonVersion, error) {
	b, err := v.Backend(ctx, sc, false)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	rb := DaemonOf(b)
	if rb == nil {
		return nil, errors.New("not an embassy daemon site")
	}
	return rb.Version(ctx)
}

func (v *Vault) seenDigests() map[string]string {
	m := map[string]string{}
	if b, err := os.ReadFile(filepath.Join(UpdatesDir(v.Home), "seen.json")); err == nil {
		_ = json.Unmarshal(b, &m)
	}
	return m
}

func (v *Vault) saveSeen(ctx context.Context, m map[string]string) {
	b, err := json.MarshalIndent(m, "", "  ")
	if err == nil && os.MkdirAll(UpdatesDir(v.Home), 0o700) == nil {
		err = atomicfile.Write(filepath.Join(UpdatesDir(v.Home), "seen.json"), append(b, '\n'), 0o600)
	}
	if err != nil {
		v.log.ErrorContext(ctx, "save update check state", "err", err)
	}
}
