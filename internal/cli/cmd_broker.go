package cli

import (
	"fmt"
	"net"
	"os"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/vault"
)

// cmdBroker is 'embassy broker': the key broker for attested workloads.
// The logic is in internal/vault (broker.go, broker_store.go) over
// internal/broker; this file parses flags and prints.
func cmdBroker(e *env) *cobra.Command {
	c := &cobra.Command{
		Use:   "broker",
		Short: "Release dataset keys to attested workloads (key broker)",
		Long: `broker runs the sending state's key broker: workloads at host sites present
TPM evidence bound to a broker nonce and to a key they generated, and receive
a dataset's keys wrapped to that key only if the evidence verifies, the
workload identity is pinned, nothing is revoked and a release rule of
<home>/broker/release.yaml allows it. See docs/BROKER.md.`,
	}
	c.AddCommand(cmdBrokerServe(e), cmdBrokerRefs(e), cmdBrokerWorkload(e), cmdBrokerRevoke(e))
	return c
}

func cmdBrokerServe(e *env) *cobra.Command {
	var listen, addrFile string
	var hosts []string
	c := &cobra.Command{
		Use:   "serve [--listen ADDR] [--host NAME]",
		Short: "Serve the broker (native API and the KBS protocol) over TLS from the home PKI",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := e.openKeyed()
			if err != nil {
				return err
			}
			defer v.Close()
			h := v.Home
			return v.ServeBroker(e.ctx, vault.BrokerServe{Listen: listen, Hosts: hosts,
				BreakGlass: v.BreakGlassAt,
				Ready: func(addr net.Addr) error {
					if addrFile != "" {
						if err := os.WriteFile(addrFile, []byte(addr.String()), 0o644); err != nil {
							return err
						}
					}
					fmt.Fprintf(e.stdout, "broker: serving on https://%s (home %s)\n", addr, h.Config.Home)
					return nil
				}})
		},
	}
	c.Flags().StringVar(&listen, "listen", "127.0.0.1:7450", "address to listen on")
	c.Flags().StringArrayVar(&hosts, "host", []string{"127.0.0.1", "localhost"}, "DNS name or IP address in the broker's certificate (repeatable)")
	c.Flags().StringVar(&addrFile, "addr-file", "", "write the address listened on to this file (for --listen 127.0.0.1:0)")
	return c
}

func cmdBrokerRefs(e *env) *cobra.Command {
	c := &cobra.Command{Use: "refs", Short: "Sign, stage, approve and list reference values"}
	var out string
	sign := &cobra.Command{
		Use:   "sign VALUES.json -o SIGNED.json",
		Short: "Sign reference values with the home's root signing key",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := e.openHome()
			if err != nil {
				return err
			}
			enc, err := e.vaultOf(h).SignBrokerRefs(e.ctx, args[0])
			if err != nil {
				return err
			}
			if out == "" {
				_, err = e.stdout.Write(enc)
				return err
			}
			return os.WriteFile(out, enc, 0o644)
		},
	}
	sign.Flags().StringVarP(&out, "output", "o", "", "write the signed file here (default stdout)")
	add := &cobra.Command{
		Use:   "add SIGNED.json",
		Short: "Verify signed reference values and stage them for approval",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := e.openHome()
			if err != nil {
				return err
			}
			r, err := e.vaultOf(h).StageBrokerRefs(e.ctx, args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "staged reference values %s (%s, %d measurements); approve with 'embassy broker refs approve %s'\n", r.Name, r.TEE, len(r.Measurements), r.Name)
			return nil
		},
	}
	approve := &cobra.Command{
		Use:   "approve NAME",
		Short: "Approve staged reference values: workloads matching them may receive keys",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := e.openHome()
			if err != nil {
				return err
			}
			r, err := e.vaultOf(h).ApproveBrokerRefs(e.ctx, args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "approved reference values %s\n", r.Name)
			return nil
		},
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List approved and pending reference values",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := e.openHome()
			if err != nil {
				return err
			}
			s, err := e.vaultOf(h).BrokerRefs(e.ctx)
			if err != nil {
				return err
			}
			if e.json {
				return e.emitJSON(map[string]any{"approved": s.Approved, "pending": s.Pending})
			}
			for _, r := range s.Rows {
				fmt.Fprintf(e.stdout, "%-9s %-24s %-8s %d measurements, digest %s\n", r.State, r.Name, r.TEE, r.Measurements, r.Digest)
			}
			return nil
		},
	}
	c.AddCommand(sign, add, approve, list)
	return c
}

func cmdBrokerWorkload(e *env) *cobra.Command {
	c := &cobra.Command{Use: "workload", Short: "Pin workload identities to sites"}
	var identity, site string
	add := &cobra.Command{
		Use:   "add NAME --identity FINGERPRINT --site SITE",
		Short: "Pin a workload identity (a TPM attestation key fingerprint) to a site",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := e.openHome()
			if err != nil {
				return err
			}
			if err := e.vaultOf(h).PinWorkload(e.ctx, args[0], identity, site); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "pinned workload %s at site %s\n", args[0], site)
			return nil
		},
	}
	add.Flags().StringVar(&identity, "identity", "", "the workload's identity ('embassy workload identity' prints it)")
	add.Flags().StringVar(&site, "site", "", "the site it runs at")
	c.AddCommand(add)
	return c
}

func cmdBrokerRevoke(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke measurement|site|workload|dataset VALUE",
		Short: "Stop every further release to a measurement, site, workload or of a dataset, at once",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := e.openHome()
			if err != nil {
				return err
			}
			if err := e.vaultOf(h).RevokeBroker(e.ctx, args[0], args[1]); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "revoked %s %s: no further releases\n", args[0], args[1])
			return nil
		},
	}
}
