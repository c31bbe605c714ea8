package cli

import (
	"strconv"

	"github.com/spf13/cobra"
)

func cmdIncidentAck(e *env) *cobra.Command {
	var note string
	ack := &cobra.Command{
		Use:   "ack INDEX --note TEXT",
		Short: "Acknowledge an incident (the sending state)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := strconv.ParseUint(args[0], 10, 64)
			if err != nil {
				return usagef("INDEX %q: the incident's log index, as 'embassy incident list' shows it", args[0])
			}
			h, err := e.openHome()
			if err != nil {
				return err
			}
			in, idx, err := e.vaultOf(h).AckIncident(e.ctx, n, note)
			if err != nil {
				return err
			}
			e.printf("Acknowledged incident %d at %s: entry %d\n", n, in.Site, idx)
			return nil
		},
	}
	ack.Flags().StringVar(&note, "note", "", "what the sending state did about it")
	return ack
}
