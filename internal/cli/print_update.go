package cli

import (
	"strings"
	"time"

	"github.com/digital-embassy/embassy/internal/vault"
)

// printApproval shows the update approval 'update approve' signed.
func (e *env) printApproval(s *vault.SignedUpdate) error {
	if e.json {
		return e.emitJSON(s)
	}
	what := []string{}
	if s.Digest != "" {
		what = append(what, "sha256 "+s.Digest)
	}
	if len(s.Measurements) > 0 {
		what = append(what, plural(len(s.Measurements), "measurement"))
	}
	if s.SBOM != "" {
		what = append(what, "sbom "+s.SBOM)
	}
	e.printf("approved update %s: %s (%s), until %s\n", s.ID, s.Artifact, strings.Join(what, ", "), s.NotAfter.Format(time.RFC3339))
	return nil
}

// printUpdateStates shows 'update list': each approval with its state.
func (e *env) printUpdateStates(rows []vault.UpdateState) error {
	if e.json {
		return e.emitJSON(rows)
	}
	for _, r := range rows {
		what := r.Digest
		if what == "" {
			what = plural(len(r.Measurements), "measurement")
		} else if len(r.Measurements) > 0 {
			what += " + " + plural(len(r.Measurements), "measurement")
		}
		e.printf("%s  %-9s %-16s until %s  %s\n", r.ID, r.State, r.Artifact, r.NotAfter.Format(time.DateOnly), what)
	}
	return nil
}

// printUpdateChecks shows 'update check': a warning for each site that
// runs a build no approval in force covers, then each daemon site's build.
func (e *env) printUpdateChecks(res []vault.UpdateCheck) error {
	for _, r := range res {
		switch {
		case r.Status == vault.UpdateCheckError:
			// already warned by the vault
			e.warned = true
		case r.Unapproved():
			e.warnf("site %s runs %s %s build: %s", r.Site, article(r.Status), r.Artifact, r.Detail)
		}
	}
	if e.json {
		return e.emitJSON(res)
	}
	for _, r := range res {
		e.printf("%-12s %-10s %s %s\n", r.Site, r.Status, r.Digest, r.Main)
	}
	if len(res) == 0 {
		e.printf("no daemon sites\n")
	}
	return nil
}
