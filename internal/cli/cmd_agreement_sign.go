package cli

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/agreement"
	"github.com/digital-embassy/embassy/internal/atomicfile"
	"github.com/digital-embassy/embassy/internal/hint"
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
			doc, err := os.ReadFile(args[0])
			if err != nil {
				return hint.WithCode(err, hint.CodeUsage)
			}
			kb, err := os.ReadFile(keyFile)
			if err != nil {
				return hint.WithCode(hint.Wrap(err, "pass the party's key file from 'embassy agreement keygen' with --key"), hint.CodeUsage)
			}
			key, err := agreement.ParsePrivateKey(kb)
			if err != nil {
				return hint.WithCode(err, hint.CodeUsage)
			}
			a, err := agreement.Parse(doc)
			if err != nil {
				return hint.Wrap(fmt.Errorf("%s:\n%w", args[0], err), "fix the agreement before signing it")
			}
			var msg string
			if override != "" {
				if reason == "" {
					return usagef("--override needs --reason: say why the sending state accepts the looser term")
				}
				o, err := agreement.SignOverride(a, override, reason, key)
				if err != nil {
					return hint.WithCode(err, hint.CodeUsage)
				}
				if doc, err = agreement.AddOverride(doc, o); err != nil {
					return err
				}
				msg = fmt.Sprintf("override of %s signed by the sending state", override)
			} else {
				if role != agreement.Sending && role != agreement.Host {
					return usagef("--role %q: use sending or host", role)
				}
				sig, err := agreement.Sign(a, role, key)
				if err != nil {
					return hint.WithCode(hint.Wrap(err, "sign with the key whose public half is in parties."+role+".key"), hint.CodeKey)
				}
				if doc, err = agreement.SetSignature(doc, role, sig); err != nil {
					return err
				}
				msg = fmt.Sprintf("signed as the %s state (%s)", role, a.Parties[role].State)
			}
			if out == "" {
				out = args[0]
			}
			if err := atomicfile.Write(out, doc, 0o644); err != nil {
				return err
			}
			if e.json {
				return e.emitJSON(map[string]string{"file": out, "id": a.ID, "result": msg})
			}
			e.printf("%s: %s\n", out, msg)
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
