package vault

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/repo"
	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/site/location"
)

// OpenURLSites opens the sites at urls (no home needed), named site-1,
// site-2, ... in order, and returns them with a function that closes
// them all. A URL that does not open is a usage error naming it; the
// sites opened before it are closed.
func OpenURLSites(ctx context.Context, urls []string, log *slog.Logger) ([]*repo.Site, func(), error) {
	var rs []*repo.Site
	closeAll := func() {
		for _, s := range rs {
			_ = s.Backend.Close()
		}
	}
	for i, u := range urls {
		name := fmt.Sprintf("site-%d", i+1)
		b, err := location.Open(ctx, u, site.Properties{Name: name}, location.Options{Logger: log})
		if err != nil {
			closeAll()
			return nil, func() {}, hint.WithCode(fmt.Errorf("site %s: %w", u, err), hint.CodeUsage)
		}
		rs = append(rs, &repo.Site{Name: name, Backend: b})
	}
	return rs, closeAll, nil
}
