package vault

import (
	"path/filepath"

	"github.com/digital-embassy/embassy/internal/evidence"
	"github.com/digital-embassy/embassy/internal/repo"
)

// SiteAlertsFile is where a home records what its sites were caught at
// (one JSON object a line), next to the RPO alerts.
const SiteAlertsFile = "alerts.jsonl"

// siteAlert is the repository's alert hook: each alert (already a slog
// warning naming the site and the attack) is appended to
// <home>/alerts.jsonl.
func (v *Vault) siteAlert(a repo.Alert) { v.SiteAlert(a) }

// SiteAlert records a site alert (for callers that open a repository themselves).
func (v *Vault) SiteAlert(a repo.Alert) {
	rec := struct {
		Kind string `json:"kind"`
		repo.Alert
	}{"site-integrity", a}
	if err := evidence.AppendLine(filepath.Join(v.Home.Dir, SiteAlertsFile), rec); err != nil {
		v.log.Error("record site alert", "err", err)
	}
}
