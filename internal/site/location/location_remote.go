package location

import (
	"context"
	neturl "net/url"
	"strings"

	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/site/remote"
	"github.com/digital-embassy/embassy/internal/site/retry"
)

// openRemote opens an embassy daemon (embassy://host:port?pki=DIR&id=NAME),
// wrapped in retry like other remote sites. Register it in schemes as
// {"embassy", openRemote} and {"https", openRemote}. Without a query, the
// home's own certificates (Options.PKIDir) identify the client.
func openRemote(ctx context.Context, url string, props site.Properties, opts Options) (site.Backend, error) {
	if !strings.Contains(url, "?") && opts.PKIDir != "" {
		url += "?pki=" + neturl.QueryEscape(opts.PKIDir) + "&id=home"
	}
	cfg, err := remote.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	cfg.Name, cfg.Jurisdiction, cfg.Connections = props.Name, props.Jurisdiction, props.Connections
	if cfg.ExpectSite == "" {
		cfg.ExpectSite = props.Name // the daemon must be the site the home registered
	}
	b, err := remote.New(ctx, cfg)
	if err != nil {
		return nil, err
	}
	ro := opts.Retry
	if ro.Logger == nil {
		ro.Logger = opts.Logger
	}
	return retry.New(b, ro), nil
}
