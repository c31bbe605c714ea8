package cli

import (
	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/vault"
)

func cmdDrill(e *env) *cobra.Command {
	var identities []string
	var expectHome string
	var out, scratch string
	var keep bool
	var passFile string
	c := &cobra.Command{
		Use:   "drill PLAN.yaml",
		Short: "Run a restore drill from the sites and k custodians alone, and sign the report",
		Long: `Run a restore drill on a machine that has nothing but access to the sites and
k custodian identities: rebuild the root key from the shares at the first
reachable site, restore the plan's critical datasets into a scratch folder,
start the registry lookup service on them, probe it over HTTP, and write a
report signed by a drill key (derived from the recovered root and endorsed by
the root signing key, or the plan's drill-key) with the measured RTO (start to
first successful probe) and achieved RPO (now minus snapshot time) against
the plan's targets, and every check that failed: missing shares, a site down,
a corrupted snapshot, a dataset past its RPO, a probe that did not answer,
a site the policy denies restoring from (with the rule id), a site showing
less than the plan's log copy says the witnesses cosigned, a witness of the
policy that cannot be asked for its latest checkpoint. A log copy older than
what a witness says it cosigned (GET /latest) refuses the drill (exit 3).

With a home in --home, its policy gate decides each site and its log
records the drill and every denial; without one, the plan's policy: file
(a policy.yaml) or the baseline defaults decide.

  name: registry-drill
  home: fp1-9ec7-69ad-2dd5-60b3-d2c5-4597-4dac-e4bc   # 'embassy key status'; --expect-home overrides
  sites: [{name: lu-1, url: /mnt/embassy-lu}, {name: ch-1, url: s3://10.0.0.5:9000/embassy}]
  custodians: [alice.key, bob.key]
  rto: 60s
  datasets: [{name: population-register, rpo: 24h}]
  service:
    population: {dataset: population-register, path: population-register.csv}
    land: {dataset: population-register, path: land-register.csv}
  probes: [{register: population, key: "34606095281"}, {register: land, key: "19801:932:5479"}]
  log: {dir: /mnt/copy-of-home/log, policy: log-policy}   # optional: freshness against the witnesses

Exit code 3 when the drill fails, 4 when the key could not be rebuilt.
'embassy drill verify REPORT' checks a report's signature.`,
		Example: `  embassy drill plan.yaml --identity alice.key --identity bob.key --out drill.json
  embassy drill verify drill.json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, ids, err := vault.LoadPlan(args[0], expectHome, identities, e.passphrase(passFile))
			if err != nil {
				return err
			}
			res, err := e.continuity().Drill(e.ctx, vault.DrillRequest{Plan: p, Identities: ids, Scratch: scratch, Keep: keep, Out: out})
			return printDrill(e, res, out, err)
		},
	}
	c.Flags().StringArrayVar(&identities, "identity", nil, "a custodian's identity file (repeatable; added to the plan's custodians)")
	c.Flags().StringVarP(&out, "out", "o", "drill-report.json", "where to write the signed report")
	c.Flags().StringVar(&scratch, "scratch", "", "folder to restore into (default: a temporary folder, removed after)")
	c.Flags().BoolVar(&keep, "keep", false, "keep the temporary scratch folder")
	expectHomeFlag(c, &expectHome)
	passFlag(c, &passFile)
	c.AddCommand(cmdDrillVerify(e))
	return c
}

func cmdDrillVerify(e *env) *cobra.Command {
	var key, siteURL string
	c := &cobra.Command{
		Use:   "verify REPORT",
		Short: "Check the signature of a drill report (or an activation or deactivation report)",
		Long: `Check that REPORT is signed by the key it names and, when that key is
endorsed by a home's root signing key, that the endorsement verifies and (for
key epoch 1) that the root key is the one the home id is derived from.
--key pins the expected signing or root key (base64). Exit code 3 if the
signature does not verify.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := readArgFile(args[0])
			if err != nil {
				return err
			}
			v, err := vault.CheckReport(e.ctx, b, vault.ReportCheckRequest{Key: key, Site: siteURL, Local: e.localVault(), Logger: e.log})
			return printDrillVerified(e, v, err)
		},
	}
	c.Flags().StringVar(&key, "key", "", "expected signing or root public key (base64)")
	c.Flags().StringVar(&siteURL, "site", "", "a site of the home, to check the endorsing key against its signed key epochs")
	return c
}
