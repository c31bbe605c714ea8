package cli

import (
	"fmt"
	"strings"

	"github.com/digital-embassy/embassy/internal/class"
	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/policy"
	"github.com/digital-embassy/embassy/internal/repo"
)

// placeDataset makes one policy.Write decision per configured site for a
// snapshot of dataset name labelled label. Denied sites are kept off the
// write (undo lets them in again, for long-running callers such as
// protect); if no site is allowed the snapshot is refused, so an
// unlabelled dataset never leaves home. The allowed sites are then checked
// against the class's minimum copies, jurisdictions and erasure code:
// warnings, or a refusal when the class rule sets require-copies.
func (e *env) placeDataset(h *home.Home, r *repo.Repo, name, label string) (allowed []policy.Site, undo func(), err error) {
	var undos []func()
	undo = func() {
		for _, u := range undos {
			u()
		}
	}
	ds := policy.Dataset{Name: name, Class: label}
	var denied []policy.Decision
	var usable []home.SiteConfig
	var usablePS []policy.Site
	for _, s := range r.Sites() {
		sc, _ := h.Site(s.Name)
		if sc == nil {
			continue // the home's own mirror
		}
		ps := e.policySiteFor(h, *sc)
		d, err := e.checkPolicy(h, policy.Request{Action: policy.Write, Dataset: ds, Site: ps})
		if err != nil {
			undo()
			return nil, func() {}, err
		}
		if !d.Allow {
			denied = append(denied, d)
			undos = append(undos, s.Exclude(fmt.Errorf("policy: %s", strings.Join(d.Reasons, "; "))))
			continue
		}
		allowed = append(allowed, ps)
		if s.Backend != nil && s.Err() == nil {
			usable = append(usable, *sc)
			usablePS = append(usablePS, ps)
		}
	}
	if len(allowed) == 0 && len(denied) > 0 {
		undo()
		return nil, func() {}, denyError("snapshot of "+name, denied[0])
	}
	eng := e.policyState().engine
	if eng == nil || label == "" {
		return allowed, undo, nil
	}
	lbl, _ := class.Parse(label)
	st := eng.Settings()
	cp := st.For(lbl)
	var problems, rules []string
	for _, p := range eng.CheckCopies(ds, usablePS) {
		rule := "min-copies"
		if strings.Contains(p, "jurisdictions") {
			rule = "min-jurisdictions"
		}
		rules = append(rules, rule)
		problems = append(problems, fmt.Sprintf("%s (class rule %s in policy.yaml)", p, rule))
	}
	if p := erasureProblem(lbl, cp, usable); p != "" {
		rules = append(rules, "erasure")
		problems = append(problems, p)
	}
	if len(problems) == 0 {
		return allowed, undo, nil
	}
	if cp.RequireCopies {
		undo()
		e.recordEvent(h, policy.Event{Time: e.now(), Kind: "policy-denied", Action: policy.Write, Dataset: name, Class: label, Rules: rules, Reasons: problems})
		return nil, func() {}, hint.Wrap(fmt.Errorf("policy refuses snapshot of %s: %s", name, strings.Join(problems, "; ")),
			"the class rule sets require-copies: add or repair sites until the minimums are met (see 'embassy policy explain "+name+"')")
	}
	for _, p := range problems {
		e.warnf("policy: %s", p)
	}
	return allowed, undo, nil
}

// erasureProblem checks that a class whose rule names an erasure code k+m
// is written to at least one erasure group ("erasure:K+M?...") with at
// least k data and m parity shards.
func erasureProblem(lbl class.Label, cp policy.ClassPolicy, sites []home.SiteConfig) string {
	if cp.Erasure == "" {
		return ""
	}
	k, m, err := policy.ParseErasure(cp.Erasure)
	if err != nil {
		return ""
	}
	for _, sc := range sites {
		if !sc.IsGroup() {
			continue
		}
		geo, _, _ := strings.Cut(strings.TrimPrefix(sc.URL, "erasure:"), "?")
		if gk, gm, err := policy.ParseErasure(geo); err == nil && gk >= k && gm >= m {
			return ""
		}
	}
	return fmt.Sprintf("%s data is to be stored with erasure code %s, and no allowed site is an erasure group of at least %d+%d (class rule erasure in policy.yaml): add one with 'embassy site add NAME --url \"erasure:%d+%d?members=a,b,c\"'", lbl, cp.Erasure, k, m, k, m)
}

// gateReads makes one decision (policy.Restore or policy.Read) per
// configured site the repository may read ds from. Denied sites are closed
// and not read for the rest of the command; if none is allowed the command
// is refused. The home's mirror (keys and config only) is always read.
func (e *env) gateReads(h *home.Home, r *repo.Repo, action policy.Action, ds policy.Dataset) error {
	var denied []policy.Decision
	allowed := 0
	for _, s := range r.Sites() {
		sc, _ := h.Site(s.Name)
		if sc == nil {
			continue
		}
		d, err := e.checkPolicy(h, policy.Request{Action: action, Dataset: ds, Site: e.policySiteFor(h, *sc)})
		if err != nil {
			return err
		}
		if d.Allow {
			allowed++
			continue
		}
		denied = append(denied, d)
		denySite(s, d)
	}
	if allowed == 0 && len(denied) > 0 {
		return denyError(string(action)+" of "+ds.Name, denied[0])
	}
	return nil
}

// denySite keeps a site out of the command: failed, so nothing is written
// to it, and closed, so nothing is read from it.
func denySite(s *repo.Site, d policy.Decision) {
	s.Fail(fmt.Errorf("policy: %s", strings.Join(d.Reasons, "; ")))
	if s.Backend != nil {
		s.Backend.Close()
		s.Backend = nil
	}
}

// datasetLabels returns every dataset of the vault by id, labelled with the
// class of its latest snapshot ("" if it has none: it cannot leave home).
func (e *env) datasetLabels(r *repo.Repo) (map[string]policy.Dataset, error) {
	dss, err := r.Datasets(e.ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]policy.Dataset{}
	for _, dk := range dss {
		pd := policy.Dataset{Name: dk.Name}
		if d, err := r.OpenDataset(e.ctx, dk); err == nil {
			if snaps, _, err := d.Snapshots(e.ctx); err == nil && len(snaps) > 0 {
				pd.Class = snaps[len(snaps)-1].Class
			}
		}
		out[dk.ID] = pd
	}
	return out, nil
}

// replicationFilter makes one policy.Replicate decision per dataset and
// target site, and returns the filter that keeps denied datasets' objects
// off those sites (with a warning naming the reasons). The home's own
// objects (config, key epochs, custodian shares) always go.
func (e *env) replicationFilter(h *home.Home, r *repo.Repo, targets []home.SiteConfig) (repo.CopyFilter, error) {
	labels, err := e.datasetLabels(r)
	if err != nil {
		return nil, err
	}
	skip := map[string]map[string]bool{}
	for _, sc := range targets {
		ps := e.policySiteFor(h, sc)
		for id, ds := range labels {
			d, err := e.checkPolicy(h, policy.Request{Action: policy.Replicate, Dataset: ds, Site: ps})
			if err != nil {
				return nil, err
			}
			if d.Allow {
				continue
			}
			if skip[sc.Name] == nil {
				skip[sc.Name] = map[string]bool{}
			}
			skip[sc.Name][id] = true
			e.warnf("policy: dataset %s not copied to site %s: %s", ds.Name, sc.Name, strings.Join(d.Reasons, "; "))
		}
	}
	return repo.SkipDatasets(skip), nil
}
