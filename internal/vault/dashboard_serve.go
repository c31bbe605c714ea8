package vault

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/ui"
)

// The dashboard's files in the home: <home>/ui/links.json (hashes of the
// one-time sign-in links), <home>/ui/passkeys.json (registered passkeys).

func (v *Vault) uiLinks() *ui.Links {
	return &ui.Links{Path: filepath.Join(v.Home.Dir, "ui", "links.json")}
}

// DashboardRequest says where to serve the dashboard.
type DashboardRequest struct {
	Listen string // host:port
	RPID   string // the host name people use; passkeys are bound to it
}

// ServeDashboard serves the dashboard (internal/ui over Vault.Dashboard)
// until ctx ends. ready is told the address to show, with the relying
// party's host name in place of a loopback address (passkeys need a name).
func (v *Vault) ServeDashboard(ctx context.Context, req DashboardRequest, ready func(shown string)) error {
	ln, err := net.Listen("tcp", req.Listen)
	if err != nil {
		return hint.Wrap(err, "choose a free address with --listen")
	}
	// The vault's dashboard is built before serving: handlers then only
	// use it, from many goroutines at once.
	pk := &ui.Passkeys{Path: filepath.Join(v.Home.Dir, "ui", "passkeys.json"), RPID: req.RPID}
	srv := &http.Server{Handler: ui.New(ui.Config{Source: v.Dashboard(), Links: v.uiLinks(), Passkeys: pk, Logger: v.log, Now: v.Now}),
		ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	shown := ln.Addr().String()
	if host, port, err := net.SplitHostPort(shown); err == nil && net.ParseIP(host).IsLoopback() {
		shown = net.JoinHostPort(req.RPID, port)
	}
	ready(shown)
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// DashboardLinkRequest asks for a one-time sign-in link.
type DashboardLinkRequest struct {
	Role, Name, Site string
	TTL              time.Duration
	Addr             string // the dashboard's address, for the link
}

// DashboardLink is an issued sign-in link; the token is in its fragment.
type DashboardLink struct {
	URL     string `json:"url"`
	Role    string `json:"role"`
	Name    string `json:"name"`
	Site    string `json:"site"`
	Expires string `json:"expires"`
}

// IssueDashboardLink issues a one-time sign-in link (only its hash is
// stored, in <home>/ui/links.json). A bad role, a missing name or a TTL
// over 24 h is a usage error.
func (v *Vault) IssueDashboardLink(req DashboardLinkRequest) (*DashboardLink, error) {
	r, err := ui.ParseRole(req.Role)
	if err != nil {
		return nil, hint.WithCode(fmt.Errorf("--role: %w", err), hint.CodeUsage)
	}
	if req.Name == "" {
		return nil, hint.WithCode(errors.New("--name: say who the link is for (it is recorded in the log at sign-in)"), hint.CodeUsage)
	}
	now := v.Now()
	tok, err := v.uiLinks().Issue(ui.Principal{Role: r, Name: req.Name, Site: req.Site}, req.TTL, now)
	if err != nil {
		return nil, hint.WithCode(err, hint.CodeUsage)
	}
	return &DashboardLink{URL: fmt.Sprintf("http://%s/#signin=%s", req.Addr, tok), Role: req.Role, Name: req.Name, Site: req.Site,
		Expires: now.Add(req.TTL).UTC().Format(time.RFC3339)}, nil
}
