package vault

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/digital-embassy/embassy/internal/class"
	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/policy"
	"github.com/digital-embassy/embassy/internal/repo"
	"github.com/digital-embassy/embassy/internal/site/erasure"
	"github.com/digital-embassy/embassy/internal/tlog"
)

// Decision is one answer of the gate, structured: callers act on Allow and
// Rules, never on the text of Reasons.
type Decision struct {
	Action  policy.Action `json:"action"`
	Dataset string        `json:"dataset,omitempty"`
	Class   string        `json:"class,omitempty"`
	Site    string        `json:"site,omitempty"`
	Allow   bool          `json:"allow"`
	Rules   []string      `json:"rules,omitempty"`
	Reasons []string      `json:"reasons,omitempty"`
}

// Denial is a site kept out of an operation by the policy. It is the error
// a denied site carries for the rest of the command, so that reports can
// tell a denied site from a failed one (errors.As).
type Denial struct{ Decision }

func (d *Denial) Error() string {
	return fmt.Sprintf("policy denies %s of %s at %s (%s): %s", d.Action, d.Dataset, d.Site,
		strings.Join(d.Rules, ","), strings.Join(d.Reasons, "; "))
}

// Gate is the vault's one policy gate: the engine, built once per opened
// vault from the home's settings and agreements, asked for every action
// from every entry point. Denials are recorded in the transparency log;
// alerts are raised once.
type Gate struct {
	v      *Vault
	Engine *policy.Engine

	mu        sync.Mutex
	alerted   map[string]bool
	decisions []Decision
	logWarned bool
}

// ErrOutsideWitness marks a write refused because its class requires a
// log witness outside the home and the log policy has none in its quorum
// (exit 3: refused, even for a snapshot).
var ErrOutsideWitness = errors.New("requires a log witness outside the home")

// checkLogWitness refuses a write of dataset name labelled label (exit 3)
// while the log policy's quorum can be met by the home's own witnesses
// alone, if a class rule for the label sets require-outside-witness: the
// home could then rewrite its history unnoticed
// (tlog.Policy.RequireExternal). For other labels of integrity level I3 it
// notes the same once per vault, as a warning.
func (g *Gate) checkLogWitness(ctx context.Context, ds policy.Dataset) error {
	name, label := ds.Name, ds.Class
	l, err := class.Parse(label)
	if err != nil {
		return nil
	}
	st := g.Engine.Settings()
	cp := st.For(l)
	if !cp.RequireOutsideWitness {
		g.mu.Lock()
		done := g.logWarned
		g.logWarned = true
		g.mu.Unlock()
		if done || l.I < 3 {
			return nil
		}
	}
	rc := g.v.Recorder()
	if err := rc.Setup(); err != nil || rc.Policy == nil {
		if cp.RequireOutsideWitness {
			return hint.WithCode(hint.Wrap(fmt.Errorf("policy refuses snapshot of %s: class %s %w, and the log policy cannot be read: %v", name, label, ErrOutsideWitness, err),
				"fix the home's log (see 'embassy log') and add a host site's witness with 'embassy witness add NAME VKEY URL'"), hint.CodeDamaged)
		}
		return nil
	}
	err = rc.Policy.RequireExternal()
	if err == nil {
		return nil
	}
	if !cp.RequireOutsideWitness {
		g.v.notef("dataset %s is of integrity level I%d, which needs a log witness outside the home: %v; %s", name, l.I, err, hint.Of(err))
		return nil
	}
	g.v.RecordEvent(ctx, policy.Event{Time: g.v.Now(), Kind: "policy-denied", Action: policy.Write, Dataset: name, DatasetID: ds.ID, Class: label,
		Rules: []string{"require-outside-witness"}, Reasons: []string{err.Error()}})
	return hint.WithCode(hint.Wrap(fmt.Errorf("policy refuses snapshot of %s: class %s %w (require-outside-witness in policy.yaml), but %w", name, label, ErrOutsideWitness, err),
		hint.Of(err)+", then snapshot again"), hint.CodeDamaged)
}

