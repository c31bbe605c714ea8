package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/vault"
)

func cmdWitnessServe(e *env) *cobra.Command {
	var req vault.WitnessServeRequest
	var logsFile string
	c := &cobra.Command{
		Use:     "serve --listen ADDR --dir DIR --log VKEY",
		Short:   "Run a standalone witness (C2SP tlog-witness over HTTP)",
		Long:    helpText("witness_serve"),
		Example: `  embassy witness serve --listen 127.0.0.1:7380 --dir /var/lib/embassy-witness --name lu-1 --log "$(cat home/log/log.pub)"`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			req.Logger = e.log
			return vault.ServeWitness(e.ctx, req, func(lines []vault.WitnessLine) {
				for _, l := range lines {
					fmt.Fprintln(e.stdout, l)
				}
				if f, ok := e.stdout.(interface{ Sync() error }); ok {
					_ = f.Sync()
				}
			})
		},
	}
	f := c.Flags()
	f.StringVar(&req.Listen, "listen", "127.0.0.1:7380", "address to listen on (port 0 picks a free one)")
	f.StringVar(&req.Dir, "dir", "", "witness directory: key, state and alerts")
	f.StringVar(&req.Name, "name", "", "witness key name (default witness-<dir name>)")
	f.StringSliceVar(&req.Logs, "log", nil, "verifier key of a log to witness (repeatable)")
	f.StringVar(&logsFile, "logs-file", "", "unused; logs are also read from DIR/logs")
	_ = f.MarkHidden("logs-file")
	f.BoolVar(&req.PQ, "mldsa", false, "also serve an ML-DSA-44 witness under /pq")
	f.StringVar(&req.TLS.CA, "ca", "", "the home CA certificate: serve mutual TLS (with --cert and --key)")
	f.StringVar(&req.TLS.Cert, "cert", "", "the witness's site certificate")
	f.StringVar(&req.TLS.Key, "key", "", "its private key")
	f.StringVar(&req.CRL, "crl", "", "the home CA's revocation list (pki/crl.pem), re-read on change")
	_ = c.MarkFlagRequired("dir")
	return c
}
