package cli

import (
	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/vault"
)

func cmdAgreementSign(e *env) *cobra.Command {
	var keyFile, role, override, reason, out string
	c := &cobra.Command{
		Use:   "sign FILE --key KEY --role sending|host",
		Short: "Sign an agreement as one party, or sign an override of a looser term",
		Long: `Sign the agreement in FILE as the sending or host state, writing the signature
into its signatures section (in place, or to -o OUT). The signature covers
every stated value, in a canonical form that layout and comments do not
change; any later change of a value breaks it.

With --override TERM, the sending state instead accepts a term that is looser
than the baseline: the override binds the agreement's signed text, the term,
its value and --reason. Overrides are recorded in the transparency log when
the agreement is installed.`,
		Example: `  embassy agreement sign ee-lu.yaml --key ee.key --role sending
  embassy agreement sign ee-lu.yaml --key lu.key --role host
  embassy agreement sign cloud.yaml --key ee.key --override operations.disclosure-delay-hours --reason "provider batch reporting; accepted for C0 data only"`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := vault.SignAgreement(vault.SignAgreementRequest{File: args[0], KeyFile: keyFile, Role: role, Override: override, Reason: reason, Out: out})
			if err != nil {
				return err
			}
			if e.json {
				return e.emitJSON(res)
			}
			e.printf("%s: %s\n", res.File, res.Result)
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&keyFile, "key", "", "the party's signing key file")
	f.StringVar(&role, "role", "", "sign as: sending or host")
	f.StringVar(&override, "override", "", "sign an override accepting this looser term (sending state only)")
	f.StringVar(&reason, "reason", "", "why the override is accepted")
	f.StringVarP(&out, "output", "o", "", "write the signed agreement here instead of in place")
	return c
}