// Gate returns the vault's policy gate, building it on first use.
func (v *Vault) Gate() (*Gate, error) {
	v.gateOnce.Do(func() {
		eng, err := LoadPolicy(v.Home)
		if err != nil {
			v.gateErr = err
			return
		}
		v.gate = &Gate{v: v, Engine: eng, alerted: map[string]bool{}}
	})
	return v.gate, v.gateErr
}

// Site describes a configured site for the engine.
func (g *Gate) Site(sc home.SiteConfig) policy.Site {
	s := g.Engine.Settings()
	return policy.Site{Name: sc.Name, Jurisdiction: sc.Jurisdiction, Tier: sc.Tier, Agreement: sc.Agreement,
		DistanceKm: policy.DistanceKm(s.HomeLocation, sc.Location)}
}

// Decide asks the engine for one decision at the vault's clock. A denial
// is recorded in the transparency log; alerts are raised as warnings once.
func (g *Gate) Decide(ctx context.Context, req policy.Request) Decision {
	return g.decide(ctx, req, true)
}

// decide is Decide; record false leaves a denial out of the log, for
// callers that log the refusal themselves (the broker's key.refuse) or
// only show it (break-glass status).
func (g *Gate) decide(ctx context.Context, req policy.Request, record bool) Decision {
	if req.Now.IsZero() {
		req.Now = g.v.Now()
	}
	pd := g.Engine.Decide(req)
	d := Decision{Action: req.Action, Dataset: req.Dataset.Name, Class: req.Dataset.Class, Site: req.Site.Name,
		Allow: pd.Allow, Rules: pd.Rules, Reasons: pd.Reasons}
	g.mu.Lock()
	g.decisions = append(g.decisions, d)
	var fresh []string
	for _, a := range pd.Alerts {
		if !g.alerted[a] {
			g.alerted[a] = true
			fresh = append(fresh, a)
		}
	}
	g.mu.Unlock()
	for _, a := range fresh {
		g.v.Warnf("policy alert: %s", a)
	}
	if !pd.Allow && record {
		g.v.RecordEvent(ctx, policy.DenialEvent(req, pd))
	}
	return d
}

// Raw is Decide returning the engine's decision (with alerts), for callers
// that present it (disclosures, explain).
func (g *Gate) Raw(ctx context.Context, req policy.Request) policy.Decision {
	if req.Now.IsZero() {
		req.Now = g.v.Now()
	}
	d := g.Decide(ctx, req)
	return policy.Decision{Allow: d.Allow, Rules: d.Rules, Reasons: d.Reasons}
}

// Decisions returns every decision the gate made, in order.
func (g *Gate) Decisions() []Decision {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]Decision(nil), g.decisions...)
}

// DenyError turns a denial into an operator error (exit code 1).
func DenyError(what string, d Decision) error {
	if len(d.Rules) > 0 { // the rule ids, for scripts; the reasons name the sites
		what += " (" + strings.Join(d.Rules, ", ") + ")"
	}
	return hint.Wrap(fmt.Errorf("policy denies %s: %s", what, strings.Join(d.Reasons, "; ")),
		"see 'embassy policy explain DATASET' for every site's decision")
}

// Placement is the outcome of placing a snapshot: the sites allowed, the
// sites denied (with their decisions) and the class shortfalls of the
// allowed, usable sites.
type Placement struct {
	Allowed   []policy.Site
	Denied    []Decision
	Shortfall []policy.Problem
}

