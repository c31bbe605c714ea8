// Package location opens a site from its URL, choosing the backend by
// scheme from an explicit list: plain paths and file:// are local
// directories (fs), s3:// is an S3-compatible bucket wrapped in retry.
package location

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/site/fs"
	"github.com/digital-embassy/embassy/internal/site/retry"
	"github.com/digital-embassy/embassy/internal/site/s3"
)

// Options modify Open.
type Options struct {
	// Create makes the site on first use: the directory for fs, the bucket
	// for s3.
	Create bool
	Retry  retry.Options // for remote sites
	Logger *slog.Logger  // default discards
	// Members resolves a group member's name to its URL and properties
	// (from the home's site registry), for erasure-coded groups.
	Members func(name string) (url string, props site.Properties, err error)
	// PKIDir holds the home's certificates (ca.crt, home.crt, home.key),
	// used for embassy:// sites whose URL names no client identity.
	PKIDir string
}

type opener func(ctx context.Context, url string, props site.Properties, opts Options) (site.Backend, error)

// schemes lists the supported schemes, in the order error messages name them.
var schemes = []struct {
	scheme string
	open   opener
}{
	{"file", openFS},
	{"s3", openS3},
	{"embassy", openRemote},
	{"https", openRemote},
}

// groupScheme is opened by openErasure, which calls Open for its members
// (kept out of the schemes table to avoid an initialisation cycle).
const groupScheme = "erasure"

// Schemes returns the supported URL schemes.
func Schemes() []string {
	out := make([]string, len(schemes), len(schemes)+1)
	for i, s := range schemes {
		out[i] = s.scheme
	}
	return append(out, groupScheme)
}

// Open opens the site at url. props supplies Name, Jurisdiction and, if
// non-zero, Connections; Location and ObjectLock come from the backend.
func Open(ctx context.Context, url string, props site.Properties, opts Options) (site.Backend, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	scheme := "file"
	if i := strings.Index(url, "://"); i >= 0 {
		scheme = url[:i]
	} else if i := strings.Index(url, ":"); i > 1 && !strings.ContainsAny(url[:i], `/\.`) {
		scheme = url[:i] // "s3:bucket", "sftp:host": a scheme without //, not a path or drive
	}
	for _, s := range schemes {
		if strings.EqualFold(s.scheme, scheme) {
			return s.open(ctx, url, props, opts)
		}
	}
	if strings.EqualFold(scheme, groupScheme) {
		return openErasure(ctx, url, props, opts)
	}
	return nil, fmt.Errorf("unsupported site url %q: scheme %q unknown; use a directory path, file:///path, s3://host/bucket, embassy://host:port or erasure:K+M?members=a,b,c", redact(url), scheme)
}

func openFS(ctx context.Context, url string, props site.Properties, opts Options) (site.Backend, error) {
	cfg, err := fs.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	cfg.Name, cfg.Jurisdiction, cfg.Connections, cfg.Create = props.Name, props.Jurisdiction, props.Connections, opts.Create
	return fs.New(ctx, cfg)
}

func openS3(ctx context.Context, url string, props site.Properties, opts Options) (site.Backend, error) {
	cfg, err := s3.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	cfg.Name, cfg.Jurisdiction, cfg.Connections, cfg.CreateBucket = props.Name, props.Jurisdiction, props.Connections, opts.Create
	b, err := s3.New(ctx, cfg)
	if err != nil {
		return nil, err
	}
	ro := opts.Retry
	if ro.Logger == nil {
		ro.Logger = opts.Logger
	}
	return retry.New(b, ro), nil
}

// redact drops userinfo from a URL that failed to open.
func redact(url string) string {
	scheme, rest, ok := strings.Cut(url, "://")
	if i := strings.LastIndex(rest, "@"); ok && i >= 0 {
		return scheme + "://[redacted]@" + rest[i+1:]
	}
	return url
}
