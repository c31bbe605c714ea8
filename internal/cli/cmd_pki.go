package cli

import (
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/vault"
)

func pkiDir(h *home.Home) string { return filepath.Join(h.Dir, "pki") }

func cmdPKI(e *env) *cobra.Command {
	c := &cobra.Command{
		Use:   "pki",
		Short: "The home's certificate authority for links to embassy daemons",
		Long: `The home keeps a small certificate authority (<home>/pki/ca.key, mode 0600,
and ca.crt). It issues short-lived certificates whose role is written in a
URI SAN, spiffe://<home-id>/role/<role>/<name>:

  home      the sending state: reads and writes objects
  auditor   read-only: list, stat, get and prove
  operator  a host's operator: health, metrics and access events, no objects
  site      a daemon's server certificate (give --host)`,
	}
	c.AddCommand(cmdPKIInit(e), cmdPKIIssue(e), cmdPKIShow(e), cmdPKIRevoke(e))
	return c
}

func cmdPKIInit(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "init",
		Short: "Create the home's CA and a home client certificate",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := e.openHome()
			if err != nil {
				return err
			}
			res, err := vault.InitPKI(h, time.Now())
			if err != nil {
				return err
			}
			return e.printPKIInit(res)
		},
	}
}
