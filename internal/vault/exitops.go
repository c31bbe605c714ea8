package vault

// The exit from a host as one service operation: begin (the agreement's
// exit.export-days start counting), optional crypto-shreds, export, the
// archive's restore proof, deletion, the deletion certificate, removal
// from the registry. An exit that fails part-way stays open, and an open
// exit past its deadline is overdue (ExitStatus, CheckExits).

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/digital-embassy/embassy/internal/agreement"
	"github.com/digital-embassy/embassy/internal/atomicfile"
	"github.com/digital-embassy/embassy/internal/evidence"
	"github.com/digital-embassy/embassy/internal/exit"
	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/pki"
	"github.com/digital-embassy/embassy/internal/repo"
	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/tlog"
)

// ExitDaysTerm is the agreement term that sets within how many days of
// its start an exit must be complete.
const ExitDaysTerm = "exit.export-days"

// ExitRequest asks to leave a host site.
type ExitRequest struct {
	Site     string
	Archive  string   // file to write; "" is embassy-exit-SITE-DATE.tar
	Shred    []string // datasets to crypto-shred first
	KeepData bool     // do not delete at the site (no certificate)
	// Notice only begins the exit (records its start and deadline) and
	// stops: the export may follow within the agreement's days.
	Notice bool
	// Progress receives one line per finished phase.
	Progress func(msg string)
}

// ExitReport is the outcome of an exit.
type ExitReport struct {
	Site        string        `json:"site"`
	Started     time.Time     `json:"started"`
	Deadline    time.Time     `json:"deadline"`
	Archive     string        `json:"archive,omitempty"`
	Manifest    string        `json:"manifest_digest,omitempty"`
	Objects     int           `json:"objects"`
	Bytes       int64         `json:"bytes"`
	Restore     *RestoreProof `json:"restore_proof,omitempty"`
	Shredded    []string      `json:"shredded,omitempty"`
	Deleted     int           `json:"deleted"`
	KeptData    bool          `json:"kept_data"`
	Certificate string        `json:"certificate,omitempty"` // file
	Signer      string        `json:"certificate_signer,omitempty"`
	Remaining   int64         `json:"remaining"`
	Done        bool          `json:"done"`
}

// OpenExit is an exit that began and is not complete.
type OpenExit struct {
	Site      string    `json:"site"`
	Agreement string    `json:"agreement,omitempty"`
	Started   time.Time `json:"started"`
	Days      int       `json:"days"` // the agreement's exit.export-days at the start
	Deadline  time.Time `json:"deadline"`
	Alerted   bool      `json:"alerted,omitempty"` // the overdue alert was raised
	Overdue   bool      `json:"overdue"`           // computed at the vault's clock, not stored
}

// ExitsDir holds one JSON file per open exit.
func ExitsDir(h *home.Home) string { return filepath.Join(h.Dir, "exits") }

func exitFile(h *home.Home, name string) string { return filepath.Join(ExitsDir(h), name+".json") }

// ExitDays is the number of days the agreement of sc allows for an exit:
// its exit.export-days, or the baseline's when the site has no installed
// agreement or it leaves the term out.
func ExitDays(h *home.Home, sc home.SiteConfig) (int, error) {
	base := agreement.DefaultBaseline()
	days := base.Values[ExitDaysTerm].Int()
	if sc.Agreement == "" {
		return days, nil
	}
	ias, err := LoadAgreements(h, base)
	if err != nil {
		return 0, err
	}
	for _, ia := range ias {
		if ia.ID == sc.Agreement {
			if d := agreement.Resolve(ia.Agreement, base)[ExitDaysTerm].Value.Int(); d > 0 {
				days = d
			}
		}
	}
	return days, nil
}

