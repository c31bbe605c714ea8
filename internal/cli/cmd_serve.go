package cli

import (
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
	f := c.Flags()
	f.StringVar(&o.Listen, "listen", ":7443", "address to listen on")
	f.StringVar(&o.Store, "store", "", "the host's storage: a directory, file:///path or s3://host/bucket")
	f.StringVar(&o.CA, "ca", "", "the home CA certificate (ca.crt)")
	f.StringVar(&o.Cert, "cert", "", "this site's certificate (role site)")
	f.StringVar(&o.Key, "key", "", "this site's private key")
	f.Int64Var(&o.MaxBody, "max-body", 0, "largest object accepted, in bytes (default 1 GiB)")
	f.IntVar(&o.MaxInflight, "max-inflight", 0, "requests served at once (default 64)")
	f.IntVar(&o.PerClient, "per-client", 0, "requests at once per client certificate (default 16)")
	f.DurationVar(&o.Drain, "drain", 0, "how long shutdown waits for in-flight requests (default 30s)")
	f.BoolVar(&o.Create, "create", false, "create the store if it does not exist")
	f.StringVar(&o.EventsFile, "events-file", "", "keep access events (logins, refusals, disclosures) in this file across restarts until the home pulls them")
	f.StringVar(&o.WitnessListen, "witness-listen", "", "also serve a C2SP tlog-witness for the home's log on this address")
	f.StringVar(&o.WitnessDir, "witness-dir", "", "the witness's key, state and alerts (required with --witness-listen)")
	f.StringVar(&o.WitnessName, "witness-name", "", "the witness key's name (default SITE-witness)")
	f.StringArrayVar(&o.WitnessLogs, "witness-log", nil, "verifier key of a log to witness (repeatable; the home's log/log.pub)")
	f.BoolVar(&o.WitnessPlainHTTP, "witness-plain-http", false, "serve the witness over plain HTTP instead of mutual TLS (rate and size limits still apply)")
	f.StringVar(&o.CRL, "crl", "", "keep the home CA's revocation list (pushed by 'embassy pki revoke') in this file")
	return c
}
