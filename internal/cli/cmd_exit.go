package cli

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/exit"
	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/tlog"
)

// exitReport is the outcome of 'embassy exit'.
type exitReport struct {
	Site        string        `json:"site"`
	Archive     string        `json:"archive"`
	Manifest    string        `json:"manifest_digest"`
	Objects     int           `json:"objects"`
	Bytes       int64         `json:"bytes"`
	Restore     *restoreProof `json:"restore_proof"`
	Shredded    []string      `json:"shredded,omitempty"`
	Deleted     int           `json:"deleted"`
	KeptData    bool          `json:"kept_data"`
	Certificate string        `json:"certificate,omitempty"` // file
	Signer      string        `json:"certificate_signer,omitempty"`
	Remaining   int64         `json:"remaining"`
}

func cmdExit(e *env) *cobra.Command {
	var archive string
	var shred []string
	var keepData bool
	c := &cobra.Command{
		Use:   "exit SITE [--archive FILE] [--shred DATASET...] [--keep-data]",
		Short: "Leave a host: export its copy, prove it restores, delete it, get a certificate",
		Long: `exit ends the relationship with a host site in four steps:

  1. export everything the site holds into an open archive (POSIX tar of
     <kind>/<name> objects plus MANIFEST.json: every object's size and
     BLAKE3-256, signed with the home's current key); see docs/formats/exit.md
  2. prove the archive restores: import it into a fresh temporary site and
     verify every snapshot, index and pack there alone, reading all data
  3. delete every object at the site (skipped with --keep-data)
  4. obtain a deletion certificate: from an embassy daemon, signed with the
     key of its site certificate (chained to the home CA); from a plain
     directory or S3 site, only the home's own signed attestation that the
     listing was empty after deletion, which is not the host's word

The certificate is written to ARCHIVE.certificate.json, the site is removed
from the registry, and the exit is recorded in the transparency log with the
manifest digest. For a hostile host that may keep copies, add --shred to
crypto-shred datasets first: every copy anywhere becomes unreadable (the
archive then holds them shredded too).`,
		Example: `  embassy exit lu-1 --archive lu-1-exit.tar
  embassy exit verify lu-1-exit.tar`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.exitSite(args[0], archive, shred, keepData)
		},
	}
	c.Flags().StringVar(&archive, "archive", "", "archive file to write (default embassy-exit-SITE-DATE.tar)")
	c.Flags().StringSliceVar(&shred, "shred", nil, "crypto-shred these datasets first (repeatable; cannot be undone)")
	c.Flags().BoolVar(&keepData, "keep-data", false, "do not delete the data at the site (no certificate)")
	c.AddCommand(cmdExitVerify(e))
	return c
}

