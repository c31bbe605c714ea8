package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/ui"
)

func uiLinks(dir string) *ui.Links { return &ui.Links{Path: filepath.Join(dir, "ui", "links.json")} }

func cmdUI(e *env) *cobra.Command {
	var listen, rpid string
	c := &cobra.Command{
		Use:   "ui",
		Short: "Serve the operator dashboard",
		Long: `Serve the dashboard: one web page for the sending state's operators, the
host's operators and the auditors. Views: an overview with a map of the
sites (health, last proof of storage, jurisdiction) and the watcher's
alerts; datasets and their placement; the transparency log with search,
filters and downloadable receipts; access disclosures with unmatched host
sessions and key uses highlighted. Every view updates live and has its
JSON API under /api/ (overview, sites, datasets, log, disclosures,
receipt/INDEX, stream).

Sign in with a one-time link from 'embassy ui link'; then register a passkey
(WebAuthn) on the page and sign in with it afterwards, with the role the link
gave (--rp-id is the host name people use to reach the page; passkeys are
bound to it). Roles: home (everything,
and changes), auditor (reads everything, changes nothing), operator (one
site's health, log entries and disclosures), custodian (read-only). Every
sign-in and every change is recorded in the transparency log.

The assets are embedded in the binary; nothing is fetched at run time. The
page runs under a strict Content-Security-Policy with no inline script.
Listen on loopback (the default) and reach it through an SSH tunnel or a
TLS-terminating proxy; sessions are cookies marked HttpOnly and
SameSite=Strict.`,
		Example: `  embassy ui --listen 127.0.0.1:8080
  embassy ui link --role auditor --name eu-auditor
  embassy ui link --role operator --name ops-lu --site lu-1 --ttl 1h`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := e.openHome()
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return hint.Wrap(err, "choose a free address with --listen")
			}
			// The home's vault is opened before serving: handlers then only
			// use its dashboard, from many goroutines at once.
			pk := &ui.Passkeys{Path: filepath.Join(h.Dir, "ui", "passkeys.json"), RPID: rpid}
			srv := &http.Server{Handler: ui.New(ui.Config{Source: e.vaultOf(h).Dashboard(), Links: uiLinks(h.Dir), Passkeys: pk, Logger: e.log, Now: e.now}),
				ReadHeaderTimeout: 10 * time.Second}
			go func() {
				<-e.ctx.Done()
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				_ = srv.Shutdown(ctx)
			}()
			shown := ln.Addr().String()
			if host, port, err := net.SplitHostPort(shown); err == nil && net.ParseIP(host).IsLoopback() {
				shown = net.JoinHostPort(rpid, port) // passkeys need a host name, not an address
			}
			e.printf("dashboard on http://%s/ (sign in with 'embassy ui link')\n", shown)
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		},
	}
	c.Flags().StringVar(&listen, "listen", "127.0.0.1:8080", "address to serve the dashboard on")
	c.Flags().StringVar(&rpid, "rp-id", "localhost", "host name people reach the page at; passkeys are bound to it")
	c.AddCommand(cmdUILink(e))
	return c
}

func cmdUILink(e *env) *cobra.Command {
	var role, name, site, addr string
	var ttl time.Duration
	c := &cobra.Command{
		Use:   "link",
		Short: "Issue a one-time sign-in link for the dashboard",
		Long: `Issue a one-time sign-in link. The token is in the link's fragment (after
#), which a browser never sends to a server or a proxy, and the page removes
it from the address bar at once. Only its hash is stored in
<home>/ui/links.json. A link works once, until --ttl (at most 24h).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := ui.ParseRole(role)
			if err != nil {
				return usagef("--role: %v", err)
			}
			if name == "" {
				return usagef("--name: say who the link is for (it is recorded in the log at sign-in)")
			}
			h, err := e.openHome()
			if err != nil {
				return err
			}
			tok, err := uiLinks(h.Dir).Issue(ui.Principal{Role: r, Name: name, Site: site}, ttl, e.now())
			if err != nil {
				return hint.WithCode(err, hint.CodeUsage)
			}
			u := fmt.Sprintf("http://%s/#signin=%s", addr, tok)
			if e.json {
				return e.emitJSON(map[string]string{"url": u, "role": role, "name": name, "site": site, "expires": e.now().Add(ttl).UTC().Format(time.RFC3339)})
			}
			fmt.Fprintln(e.stdout, u)
			return nil
		},
	}
	c.Flags().StringVar(&role, "role", "auditor", "home, auditor, operator or custodian")
	c.Flags().StringVar(&name, "name", "", "who the link is for")
	c.Flags().StringVar(&site, "site", "", "the one site an operator sees (required for --role operator)")
	c.Flags().StringVar(&addr, "addr", "localhost:8080", "the dashboard's address, for the printed link")
	c.Flags().DurationVar(&ttl, "ttl", 15*time.Minute, "how long the link stays valid (at most 24h)")
	return c
}
