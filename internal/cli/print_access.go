package cli

import (
	"strconv"
	"time"

	"github.com/digital-embassy/embassy/internal/approval"
	"github.com/digital-embassy/embassy/internal/vault"
)

func autoDenied(rs []vault.AccessResult) bool {
	for _, r := range rs {
		if r.Auto {
			return true
		}
	}
	return false
}

func accessLine(s approval.State) string {
	d := s.Status
	if s.Status != approval.Pending {
		d += " " + s.Decided.UTC().Format(time.DateTime)
		if s.Auto {
			d += " (auto-deny)"
		}
	}
	if s.FromDaemon() {
		d += "; at the daemon: " + s.Scope + " for " + s.Duration + " by " + termSafe(s.Requester)
	}
	return strconv.FormatUint(s.Index, 10) + "  " + s.Site + "  " + s.Reason + "  " + termSafe(s.Who) + ": " + termSafe(s.What) + "; " + d
}
