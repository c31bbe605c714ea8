package cli

import (
	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/agreement"
)

func cmdAgreementBaseline(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "baseline",
		Short: "Print the baseline every agreement inherits",
		Long: `Print the shipped baseline: the default value of every term along the five
trust dimensions. An agreement may state any term more strictly; a looser
value needs an override signed by the sending state.`,
		Example: `  embassy agreement baseline
  embassy --json agreement baseline`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if e.json {
				b := agreement.DefaultBaseline()
				terms := map[string]string{}
				for p, v := range b.Values {
					terms[p] = v.String()
				}
				return e.emitJSON(map[string]any{"version": b.Version, "terms": terms})
			}
			_, err := e.stdout.Write(agreement.BaselineText())
			return err
		},
	}
}
