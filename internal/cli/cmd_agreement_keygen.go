package cli

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/agreement"
	"github.com/digital-embassy/embassy/internal/hint"
)

func cmdAgreementKeygen(e *env) *cobra.Command {
	var out, comment string
	c := &cobra.Command{
		Use:   "keygen -o FILE",
		Short: "Create a party's Ed25519 agreement signing key",
		Long: `Create an Ed25519 signing key for one party of an agreement, write it to FILE
(mode 0600, never overwritten) and print its public key (ed25519:BASE64),
which goes into the agreement's parties.<role>.key.`,
		Example: `  embassy agreement keygen -o ee-foreign-ministry.key --comment "EE MFA"`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return usagef("missing -o FILE: where to write the private key")
			}
			if comment != "" {
				comment = ": " + strings.ReplaceAll(comment, "\n", " ")
			}
			file, pub, err := agreement.GenerateKey(rand.Reader, comment)
			if err != nil {
				return err
			}
			f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if errors.Is(err, fs.ErrExist) {
				return hint.WithCode(hint.Wrap(fmt.Errorf("%s already exists", out), "choose another file: keys are never overwritten"), hint.CodeUsage)
			}
			if err != nil {
				return err
			}
			if _, err := f.Write(file); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
			if e.json {
				return e.emitJSON(map[string]string{"public_key": pub, "file": out})
			}
			fmt.Fprintln(e.stdout, pub)
			return nil
		},
	}
	c.Flags().StringVarP(&out, "output", "o", "", "file to write the private key to")
	c.Flags().StringVar(&comment, "comment", "", "comment stored in the key file")
	return c
}
