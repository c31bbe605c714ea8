package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/tlog"
	"github.com/digital-embassy/embassy/internal/vault"
)

func cmdWitness(e *env) *cobra.Command {
	c := &cobra.Command{
		Use:   "witness",
		Short: "Run or register C2SP tlog-witnesses for the transparency log",
		Long:  helpText("witness"),
	}
	c.AddCommand(cmdWitnessServe(e), cmdWitnessKey(e), cmdWitnessAdd(e))
	return c
}

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

func cmdWitnessAdd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:     "add NAME VKEY URL",
		Short:   "Require a host site's witness in the home's log policy",
		Long:    helpText("witness_add"),
		Example: `  embassy witness add lu-1 lu-1+3c1f2a9b+BH... http://10.0.0.5:7380`,
		Args:    cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := e.openHome()
			if err != nil {
				return err
			}
			np, err := e.vaultOf(h).AddWitness(e.ctx, args[0], args[1], args[2])
			if err != nil {
				return err
			}
			e.printf("Added witness %s; the quorum now requires its cosignature\n", args[0])
			warnHomeAlone(e, np)
			return nil
		},
	}
}

func warnHomeAlone(e *env, p *tlog.Policy) {
	if err := p.RequireExternal(); err != nil { // a warning, not a partial failure (exit code unchanged)
		fmt.Fprintf(e.stderr, "embassy: warning: %v: the home could rewrite this history unnoticed\n", err)
	}
}
