package cli

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/exit"
	"github.com/digital-embassy/embassy/internal/vault"
)

func cmdExitVerify(e *env) *cobra.Command {
	var req vault.ExitVerifyRequest
	c := &cobra.Command{
		Use:   "verify ARCHIVE [--certificate FILE] [--ca ca.crt]",
		Short: "Check an exit archive and its deletion certificate offline",
		Long:  helpText("exit_verify"),
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req.Archive, req.Logger = args[0], e.log
			req.HomeDir, _ = e.homePath()
			ck, err := vault.VerifyExitFiles(e.ctx, req)
			if err != nil {
				return err
			}
			m, p, cb := ck.Contents.Manifest, ck.Proof, ck.Certificate
			if e.json {
				out := map[string]any{"archive": ck.Archive, "manifest_digest": ck.Digest, "home": m.Home, "site": m.Site,
					"created": m.Created, "objects": len(m.Objects), "bytes": m.Bytes, "restore_proof": p}
				if cb != nil {
					out["certificate"] = map[string]any{"file": ck.CertFile, "signer": cb.Signer, "site": cb.Site, "time": cb.Time, "remaining": cb.Remaining}
				}
				return e.emitJSON(out)
			}
			e.printf("archive %s: %d objects, %s, of site %s (home %s), manifest signed by the home\n", ck.Archive, len(m.Objects), humanBytes(m.Bytes), m.Site, m.Home)
			if p.ReadData {
				e.printf("restores: %s, %s, %s verified with all data in a fresh site\n", plural(p.Datasets, "dataset"), plural(p.Snapshots, "snapshot"), plural(int(p.Packs), "pack"))
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
	c.Flags().StringVar(&req.CertFile, "certificate", "", "deletion certificate (default ARCHIVE.certificate.json if present)")
	c.Flags().StringVar(&req.CAFile, "ca", "", "home CA certificate for site-signed certificates (default this home's)")
	return c
}
