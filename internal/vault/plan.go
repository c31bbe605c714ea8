package vault

import (
	"context"
	"fmt"
	"strings"

	"github.com/digital-embassy/embassy/internal/agreement"
	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/plan"
)

// CheckNewSite checks a site about to be registered in h the way 'embassy
// site add' does: a valid name not yet in the registry, a URL, and a valid
// jurisdiction (an erasure group's defaults to MULTI) and location. It
// returns the site as it is to be stored; problems are usage errors.
func CheckNewSite(h *home.Home, sc home.SiteConfig) (home.SiteConfig, error) {
	sc.Jurisdiction = strings.ToUpper(sc.Jurisdiction)
	if err := home.ValidSiteName(sc.Name); err != nil {
		return sc, hint.WithCode(err, hint.CodeUsage)
	}
	if s, _ := h.Site(sc.Name); s != nil {
		return sc, hint.WithCode(hint.Wrap(fmt.Errorf("site %q already exists", sc.Name), "choose another name, or remove it first with 'embassy site remove'"), hint.CodeUsage)
	}
	if sc.URL == "" {
		return sc, hint.WithCode(fmt.Errorf("site %s has no url: where the site stores objects (a folder, file:///path or s3://host/bucket)", sc.Name), hint.CodeUsage)
	}
	if sc.IsGroup() && sc.Jurisdiction == "" {
		sc.Jurisdiction = "MULTI"
	} else if err := home.ValidJurisdiction(sc.Jurisdiction); err != nil {
		return sc, hint.WithCode(err, hint.CodeUsage)
	}
	if sc.Location != "" {
		if _, _, err := home.ParseLatLon(sc.Location); err != nil {
			return sc, hint.WithCode(fmt.Errorf("site %s: location %w", sc.Name, err), hint.CodeUsage)
		}
	}
	return sc, nil
}

// reopen is a vault with v's options over the home as it is on disk now
// (a plan's steps save the home between them).
func (v *Vault) reopen() (*Vault, error) {
	h, err := home.Open(v.Home.Dir)
	if err != nil {
		return nil, err
	}
	return &Vault{Home: h, log: v.log, clock: v.clock, warn: v.warn, retry: v.retry, actor: v.actor, open: v.open, wtr: v.wtr, note: v.note}, nil
}

// RegisterSite checks a new site (CheckNewSite) and adds it as 'embassy
// site add' does (AddSite: the storage is opened, the vault copied to it
// within the policy, the site registered and the entry logged), over the
// home as it is on disk.
func (v *Vault) RegisterSite(ctx context.Context, sc home.SiteConfig) (*AddSiteResult, error) {
	nv, err := v.reopen()
	if err != nil {
		return nil, err
	}
	defer nv.Close()
	if sc, err = CheckNewSite(nv.Home, sc); err != nil {
		return nil, err
	}
	return nv.AddSite(ctx, AddSiteRequest{Site: sc})
}

// PlanApplier is the planner's applier over the vault's home: sites are
// added through RegisterSite (the real site add), class rules and the
// recovery distance written to policy.yaml.
func (v *Vault) PlanApplier() *plan.HomeApplier {
	return &plan.HomeApplier{Dir: v.Home.Dir, AddSiteFunc: func(ctx context.Context, sc home.SiteConfig) error {
		_, err := v.RegisterSite(ctx, sc)
		return err
	}}
}

// Planned compares a solved placement with the home: what the applier
// would change, and the agreements the plan names that are not installed.
func (v *Vault) Planned(ctx context.Context, s *plan.Scenario, pl *plan.Placement) (*plan.HomeApplier, []plan.Difference, error) {
	a := v.PlanApplier()
	sys, err := a.System(ctx)
	if err != nil {
		return nil, nil, err
	}
	want := plan.DesiredSystem(s, pl)
	ias, err := LoadAgreements(v.Home, agreement.DefaultBaseline())
	if err != nil {
		return nil, nil, err
	}
	var ids []string
	for _, ia := range ias {
		ids = append(ids, ia.ID)
	}
	return a, append(plan.Compare(want, sys), plan.MissingAgreements(want, ids)...), nil
}

// PlanApplied is what applying a plan did (or, dry, would do), and the
// differences that need an operator (a site to remove, a URL to change).
type PlanApplied struct {
	Done []plan.Difference `json:"actions"`
	Left []plan.Difference `json:"left"`
}

// ApplyPlan makes the home's sites and class rules match a solved
// placement through PlanApplier; with dry nothing is changed. It never
// removes a site or changes a site's URL: those are left.
func (v *Vault) ApplyPlan(ctx context.Context, s *plan.Scenario, pl *plan.Placement, dry bool) (*PlanApplied, error) {
	a, diffs, err := v.Planned(ctx, s, pl)
	if err != nil {
		return nil, err
	}
	out := &PlanApplied{Done: []plan.Difference{}, Left: []plan.Difference{}}
	for _, d := range diffs {
		if !d.Fixable {
			out.Left = append(out.Left, d)
		} else if dry {
			out.Done = append(out.Done, d)
		}
	}
	if !dry {
		done, err := plan.Apply(ctx, a, diffs)
		if err != nil {
			return nil, err
		}
		out.Done = append(out.Done, done...)
	}
	return out, nil
}
