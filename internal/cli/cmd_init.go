package cli

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/repo"
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
			if home.Exists(dir) {
				return hint.Wrap(fmt.Errorf("a home already exists at %s", dir), "use another --home, or 'embassy key rotate' to change custodians")
			}
			var cs []string
			for _, c := range custodians {
				rec, err := readRecipient(c)
				if err != nil {
					return err
				}
				cs = append(cs, rec)
			}
			if threshold == 0 {
				return usagef("missing --threshold K: how many custodians must come together to recover the root key")
			}
			cfg := home.Default()
			cfg.HomeState, cfg.HomeLocation = strings.ToUpper(homeState), homeLocation
			v, err := vault.Init(e.ctx, vault.InitRequest{Dir: dir, Config: cfg, Custodians: cs, Threshold: threshold, Description: description}, e.vaultOptions())
			if err != nil {
				return err
			}
			homeID := v.Home.Config.Home
			root, err := v.Home.LoadRoot(1)
			if err != nil {
				return err
			}
			fp := repo.HomeFingerprint(homeID, root.SigningPublicKey())
			cards, err := vault.WriteCustodianCards(custodians, cs, cardDir, dir, repo.Card{Home: homeID, Fingerprint: fp, Threshold: threshold, Of: len(cs), Created: time.Now()})
			if err != nil {
				return hint.Wrap(fmt.Errorf("the home was created, but a custodian card could not be written: %w", err),
					"give each custodian the fingerprint above by hand ('embassy key status' prints it again)")
			}
			if e.json {
				return e.emitJSON(map[string]any{"home": homeID, "dir": dir, "custodians": len(cs), "threshold": threshold, "epoch": root.Epoch, "fingerprint": fp, "root_fingerprint": root.Fingerprint(), "custodian_cards": cards})
			}
			e.printf("Created home %s in %s\n", homeID, dir)
			e.printf("Root key epoch 1 (%s) split %d-of-%d among the custodians.\n", root.Fingerprint(), threshold, len(cs))
			e.printf("fingerprint: %s\n", repo.HomeFingerprint(homeID, root.SigningPublicKey()))
			e.printf("Give each custodian this fingerprint with their identity: recover, drill and operate need it (--expect-home).\n")
			for _, p := range cards {
				e.printf("  custodian card: %s\n", p)
			}
			e.printf("Next: add a storage site, e.g.\n  embassy site add lu-1 --url /path/to/site --jurisdiction LU\n")
			return nil
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

// readRecipient accepts a recipient string or a file containing one (a
// recipient line or an identity file's "# public key:" comment).
func readRecipient(v string) (string, error) {
	v = strings.TrimSpace(v)
	if strings.HasPrefix(v, "age1") {
		return v, nil
	}
	b, err := os.ReadFile(v)
	if err != nil {
		return "", hint.WithCode(hint.Wrap(fmt.Errorf("--custodian %q is neither an age recipient nor a readable file", v),
			"pass the recipient printed by 'embassy custodian keygen' (age1pq1...)"), hint.CodeUsage)
	}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		line = strings.TrimPrefix(line, "# public key: ")
		if strings.HasPrefix(line, "age1") {
			return line, nil
		}
	}
	return "", hint.WithCode(fmt.Errorf("%s holds no age recipient", v), hint.CodeUsage)
}