// Place makes one policy.Write decision per configured site for a snapshot
// of dataset name labelled label. Denied sites are kept off the write
// (undo lets them in again, for long-running callers such as protect); if
// no site is allowed the snapshot is refused, so an unlabelled dataset
// never leaves home. The allowed sites are then checked against the
// class's minimum copies, jurisdictions and erasure code: warnings, or a
// refusal when the class rule sets require-copies.
func (g *Gate) Place(ctx context.Context, r *repo.Repo, ds policy.Dataset) (Placement, func(), error) {
	name, label := ds.Name, ds.Class
	var undos []func()
	undo := func() {
		for _, u := range undos {
			u()
		}
	}
	var pl Placement
	if err := g.checkLogWitness(ctx, ds); err != nil {
		return pl, func() {}, err
	}
	var usable []home.SiteConfig
	var usablePS []policy.Site
	for _, s := range r.Sites() {
		sc, _ := g.v.Home.Site(s.Name)
		if sc == nil {
			continue // the home's own mirror
		}
		ps := g.Site(*sc)
		d := g.Decide(ctx, policy.Request{Action: policy.Write, Dataset: ds, Site: ps})
		if !d.Allow {
			pl.Denied = append(pl.Denied, d)
			undos = append(undos, s.Exclude(&Denial{d}))
			continue
		}
		pl.Allowed = append(pl.Allowed, ps)
		if s.Backend != nil && s.Err() == nil {
			usable = append(usable, *sc)
			usablePS = append(usablePS, ps)
		}
	}
	if len(pl.Allowed) == 0 && len(pl.Denied) > 0 {
		undo()
		return pl, func() {}, DenyError("snapshot of "+name, pl.Denied[0])
	}
	if label == "" {
		return pl, undo, nil
	}
	lbl, _ := class.Parse(label)
	st := g.Engine.Settings()
	cp := st.For(lbl)
	for _, p := range g.Engine.CopyProblems(ds, usablePS) {
		p.Reason = fmt.Sprintf("%s (class rule %s in policy.yaml)", p.Reason, p.Rule)
		pl.Shortfall = append(pl.Shortfall, p)
	}
	if p := erasureProblem(lbl, cp, usable); p != "" {
		pl.Shortfall = append(pl.Shortfall, policy.Problem{Rule: policy.RuleErasure, Reason: p})
	}
	if len(pl.Shortfall) == 0 {
		return pl, undo, nil
	}
	var rules, reasons []string
	for _, p := range pl.Shortfall {
		rules = append(rules, p.Rule)
		reasons = append(reasons, p.Reason)
	}
	if cp.RequireCopies {
		undo()
		g.v.RecordEvent(ctx, policy.Event{Time: g.v.Now(), Kind: "policy-denied", Action: policy.Write, Dataset: name, DatasetID: ds.ID, Class: label, Rules: rules, Reasons: reasons})
		return pl, func() {}, hint.Wrap(fmt.Errorf("policy refuses snapshot of %s: %s", name, strings.Join(reasons, "; ")),
			"the class rule sets require-copies: add or repair sites until the minimums are met (see 'embassy policy explain "+name+"')")
	}
	for _, p := range reasons {
		g.v.Warnf("policy: %s", p)
	}
	return pl, undo, nil
}

// erasureProblem checks that a class whose rule names an erasure code k+m
// is written to at least one erasure group with at least k data and m
// parity shards.
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
		if sp, err := erasure.ParseSpec(sc.URL); err == nil && sp.K >= k && sp.M >= m {
			return ""
		}
	}
	return fmt.Sprintf("%s data is to be stored with erasure code %s, and no allowed site is an erasure group of at least %d+%d (class rule erasure in policy.yaml): add one with 'embassy site add NAME --url \"erasure:%d+%d?members=a,b,c\"'", lbl, cp.Erasure, k, m, k, m)
}

// GateReads makes one decision (policy.Restore or policy.Read) per
// configured site the repository may read ds from. Denied sites are closed
// and not read for the rest of the command; if none is allowed the
// operation is refused. The home's mirror (keys and config only) is always
// read.
func (g *Gate) GateReads(ctx context.Context, r *repo.Repo, action policy.Action, ds policy.Dataset) ([]Decision, error) {
	var denied []Decision
	allowed := 0
	for _, s := range r.Sites() {
		sc, _ := g.v.Home.Site(s.Name)
		if sc == nil {
			continue
		}
		d := g.Decide(ctx, policy.Request{Action: action, Dataset: ds, Site: g.Site(*sc)})
		if d.Allow {
			if s.Err() == nil { // an allowed site that is down reads nothing either
				allowed++
			}
			continue
		}
		denied = append(denied, d)
		DenySite(s, d)
	}
	if allowed == 0 && len(denied) > 0 { // every reachable site is denied: say so, not "no site available"
		return denied, DenyError(string(action)+" of "+ds.Name, denied[0])
	}
	return denied, nil
}

