package vault

import (
	"context"

	"github.com/digital-embassy/embassy/internal/approval"
)

// AccessApproved reports whether the access request at log index n was
// approved by the home for site (framework requirement 22: a disclosure
// naming its request by index is approved only if the request was).
func (v *Vault) AccessApproved(ctx context.Context, site string, n uint64) bool {
	rd, err := v.Recorder().Reader()
	if err != nil {
		return false
	}
	_, ents, err := rd.All(ctx)
	if err != nil {
		return false
	}
	for _, s := range approval.Status(ents) {
		if s.Index == n {
			return s.Site == site && s.Status == approval.Approved
		}
	}
	return false
}
