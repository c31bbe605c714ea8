package exit

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/digital-embassy/embassy/internal/site"
)

// deleteRank orders the deletion: data first, then what names it, and
// config/repo (which marks a site as initialised) last, so that an
// interrupted deletion leaves a site that still says it is one.
func deleteRank(h site.Handle) int {
	if h.Kind == site.KindConfig && h.Name == "repo" {
		return 6
	}
	return map[site.Kind]int{site.KindPack: 0, site.KindIndex: 1, site.KindSnapshot: 2, site.KindLock: 3, site.KindKey: 4, site.KindConfig: 5}[h.Kind]
}

// DeleteObjects deletes every object m lists at b, in deleteRank order,
// and returns how many are gone (absent ones count). It stops after ten
// failures.
func DeleteObjects(ctx context.Context, b site.Backend, m *Manifest) (int, error) {
	var hs []site.Handle
	for _, o := range m.Objects {
		kind, name, _ := strings.Cut(o.Path, "/")
		k, err := site.ParseKind(kind)
		if err != nil {
			return 0, err
		}
		hs = append(hs, site.Handle{Kind: k, Name: name})
	}
	slices.SortStableFunc(hs, func(a, b site.Handle) int { return deleteRank(a) - deleteRank(b) })
	n := 0
	var errs []error
	for _, h := range hs {
		if err := b.Delete(ctx, h); err != nil && !errors.Is(err, site.ErrNotFound) {
			if ctx.Err() != nil {
				return n, ctx.Err()
			}
			errs = append(errs, fmt.Errorf("%s: %w", h, err))
			if len(errs) >= 10 {
				break
			}
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}
