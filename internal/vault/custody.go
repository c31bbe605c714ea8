package vault

import (
	"context"
	"fmt"
	"strconv"

	"github.com/digital-embassy/embassy/internal/repo"
	"github.com/digital-embassy/embassy/internal/tlog"
)

// Unwrap purposes, recorded in a key.unwrap entry's "purpose" detail.
const (
	UnwrapUse   = "use"   // the key was unwrapped for the operation
	UnwrapCheck = "check" // unwrapped only to tell the home's own uncommitted record from a planted one
)

// UnwrapEntries are the key.unwrap entries of unwrapped dataset key
// records (framework requirement 12: a key-usage log for every unwrap).
// They name the dataset by id, the key by version and epoch, and the site
// the wrapped record came from; the home initiated them, so they need no
// access disclosure.
func UnwrapEntries(us []repo.Unwrap) []tlog.Entry {
	out := make([]tlog.Entry, 0, len(us))
	for _, u := range us {
		purpose := UnwrapUse
		if !u.Used {
			purpose = UnwrapCheck
		}
		out = append(out, tlog.Entry{Kind: tlog.KindKeyUnwrap, Dataset: u.Dataset, Site: u.Site,
			Object:  fmt.Sprintf("v%06d.e%08d", u.Version, u.Epoch),
			Details: map[string]string{tlog.DetailInitiator: "home", "purpose": purpose, "epoch": strconv.FormatUint(uint64(u.Epoch), 10)}})
	}
	return out
}

// recordUnwraps is the repository's OnUnwrap hook: every unwrap is in the
// transparency log before the keys are used. A log that cannot be written
// is a warning (the operation goes on: refusing would lock the home out
// of its own data when its log is unwritable).
func (v *Vault) recordUnwraps(ctx context.Context, us []repo.Unwrap) {
	v.log.InfoContext(ctx, "dataset keys unwrapped", "count", len(us))
	v.Recorder().Audit(ctx, UnwrapEntries(us)...)
}
