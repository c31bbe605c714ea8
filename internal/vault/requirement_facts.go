package vault

import (
	"context"
	"os"
	"path/filepath"
	"time"

	"github.com/digital-embassy/embassy/internal/agreement"
	"github.com/digital-embassy/embassy/internal/approval"
	"github.com/digital-embassy/embassy/internal/assess"
	"github.com/digital-embassy/embassy/internal/incident"
	"github.com/digital-embassy/embassy/internal/pki"
	"github.com/digital-embassy/embassy/internal/policy"
	"github.com/digital-embassy/embassy/internal/protect"
	"github.com/digital-embassy/embassy/internal/tlog"
)

// RequirementFacts gathers what the framework's requirements
// (assess.Requirements) are checked against on this home at now: the
// policy engine built from its settings and installed agreements, its
// sites, the holdings scan, the log with its disclosures, incidents and
// access decisions, and which parts (PKI, revocations, broker references,
// protect, watch) are configured. An unreadable log leaves the log facts
// empty; settings or agreements that do not load are an error.
func (v *Vault) RequirementFacts(ctx context.Context, now time.Time) (*assess.Facts, error) {
	h := v.Home
	base := agreement.DefaultBaseline()
	settings, err := LoadSettings(h, base)
	if err != nil {
		return nil, err
	}
	ias, err := LoadAgreements(h, base)
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
	f := &assess.Facts{Home: h.Config.Home, Now: now, Baseline: base, Engine: eng, Agreements: ags, Configured: map[string]bool{}}
	for _, sc := range h.Config.Sites {
		f.Sites = append(f.Sites, policy.Site{Name: sc.Name, Jurisdiction: sc.Jurisdiction, Tier: sc.Tier, Agreement: sc.Agreement,
			DistanceKm: policy.DistanceKm(settings.HomeLocation, sc.Location)})
	}
	f.Scan, f.Holdings = v.Holdings(ctx)
	if r, err := v.Recorder().Reader(); err == nil {
		if _, ents, err := r.All(ctx); err == nil {
			f.Log = ents
			if f.Log == nil {
				f.Log = []tlog.Indexed{}
			}
			o := tlog.DisclosureOptions{Now: f.Now}
			if deadline, err := DisclosureDeadlines(h, tlog.DefaultAllowed); err == nil {
				o.Allowed = deadline
			}
			rep := tlog.Disclosures(ents, o)
			f.Disclosure = &rep
			f.Incidents = incident.Status(ents, f.Now, IncidentHours(h))
			f.Access = approval.Status(ents)
		}
	}
	exists := func(p ...string) bool {
		_, err := os.Stat(filepath.Join(append([]string{h.Dir}, p...)...))
		return err == nil
	}
	f.Configured["pki"] = exists("pki", pki.CACertFile)
	f.Configured["revocations"] = exists("pki", pki.CRLFile)
	if ents, err := os.ReadDir(filepath.Join(BrokerDir(h), "refs", "approved")); err == nil && len(ents) > 0 {
		f.Configured["broker-refs"] = true
	}
	f.Configured["protect"] = exists(protect.FileName)
	f.Configured["watch"] = exists("watch.yaml") || exists("watch", "state.json")
	return f, nil
}
