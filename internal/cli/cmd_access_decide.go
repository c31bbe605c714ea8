package cli

import (
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

func cmdAccessDecide(e *env, approve bool) *cobra.Command {
	var note string
	verb := map[bool]string{true: "approve", false: "deny"}[approve]
	c := &cobra.Command{
		Use:   verb + " INDEX --note TEXT",
		Short: strings.ToUpper(verb[:1]) + verb[1:] + " a pending access request (the sending state)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := strconv.ParseUint(args[0], 10, 64)
			if err != nil || strings.TrimSpace(note) == "" {
				return usagef("give the request's log index ('embassy access list') and --note")
			}
			h, err := e.openHome()
			if err != nil {
				return err
			}
			res, err := e.vaultOf(h).DecideAccess(e.ctx, n, approve, note)
			if err != nil {
				return err
			}
			e.printf("Access request %d at %s %s: entry %d\n", n, res.Site, res.Status, res.Decision)
			if res.Pushed {
				e.printf("The signed decision reached %s's daemon\n", res.Site)
			}
			if res.PushError != "" {
				e.warned = true
			}
			return nil
		},
	}
	c.Flags().StringVar(&note, "note", "", "the decision's reference or conditions")
	return c
}