// DenySite keeps a site out of the command: marked denied, so nothing is
// written to it, and closed, so nothing is read from it.
func DenySite(s *repo.Site, d Decision) {
	s.Fail(&Denial{d})
	if s.Backend != nil {
		_ = s.Backend.Close()
		s.Backend = nil
	}
}

// DatasetLabels returns every dataset of the vault by id, labelled with the
// dataset's class (see Class).
func DatasetLabels(ctx context.Context, r *repo.Repo) (map[string]policy.Dataset, error) {
	dss, err := r.Datasets(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]policy.Dataset{}
	for _, dk := range dss {
		pd := policy.Dataset{Name: dk.Name, ID: dk.ID}
		if d, err := r.OpenDataset(ctx, dk); err == nil {
			pd.Class = DatasetClass(ctx, d)
		}
		out[dk.ID] = pd
	}
	return out, nil
}

// ReplicationFilter makes one policy.Replicate decision per dataset and
// target site, and returns the filter that keeps denied datasets' objects
// off those sites (with a note naming the reasons). The home's own objects
// (config, key epochs, custodian shares) always go.
func (g *Gate) ReplicationFilter(ctx context.Context, r *repo.Repo, targets []home.SiteConfig) (repo.CopyFilter, error) {
	labels, err := DatasetLabels(ctx, r)
	if err != nil {
		return nil, err
	}
	skip := map[string]map[string]bool{}
	for _, sc := range targets {
		ps := g.Site(sc)
		for _, id := range sortedKeys(labels) {
			ds := labels[id]
			d := g.Decide(ctx, policy.Request{Action: policy.Replicate, Dataset: ds, Site: ps})
			if d.Allow {
				continue
			}
			if skip[sc.Name] == nil {
				skip[sc.Name] = map[string]bool{}
			}
			skip[sc.Name][id] = true
			g.v.Warnf("policy: dataset %s not copied to site %s: %s", ds.Name, sc.Name, strings.Join(d.Reasons, "; "))
		}
	}
	return repo.SkipDatasets(skip), nil
}

// HeldFilter says which datasets each configured site is meant to hold:
// one policy.Replicate decision per dataset and site, asked of the engine
// without recording (verifying moves no data). Verify counts what a site
// lacks by policy as withheld instead of damage, and so repair never
// copies a dataset onto a site the policy keeps it off.
func (g *Gate) HeldFilter(ctx context.Context, r *repo.Repo) (repo.CopyFilter, error) {
	labels, err := DatasetLabels(ctx, r)
	if err != nil {
		return nil, err
	}
	skip := map[string]map[string]bool{}
	for _, sc := range g.v.Home.Config.Sites {
		ps := g.Site(sc)
		for id, ds := range labels {
			if d := g.Engine.Decide(policy.Request{Action: policy.Replicate, Dataset: ds, Site: ps, Now: g.v.Now()}); !d.Allow {
				if skip[sc.Name] == nil {
					skip[sc.Name] = map[string]bool{}
				}
				skip[sc.Name][id] = true
			}
		}
	}
	return repo.SkipDatasets(skip), nil
}

// IsDenied reports whether err is (or wraps) a policy denial.
func IsDenied(err error) bool {
	var d *Denial
	return errors.As(err, &d)
}

// RecordEvent records a denial or a policy or agreement change in the
// transparency log (and the diagnostic log).
func (v *Vault) RecordEvent(ctx context.Context, ev policy.Event) {
	v.log.InfoContext(ctx, "policy event", "kind", ev.Kind, "action", string(ev.Action), "dataset", ev.Dataset, "dataset_id", ev.DatasetID,
		"site", ev.Site, "agreement", ev.Agreement, "rules", strings.Join(ev.Rules, ","))
	ent := tlog.PolicyEventEntry(ev.Kind, string(ev.Action), ev.Site, ev.Class, ev.Agreement, ev.Digest, ev.Rules, ev.Reasons)
	ent.Dataset = ev.DatasetID // by id, as every entry ('embassy log --dataset NAME' finds it)
	v.Recorder().Audit(ctx, ent)
}
