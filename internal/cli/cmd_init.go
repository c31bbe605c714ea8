package cli

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/vault"
)

func cmdInit(e *env) *cobra.Command {
	var custodians []string
	var threshold int
	var description, homeState, homeLocation, cardDir string
	c := &cobra.Command{
		Use:   "init --custodian R1 --custodian R2 ... --threshold K",
		Short: "Create the home: a root key split k-of-n among custodians, and a signing key",
		Long: `Create a new home in --home (or EMBASSY_HOME). A fresh root key is split with
Shamir's scheme (k of n, Feldman-verifiable) and each share is encrypted to one
custodian's age recipient. The encrypted shares are stored with the vault at
every site, so a site's copy plus k custodians can rebuild the home anywhere
('embassy recover'). Add storage sites afterwards with 'embassy site add'.

A --custodian value may be a recipient string or a file holding one (for
example an identity file written by 'embassy custodian keygen').

Each custodian gets the home fingerprint with their identity: init writes,
per custodian, custodian-NAME.txt (NAME: the identity file's name, or the
custodian's number for a recipient string) next to the identity file, or
into --custodian-out DIR, or else into DIR/custodians of the home. It holds
the fingerprint and how to check it ('recover --expect-home').`,
		Example: `  embassy init --custodian age1pq1... --custodian age1pq1... --custodian age1pq1... --threshold 2
  embassy --home /srv/embassy init --custodian alice.pub --custodian bob.pub --threshold 2`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, err := e.homePath()
			if err != nil {
				return err
			}
			cfg := home.Default()
			cfg.HomeState, cfg.HomeLocation = strings.ToUpper(homeState), homeLocation
			c, err := vault.Create(e.ctx, vault.CreateRequest{Dir: dir, Config: cfg, CustodianArgs: custodians, Threshold: threshold,
				Description: description, CardDir: cardDir}, e.vaultOptions())
			return e.printCreated(c, err)
		},
	}
	c.Flags().StringArrayVar(&custodians, "custodian", nil, "a custodian's age recipient, or a file holding it (repeat for each custodian)")
	c.Flags().IntVar(&threshold, "threshold", 0, "number of custodians needed to recover the root key (k)")
	c.Flags().StringVar(&description, "description", "", "free text describing this home")
	c.Flags().StringVar(&homeState, "state", "", "the sending state, as an ISO 3166-1 alpha-2 code (e.g. EE)")
	c.Flags().StringVar(&homeLocation, "location", "", "the home data centre as LAT,LON, for distance rules (e.g. 59.43,24.75)")
	c.Flags().StringVar(&cardDir, "custodian-out", "", "folder for the custodian cards (default: next to each identity file, else HOME/custodians)")
	return c
}
