package cli

import (
	"flag"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/daemon"
)

func cmdServe(e *env) *cobra.Command {
	var o daemon.Options
	c := &cobra.Command{
		Use:   "serve --listen ADDR --store URL --ca ca.crt --cert site.crt --key site.key",
		Short: "Run the embassy daemon at a host site (same as embassyd)",
		Long: `serve runs the embassy daemon over the host's storage (a directory or an S3
bucket). It accepts only mutual TLS 1.3 connections from certificates of the
home's CA, authorizes every request by the role in the certificate, prefers
the hybrid post-quantum key exchange X25519MLKEM768, and answers proof
challenges. SIGTERM drains in-flight requests before exiting.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return daemon.Run(e.ctx, o, e.log)
		},
	}
	// the daemon's one set of flags, shared with embassyd
	gfs := flag.NewFlagSet("serve", flag.ContinueOnError)
	o.Flags(gfs)
	c.Flags().AddGoFlagSet(gfs)
	return c
}
