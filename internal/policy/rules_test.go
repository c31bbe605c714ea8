package policy

import (
	"crypto/ed25519"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/digital-embassy/embassy/internal/agreement"
)

// variant parses the example agreement name with its id replaced by id
// and each old text replaced by its new text (pairs).
func variant(t *testing.T, name, id string, repl ...string) *agreement.Agreement {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "examples", "agreements", name+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), "SENDING_KEY", agreement.FormatPublicKey(testKey("sending").Public().(ed25519.PublicKey)), 1)
	s = strings.Replace(s, "HOST_KEY", agreement.FormatPublicKey(testKey("host").Public().(ed25519.PublicKey)), 1)
	s = strings.Replace(s, "id: "+name+"\n", "id: "+id+"\n", 1)
	for i := 0; i+1 < len(repl); i += 2 {
		if !strings.Contains(s, repl[i]) {
			t.Fatalf("example %s has no %q", name, repl[i])
		}
		s = strings.Replace(s, repl[i], repl[i+1], 1)
	}
	a, err := agreement.Parse([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// ruleCase is one request that one rule must deny and a twin request,
// differing only in the fact the rule is about, that it must not deny.
type ruleCase struct {
	rule           string
	settings       func(*Settings)
	agreements     []*agreement.Agreement
	denied, twin   Request
	reasonMentions string
}

func (c ruleCase) run(t *testing.T) {
	t.Helper()
	base := agreement.DefaultBaseline()
	s := DefaultSettings(base)
	if c.settings != nil {
		c.settings(&s)
	}
	if err := s.Validate(base); err != nil {
		t.Fatal(err)
	}
	e, err := New(s, base, c.agreements)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []*Request{&c.denied, &c.twin} {
		if r.Now.IsZero() {
			r.Now = now
		}
	}
	d := e.Decide(c.denied)
	if d.Allow || !slices.Contains(d.Rules, c.rule) {
		t.Fatalf("%s of %s at %s: got allow=%v rules %v, want denied by %s", c.denied.Action, c.denied.Dataset.Name, c.denied.Site.Name, d.Allow, d.Rules, c.rule)
	}
	i := slices.Index(d.Rules, c.rule)
	if !strings.Contains(d.Reasons[i], c.reasonMentions) || strings.Contains(d.Reasons[i], "{") {
		t.Errorf("reason %q: want it to name %q with every placeholder filled", d.Reasons[i], c.reasonMentions)
	}
	if tw := e.Decide(c.twin); slices.Contains(tw.Rules, c.rule) {
		t.Errorf("twin request (%s at %s) is also denied by %s: %v", c.twin.Dataset.Name, c.twin.Site.Name, c.rule, tw.Reasons)
	}
}

var lu = Site{Name: "lu", Jurisdiction: "LU", DistanceKm: -1, Agreement: "ee-lu"}

// A site in a jurisdiction its own agreement does not allow takes no data.
func TestRuleResidencyAgreement(t *testing.T) {
	ch := Site{Name: "ch", Jurisdiction: "CH", DistanceKm: -1, Agreement: "ee-lu"}
	ds := Dataset{Name: "land-register", Class: "C1-I1-A1"}
	ruleCase{rule: "residency-agreement", agreements: []*agreement.Agreement{variant(t, "ee-lu", "ee-lu")},
		denied:         Request{Action: Replicate, Dataset: ds, Site: ch},
		twin:           Request{Action: Replicate, Dataset: ds, Site: lu},
		reasonMentions: "agreement ee-lu allows data only in LU; site ch is in CH"}.run(t)
}

// A dataset tagged personal stays off a site whose agreement forbids
// personal data; the untagged twin may go.
func TestRulePersonalData(t *testing.T) {
	ag := variant(t, "ee-lu", "ee-lu", "personal-data: allowed", "personal-data: forbidden")
	tag := func(s *Settings) { s.Datasets = []DatasetTags{{Name: "population", Personal: true}} }
	ruleCase{rule: "personal-data", agreements: []*agreement.Agreement{ag}, settings: tag,
		denied:         Request{Action: Write, Dataset: Dataset{Name: "population", Class: "C1-I1-A1"}, Site: lu},
		twin:           Request{Action: Write, Dataset: Dataset{Name: "land-register", Class: "C1-I1-A1"}, Site: lu},
		reasonMentions: "dataset population is tagged personal"}.run(t)
	// The request's own flag counts as well as the tag.
	ruleCase{rule: "personal-data", agreements: []*agreement.Agreement{ag},
		denied:         Request{Action: Replicate, Dataset: Dataset{Name: "x", Class: "C1-I1-A1", Personal: true}, Site: lu},
		twin:           Request{Action: Replicate, Dataset: Dataset{Name: "x", Class: "C1-I1-A1"}, Site: lu},
		reasonMentions: "forbids personal data"}.run(t)
}

// A class rule's minimum tier keeps data off a lower-tier facility.
func TestRuleSiteTier(t *testing.T) {
	tier := func(s *Settings) { s.Classes = append(s.Classes, ClassRule{Class: "C2-I0-A0", MinTier: 3}) }
	ds := Dataset{Name: "tax", Class: "C2-I1-A1"}
	low := Site{Name: "t2", Jurisdiction: "FI", DistanceKm: -1, Tier: 2}
	high := Site{Name: "t3", Jurisdiction: "FI", DistanceKm: -1, Tier: 3}
	ruleCase{rule: "site-tier", settings: tier,
		denied: Request{Action: Write, Dataset: ds, Site: low}, twin: Request{Action: Write, Dataset: ds, Site: high},
		reasonMentions: "Tier 3 facility or better; site t2 is Tier 2"}.run(t)
}

// A class whose key policy is home-only never has its key released, even
// to an attested workload.
func TestRuleKeyReleaseHomeOnly(t *testing.T) {
	homeOnly := func(s *Settings) { s.Classes = append(s.Classes, ClassRule{Class: "C2-I0-A0", KeyPolicy: "home-only"}) }
	ruleCase{rule: "key-release-home-only", settings: homeOnly, agreements: []*agreement.Agreement{variant(t, "ee-lu", "ee-lu")},
		denied:         Request{Action: KeyRelease, Dataset: Dataset{Name: "tax", Class: "C2-I1-A1"}, Site: lu, Attested: true},
		twin:           Request{Action: KeyRelease, Dataset: Dataset{Name: "tax", Class: "C1-I1-A1"}, Site: lu, Attested: true},
		reasonMentions: "home-only: its keys never leave home"}.run(t)
}

// An agreement signed but not yet in force takes no data.
func TestRuleAgreementNotYet(t *testing.T) {
	ag := variant(t, "ee-lu", "ee-lu", "effective: 2018-05-16", "effective: 2027-01-01", "last-review: 2026-03-01", "last-review: 2027-01-01")
	ds := Dataset{Name: "land-register", Class: "C1-I1-A1"}
	ruleCase{rule: "agreement-not-yet", agreements: []*agreement.Agreement{ag},
		denied:         Request{Action: Write, Dataset: ds, Site: lu},
		twin:           Request{Action: Write, Dataset: ds, Site: lu, Now: ag.Values["term.effective"].Date().AddDate(0, 0, 1)},
		reasonMentions: "takes effect on 2027-01-01"}.run(t)
}

// With require-agreement set, a site without an agreement takes no data;
// the home itself needs none.
func TestRuleAgreementMissing(t *testing.T) {
	req := func(s *Settings) { s.RequireAgreement = true }
	ds := Dataset{Name: "land-register", Class: "C1-I1-A1"}
	ruleCase{rule: "agreement-missing", settings: req, agreements: []*agreement.Agreement{variant(t, "ee-lu", "ee-lu")},
		denied:         Request{Action: Write, Dataset: ds, Site: Site{Name: "fi", Jurisdiction: "FI", DistanceKm: -1}},
		twin:           Request{Action: Write, Dataset: ds, Site: lu},
		reasonMentions: "site fi has no agreement"}.run(t)
}

// A dataset tagged with jurisdictions goes, with its keys, nowhere else.
func TestRuleDatasetJurisdiction(t *testing.T) {
	tag := func(s *Settings) { s.Datasets = []DatasetTags{{Name: "tax", Jurisdictions: []string{"LU"}}} }
	ds := Dataset{Name: "tax", Class: "C1-I1-A1"}
	fi := Site{Name: "fi", Jurisdiction: "FI", DistanceKm: -1}
	for _, a := range []Action{Write, Replicate, KeyRelease} {
		ruleCase{rule: "dataset-jurisdiction", settings: tag,
			denied:         Request{Action: a, Dataset: ds, Site: fi, Attested: true},
			twin:           Request{Action: a, Dataset: ds, Site: Site{Name: "lu2", Jurisdiction: "LU", DistanceKm: -1}, Attested: true},
			reasonMentions: "tagged for LU only"}.run(t)
	}
}

// A dataset governed by the sending state's law is hosted only where that
// law governs: under an agreement naming the sending state's law.
func TestRuleDatasetGoverningLaw(t *testing.T) {
	tag := func(s *Settings) { s.Datasets = []DatasetTags{{Name: "tax", GoverningLaw: "EE"}} }
	hostLaw := variant(t, "ee-lu", "ee-lu-host", "governing-law: sending", "governing-law: host")
	ds := Dataset{Name: "tax", Class: "C1-I1-A1"}
	ruleCase{rule: "dataset-governing-law", settings: tag, agreements: []*agreement.Agreement{variant(t, "ee-lu", "ee-lu"), hostLaw},
		denied:         Request{Action: Write, Dataset: ds, Site: Site{Name: "lu-h", Jurisdiction: "LU", DistanceKm: -1, Agreement: "ee-lu-host"}},
		twin:           Request{Action: Write, Dataset: ds, Site: lu},
		reasonMentions: "governed by EE law"}.run(t)
	ruleCase{rule: "dataset-governing-law", settings: tag,
		denied:         Request{Action: Write, Dataset: ds, Site: Site{Name: "fi", Jurisdiction: "FI", DistanceKm: -1}},
		twin:           Request{Action: Write, Dataset: ds, Site: Site{Name: "ee2", Jurisdiction: "EE", DistanceKm: -1}},
		reasonMentions: "another state's law governs"}.run(t)
}

func TestDatasetTagsValidate(t *testing.T) {
	base := agreement.DefaultBaseline()
	for _, tc := range []struct{ doc, want string }{
		{"datasets:\n  - name: pop\n    personal: true\n    governing-law: EE\n    jurisdictions: [LU]\n", ""},
		{"datasets:\n  - personal: true\n", "datasets[0].name"},
		{"datasets:\n  - name: a\n  - name: a\n", "tagged twice"},
		{"datasets:\n  - name: a\n    governing-law: Estonia\n", "datasets[0].governing-law"},
		{"datasets:\n  - name: a\n    jurisdictions: [xx1]\n", "datasets[0].jurisdictions"},
		{"datasets:\n  - name: pop\n    personal: true\n    owner: Ministry of the Interior\n    rpo: 24h\n    rto: 4h\n    agreements: [ee-lu]\n", ""},
		{"datasets:\n  - name: a\n    rpo: daily\n", "datasets[0].rpo"},
		{"auto-deny: [BECAUSE]\n", "auto-deny[0]"},
	} {
		s, err := ParseSettings(strings.NewReader(tc.doc), base)
		if (err == nil) != (tc.want == "") || err != nil && !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.doc, err, tc.want)
		}
		if err == nil && !s.Tags("pop").Personal {
			t.Errorf("%q: pop not tagged personal", tc.doc)
		}
	}
}

