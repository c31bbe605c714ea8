package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/vault"
)

func cmdWitnessKey(e *env) *cobra.Command {
	var dir, name, alg, url string
	c := &cobra.Command{
		Use:     "key --dir DIR --name NAME",
		Short:   "Create (or show) a witness key and print its policy line",
		Example: `  embassy witness key --dir /var/lib/embassy-witness --name lu-1 --url http://10.0.0.5:7380`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			vkey, err := vault.WitnessKey(dir, name, alg)
			if err != nil {
				return err
			}
			if e.json {
				return e.emitJSON(map[string]any{"name": name, "vkey": vkey, "url": url})
			}
			fmt.Fprintln(e.stdout, vault.WitnessLine{Name: name, VKey: vkey, URL: url})
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&dir, "dir", "", "witness directory")
	f.StringVar(&name, "name", "", "witness key name")
	f.StringVar(&alg, "alg", vault.WitnessEd25519, "key algorithm: ed25519 or mldsa44")
	f.StringVar(&url, "url", "", "URL the witness will be reached at")
	_ = c.MarkFlagRequired("dir")
	_ = c.MarkFlagRequired("name")
	return c
}
