package cli

import (
	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/vault"
)

func cmdOperateSign(e *env) *cobra.Command {
	var siteURL, expectHome, session, out, passFile string
	var identities []string
	c := &cobra.Command{
		Use:   "sign --site URL --expect-home FP --session ID --identity FILE -o quorum.json",
		Short: "Sign, as a custodian, the end of a crisis session (k signatures deactivate it)",
		Long: `Sign the statement {home fingerprint, session id, now} with your root share,
opened from a site of the home with your identity. Signatures are added to
the quorum file -o (created if missing), so k custodians can sign it in turn;
POST it to the crisis service's /deactivate with no Authorization header:

  curl --data-binary @quorum.json https://host:8443/deactivate

The server checks each signature against the Feldman commitments in the
vault's signed key-epoch record; statements older than 15 minutes are refused.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if siteURL == "" || session == "" || out == "" || len(identities) == 0 {
				return usagef("give --site URL, --session ID (activation.json), --identity FILE and -o FILE")
			}
			ids, err := vault.LoadIdentities(identities, e.passphrase(passFile))
			if err != nil {
				return err
			}
			sigs, err := vault.SignDeactivation(e.ctx, siteURL, expectHome, session, ids, e.now())
			if err != nil {
				return err
			}
			n, err := vault.AddQuorumSignatures(out, sigs)
			if err != nil {
				return err
			}
			e.printf("%s for session %s in %s\n", plural(n, "signature"), session, out)
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&siteURL, "site", "", "a site of the home, to open your share from")
	f.StringVar(&session, "session", "", "the crisis session id (in activation.json)")
	f.StringArrayVar(&identities, "identity", nil, "your custodian identity file")
	f.StringVarP(&out, "output", "o", "", "the quorum file to add the signature to")
	expectHomeFlag(c, &expectHome)
	passFlag(c, &passFile)
	return c
}