// exitSite finds the site to leave, refusing what exit cannot leave.
func (v *Vault) exitSite(name string) (home.SiteConfig, error) {
	sc, _ := v.Home.Site(name)
	if sc == nil {
		return home.SiteConfig{}, hint.WithCode(hint.Wrap(fmt.Errorf("no site named %q", name), "see 'embassy site list'"), hint.CodeUsage)
	}
	if sc.Member || sc.IsGroup() {
		return home.SiteConfig{}, hint.WithCode(hint.Wrap(fmt.Errorf("site %s is part of an erasure group: no member holds a restorable copy alone", name),
			"exit is for full-replica sites; rebuild the group without it instead"), hint.CodeUsage)
	}
	return *sc, nil
}

// BeginExit records that the exit from a site began, once: the start, the
// agreement's days and the deadline are kept in the home and logged. A
// second call returns the exit already open.
func (v *Vault) BeginExit(ctx context.Context, name string) (*OpenExit, error) {
	sc, err := v.exitSite(name)
	if err != nil {
		return nil, err
	}
	if oe, err := readOpenExit(exitFile(v.Home, name)); err == nil {
		return oe, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	days, err := ExitDays(v.Home, sc)
	if err != nil {
		return nil, err
	}
	now := v.Now()
	oe := &OpenExit{Site: name, Agreement: sc.Agreement, Started: now, Days: days, Deadline: now.Add(time.Duration(days) * 24 * time.Hour)}
	if err := os.MkdirAll(ExitsDir(v.Home), 0o700); err != nil {
		return nil, err
	}
	if err := writeOpenExit(v.Home, oe); err != nil {
		return nil, err
	}
	v.Recorder().Audit(ctx, tlog.Exit(tlog.ExitFacts{Site: name, Phase: tlog.ExitPhaseStart, Deadline: oe.Deadline}))
	return oe, nil
}

func readOpenExit(path string) (*OpenExit, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var oe OpenExit
	if err := json.Unmarshal(b, &oe); err != nil || oe.Site == "" || oe.Started.IsZero() {
		return nil, hint.Wrap(fmt.Errorf("%s: not an open-exit record: %v", path, err), "restore it from a backup of the home, or delete it and run 'embassy exit SITE --notice' again")
	}
	return &oe, nil
}

func writeOpenExit(h *home.Home, oe *OpenExit) error {
	c := *oe
	c.Overdue = false
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(exitFile(h, oe.Site), append(b, '\n'), 0o600)
}

// ExitStatus lists the open exits, each marked overdue when the vault's
// clock is past its deadline.
func (v *Vault) ExitStatus() ([]OpenExit, error) {
	ents, err := os.ReadDir(ExitsDir(v.Home))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	now := v.Now()
	var out []OpenExit
	for _, de := range ents {
		if de.IsDir() || !strings.HasSuffix(de.Name(), ".json") {
			continue
		}
		oe, err := readOpenExit(filepath.Join(ExitsDir(v.Home), de.Name()))
		if err != nil {
			return nil, err
		}
		oe.Overdue = now.After(oe.Deadline)
		out = append(out, *oe)
	}
	slices.SortFunc(out, func(a, b OpenExit) int { return a.Deadline.Compare(b.Deadline) })
	return out, nil
}

// CancelExit withdraws an open exit (begun by mistake, or the host
// relationship continues): the record is removed and the withdrawal
// logged with the deadline it had, so the log shows that an exit was open
// and who closed it without completing it.
func (v *Vault) CancelExit(ctx context.Context, name string) (*OpenExit, error) {
	unlock, err := v.Home.Lock(KeysLockName, true)
	if err != nil {
		return nil, err
	}
	defer unlock()
	oe, err := readOpenExit(exitFile(v.Home, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, hint.WithCode(hint.Wrap(fmt.Errorf("no exit from site %q is open", name), "see 'embassy exit status'"), hint.CodeUsage)
	}
	if err != nil {
		return nil, err
	}
	if err := os.Remove(exitFile(v.Home, name)); err != nil {
		return nil, err
	}
	v.Recorder().Audit(ctx, tlog.Exit(tlog.ExitFacts{Site: name, Phase: tlog.ExitPhaseCancel, Deadline: oe.Deadline}))
	return oe, nil
}

// ExitOverdueKind is the kind of the alert an overdue exit raises in
// <home>/alerts.jsonl.
const ExitOverdueKind = "exit-overdue"

// CheckExits returns the overdue exits and raises an alert for each the
// first time it is found overdue: a warning and a line in
// <home>/alerts.jsonl. Watch loops call it on their schedule.
func (v *Vault) CheckExits() ([]OpenExit, error) {
	all, err := v.ExitStatus()
	if err != nil {
		return nil, err
	}
	var overdue []OpenExit
	for _, oe := range all {
		if !oe.Overdue {
			continue
		}
		overdue = append(overdue, oe)
		if oe.Alerted {
			continue
		}
		msg := fmt.Sprintf("the exit from site %s began %s and is not complete: the agreement allowed %s (deadline %s)",
			oe.Site, oe.Started.Format(time.DateOnly), nouns(oe.Days, "day"), oe.Deadline.Format(time.RFC3339))
		v.Warnf("%s", msg)
		rec := struct {
			Kind     string    `json:"kind"`
			Site     string    `json:"site"`
			Time     time.Time `json:"time"`
			Deadline time.Time `json:"deadline"`
			Message  string    `json:"message"`
		}{ExitOverdueKind, oe.Site, v.Now(), oe.Deadline, msg}
		if err := evidence.AppendLine(filepath.Join(v.Home.Dir, SiteAlertsFile), rec); err != nil {
			return overdue, err
		}
		oe.Alerted = true
		if err := writeOpenExit(v.Home, &oe); err != nil {
			return overdue, err
		}
	}
	return overdue, nil
}

// Exit leaves a host site: it begins the exit (BeginExit), crypto-shreds
// the datasets asked for, exports everything the site holds into a signed
// archive, proves the archive restores in a fresh site, deletes the
// site's objects and obtains the deletion certificate, then removes the
// site from the registry and records the exit. Nothing is deleted unless
// the archive restores. The keys lock is held throughout.
func (v *Vault) Exit(ctx context.Context, req ExitRequest) (*ExitReport, error) {
	progress := req.Progress
	if progress == nil {
		progress = func(string) {}
	}
	sc, err := v.exitSite(req.Site)
	if err != nil {
		return nil, err
	}
	name := sc.Name
	if req.Archive == "" {
		req.Archive = fmt.Sprintf("embassy-exit-%s-%s.tar", name, v.Now().Format("20060102"))
	}
	if !req.Notice {
		if _, err := os.Stat(req.Archive); err == nil {
			return nil, hint.WithCode(hint.Wrap(fmt.Errorf("%s exists", req.Archive), "choose another --archive file"), hint.CodeUsage)
		}
	}
	unlock, err := v.Home.Lock(KeysLockName, true)
	if err != nil {
		return nil, err
	}
	defer unlock()
	oe, err := v.BeginExit(ctx, name)
	if err != nil {
		return nil, err
	}
	rep := &ExitReport{Site: name, Started: oe.Started, Deadline: oe.Deadline, KeptData: req.KeepData}
	if req.Notice {
		return rep, nil
	}
	rep.Archive = req.Archive
	var shredIDs []string // the log carries dataset ids, never names
	for _, ds := range req.Shred {
		err := v.withFreshRepo(ctx, func(r *repo.Repo) error {
			sr, err := v.shred(ctx, r, ds, "exit")
			if err == nil {
				shredIDs = append(shredIDs, sr.DatasetID)
			}
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("shred %s: %w", ds, err)
		}
		rep.Shredded = append(rep.Shredded, ds)
	}
	err = v.withFreshRepo(ctx, func(r *repo.Repo) error { return v.exitPhases(ctx, r, sc, req, rep, progress) })
	if err != nil {
		return rep, err
	}
	_, i := v.Home.Site(name)
	v.Home.Config.Sites = slices.Delete(v.Home.Config.Sites, i, i+1)
	if err := v.Home.Save(); err != nil {
		return rep, err
	}
	if err := os.Remove(exitFile(v.Home, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		v.Warnf("exit from %s is complete but its open-exit record remains: %v", name, err)
	}
	rep.Done = true
	v.Recorder().Audit(ctx, tlog.Exit(tlog.ExitFacts{Site: name, Phase: tlog.ExitPhaseDone, Manifest: rep.Manifest, Objects: rep.Objects,
		Bytes: rep.Bytes, Deleted: rep.Deleted, KeptData: req.KeepData, Signer: rep.Signer, Shredded: shredIDs, Deadline: oe.Deadline}))
	return rep, nil
}

// withFreshRepo opens the vault over the sites as they are now (after a
// shred moved the epoch) and closes it after fn.
func (v *Vault) withFreshRepo(ctx context.Context, fn func(*repo.Repo) error) error {
	r, err := v.OpenRepo(ctx, true)
	if err != nil {
		return err
	}
	if r != v.Repo {
		defer closeSites(r)
	}
	return fn(r)
}

// exitPhases are the four phases of an exit over r: export, restore
// proof, deletion and certificate.
func (v *Vault) exitPhases(ctx context.Context, r *repo.Repo, sc home.SiteConfig, req ExitRequest, rep *ExitReport, progress func(string)) error {
	name := sc.Name
	s := v.OpenSite(ctx, sc)
	if err := s.Err(); err != nil {
		return hint.Wrap(fmt.Errorf("site %s: %w", name, err), "exit needs the site reachable to export and delete its copy")
	}
	defer s.Backend.Close()
	if !req.KeepData {
		if err := RefuseSameStorage(ctx, v.Home, r, name, s.Backend, "deleting its objects would delete that site's"); err != nil {
			return err
		}
	}
	// 1. Export.
	m := exit.Manifest{Home: v.Home.Config.Home, Site: name, Jurisdiction: sc.Jurisdiction, Created: v.Now().Truncate(time.Second), Epoch: r.CurrentEpoch().Epoch}
	if rb := DaemonOf(s.Backend); rb != nil && rb.PeerCertificate() != nil {
		m.SiteCert = exit.CertSHA256(rb.PeerCertificate().Raw) // only this daemon may sign the deletion
	}
	raw, err := exportArchive(ctx, s.Backend, req.Archive, m, r)
	if err != nil {
		return fmt.Errorf("export %s: %w", name, err)
	}
	rep.Manifest = exit.Digest(raw)
	progress(fmt.Sprintf("exported %s to %s", name, req.Archive))

	// 2. Prove it restores into a fresh site.
	c, proof, err := CheckArchive(ctx, v.Home, req.Archive, v.log)
	if err != nil {
		return hint.WithCode(hint.Wrap(fmt.Errorf("the archive does not restore; nothing was deleted: %w", err),
			"the site keeps its data; run 'embassy verify --site "+name+" --read-data' and repair before leaving"), hint.CodeDamaged)
	}
	if c.Raw == nil || exit.Digest(c.Raw) != rep.Manifest {
		return errors.New("the archive read back holds another manifest; nothing was deleted")
	}
	rep.Objects, rep.Bytes, rep.Restore = len(c.Manifest.Objects), c.Manifest.Bytes, proof
	progress(fmt.Sprintf("archive restores: %s, %s, %s verified with all data in a fresh site", nouns(proof.Datasets, "dataset"), nouns(proof.Snapshots, "snapshot"), nouns(int(proof.Packs), "pack")))
	if req.KeepData {
		return nil
	}

	// 3. Delete, 4. certificate.
	n, err := exit.DeleteObjects(ctx, s.Backend, c.Manifest)
	rep.Deleted = n
	if err != nil {
		return hint.WithCode(hint.Wrap(fmt.Errorf("delete at %s: %w", name, err),
			"objects under retention (object lock) cannot be deleted before expiry; crypto-shred with 'embassy key shred' makes them unreadable"), hint.CodeDamaged)
	}
	cert, err := DeletionCertificate(ctx, s.Backend, name, v.Home.Config.Home, rep.Manifest, r.Root().Signer(), v.Now())
	if err != nil {
		return err
	}
	b, verr := exit.VerifyCertificate(cert, m.Trust(HomeCA(v.Home), r.Root().SigningPublicKey(), rep.Manifest))
	rep.Certificate = req.Archive + ".certificate.json"
	if err := WriteJSONFile(rep.Certificate, cert); err != nil {
		return err
	}
	if b != nil {
		rep.Signer, rep.Remaining = b.Signer, b.Remaining
	}
	if verr != nil {
		return hint.WithCode(hint.Wrap(fmt.Errorf("deletion certificate: %w", verr),
			"the site is still in the registry; see "+rep.Certificate), hint.CodeDamaged)
	}
	return nil
}

// exportArchive writes the archive of b to path (through path.partial,
// renamed once synced) and returns the signed manifest's bytes.
func exportArchive(ctx context.Context, b site.Backend, path string, m exit.Manifest, r *repo.Repo) ([]byte, error) {
	tmp := path + ".partial"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	raw, err := exit.Write(ctx, b, f, m, r.Root().Signer())
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return nil, err
	}
	return raw, nil
}

// HomeCA is the home's CA certificate, or nil (no home, no PKI).
func HomeCA(h *home.Home) *x509.Certificate {
	if h == nil {
		return nil
	}
	ca, err := pki.LoadCert(filepath.Join(h.Dir, "pki", pki.CACertFile))
	if err != nil {
		return nil
	}
	return ca
}

// ExitCheck is what VerifyExit found.
type ExitCheck struct {
	Archive     string         `json:"archive"`
	Contents    *exit.Contents `json:"-"`
	Proof       *RestoreProof  `json:"restore_proof"`
	CertFile    string         `json:"-"`
	Certificate *exit.CertBody `json:"-"`
}

// VerifyExit checks an exit archive offline (CheckArchive; h may be nil)
// and, if certFile is given, its deletion certificate against ca (nil:
// the home's CA) or, for a home attestation, the manifest's key.
func VerifyExit(ctx context.Context, h *home.Home, archive, certFile string, ca *x509.Certificate, log *slog.Logger) (*ExitCheck, error) {
	c, p, err := CheckArchive(ctx, h, archive, log)
	if err != nil {
		return nil, hint.WithCode(hint.Wrap(fmt.Errorf("%s: %w", archive, err), "the archive is damaged or was altered; do not rely on it"), hint.CodeDamaged)
	}
	out := &ExitCheck{Archive: archive, Contents: c, Proof: p, CertFile: certFile}
	if certFile == "" {
		return out, nil
	}
	if ca == nil {
		ca = HomeCA(h)
	}
	raw, err := os.ReadFile(certFile)
	if err != nil {
		return nil, err
	}
	var cert exit.Certificate
	if err := json.Unmarshal(raw, &cert); err != nil {
		return nil, hint.WithCode(fmt.Errorf("%s: %w", certFile, err), hint.CodeDamaged)
	}
	cb, err := exit.VerifyCertificate(&cert, c.Manifest.Trust(ca, c.Manifest.SignKey, exit.Digest(c.Raw)))
	if err != nil {
		return nil, hint.WithCode(hint.Wrap(fmt.Errorf("%s: %w", certFile, err), "the deletion certificate does not prove the deletion of this archive's site"), hint.CodeDamaged)
	}
	out.Certificate = cb
	return out, nil
}
