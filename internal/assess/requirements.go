package assess

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/digital-embassy/embassy/internal/agreement"
	"github.com/digital-embassy/embassy/internal/approval"
	"github.com/digital-embassy/embassy/internal/incident"
	"github.com/digital-embassy/embassy/internal/policy"
	"github.com/digital-embassy/embassy/internal/tlog"
)

// Requirement statuses, from best to worst. A requirement whose code is
// missing is "not implemented" whatever the home holds; one implemented in
// part is at best "partial", never "met".
const (
	Met            Status = "met"
	Partial        Status = "partial"         // implemented in part: Missing says what is not
	NotConfigured  Status = "not configured"  // implemented, but this home does not use it yet
	Violated       Status = "violated"        // the live evidence breaks the requirement
	NotImplemented Status = "not implemented" // no code for it yet
)

// Implementation is how much of a requirement the code implements.
type Implementation string

// Implementations.
const (
	Full Implementation = "full"
	Some Implementation = "partial"
	None Implementation = "none"
)

// Requirement is one of the framework's 35 requirements
// (docs/FRAMEWORK.md) with its status on this home and the evidence.
type Requirement struct {
	N        int            `json:"n"`
	ID       string         `json:"id"`
	Title    string         `json:"title"`
	Group    string         `json:"group"`
	Test     string         `json:"test"` // the framework's test sentence
	Impl     Implementation `json:"implementation"`
	Missing  string         `json:"missing,omitempty"` // what the code does not do yet
	Status   Status         `json:"status"`
	Evidence []string       `json:"evidence"`
	Tests    []string       `json:"tests,omitempty"` // the tests that show it
}

// Framework is the report of `embassy assess --requirements`.
type Framework struct {
	At           time.Time      `json:"at"`
	Home         string         `json:"home"`
	Counts       map[Status]int `json:"counts"`
	Requirements []Requirement  `json:"requirements"`
}

// Facts is everything the requirements are checked against: the home's
// configuration and policy, the placement map and site scans (as for a
// scorecard), and the transparency log.
type Facts struct {
	Home       string
	Now        time.Time
	Baseline   *agreement.Baseline
	Engine     *policy.Engine
	Agreements []*agreement.Agreement // installed and verified
	Sites      []policy.Site
	Holdings   []Holding
	Scan       map[string][]string // site -> suspect objects; absent: not scanned
	Log        []tlog.Indexed      // nil: no log yet
	Disclosure *tlog.DisclosureReport
	Incidents  []incident.Incident // from the log (internal/incident)
	Access     []approval.State    // access requests and decisions (internal/approval)
	// Configured names optional parts this home has set up: "pki",
	// "revocations", "broker-refs", "plan", "watch", "protect", "witness".
	Configured map[string]bool
}

// live is a requirement's status from the home's evidence alone.
type liveResult struct {
	status   Status // Met, NotConfigured or Violated
	evidence []string
}

type reqDef struct {
	n         int
	id, title string
	group     string
	test      string
	impl      Implementation
	missing   string
	tests     []string
	eval      func(f *Facts) liveResult
}

// Requirements checks every requirement against the facts.
func Requirements(f *Facts) *Framework {
	fw := &Framework{At: f.Now, Home: f.Home, Counts: map[Status]int{}}
	for _, d := range reqDefs {
		r := Requirement{N: d.n, ID: d.id, Title: d.title, Group: d.group, Test: d.test, Impl: d.impl, Missing: d.missing, Tests: d.tests}
		var lr liveResult
		if d.eval != nil && d.impl != None {
			lr = d.eval(f)
		}
		r.Evidence = lr.evidence
		switch {
		case d.impl == None:
			r.Status = NotImplemented
		case lr.status == Violated || lr.status == NotConfigured:
			r.Status = lr.status
		case d.impl == Some:
			r.Status = Partial
		default:
			r.Status = Met
		}
		if r.Evidence == nil {
			r.Evidence = []string{}
		}
		fw.Counts[r.Status]++
		fw.Requirements = append(fw.Requirements, r)
	}
	return fw
}

// Violations reports whether any requirement is violated.
func (fw *Framework) Violations() bool { return fw.Counts[Violated] > 0 }

func met(ev ...string) liveResult      { return liveResult{Met, ev} }
func unset(ev ...string) liveResult    { return liveResult{NotConfigured, ev} }
func violated(ev ...string) liveResult { return liveResult{Violated, ev} }

// count returns how many log entries are of kind (and match keep, if set).
func (f *Facts) count(kind string, keep func(tlog.Indexed) bool) (n int, last time.Time) {
	for _, e := range f.Log {
		if e.Kind == kind && (keep == nil || keep(e)) {
			n++
			if e.Time.After(last) {
				last = e.Time
			}
		}
	}
	return n, last
}

func (f *Facts) logged(kind string, keep func(tlog.Indexed) bool, what string) string {
	if f.Log == nil {
		return "no transparency log yet"
	}
	n, last := f.count(kind, keep)
	if n == 0 {
		return fmt.Sprintf("log: no %s entries", what)
	}
	return fmt.Sprintf("log: %d %s entries, latest %s", n, what, last.UTC().Format(time.RFC3339))
}

func reason(r string) func(tlog.Indexed) bool {
	return func(e tlog.Indexed) bool { return e.Reason == r }
}

func (f *Facts) siteByName(name string) (policy.Site, bool) {
	for _, s := range f.Sites {
		if s.Name == name {
			return s, true
		}
	}
	return policy.Site{}, false
}

func (f *Facts) agreementByID(id string) *agreement.Agreement {
	for _, a := range f.Agreements {
		if a.ID == id {
			return a
		}
	}
	return nil
}

