package cli

import (
	"crypto/x509"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/exit"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/pki"
	"github.com/digital-embassy/embassy/internal/vault"
)

func cmdExit(e *env) *cobra.Command {
	var req vault.ExitRequest
	var cancel bool
	c := &cobra.Command{
		Use:   "exit SITE [--archive FILE] [--shred DATASET...] [--keep-data] [--notice]",
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
archive then holds them shredded too).

The exit begins the first time it is run (or with --notice, which only
records the start): the site's agreement (exit.export-days) allows that many
days to complete it. An exit that failed part-way stays open; 'embassy exit
status' lists open exits and reports those past their deadline (exit code 3);
--cancel withdraws an open exit, which the log records.`,
		Example: `  embassy exit lu-1 --notice
  embassy exit lu-1 --archive lu-1-exit.tar
  embassy exit status
  embassy exit verify lu-1-exit.tar`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := e.openVaultOnly()
			if err != nil {
				return err
			}
			req.Site, req.Progress = args[0], func(msg string) { e.printf("%s\n", msg) }
			if cancel {
				oe, err := v.CancelExit(e.ctx, args[0])
				if err != nil {
					return err
				}
				e.printf("exit from %s withdrawn (it began %s); the site stays in the registry\n", oe.Site, oe.Started.Format(time.RFC3339))
				return nil
			}
			rep, err := v.Exit(e.ctx, req)
			if err != nil {
				return err
			}
			if e.json {
				return e.emitJSON(rep)
			}
			switch {
			case req.Notice:
				e.printf("exit from %s began %s; the agreement allows until %s\n", rep.Site, rep.Started.Format(time.RFC3339), rep.Deadline.Format(time.RFC3339))
				return nil
			case req.KeepData:
				e.printf("left site %s: its data was kept in place (--keep-data)\n", rep.Site)
				return nil
			}
			e.printf("deleted %d objects at %s; certificate %s\n", rep.Deleted, rep.Site, rep.Certificate)
			if rep.Signer == exit.SignerHome {
				e.printf("note: %s has no daemon, so the certificate is the home's own attestation that the listing was empty, not a host-signed certificate\n", rep.Site)
			}
			e.printf("site %s removed from the registry\n", rep.Site)
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&req.Archive, "archive", "", "archive file to write (default embassy-exit-SITE-DATE.tar)")
	f.StringSliceVar(&req.Shred, "shred", nil, "crypto-shred these datasets first (repeatable; cannot be undone)")
	f.BoolVar(&req.KeepData, "keep-data", false, "do not delete the data at the site (no certificate)")
	f.BoolVar(&req.Notice, "notice", false, "only begin the exit: record its start and the agreement's deadline")
	f.BoolVar(&cancel, "cancel", false, "withdraw an open exit (logged); the site stays")
	c.AddCommand(cmdExitVerify(e), cmdExitStatus(e))
	return c
}

// openVaultOnly opens the home's vault without opening its sites (the
// operation opens what it needs, under its locks).
func (e *env) openVaultOnly() (*vault.Vault, error) {
	h, err := e.openHome()
	if err != nil {
		return nil, err
	}
	return e.vaultOf(h), nil
}

func cmdExitStatus(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "List open exits and those past the agreement's deadline (exit code 3)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := e.openVaultOnly()
			if err != nil {
				return err
			}
			if _, err := v.CheckExits(); err != nil {
				return err
			}
			open, err := v.ExitStatus()
			if err != nil {
				return err
			}
			for _, oe := range open {
				if oe.Overdue {
					e.warned = true
				}
			}
			if e.json {
				if open == nil {
					open = []vault.OpenExit{}
				}
				return e.emitJSON(open)
			}
			if len(open) == 0 {
				e.printf("no exit is open\n")
			}
			for _, oe := range open {
				st := "open"
				if oe.Overdue {
					st = "OVERDUE"
				}
				e.printf("%s: %s, began %s, deadline %s (%d days)\n", oe.Site, st, oe.Started.Format(time.DateOnly), oe.Deadline.Format(time.RFC3339), oe.Days)
			}
			return nil
		},
	}
}

func cmdExitVerify(e *env) *cobra.Command {
	var certFile, caFile string
	c := &cobra.Command{
		Use:   "verify ARCHIVE [--certificate FILE] [--ca ca.crt]",
		Short: "Check an exit archive and its deletion certificate offline",
		Long: `verify checks an exit archive without any site: every object against the
signed manifest, the manifest's signature against the home's key chain held
in the archive itself, and, when this home holds the root key, that the
archive restores: it is imported into a fresh temporary site and every
snapshot, index and pack is verified reading all data. The deletion
certificate (default ARCHIVE.certificate.json, if present) is checked too:
a site-signed one against the home CA (this home's, or --ca).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := args[0]
			var h *home.Home
			if dir, err := e.homePath(); err == nil && home.Exists(dir) {
				if h, err = home.Open(dir); err != nil {
					return err
				}
			}
			var ca *x509.Certificate
			if caFile != "" {
				var err error
				if ca, err = pki.LoadCert(caFile); err != nil {
					return err
				}
			}
			if _, err := os.Stat(path + ".certificate.json"); certFile == "" && err == nil {
				certFile = path + ".certificate.json"
			}
			ck, err := vault.VerifyExit(e.ctx, h, path, certFile, ca, e.log)
			if err != nil {
				return err
			}
			m, p, cb := ck.Contents.Manifest, ck.Proof, ck.Certificate
			if e.json {
				out := map[string]any{"archive": path, "manifest_digest": exit.Digest(ck.Contents.Raw), "home": m.Home, "site": m.Site,
					"created": m.Created, "objects": len(m.Objects), "bytes": m.Bytes, "restore_proof": p}
				if cb != nil {
					out["certificate"] = map[string]any{"file": certFile, "signer": cb.Signer, "site": cb.Site, "time": cb.Time, "remaining": cb.Remaining}
				}
				return e.emitJSON(out)
			}
			e.printf("archive %s: %d objects, %s, of site %s (home %s), manifest signed by the home\n", path, len(m.Objects), humanBytes(m.Bytes), m.Site, m.Home)
			if p.ReadData {
				e.printf("restores: %d datasets, %d snapshots, %d packs verified with all data in a fresh site\n", p.Datasets, p.Snapshots, p.Packs)
			} else {
				e.printf("%s\n", p.Note)
			}
			if cb != nil {
				who := "signed by the site's daemon (certificate chained to the home CA)"
				if cb.Signer == exit.SignerHome {
					who = "the home's own attestation, not a host-signed certificate"
				}
				e.printf("deletion certificate: %s at %s: nothing remained; %s\n", cb.Site, cb.Time.Format(time.RFC3339), who)
			}
			return nil
		},
	}
	c.Flags().StringVar(&certFile, "certificate", "", "deletion certificate (default ARCHIVE.certificate.json if present)")
	c.Flags().StringVar(&caFile, "ca", "", "home CA certificate for site-signed certificates (default this home's)")
	return c
}
