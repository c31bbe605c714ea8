package vault

import (
	"context"
	"fmt"
	"strings"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/repo"
	"github.com/digital-embassy/embassy/internal/site"
)

// RefuseSameStorage fails if b, the storage of site name, is also the
// storage of another registered site (issue 11 item 9): the same folder or
// bucket prefix must not count as two copies, and leaving one must not
// delete the other's objects. Erasure groups are skipped: their members
// carry the markers.
func RefuseSameStorage(ctx context.Context, h *home.Home, r *repo.Repo, name string, b site.Backend, why string) error {
	group := map[string]bool{}
	for _, sc := range h.Config.Sites {
		group[sc.Name] = sc.IsGroup()
	}
	var others []*repo.Site
	for _, s := range r.Sites() {
		if s.Name != name && !group[s.Name] {
			others = append(others, s)
		}
	}
	same, err := repo.SameStorage(ctx, b, others)
	if err != nil {
		return hint.Wrap(fmt.Errorf("site %s: check that it is not another site's storage: %w", name, err), "make every registered site reachable and try again")
	}
	if len(same) > 0 {
		return hint.WithCode(hint.Wrap(fmt.Errorf("site %s is the same storage as registered site %s: %s", name, strings.Join(same, ", "), why),
			"a folder or bucket prefix can be registered once; use another location, or 'embassy site remove' the duplicate name (which deletes nothing)"), hint.CodeUsage)
	}
	return nil
}
