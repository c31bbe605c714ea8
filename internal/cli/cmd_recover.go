package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/vault"
)

func cmdRecover(e *env) *cobra.Command {
	var req vault.RecoverRequest
	var identities []string
	var passFile string
	c := &cobra.Command{
		Use:   "recover --site URL --expect-home FP --identity FILE --identity FILE ...",
		Short: "Rebuild a home on a new machine from one site and k custodians",
		Long: `Rebuild the home's root key from one site's copy of the vault and the
identities of at least k custodians, then create a home (in --home) that uses
that site. The site holds the signed key-epoch records and every custodian's
encrypted share. Identity files encrypted with a passphrase ('age -p') are
decrypted first: the passphrase is asked on the terminal, or read from
--passphrase-file / EMBASSY_PASSPHRASE_FILE.

recover refuses fewer than k custodians, the same custodian twice, and
identities that are not custodians of the site's home. A hostile site can
present a vault it forged with the custodians' public recipients, so recover
needs --expect-home with the home fingerprint the custodians were given at
init: without it, recover prints the fingerprint the site presents and
refuses (exit 4); with a different one it refuses the site (exit 3). With
--log (a copy of the home's log folder) and --log-policy, a site showing
less than the log's witnesses cosigned is refused as stale (exit 3); every
witness the policy names outside the home is asked for the newest
checkpoint it cosigned (GET /latest), and a log copy older than that is
refused (exit 3, naming the witness); a witness that cannot be asked is a
warning (exit 3 after the home is rebuilt). With --compare URL a site
showing an older signed state than another is refused too.`,
		Example: `  embassy --home /srv/embassy recover --site /mnt/embassy-lu --expect-home fp1-... --identity alice.key --identity bob.key
  embassy recover --site s3://10.0.0.5:9000/embassy --name ch-1 --jurisdiction CH --identity a.key.age --identity b.key`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if req.SiteURL == "" || len(identities) == 0 {
				return usagef("give --site URL (a site holding the vault) and --identity FILE for at least k custodians")
			}
			if (req.LogDir == "") != (req.LogPolicy == "") {
				return usagef("--log and --log-policy go together")
			}
			var err error
			if req.Dir, err = e.homePath(); err != nil {
				return err
			}
			if home.Exists(req.Dir) { // before any passphrase is asked for
				return hint.Wrap(fmt.Errorf("a home already exists at %s", req.Dir), "recover into an empty folder: 'embassy --home NEW-DIR recover ...'")
			}
			if req.Identities, err = vault.LoadIdentityList(identities, e.passphrase(passFile)); err != nil {
				return err
			}
			if req.Jurisdiction = strings.ToUpper(req.Jurisdiction); req.Jurisdiction == "" {
				req.Jurisdiction = "ZZ"
			}
			if err := home.ValidJurisdiction(req.Jurisdiction); err != nil {
				return usageError{err}
			}
			res, err := vault.Recover(e.ctx, req, e.vaultOptions())
			if err != nil {
				return err
			}
			defer res.Vault.Close()
			return e.printRecover(res, req)
		},
	}
	f := c.Flags()
	f.StringVar(&req.SiteURL, "site", "", "URL of a site holding the vault (folder, file:// or s3://)")
	f.StringArrayVar(&identities, "identity", nil, "a custodian's identity file, plain or passphrase-encrypted (repeat for k custodians)")
	f.StringVar(&req.SiteName, "name", "recovered", "name to give the site in the new home")
	expectHomeFlag(c, &req.ExpectHome)
	f.StringVar(&req.Jurisdiction, "jurisdiction", "", "ISO 3166 code of the site (ZZ if unknown)")
	f.StringVar(&req.LogDir, "log", "", "a copy of the home's log folder (<home>/log): refuse a site showing less than its witnesses cosigned")
	f.StringVar(&req.LogPolicy, "log-policy", "", "the log policy (log key, witnesses, quorum) to check --log against")
	f.StringArrayVar(&req.Compare, "compare", nil, "another site of the home (URL, repeatable): refuse --site if it shows an older signed state")
	passFlag(c, &passFile)
	return c
}
