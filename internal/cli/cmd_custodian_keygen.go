package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/keys"
)

func cmdCustodianKeygen(e *env) *cobra.Command {
	var out string
	var classic, force bool
	c := &cobra.Command{
		Use:   "keygen -o FILE",
		Short: "Create a custodian identity and print its public recipient",
		Long: `Create a new custodian identity, write it to FILE (mode 0600) and print its
public recipient on standard output. Give the recipient to the home's operator
for 'embassy init --custodian'; keep FILE offline (a hardware token, a safe).
Passed as 'init --custodian FILE', init writes custodian-NAME.txt next to it:
the home fingerprint to check any vault against before lending FILE to it.`,
		Example: `  embassy custodian keygen -o alice.key
  embassy custodian keygen --classic -o bob.key   # X25519 only, not post-quantum`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return usagef("missing -o FILE: where to write the identity")
			}
			id, rec, err := keys.GenerateIdentity(classic)
			if err != nil {
				return err
			}
			flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
			if force {
				flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
			}
			f, err := os.OpenFile(out, flags, 0o600)
			if err != nil {
				if errors.Is(err, fs.ErrExist) {
					return hint.WithCode(hint.Wrap(fmt.Errorf("%s already exists", out), "choose another file; never overwrite a custodian's identity (use --force only if you are sure)"), hint.CodeUsage)
				}
				return err
			}
			if _, err := f.Write(keys.IdentityFile(id, rec, time.Now().UTC())); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
			if e.json {
				return e.emitJSON(map[string]any{"file": out, "recipient": rec, "post_quantum": !classic})
			}
			fmt.Fprintln(e.stdout, rec)
			return nil
		},
	}
	c.Flags().StringVarP(&out, "output", "o", "", "file to write the identity to (required)")
	c.Flags().BoolVar(&classic, "classic", false, "create a classic X25519 identity instead of hybrid post-quantum")
	c.Flags().BoolVar(&force, "force", false, "overwrite an existing file")
	return c
}
