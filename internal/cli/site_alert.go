package cli

import (
	"path/filepath"

	"github.com/digital-embassy/embassy/internal/evidence"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/repo"
)

// SiteAlertsFile is where a home records what its sites were caught at
// (one JSON object a line), next to the RPO alerts.
const SiteAlertsFile = "alerts.jsonl"

// siteAlerts returns the repository's alert hook for home h: each alert
// (already a slog warning naming the site and the attack) is appended to
// <home>/alerts.jsonl.
func (e *env) siteAlerts(h *home.Home) func(repo.Alert) {
	return func(a repo.Alert) {
		rec := struct {
			Kind string `json:"kind"`
			repo.Alert
		}{"site-integrity", a}
		if err := evidence.AppendLine(filepath.Join(h.Dir, SiteAlertsFile), rec); err != nil {
			e.log.ErrorContext(e.ctx, "record site alert", "err", err)
		}
	}
}