// While a break-glass emergency access is open at a site, no key is
// released there, attested or not; other sites are unaffected.
func TestRuleBreakGlassOpen(t *testing.T) {
	ds := Dataset{Name: "tax", Class: "C1-I1-A1"}
	ruleCase{rule: "break-glass-open", agreements: []*agreement.Agreement{variant(t, "ee-lu", "ee-lu")},
		denied:         Request{Action: KeyRelease, Dataset: ds, Site: lu, Attested: true, BreakGlass: true},
		twin:           Request{Action: KeyRelease, Dataset: ds, Site: lu, Attested: true},
		reasonMentions: "break-glass emergency access is open at site lu"}.run(t)
}

// A dataset whose inventory entry names agreements is hosted only under
// them (and never at a site under no agreement).
func TestRuleDatasetAgreement(t *testing.T) {
	inv := func(s *Settings) { s.Datasets = []DatasetTags{{Name: "tax", Agreements: []string{"ee-lu"}}} }
	ags := []*agreement.Agreement{variant(t, "ee-lu", "ee-lu"), variant(t, "ee-lu", "ee-lu2")}
	ds := Dataset{Name: "tax", Class: "C1-I1-A1"}
	ruleCase{rule: "dataset-agreement", settings: inv, agreements: ags,
		denied:         Request{Action: Replicate, Dataset: ds, Site: Site{Name: "lu-b", Jurisdiction: "LU", DistanceKm: -1, Agreement: "ee-lu2"}},
		twin:           Request{Action: Replicate, Dataset: ds, Site: lu},
		reasonMentions: "hosted only under ee-lu; site lu-b is under ee-lu2"}.run(t)
	ruleCase{rule: "dataset-agreement", settings: inv, agreements: ags,
		denied:         Request{Action: Write, Dataset: ds, Site: Site{Name: "fi", Jurisdiction: "FI", DistanceKm: -1}},
		twin:           Request{Action: Write, Dataset: ds, Site: Site{Name: "home", Jurisdiction: "EE", Home: true}},
		reasonMentions: "dataset tax"}.run(t)
}

