package vault

import (
	"context"
	"errors"
	"sync"

	"github.com/digital-embassy/embassy/internal/policy"
	"github.com/digital-embassy/embassy/internal/tlog"
)

// breakGlass follows the log's break-glass state incrementally, so a
// long-running broker reads each entry once.
type breakGlass struct {
	mu   sync.Mutex
	size uint64
	t    policy.BreakGlassTracker
}

// BreakGlassAt reports whether a break-glass emergency access is open at
// site, from the home's log. A log that cannot be read counts as open: a
// key release then waits until the home can see that none is. An empty
// log has no break-glass.
func (v *Vault) BreakGlassAt(ctx context.Context, site string) (policy.BreakGlass, error) {
	shut := policy.BreakGlass{Site: site, Open: true}
	r, err := v.Recorder().Reader()
	if err != nil {
		return shut, err
	}
	cp, _, err := r.Checkpoint(ctx)
	if errors.Is(err, tlog.ErrEmpty) {
		return policy.BreakGlass{Site: site}, nil
	}
	if err != nil {
		return shut, err
	}
	c := &v.bg
	c.mu.Lock()
	defer c.mu.Unlock()
	if cp.Size < c.size { // a smaller log than seen: start again
		c.size, c.t = 0, policy.BreakGlassTracker{}
	}
	if cp.Size > c.size {
		ents, err := r.Entries(ctx, cp.Size, c.size, cp.Size-c.size)
		if err != nil {
			return shut, err
		}
		for _, en := range ents {
			c.t.Add(en)
		}
		c.size = cp.Size
	}
	return c.t.At(site), nil
}
