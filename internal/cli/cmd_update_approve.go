package cli

import (
	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/vault"
)

func cmdUpdateApprove(e *env) *cobra.Command {
	var rq vault.UpdateApproval
	var until string
	var ms []string
	c := &cobra.Command{
		Use:   "approve --artifact NAME (--binary PATH | --digest SHA256 | --measurement NAME:HEX...) [--sbom FILE] --until WHEN",
		Short: "Sign and log the approval of an update (a daemon build, a firmware or image)",
		Example: `  embassy sbom --binary /usr/local/bin/embassyd -o embassyd.cdx.json
  embassy update approve --artifact embassyd --binary /usr/local/bin/embassyd --sbom embassyd.cdx.json --until 90d
  embassy update approve --artifact lu-gpu-firmware --measurement pcr.sha256.0:3d45... --until 2027-06-30`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			req, err := e.updateApproval(rq, until, ms)
			if err != nil {
				return err
			}
			v, err := e.openKeyed()
			if err != nil {
				return err
			}
			s, err := v.ApproveUpdate(e.ctx, req)
			if err != nil {
				return err
			}
			return e.printApproval(s)
		},
	}
	c.Flags().StringVar(&rq.Artifact, "artifact", "", "what is updated: embassyd, or a firmware or image name")
	c.Flags().StringVar(&rq.Binary, "binary", "", "the artifact's file: its SHA-256 is approved")
	c.Flags().StringVar(&rq.Digest, "digest", "", "the SHA-256 (hex) of the artifact's file, instead of --binary")
	c.Flags().StringVar(&rq.SBOM, "sbom", "", "the artifact's SBOM ('embassy sbom'): its digest is recorded")
	c.Flags().StringArrayVar(&ms, "measurement", nil, "NAME:HEX: an attested measurement the update produces (pcr.sha256.N, snp.measurement, tdx.mrtd...; repeatable)")
	c.Flags().StringVar(&until, "until", "", "end of the approval: RFC 3339, a date, or a duration from now (90d)")
	c.Flags().StringVar(&rq.Note, "note", "", "why, or which release (kept in the signed approval)")
	return c
}