// residency-restore is opt-in: by default a copy held outside the class's
// jurisdictions (stored before the rules were tightened) still restores,
// since a restore brings the data home; with restore-within-residency the
// class refuses it.
func TestRuleResidencyRestore(t *testing.T) {
	fiOnly := func(within bool) func(*Settings) {
		return func(s *Settings) {
			s.Classes = append(s.Classes, ClassRule{Class: "C1-I0-A0", Jurisdictions: []string{"FI"}, RestoreWithinResidency: within})
		}
	}
	ds := Dataset{Name: "tax", Class: "C1-I1-A1"}
	outside := Site{Name: "ch", Jurisdiction: "CH", DistanceKm: -1}
	inside := Site{Name: "fi", Jurisdiction: "FI", DistanceKm: -1}
	ruleCase{rule: "residency-restore", settings: fiOnly(true),
		denied: Request{Action: Restore, Dataset: ds, Site: outside}, twin: Request{Action: Restore, Dataset: ds, Site: inside},
		reasonMentions: "site ch is in CH, so its copy is not restored from"}.run(t)
	// reading a snapshot's trees back without a restore (ls) is held to the same rule
	ruleCase{rule: "residency-restore", settings: fiOnly(true),
		denied: Request{Action: Read, Dataset: ds, Site: outside}, twin: Request{Action: Read, Dataset: ds, Site: inside},
		reasonMentions: "site ch is in CH"}.run(t)

	base := agreement.DefaultBaseline()
	s := DefaultSettings(base)
	fiOnly(false)(&s)
	e, err := New(s, base, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := e.Decide(Request{Action: Restore, Dataset: ds, Site: outside, Now: now}); !d.Allow {
		t.Fatalf("without restore-within-residency a restore from outside was denied: %v", d.Reasons)
	}
}
