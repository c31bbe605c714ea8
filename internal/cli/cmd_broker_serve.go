package cli

import (
	"fmt"
	"net"
	"os"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/vault"
)

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
