package cli

import (
	"os"
	"path/filepath"

	"github.com/digital-embassy/embassy/internal/agreement"
	"github.com/digital-embassy/embassy/internal/approval"
	"github.com/digital-embassy/embassy/internal/assess"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/incident"
	"github.com/digital-embassy/embassy/internal/pki"
	"github.com/digital-embassy/embassy/internal/policy"
	"github.com/digital-embassy/embassy/internal/protect"
	"github.com/digital-embassy/embassy/internal/tlog"
	"github.com/digital-embassy/embassy/internal/vault"
)

// runRequirements is 'embassy assess --requirements': every requirement of
// the framework with its status on this home and the evidence behind it.
// A violated requirement gives exit code 3.
func (e *env) runRequirements(h *home.Home) error {
	f, err := e.requirementFacts(h)
	if err != nil {
		return err
	}
	fw := assess.Requirements(f)
	if fw.Violations() {
		e.warned = true
	}
	if e.json {
		return e.emitJSON(fw)
	}
	if e.quiet {
		return nil
	}
	return fw.WriteText(e.stdout)
}

// requirementFacts gathers what the requirements are checked against.
func (e *env) requirementFacts(h *home.Home) (*assess.Facts, error) {
	base := agreement.DefaultBaseline()
	settings, err := loadSettings(h, base)
	if err != nil {
		return nil, err
	}
	ias, err := loadAgreements(h, base)
	if err != nil {
		return nil, err
	}
	var ags []*agreement.Agreement
	for _, ia := range ias {
		ags = append(ags, ia.Agreement)
	}
	eng, err := policy.New(settings, base, ags)
	if err != nil {
		return nil, err
	}
	f := &assess.Facts{Home: h.Config.Home, Now: e.now(), Baseline: base, Engine: eng, Agreements: ags, Configured: map[string]bool{}}
	for _, sc := range h.Config.Sites {
		f.Sites = append(f.Sites, policySite(settings, sc))
	}
	f.Scan, f.Holdings = e.vaultOf(h).Holdings(e.ctx)
	if r, _, err := e.readLog(h); err == nil {
		if _, ents, err := r.All(e.ctx); err == nil {
			f.Log = ents
			if f.Log == nil {
				f.Log = []tlog.Indexed{}
			}
			o := tlog.DisclosureOptions{Now: f.Now}
			if deadline, err := vault.DisclosureDeadlines(h, tlog.DefaultAllowed); err == nil {
				o.Allowed = deadline
			}
			rep := tlog.Disclosures(ents, o)
			f.Disclosure = &rep
			f.Incidents = incident.Status(ents, f.Now, incidentHours(h))
			f.Access = approval.Status(ents)
		}
	}
	exists := func(p ...string) bool {
		_, err := os.Stat(filepath.Join(append([]string{h.Dir}, p...)...))
		return err == nil
	}
	f.Configured["pki"] = exists("pki", pki.CACertFile)
	f.Configured["revocations"] = exists("pki", pki.CRLFile)
	if ents, err := os.ReadDir(filepath.Join(brokerDir(h), "refs", "approved")); err == nil && len(ents) > 0 {
		f.Configured["broker-refs"] = true
	}
	f.Configured["protect"] = exists(protect.FileName)
	f.Configured["watch"] = exists("watch.yaml") || exists("watch", "state.json")
	return f, nil
}
