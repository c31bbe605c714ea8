package vault

import (
	"time"

	"github.com/digital-embassy/embassy/internal/agreement"
	"github.com/digital-embassy/embassy/internal/home"
)

// IncidentHours gives each site's operations.incident-notification-hours:
// its agreement's, else the baseline's.
func IncidentHours(h *home.Home) func(site string) time.Duration {
	base := agreement.DefaultBaseline()
	fallback := time.Duration(base.Values["operations.incident-notification-hours"].Int()) * time.Hour
	byID := map[string]*agreement.Agreement{}
	if ias, err := LoadAgreements(h, base); err == nil {
		for _, ia := range ias {
			byID[ia.ID] = ia.Agreement
		}
	}
	hours := map[string]time.Duration{}
	for _, sc := range h.Config.Sites {
		if a := byID[sc.Agreement]; a != nil {
			if n := agreement.Resolve(a, base)["operations.incident-notification-hours"].Value.Int(); n > 0 {
				hours[sc.Name] = time.Duration(n) * time.Hour
			}
		}
	}
	return func(site string) time.Duration {
		if d, ok := hours[site]; ok {
			return d
		}
		return fallback
	}
}