func (e *env) exitSite(name, archive string, shred []string, keepData bool) error {
	h, err := e.openHome()
	if err != nil {
		return err
	}
	sc, _ := h.Site(name)
	if sc == nil {
		return hint.WithCode(hint.Wrap(fmt.Errorf("no site named %q", name), "see 'embassy site list'"), hint.CodeUsage)
	}
	if sc.Member || sc.IsGroup() {
		return hint.WithCode(hint.Wrap(fmt.Errorf("site %s is part of an erasure group: no member holds a restorable copy alone", name),
			"exit is for full-replica sites; rebuild the group without it instead"), hint.CodeUsage)
	}
	if archive == "" {
		archive = fmt.Sprintf("embassy-exit-%s-%s.tar", name, time.Now().UTC().Format("20060102"))
	}
	if _, err := os.Stat(archive); err == nil {
		return hint.WithCode(hint.Wrap(fmt.Errorf("%s exists", archive), "choose another --archive file"), hint.CodeUsage)
	}
	unlock, err := h.Lock("keys", true)
	if err != nil {
		return err
	}
	defer unlock()
	rep := &exitReport{Site: name, Archive: archive, KeptData: keepData}
	for _, ds := range shred {
		if err := e.shredForExit(h, ds); err != nil {
			return fmt.Errorf("shred %s: %w", ds, err)
		}
		rep.Shredded = append(rep.Shredded, ds)
	}
	r, err := e.openRepo(h, true)
	if err != nil {
		return err
	}
	defer e.closeRepo(r)
	s := e.openSite(*sc)
	if err := s.Err(); err != nil {
		return hint.Wrap(fmt.Errorf("site %s: %w", name, err), "exit needs the site reachable to export and delete its copy")
	}
	defer s.Backend.Close()
	if !keepData {
		if err := e.refuseSameStorage(h, r, name, s.Backend, "deleting its objects would delete that site's"); err != nil {
			return err
		}
	}

	// 1. Export.
	tmp := archive + ".partial"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	m := exit.Manifest{Home: h.Config.Home, Site: name, Jurisdiction: sc.Jurisdiction, Created: time.Now().UTC().Truncate(time.Second), Epoch: r.CurrentEpoch().Epoch}
	if rb := daemonOf(s.Backend); rb != nil && rb.PeerCertificate() != nil {
		m.SiteCert = exit.CertSHA256(rb.PeerCertificate().Raw) // only this daemon may sign the deletion
	}
	raw, err := exit.Write(e.ctx, s.Backend, f, m, r.Root().Signer())
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, archive)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("export %s: %w", name, err)
	}
	rep.Manifest = exit.Digest(raw)
	e.printf("exported %s to %s\n", name, archive)

	// 2. Prove it restores into a fresh site.
	c, proofRep, err := e.checkArchive(h, archive)
	if err != nil {
		return hint.WithCode(hint.Wrap(fmt.Errorf("the archive does not restore; nothing was deleted: %w", err),
			"the site keeps its data; run 'embassy verify --site "+name+" --read-data' and repair before leaving"), hint.CodeDamaged)
	}
	if c.Raw == nil || exit.Digest(c.Raw) != rep.Manifest {
		return errors.New("the archive read back holds another manifest; nothing was deleted")
	}
	rep.Objects, rep.Bytes, rep.Restore = len(c.Manifest.Objects), c.Manifest.Bytes, proofRep
	e.printf("archive restores: %d datasets, %d snapshots, %d packs verified with all data in a fresh site\n", proofRep.Datasets, proofRep.Snapshots, proofRep.Packs)

	// 3. Delete, 4. certificate.
	if !keepData {
		n, err := deleteAll(e.ctx, s.Backend, c.Manifest)
		rep.Deleted = n
		if err != nil {
			return hint.WithCode(hint.Wrap(fmt.Errorf("delete at %s: %w", name, err),
				"objects under retention (object lock) cannot be deleted before expiry; crypto-shred with 'embassy key shred' makes them unreadable"), hint.CodeDamaged)
		}
		cert, err := e.deletionCertificate(s.Backend, name, h.Config.Home, rep.Manifest, r.Root().Signer())
		if err != nil {
			return err
		}
		b, verr := verifyExitCertificate(homeCA(h), cert, &m, r.Root().SigningPublicKey(), rep.Manifest)
		rep.Certificate = archive + ".certificate.json"
		if err := writeJSONFile(rep.Certificate, cert); err != nil {
			return err
		}
		if b != nil {
			rep.Signer, rep.Remaining = b.Signer, b.Remaining
		}
		if verr != nil {
			return hint.WithCode(hint.Wrap(fmt.Errorf("deletion certificate: %w", verr),
				"the site is still in the registry; see "+rep.Certificate), hint.CodeDamaged)
		}
	}
	_, i := h.Site(name)
	h.Config.Sites = append(h.Config.Sites[:i], h.Config.Sites[i+1:]...)
	if err := h.Save(); err != nil {
		return err
	}
	e.audit(h, tlog.Entry{Kind: tlog.KindExit, Site: name, Object: rep.Manifest, Details: map[string]string{
		"objects": fmt.Sprint(rep.Objects), "bytes": fmt.Sprint(rep.Bytes), "deleted": fmt.Sprint(rep.Deleted),
		"kept_data": fmt.Sprint(keepData), "certificate_signer": rep.Signer, "shredded": strings.Join(rep.Shredded, ","),
	}})
	if e.json {
		return e.emitJSON(rep)
	}
	if keepData {
		e.printf("left site %s: its data was kept in place (--keep-data)\n", name)
		return nil
	}
	e.printf("deleted %d objects at %s; certificate %s\n", rep.Deleted, name, rep.Certificate)
	if rep.Signer == exit.SignerHome {
		e.printf("note: %s has no daemon, so the certificate is the home's own attestation that the listing was empty, not a host-signed certificate\n", name)
	}
	e.printf("site %s removed from the registry\n", name)
	return nil
}

// shredForExit crypto-shreds one dataset (as 'embassy key shred').
func (e *env) shredForExit(h *home.Home, name string) error {
	r, err := e.openRepo(h, true)
	if err != nil {
		return err
	}
	defer e.closeRepo(r)
	dk, err := r.Dataset(e.ctx, name)
	if err != nil {
		return err
	}
	unlock, err := h.Lock("dataset-"+dk.ID, true)
	if err != nil {
		return err
	}
	defer unlock()
	rep, err := r.Shred(e.ctx, name, persistRoot(h))
	if err != nil {
		return err
	}
	retireRoots(h, rep.NewEpoch)
	for _, w := range rep.Warnings {
		e.warnf("%s", w)
	}
	e.audit(h, tlog.Entry{Kind: tlog.KindKeyShred, Dataset: rep.DatasetID, Reason: "", Details: map[string]string{"wrapped_keys_deleted": fmt.Sprint(rep.KeysDeleted), "objects_deleted": fmt.Sprint(rep.Objects), "new_epoch": fmt.Sprint(rep.NewEpoch), "for": "exit"}})
	return nil
}