// heldSites is every site that holds at least one dataset.
func (f *Facts) heldSites() []string {
	var out []string
	for _, h := range f.Holdings {
		for _, s := range h.Sites {
			if !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	slices.Sort(out)
	return out
}

func (f *Facts) input() Input {
	return Input{Baseline: f.Baseline, Engine: f.Engine, Now: f.Now, Sites: f.Sites, Holdings: f.Holdings, Scan: f.Scan}
}

func fromCheck(c Check) liveResult {
	switch c.Status {
	case Pass:
		return met(c.Evidence)
	case Fail:
		return violated(c.Evidence)
	}
	return unset(c.Evidence)
}

// --- the evaluators, one per requirement ---

// lastJob is the newest entry of scheduled job name (zero if none) and
// how many runs the log has.
func (f *Facts) lastJob(name string) (tlog.Indexed, int) {
	var last tlog.Indexed
	n := 0
	for _, e := range f.Log {
		if e.Kind == tlog.KindJob && e.Object == name {
			last, n = e, n+1
		}
	}
	return last, n
}

// alerts counts the alert entries of kinds.
func (f *Facts) alerts(kinds ...string) int {
	n := 0
	for _, e := range f.Log {
		if e.Kind == "alert" && slices.Contains(kinds, e.Reason) {
			n++
		}
	}
	return n
}

// jobEvidence says how often a scheduled job ran and what its newest run found.
func (f *Facts) jobEvidence(name string) string {
	last, n := f.lastJob(name)
	if n == 0 {
		return "log: no scheduled " + name + " runs ('embassy protect' runs them)"
	}
	return fmt.Sprintf("log: %d scheduled %s runs, latest %s: %s", n, name, last.Time.UTC().Format(time.RFC3339), last.Details["summary"])
}

func evalAgreementRegistry(f *Facts) liveResult {
	if len(f.Agreements) == 0 {
		return unset("no agreement installed: install one with 'embassy agreement add FILE'")
	}
	var bad, ev []string
	for _, a := range f.Agreements {
		st := a.StatusAt(f.Now, f.Baseline)
		state := "in force"
		switch {
		case st.Expired:
			state = "expired " + st.Expires.Format(time.DateOnly)
		case st.NotYet:
			state = "not yet in force"
		}
		res := agreement.Resolve(a, f.Baseline)
		ev = append(ev, fmt.Sprintf("agreement %s (%s → %s, hub %s, disputes: %s, technology-stack immunity: %s): %s", a.ID, a.Sending().State, a.Host().State,
			res["hub"].Value.Raw, res["legal.dispute-mechanism"].Value.Raw, res["legal.immunities.technology-stack"].Value.Raw, state))
	}
	for _, name := range f.heldSites() {
		s, ok := f.siteByName(name)
		if !ok || s.Home {
			continue
		}
		switch a := f.agreementByID(s.Agreement); {
		case s.Agreement == "":
			bad = append(bad, "site "+name+" holds data under no agreement")
		case a == nil:
			bad = append(bad, "site "+name+" names agreement "+s.Agreement+", which is not installed")
		case !a.StatusAt(f.Now, f.Baseline).Active:
			bad = append(bad, "site "+name+" holds data under agreement "+a.ID+", which is not in force")
		}
	}
	ev = append(ev, f.jobEvidence(tlog.JobAgreements))
	if n := f.alerts("agreement-expiring", "agreement-expired"); n > 0 {
		ev = append(ev, fmt.Sprintf("log: %d scheduled expiry alerts", n))
	}
	if len(bad) > 0 {
		return violated(append(bad, ev...)...)
	}
	return met(append(ev, fmt.Sprintf("%d sites holding data each resolve to one agreement in force", len(f.heldSites())))...)
}

func evalReview(f *Facts) liveResult {
	if len(f.Agreements) == 0 {
		return unset("no agreement installed")
	}
	var bad, ev []string
	for _, a := range f.Agreements {
		st := a.StatusAt(f.Now, f.Baseline)
		line := fmt.Sprintf("agreement %s: review due %s", a.ID, st.ReviewDue.Format(time.DateOnly))
		if st.ReviewOverdue {
			bad = append(bad, line+" (overdue)")
		} else {
			ev = append(ev, line)
		}
	}
	if len(bad) > 0 {
		return violated(append(bad, ev...)...)
	}
	return met(ev...)
}

func evalTemplate(f *Facts) liveResult {
	if len(f.Agreements) == 0 {
		return unset("baseline " + f.Baseline.Version + " ships; no agreement installed inherits it yet")
	}
	var bad, ev []string
	for _, a := range f.Agreements {
		loose, err := agreement.CheckBaseline(a, f.Baseline)
		if err != nil {
			bad = append(bad, "agreement "+a.ID+": "+baselineText(err, loose))
			continue
		}
		ev = append(ev, "agreement "+a.ID+": "+baselineText(nil, loose))
	}
	if len(bad) > 0 {
		return violated(append(bad, ev...)...)
	}
	return met(append([]string{"baseline " + f.Baseline.Version}, ev...)...)
}

func evalJurisdictionTags(f *Facts) liveResult {
	s := f.Engine.Settings()
	var ev []string
	untagged := 0
	for _, sc := range f.Sites {
		if sc.Jurisdiction == "" && !sc.Home {
			untagged++
		}
	}
	ev = append(ev, fmt.Sprintf("%d sites, %d without a jurisdiction", len(f.Sites), untagged))
	law := 0
	for _, d := range s.Datasets {
		if d.GoverningLaw != "" || len(d.Jurisdictions) > 0 {
			law++
		}
	}
	ev = append(ev, fmt.Sprintf("%d datasets (and their keys) tagged with a governing law or jurisdictions in policy.yaml", law))
	placement := func(e tlog.Indexed) bool { return e.Details["event"] == "workload-placement-denied" }
	ev = append(ev, "workloads: tagged in workloads.yaml (governing-law, jurisdictions), placed by the policy in 'embassy compute check'; "+
		f.logged(tlog.KindPolicyChange, placement, "workload placement denial"))
	if untagged > 0 {
		return violated(ev...)
	}
	if law == 0 {
		return unset(append(ev, "tag datasets under datasets: in policy.yaml (governing-law, jurisdictions)")...)
	}
	return met(ev...)
}

func evalLegalProcess(f *Facts) liveResult {
	denied := func(e tlog.Indexed) bool {
		return slices.Contains(strings.Split(e.Details["rules"], ","), "disclosure-approval")
	}
	ev := []string{f.logged(tlog.KindDisclosure, reason(tlog.ReasonThirdPartyRequest), tlog.ReasonThirdPartyRequest),
		f.logged(tlog.KindPolicyChange, denied, "disclosure-approval denial"),
		"rule disclosure-approval: no disclosure without the sending state's approval",
		"keys never leave home unwrapped: host operators cannot decrypt (see requirement 12)"}
	return met(ev...)
}

func evalEmergency(f *Facts) liveResult {
	ev := []string{f.logged(tlog.KindDisclosure, reason(tlog.ReasonEmergency), tlog.ReasonEmergency),
		"rule break-glass-open: no key release at a site while its break-glass is open"}
	// a key release recorded at a site while its break-glass was open
	var bad, open []string
	var bgs policy.BreakGlassTracker
	for _, e := range f.Log {
		bgs.Add(e)
		if e.Kind == tlog.KindKeyRelease && bgs.At(e.Site).Open {
			bad = append(bad, fmt.Sprintf("entry %d: key released at %s during an open break-glass", e.Index, e.Site))
		}
	}
	for _, s := range f.Sites {
		if bg := bgs.At(s.Name); bg.Open {
			open = append(open, fmt.Sprintf("%s (since %s)", s.Name, bg.Since.UTC().Format(time.RFC3339)))
		}
	}
	if len(open) > 0 {
		ev = append(ev, "open now: "+strings.Join(open, ", ")+"; close with 'embassy break-glass close'")
	}
	if len(bad) > 0 {
		return violated(append(bad, ev...)...)
	}
	return met(ev...)
}

func evalClassification(f *Facts) liveResult {
	if len(f.Holdings) == 0 {
		return unset("no dataset is held at any site yet")
	}
	var bad []string
	for _, h := range f.Holdings {
		if h.Dataset.Class == "" {
			bad = append(bad, h.Dataset.Name+" at "+strings.Join(h.Sites, ", "))
		}
	}
	if len(bad) > 0 {
		return violated("unlabelled datasets held outside home: " + strings.Join(bad, "; "))
	}
	return met(fmt.Sprintf("%d datasets held, all labelled; rule unlabelled keeps an unlabelled dataset home", len(f.Holdings)))
}

func evalResidency(f *Facts) liveResult {
	var bad []string
	n := 0
	for _, h := range f.Holdings {
		for _, name := range h.Sites {
			s, ok := f.siteByName(name)
			if !ok {
				continue
			}
			n++
			if d := f.Engine.Decide(policy.Request{Action: policy.Replicate, Dataset: h.Dataset, Site: s, Now: f.Now}); !d.Allow {
				bad = append(bad, fmt.Sprintf("%s at %s (%s)", h.Dataset.Name, name, strings.Join(d.Rules, ",")))
			}
		}
	}
	// Location evidence ('embassy site locate'): the latest verdict per site.
	latest := map[string]tlog.Indexed{}
	for _, e := range f.Log {
		if e.Kind == kindSiteLocate && !e.Time.Before(latest[e.Site].Time) {
			latest[e.Site] = e
		}
	}
	var located []string
	for _, name := range slices.Sorted(maps.Keys(latest)) {
		e := latest[name]
		r := e.Details["result"]
		located = append(located, fmt.Sprintf("%s: %s (entry %d)", name, r, e.Index))
		if r == "contradicted" || r == "inconsistent-measurements" {
			bad = append(bad, fmt.Sprintf("location of %s %s by round-trip times (log entry %d, evidence %.12s)", name, r, e.Index, e.Details["sha256"]))
		}
	}
	ev := "location evidence: none recorded yet ('embassy site locate SITE --from LAT,LON')"
	if len(located) > 0 {
		ev = "location evidence, latest per site: " + strings.Join(located, ", ")
	}
	if n == 0 && len(located) == 0 {
		return unset("no dataset copy at any site to re-check", ev)
	}
	if len(bad) > 0 {
		return violated("held where the policy forbids or the site is not where it says: "+strings.Join(bad, "; "), ev)
	}
	return met(fmt.Sprintf("%d dataset copies re-checked against the policy engine, all allowed where held", n), ev)
}

// kindSiteLocate is the log entry of 'embassy site locate' (vault.KindLocationEntry).
const kindSiteLocate = tlog.KindSiteLocate

func evalInventory(f *Facts) liveResult {
	declared := f.Engine.Settings().Datasets
	if len(declared) == 0 {
		if len(f.Holdings) == 0 {
			return unset("no declared inventory (datasets: in policy.yaml) and no dataset held")
		}
		var ev []string
		for _, h := range f.Holdings {
			ev = append(ev, fmt.Sprintf("%s (%s): %s", h.Dataset.Name, orNone([]string{h.Dataset.Class}), strings.Join(h.Sites, ", ")))
		}
		return unset(append([]string{"no declared inventory: declare each hosted dataset under datasets: in policy.yaml (owner, rpo, rto, agreements); held now:"}, ev...)...)
	}
	var bad, ev []string
	for _, h := range f.Holdings {
		t := f.Engine.Settings().Tags(h.Dataset.Name)
		if !slices.ContainsFunc(declared, func(d policy.DatasetTags) bool { return d.Name == h.Dataset.Name }) {
			bad = append(bad, fmt.Sprintf("%s is held at %s but not in the inventory", h.Dataset.Name, strings.Join(h.Sites, ", ")))
			continue
		}
		ev = append(ev, fmt.Sprintf("%s (%s; owner %s, RPO %s, RTO %s, agreements %s): at %s", h.Dataset.Name, orNone([]string{h.Dataset.Class}),
			orNone([]string{t.Owner}), orNone([]string{t.RPO}), orNone([]string{t.RTO}), orNone(t.Agreements), strings.Join(h.Sites, ", ")))
	}
	ev = append(ev, f.jobEvidence(tlog.JobInventory))
	if n := f.alerts("inventory-undeclared"); n > 0 {
		ev = append(ev, fmt.Sprintf("log: %d undeclared-data alerts raised by the scheduled scan", n))
	}
	if len(bad) > 0 {
		return violated(append(bad, ev...)...)
	}
	return met(append([]string{fmt.Sprintf("%d datasets declared; every dataset held is declared", len(declared))}, ev...)...)
}

func evalIntegrity(f *Facts) liveResult {
	if f.Log == nil {
		return unset("no transparency log yet")
	}
	n, last := f.count(tlog.KindVerify, nil)
	if n == 0 {
		return unset("log: no verify entries: run 'embassy verify'")
	}
	var damaged int
	for _, e := range f.Log {
		if e.Kind == tlog.KindVerify && e.Details["damage"] != "" && e.Details["damage"] != "0" {
			damaged++
		}
	}
	ev := fmt.Sprintf("log: %d verify entries, latest %s", n, last.UTC().Format(time.RFC3339))
	job, runs := f.lastJob(tlog.JobIntegrity)
	jev := f.jobEvidence(tlog.JobIntegrity)
	if runs > 0 && job.Details["ok"] == "false" {
		return violated(ev, jev, "the latest scheduled integrity run found a mismatch or damage at "+job.Details["sites"])
	}
	if damaged > 0 && runs == 0 {
		return violated(ev, fmt.Sprintf("%d verifications found damage", damaged))
	}
	if runs == 0 {
		return unset(ev, jev, "no scheduled comparison of the home's state and log root with the sites and a third location: run 'embassy protect'")
	}
	return met(ev, jev, "every snapshot is in the home's append-only log with witnessed checkpoints")
}

func evalMinimisation(f *Facts) liveResult {
	s := f.Engine.Settings()
	var personal []string
	for _, d := range s.Datasets {
		if d.Personal {
			personal = append(personal, d.Name)
		}
	}
	var forbidding []string
	for _, a := range f.Agreements {
		if r := agreement.Resolve(a, f.Baseline)["data.personal-data"].Value.Raw; r != "allowed" {
			forbidding = append(forbidding, a.ID+" ("+r+")")
		}
	}
	ev := []string{"datasets tagged personal: " + orNone(personal), "agreements restricting personal data: " + orNone(forbidding)}
	var bad []string
	for _, h := range f.Holdings {
		for _, name := range h.Sites {
			s, ok := f.siteByName(name)
			if !ok {
				continue
			}
			d := f.Engine.Decide(policy.Request{Action: policy.Replicate, Dataset: h.Dataset, Site: s, Now: f.Now})
			if slices.Contains(d.Rules, "personal-data") {
				bad = append(bad, h.Dataset.Name+" at "+name)
			}
		}
	}
	if len(bad) > 0 {
		return violated(append([]string{"personal data held where its agreement forbids it: " + strings.Join(bad, ", ")}, ev...)...)
	}
	if len(personal) == 0 && len(forbidding) == 0 {
		return unset(append(ev, "tag personal datasets under datasets: in policy.yaml")...)
	}
	return met(ev...)
}

func evalKeyCustody(f *Facts) liveResult {
	var bad, ev []string
	for _, a := range f.Agreements {
		if v := agreement.Resolve(a, f.Baseline)["technical.keys-held-by"].Value.Raw; v != "sending" {
			bad = append(bad, "agreement "+a.ID+": keys held by "+v)
		}
	}
	var unscanned []string
	for _, name := range f.heldSites() {
		found, ok := f.Scan[name]
		if !ok {
			unscanned = append(unscanned, name)
		}
		for _, x := range found {
			bad = append(bad, name+": "+x)
		}
	}
	ev = append(ev, f.logged(tlog.KindKeyUnwrap, nil, tlog.KindKeyUnwrap))
	if len(unscanned) > 0 {
		ev = append(ev, "not scanned (unreachable): "+strings.Join(unscanned, ", "))
	}
	if len(bad) > 0 {
		return violated(append(bad, ev...)...)
	}
	if len(f.heldSites()) == 0 {
		return unset(append(ev, "no site holds data yet: nothing to scan")...)
	}
	if len(unscanned) > 0 {
		return unset(ev...) // an unscanned site is no evidence of custody
	}
	return met(append([]string{"every object at the sites is ciphertext, a wrapped key or signed public metadata"}, ev...)...)
}

func evalAttestation(f *Facts) liveResult {
	ev := []string{f.logged(tlog.KindKeyRelease, nil, tlog.KindKeyRelease), f.logged(tlog.KindKeyRefuse, nil, tlog.KindKeyRefuse)}
	if !f.Configured["broker-refs"] {
		return unset(append(ev, "no signed reference values: 'embassy broker refs sign' and 'approve'")...)
	}
	return met(ev...)
}

// evalSupply: update approvals are logged; a site whose latest update
// alert was not followed by an approval of that digest or a resolution
// (the site runs an approved build again) violates the requirement.
func evalSupply(f *Facts) liveResult {
	ev := []string{f.logged(tlog.KindUpdateApprove, nil, tlog.KindUpdateApprove), f.logged(tlog.KindUpdateAlert, nil, tlog.KindUpdateAlert),
		f.logged(tlog.KindKeyRefuse, reason("update"), "key.refuse (update)"), f.jobEvidence(tlog.JobUpdates),
		"keys of attested-release classes go only to workloads whose attested measurements a signed update approval covers"}
	type alert struct {
		digest string
		idx    uint64
	}
	open := map[string]alert{}
	approved := map[string]uint64{} // digest -> index of its latest approval
	for _, e := range f.Log {
		switch e.Kind {
		case tlog.KindUpdateAlert:
			open[e.Site] = alert{e.Object, e.Index}
		case tlog.KindUpdateResolved:
			delete(open, e.Site)
		case tlog.KindUpdateApprove:
			if d := e.Details["digest"]; d != "" {
				approved[d] = e.Index
			}
		}
	}
	var bad []string
	for site, a := range open {
		if i, ok := approved[a.digest]; !ok || i < a.idx {
			d := a.digest
			if len(d) > 16 {
				d = d[:16]
			}
			bad = append(bad, site+" ("+d+")")
		}
	}
	slices.Sort(bad)
	if len(bad) > 0 {
		return violated(append([]string{"sites running an unapproved build: " + strings.Join(bad, ", ")}, ev...)...)
	}
	if n, _ := f.count(tlog.KindUpdateApprove, nil); n == 0 {
		return unset(append(ev, "no update approval yet: 'embassy sbom' then 'embassy update approve'")...)
	}
	return met(ev...)
}

func evalTransit(f *Facts) liveResult {
	var plain []string
	for _, a := range f.Agreements {
		if !agreement.Resolve(a, f.Baseline)["technical.encryption-in-transit"].Value.Bool() {
			plain = append(plain, a.ID)
		}
	}
	ev := []string{"daemon sites, host witnesses and operate (with --client-ca): mutual TLS 1.3 with the home's PKI; a client without a certificate is refused",
		"documented exception (docs/TRANSPORT.md): S3 sites authenticate the home with the bucket's credentials (SigV4) over TLS with the server verified; they hold only ciphertext and signed metadata"}
	if !f.Configured["pki"] {
		ev = append(ev, "no home PKI yet ('embassy pki init'): daemon sites cannot be used")
	}
	if len(plain) > 0 {
		return violated(append([]string{"agreements without encryption in transit: " + strings.Join(plain, ", ")}, ev...)...)
	}
	return met(ev...)
}

func evalShred(f *Facts) liveResult {
	return met(f.logged(tlog.KindKeyShred, nil, tlog.KindKeyShred), "'embassy key shred' destroys a dataset's keys at home and every site")
}

func evalPersonnel(f *Facts) liveResult {
	ev := []string{"daemons, their witnesses, standalone witnesses (--crl) and operate (--crl) accept only certificates of the home's CA and check its revocation list at every handshake and request",
		"hardware-held client keys: 'pki issue --tpm' (certificate policy marks them); embassyd --require-hardware-key ROLE refuses software keys for that role"}
	if !f.Configured["pki"] {
		return unset(append(ev, "no home PKI: 'embassy pki init' issues the allow-listed client certificates")...)
	}
	if f.Configured["revocations"] {
		ev = append(ev, "a revocation list is published")
	}
	ev = append(ev, f.logged(tlog.KindPKIRevoke, nil, tlog.KindPKIRevoke),
		f.logged(tlog.KindSession, func(e tlog.Indexed) bool { return e.Details["event"] == "denied" }, "refused-connection (site events)"))
	return met(ev...)
}

func evalSiteFacts(f *Facts) liveResult {
	var mine []policy.Site
	for _, s := range f.Sites {
		if !s.Home {
			mine = append(mine, s)
		}
	}
	if len(mine) == 0 {
		return unset("no site configured")
	}
	in := f.input()
	c := in.distance(mine, map[string]agreement.Resolved{})
	var tiers []string
	for _, s := range mine {
		t := "tier unknown"
		if s.Tier > 0 {
			t = fmt.Sprintf("Tier %d", s.Tier)
		}
		tiers = append(tiers, s.Name+": "+t)
	}
	r := fromCheck(c)
	r.evidence = append(r.evidence, strings.Join(tiers, ", "))
	return r
}

func evalDiversity(f *Facts) liveResult {
	byName := map[string]policy.Site{}
	for _, s := range f.Sites {
		byName[s.Name] = s
	}
	return fromCheck(f.input().critical(byName))
}

func evalDisclosures(f *Facts) liveResult {
	if f.Disclosure == nil || len(f.Disclosure.Disclosures) == 0 {
		return unset("log: no access disclosures yet ('embassy disclose' records them)")
	}
	r := f.Disclosure
	ev := []string{fmt.Sprintf("%d disclosures; delay p50 %s, p99 %s", len(r.Disclosures), r.DelayP50.Round(time.Second), r.DelayP99.Round(time.Second))}
	late := 0
	for _, d := range r.Disclosures {
		if d.Late {
			late++
		}
	}
	if late > 0 {
		return violated(append(ev, fmt.Sprintf("%d disclosed later than their agreement allows", late))...)
	}
	return met(ev...)
}

func evalUnlogged(f *Facts) liveResult {
	if f.Log == nil || f.Disclosure == nil {
		return unset("no transparency log yet")
	}
	var bad []string
	for _, a := range f.Disclosure.Alerts {
		if a.Kind == "undisclosed-access" {
			bad = append(bad, fmt.Sprintf("entry %d: %s", a.Index, a.Message))
		}
	}
	priv := 0
	for _, e := range f.Log {
		if e.Privileged() {
			priv++
		}
	}
	ev := fmt.Sprintf("%d host-initiated key uses and sessions cross-checked against the disclosures; %d pending", priv, len(f.Disclosure.Pending))
	if len(bad) > 0 {
		return violated(append(bad, ev)...)
	}
	return met(ev)
}

func evalApproval(f *Facts) liveResult {
	ev := []string{"rule disclosure-approval; agreement term operations.support-access (baseline prior-approval)"}
	if len(f.Access) == 0 {
		return unset(append(ev, "log: no access requests yet ('embassy access request' holds one pending until the home decides)")...)
	}
	n := map[string]int{}
	var pending []string
	for _, a := range f.Access {
		n[a.Status]++
		if a.Status == approval.Pending {
			pending = append(pending, fmt.Sprintf("%d at %s (%s)", a.Index, a.Site, a.Reason))
		}
	}
	ev = append(ev, fmt.Sprintf("log: %d access requests: %d pending, %d approved, %d denied", len(f.Access), n[approval.Pending], n[approval.Approved], n[approval.Denied]))
	held := 0
	for _, a := range f.Access {
		if a.FromDaemon() {
			held++
		}
	}
	ev = append(ev, fmt.Sprintf("%d filed at daemons, which hold the privileged operation until they have the home's signed decision", held))
	if len(pending) > 0 {
		ev = append(ev, "pending: "+strings.Join(pending, ", "))
	}
	return met(ev...)
}

func evalIncidents(f *Facts) liveResult {
	if len(f.Incidents) == 0 {
		return unset("log: no incident records yet ('embassy incident file' records one as it reaches the home)")
	}
	var bad []string
	acked, daemon, escalated := 0, 0, 0
	for _, in := range f.Incidents {
		if in.ID != "" {
			daemon++
		}
		if in.EscalatedAt != 0 {
			escalated++
		}
		switch {
		case in.Late:
			bad = append(bad, fmt.Sprintf("incident %d at %s notified %s after it occurred, allowed %s", in.Index, in.Site, in.Notified.Sub(in.Occurred).Round(time.Second), in.Allowed))
		case in.Escalated:
			bad = append(bad, fmt.Sprintf("incident %d at %s not acknowledged within %s: escalated", in.Index, in.Site, in.Allowed))
		}
		if !in.Acked.IsZero() {
			acked++
		}
	}
	ev := fmt.Sprintf("%d incidents in the log (%d filed at daemons), %d acknowledged, %d escalated to the watch routes", len(f.Incidents), daemon, acked, escalated)
	if len(bad) > 0 {
		return violated(append(bad, ev, f.jobEvidence(tlog.JobHost))...)
	}
	return met(ev, f.jobEvidence(tlog.JobHost))
}

func evalAudit(f *Facts) liveResult {
	if f.Log == nil {
		return unset("no transparency log yet")
	}
	var keyUse, attest, drills, config int
	for _, e := range f.Log {
		switch e.Kind {
		case tlog.KindKeyUnwrap, tlog.KindKeyUse:
			keyUse++
		case tlog.KindKeyRelease, tlog.KindKeyRefuse:
			attest++
		case tlog.KindDrill:
			drills++
		case tlog.KindConfigChange, tlog.KindAgreementChange:
			config++
		}
	}
	return met(fmt.Sprintf("'embassy audit export' exports the log (%d entries) with checkpoints and proofs", len(f.Log)),
		fmt.Sprintf("parts: key-use log %d entries, attestation history %d records, drill results %d, configuration history %d changes (with the reports and versions they name by digest)",
			keyUse, attest, drills, config))
}

func evalExit(f *Facts) liveResult {
	done := func(e tlog.Indexed) bool { return e.Details["phase"] == tlog.ExitPhaseDone }
	return met(f.logged(tlog.KindExit, nil, tlog.KindExit), f.logged(tlog.KindExit, done, "completed exit"),
		"'embassy exit' exports with a signed manifest, proves the archive restores in a fresh site, can crypto-shred datasets first (keys gone at home and every site) and issues a deletion certificate; the agreement's exit.export-days deadline is reported by 'exit status' and the watcher")
}

// evalSLA reads the latest signed monthly SLA report of each agreement
// from the log ('embassy sla report', kind sla.report).
func evalSLA(f *Facts) liveResult {
	latest := map[string]tlog.Indexed{}
	var ids []string
	for _, e := range f.Log {
		if e.Kind != tlog.KindSLAReport {
			continue
		}
		id := e.Details["agreement"]
		if p, ok := latest[id]; !ok {
			ids = append(ids, id)
		} else if p.Details["month"] > e.Details["month"] {
			continue // an older month reported again
		}
		latest[id] = e
	}
	if len(ids) == 0 {
		return unset(f.logged(tlog.KindSLAReport, nil, tlog.KindSLAReport), "no monthly SLA report yet: probe sites with 'embassy sla probe' on a schedule and run 'embassy sla report --month YYYY-MM'")
	}
	slices.Sort(ids)
	var bad, ev []string
	for _, id := range ids {
		e := latest[id]
		breaches := "breaches"
		if e.Details["breaches"] == "1" {
			breaches = "breach"
		}
		line := fmt.Sprintf("agreement %s, %s: signed report %.12s, availability %s, %s %s", id, e.Details["month"], e.Object, e.Details["availability"], e.Details["breaches"], breaches)
		if e.Details["breach"] != "" {
			bad = append(bad, line+": "+e.Details["breach"])
		} else {
			ev = append(ev, line)
		}
	}
	if len(bad) > 0 {
		return violated(append(bad, ev...)...)
	}
	return met(ev...)
}

// evalCompute reads the latest compute check of every site from the log
// ('embassy compute check', kind compute.check).
func evalCompute(f *Facts) liveResult {
	latest := map[string]tlog.Indexed{}
	var sites []string
	for _, e := range f.Log {
		if e.Kind != tlog.KindComputeCheck {
			continue
		}
		if _, ok := latest[e.Site]; !ok {
			sites = append(sites, e.Site)
		}
		latest[e.Site] = e
	}
	if len(sites) == 0 {
		return unset(f.logged(tlog.KindComputeCheck, nil, tlog.KindComputeCheck), "no compute check yet: reserve capacity in an agreement (compute.reservations) and run 'embassy compute check'")
	}
	slices.Sort(sites)
	var bad, ev []string
	for _, s := range sites {
		e := latest[s]
		line := fmt.Sprintf("site %s, %s: %s reservations checked (crisis %s), %s shortfalls, %s attested GPUs", s, e.Time.UTC().Format(time.RFC3339),
			e.Details["reservations"], e.Details["crisis"], e.Details["shortfalls"], cmpOr(e.Details["attested_gpus"], "0"))
		for _, k := range []string{"short", "over_reported", "problems", "preempt"} {
			if e.Details[k] != "" {
				line += "; " + strings.ReplaceAll(k, "_", "-") + ": " + e.Details[k]
			}
		}
		if e.Details["breach"] == "true" {
			bad = append(bad, line)
		} else {
			ev = append(ev, line)
		}
	}
	if len(bad) > 0 {
		return violated(append(bad, ev...)...)
	}
	return met(ev...)
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func evalPreserve(f *Facts) liveResult {
	ev := f.logged(tlog.KindSnapshot, nil, tlog.KindSnapshot)
	if !f.Configured["protect"] {
		return unset(ev, "'embassy protect' is not configured: no scheduled replication")
	}
	return met(ev)
}

func evalDrills(f *Facts) liveResult {
	ev := f.logged(tlog.KindDrill, nil, tlog.KindDrill)
	if n, _ := f.count(tlog.KindDrill, nil); n == 0 {
		return unset(ev, "run 'embassy drill', or schedule it under schedule: drills: in protect.yaml")
	}
	passed, _ := f.count(tlog.KindDrill, func(e tlog.Indexed) bool { return e.Details["pass"] == "true" })
	ev = fmt.Sprintf("%s (%d passed)", ev, passed)
	var sched int
	for _, e := range f.Log {
		if e.Kind == tlog.KindJob && strings.HasPrefix(e.Object, "drill:") {
			sched++
		}
	}
	return met(ev, fmt.Sprintf("log: %d scheduled drill runs", sched))
}

func evalOperate(f *Facts) liveResult {
	return met(f.logged(tlog.KindSession, nil, tlog.KindSession), "'embassy operate' activates designated services at a site under a signed crisis declaration")
}

func evalPlan(f *Facts) liveResult {
	if !f.Configured["plan"] {
		return unset("no scenario at this home: 'embassy plan' models it")
	}
	return met("scenario present; 'embassy plan' reports it")
}

func evalWatch(f *Facts) liveResult {
	if !f.Configured["watch"] {
		return unset("'embassy watch' is not set up at this home")
	}
	return met("'embassy watch' runs its detectors over the log and telemetry")
}

var reqDefs = []reqDef{
	{1, "agreement-registry", "Agreement registry", "A", "every hosted workload resolves to exactly one active agreement; a workload whose agreement has expired is flagged within 24 h",
		Full, "", []string{"TestRequirement01AgreementRegistry", "TestAgreementJobOnItsOwnSchedule", "TestProtectRunsScheduledJobs"}, evalAgreementRegistry},
	{2, "review-cadence", "Review cadence", "A", "clock-advance test produces an alert on day 366",
		Full, "", []string{"TestRequirement02ReviewCadence"}, evalReview},
	{3, "template-terms", "Template terms", "A", "attempting to loosen a baseline term without an explicit signed override is rejected",
		Full, "", []string{"TestRequirement03TemplateTerms"}, evalTemplate},
	{4, "jurisdiction-tagging", "Jurisdiction tagging", "B", "a placement API call into a jurisdiction not allowed by the agreement fails",
		Full, "", []string{"TestRequirement04JurisdictionTagging", "TestRuleResidencyAgreement", "TestRuleDatasetJurisdiction", "TestRuleDatasetGoverningLaw"}, evalJurisdictionTags},
	{5, "legal-process", "Legal-process handling", "B", "a simulated host request produces a logged event and a blocked decryption",
		Full, "", []string{"TestRequirement05LegalProcess", "TestScripts/legal_process", "TestKeyCustodyHostCannotDecryptWithoutHome"}, evalLegalProcess},
	{6, "emergency-access", "Emergency-access path", "B", "break-glass event → notification in ≤ N h; no key release recorded",
		Full, "", []string{"TestRequirement06EmergencyAccess", "TestScripts/break_glass", "TestRuleBreakGlassOpen", "TestBreakGlassAt"}, evalEmergency},
	{7, "classification", "Data classification", "C", "a dataset without a label cannot be replicated; a high-confidentiality dataset cannot be placed in a virtual or extended hub unless the policy allows it",
		Full, "", []string{"TestRequirement07Classification"}, evalClassification},
	{8, "residency", "Residency enforcement and proof", "C", "a replication target outside the allow-list is refused; location evidence is produced on demand for any object",
		Full, "", []string{"TestRequirement08Residency", "TestRequirement08ResidencyProof", "TestHostileLocationClaimContradicted", "TestCheckDirections", "TestProtectLocatesDaemonSites"}, evalResidency},
	{9, "inventory", "Hosted-dataset inventory", "C", "data present at a host but absent from the inventory triggers an alert",
		Full, "", []string{"TestRequirement09Inventory", "TestRuleDatasetAgreement", "TestInventoryJobAlertsOnUndeclaredData", "TestProtectRunsScheduledJobs"}, evalInventory},
	{10, "integrity", "Replica integrity proofs", "C", "flipping one byte in a replica is detected at the next verification cycle (≤ M min)",
		Full, "", []string{"TestRequirement10Integrity", "TestIntegrityJobComparesSignedStates", "TestHostileRollbackCaughtBySchedule"}, evalIntegrity},
	{11, "minimisation", "Minimisation / scope control", "C", "a write of personal-data-tagged records to a non-personal-only embassy is rejected",
		Full, "", []string{"TestRequirement11Minimisation", "TestRulePersonalData", "TestScripts/policy_rules"}, evalMinimisation},
	{12, "key-custody", "Sending-state key custody", "D", "with the sending-state KMS unreachable, the host cannot decrypt; a key-usage log exists for every unwrap",
		Full, "", []string{"TestRequirement12KeyCustody", "TestKeyCustodyEveryUnwrapLogged", "TestKeyCustodyHostCannotDecryptWithoutHome"}, evalKeyCustody},
	{13, "attested-release", "Attestation-gated key release", "D", "a workload with an altered image measurement is refused key release",
		Full, "", []string{"TestRequirement13AttestedRelease", "TestChangedPCRRefused", "TestBrokerWorkedExample"}, evalAttestation},
	{14, "mtls", "Encryption in transit", "D", "a connection without a client certificate is refused",
		Full, "", []string{"TestRequirement14MTLS", "TestRequirement14EncryptionInTransit", "TestWitnessMutualTLS", "TestHostedgeWitnessMutualTLS", "TestHostileRevokedCertificateRefused"}, evalTransit},
	{15, "crypto-shredding", "Crypto-shredding", "D", "after revocation, decrypt attempts fail and the event is logged",
		Full, "", []string{"TestRequirement15CryptoShredding", "TestRecoverRotateShred", "TestShreddedDatasetRefused"}, evalShred},
	{16, "supply-chain", "Supply-chain and update control", "D", "an unsigned or unapproved update changes measurements and blocks key release",
		Full, "", []string{"TestRequirement16SupplyChain", "TestProtectRunsHostChecks", "TestHostileUnapprovedMeasurementBlocksRelease", "TestHostileUnapprovedDaemonUpdate", "TestApprovalKAT", "TestSBOMCycloneDXSchema"}, evalSupply},
	{17, "personnel", "Personnel allow-list", "D", "an access attempt by a non-listed identity is denied and logged",
		Full, "", []string{"TestRequirement17Personnel", "TestRequirement17PersonnelAllowList", "TestRevokedCertificateRefusedAndRecorded", "TestHostedgeRevokedOperatorRefused",
			"TestHostileRevokedCertificateRefused", "TestHostileSoftwareKeyRefusedWhereHardwareRequired", "TestTPMClientKeyRequiredForRole"}, evalPersonnel},
	{18, "site-facts", "Site facts", "D", "registering a recovery site 100 km away fails validation",
		Full, "", []string{"TestRequirement18SiteFacts"}, evalSiteFacts},
	{19, "diversity", "Host and jurisdiction diversity", "D", "a policy requiring 2 jurisdictions flags a dataset held only in one",
		Full, "", []string{"TestRequirement19Diversity"}, evalDiversity},
	{20, "disclosures", "Logged access disclosures", "E", "the access-to-disclosure delay P99 is ≤ N h; inclusion proofs verify against the published checkpoint",
		Full, "", []string{"TestRequirement20Disclosures", "TestDaemonDisclosures"}, evalDisclosures},
	{21, "unlogged-access", "Unlogged-access detection", "E", "an injected unwrap without a disclosure is caught",
		Full, "", []string{"TestRequirement21UnloggedAccess"}, evalUnlogged},
	{22, "access-approval", "Access approval", "E", "a support-access request stays pending until approved; denial is honoured",
		Full, "", []string{"TestRequirement22AccessApproval", "TestScripts/access_approval", "TestHostileAccessWithoutApproval", "TestPullAccessSignsAndPushes", "TestAccessStoreDecisions"}, evalApproval},
	{23, "incidents", "Incident notification", "E", "a simulated incident → delivered and acknowledged, or escalated after timeout",
		Full, "", []string{"TestRequirement23Incidents", "TestProtectRunsHostChecks", "TestHostJobAlertsPendingAndEscalates", "TestScripts/incident", "TestIncidentFiledAtDaemonReachesHome", "TestIncidentsFromDaemons"}, evalIncidents},
	{24, "audit", "Audit rights", "E", "a bundle for any date range is produced and independently verifiable offline",
		Full, "", []string{"TestRequirement24Audit", "TestConfigHistoryAndAuditBundle", "TestAuditBundleAllParts", "TestHostileEvidenceBundleCut"}, evalAudit},
	{25, "exit", "Exit portability", "E", "an export round-trips into a fresh site and manifest hashes match; post-exit decrypt fails",
		Full, "", []string{"TestRequirement25Exit", "TestRequirement25ExitPortability", "TestExitShredCLI", "TestExitStatusOverdue"}, evalExit},
	{26, "sla", "SLA monitoring", "E", "an injected outage shows in the monthly SLA report",
		Full, "", []string{"TestRequirement26SLA", "TestRequirement26SLAMonitoring", "TestComputeFixedLog"}, evalSLA},
	{27, "preserve", "Preserve", "F", "observed replication lag is exported; an alert fires when lag exceeds the dataset's RPO",
		Full, "", []string{"TestRequirement27Preserve"}, evalPreserve},
	{28, "drills", "Restore drills", "F", "a drill run outputs RTO and a pass/fail against target",
		Full, "", []string{"TestRequirement28Drills", "TestProtectRunsScheduledJobs"}, evalDrills},
	{29, "operate", "Operate (failover)", "F", "a failover game-day serves authentication and registry lookups from the embassy with home unreachable",
		Full, "", []string{"TestRequirement29Operate", "TestGameDay"}, evalOperate},
	{30, "compute", "Compute access", "F", "a reservation shortfall is reported; crisis-priority jobs preempt lower classes",
		Full, "", []string{"TestRequirement30Compute", "TestRequirement30ComputeAccess", "TestComputeShortfallReported", "TestComputeCrisisPriority", "TestHostileOverReportedCapacity", "TestCheckCrisisPreempts"}, evalCompute},
	{31, "posture", "Sovereignty posture map", "G", "a report lists every dependency and flags blocks with no fallback",
		Full, "", []string{"TestRequirement31Posture"}, evalPlan},
	{32, "host-scoring", "Host prerequisite scoring", "G", "a candidate missing a mandatory prerequisite cannot be approved",
		Full, "", []string{"TestRequirement32HostScoring", "TestScoreThresholds"}, evalPlan},
	{33, "connectivity", "Connectivity resilience", "G", "removing one cable from the model shows whether the embassy stays reachable",
		Full, "", []string{"TestRequirement33Connectivity", "TestSimulation"}, evalPlan},
	{34, "monitoring", "AI-assisted infrastructure monitoring", "G", "replayed anomalous traces (unusual admin access at 03:00 plus a key-unwrap spike) raise an alert",
		Full, "", []string{"TestRequirement34Monitoring", "TestNightSessionThenUnwrapBurst"}, evalWatch},
	{35, "coercion-risk", "Coercion-risk flags", "G", "a dependency without a fallback is listed in the risk report",
		Full, "", []string{"TestRequirement35CoercionRisk"}, evalPlan},
}
