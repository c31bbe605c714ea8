package policy

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/digital-embassy/embassy/internal/agreement"
)

var update = flag.Bool("update", false, "rewrite golden files")

func testKey(name string) ed25519.PrivateKey {
	s := sha256.Sum256([]byte("embassy test key " + name))
	return ed25519.NewKeyFromSeed(s[:])
}

func exampleAgreement(t testing.TB, name string) *agreement.Agreement {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "examples", "agreements", name+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), "SENDING_KEY", agreement.FormatPublicKey(testKey("sending").Public().(ed25519.PublicKey)), 1)
	s = strings.Replace(s, "HOST_KEY", agreement.FormatPublicKey(testKey("host").Public().(ed25519.PublicKey)), 1)
	a, err := agreement.Parse([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

var now = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

func testEngine(t testing.TB) *Engine {
	base := agreement.DefaultBaseline()
	s := DefaultSettings(base)
	s.HomeState, s.HomeLocation = "EE", "59.437,24.7536" // Tallinn
	s.Classes = append(s.Classes, ClassRule{Class: "C2-I0-A0", Jurisdictions: []string{"LU", "CH", "EE", "FI"}, MinTier: 3})
	var ags []*agreement.Agreement
	for _, n := range []string{"ee-lu", "mc-lu", "noncompliant"} {
		ags = append(ags, exampleAgreement(t, n))
	}
	e, err := New(s, base, ags)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func testSites(s Settings) []Site {
	mk := func(name, cc, loc, ag string, tier int) Site {
		return Site{Name: name, Jurisdiction: cc, DistanceKm: DistanceKm(s.HomeLocation, loc), Agreement: ag, Tier: tier}
	}
	return []Site{
		mk("lu-bettembourg", "LU", "49.52,6.10", "ee-lu", 4),
		mk("lu-monaco-twin", "LU", "49.61,6.13", "mc-lu", 3),
		mk("ch-geneva", "CH", "46.20,6.14", "", 3),
		mk("fi-helsinki", "FI", "60.17,24.94", "", 3),
		mk("us-cloud", "US", "38.9,-77.0", "xx-cloud", 0),
		mk("de-nowhere", "DE", "", "ghost", 0),
		{Name: "home", Jurisdiction: "EE", Home: true, DistanceKm: 0},
	}
}

// TestDecisionTable is the golden decision table: every action for a range
// of datasets at every test site.
func TestDecisionTable(t *testing.T) {
	e := testEngine(t)
	datasets := []Dataset{
		{Name: "unlabelled"}, {Name: "open-data", Class: "public"}, {Name: "land-register", Class: "C2-I3-A3"},
		{Name: "population", Class: "C2-I3-A3", Personal: true}, {Name: "state-secrets", Class: "secret"},
	}
	var b bytes.Buffer
	for _, d := range datasets {
		for _, s := range testSites(e.Settings()) {
			for _, a := range Actions {
				dec := e.Decide(Request{Action: a, Dataset: d, Site: s, Now: now})
				verdict := "allow"
				if !dec.Allow {
					verdict = "deny  " + strings.Join(dec.Rules, ",")
				}
				fmt.Fprintf(&b, "%-13s %-8s %-15s %-11s %s\n", d.Name, d.Class, s.Name, a, verdict)
				for _, r := range dec.Reasons {
					fmt.Fprintf(&b, "    reason: %s\n", r)
				}
				for _, r := range dec.Alerts {
					fmt.Fprintf(&b, "    alert: %s\n", r)
				}
			}
		}
	}
	golden(t, "decisions.golden", b.Bytes())
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if d := cmp.Diff(string(want), string(got)); d != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", name, d)
	}
}

func TestExplain(t *testing.T) {
	e := testEngine(t)
	p := e.Explain(Dataset{Name: "population", Class: "C2-I3-A3"}, testSites(e.Settings()), now)
	if d := cmp.Diff([]string{"lu-bettembourg", "lu-monaco-twin", "ch-geneva", "home"}, p.Allowed()); d != "" {
		t.Errorf("allowed (-want +got):\n%s", d)
	}
	if len(p.Problems) != 0 {
		t.Errorf("problems: %v", p.Problems)
	}
	// Held only in LU: critical data needs two jurisdictions.
	probs := e.CheckCopies(Dataset{Name: "population", Class: "C2-I3-A3"}, testSites(e.Settings())[:2])
	if len(probs) != 1 || !strings.Contains(probs[0], "needs copies in 2 jurisdictions; only 1") {
		t.Errorf("copies: %v", probs)
	}
	alerts := e.Alerts(now)
	if len(alerts) != 2 {
		t.Errorf("alerts: %+v", alerts)
	}
}

func TestSettings(t *testing.T) {
	base := agreement.DefaultBaseline()
	for _, tc := range []struct{ doc, want string }{
		{"home-location: 59.4,24.7\nrecovery-distance-km: 300\n", ""},
		{"recovery-distance-km: 100\n", "recovery-distance-km: 100 loosens the baseline (150 km)"},
		{"classes:\n  - class: C9\n", "classes[0].class: invalid classification"},
		{"classes:\n  - class: C1-I1-A1\n    erasure: 4-2\n", "classes[0].erasure"},
		{"classes:\n  - class: C1-I1-A1\n    jurisdictions: [LU]\n    min-jurisdictions: 2\n", "cannot be met"},
		{"home-lokation: x\n", "field home-lokation not found"},
	} {
		_, err := ParseSettings(strings.NewReader(tc.doc), base)
		if (err == nil) != (tc.want == "") || err != nil && !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.doc, err, tc.want)
		}
	}
	s := DefaultSettings(base)
	s.Classes = append(s.Classes, ClassRule{Class: "C2-I0-A0", Jurisdictions: []string{"LU", "CH"}, Erasure: "4+2"},
		ClassRule{Class: "C3-I0-A0", Jurisdictions: []string{"LU"}})
	got := s.For(mustLabel("C3-I3-A3"))
	want := ClassPolicy{Label: got.Label, Jurisdictions: []string{"LU"}, MinCopies: 2, MinJurisdictions: 2, Erasure: "4+2", KeyPolicy: "attested-release", PrivateHub: true}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("For (-want +got):\n%s", d)
	}
	if d := DistanceKm("59.437,24.7536", "49.61,6.13"); d < 1600 || d > 1700 {
		t.Errorf("Tallinn-Luxembourg %.0f km", d)
	}
}

func FuzzParseSettings(f *testing.F) {
	f.Add("home-location: 59.4,24.7\nclasses:\n  - class: C2-I3-A3\n    jurisdictions: [LU]\n")
	f.Add("datasets:\n  - name: population\n    personal: true\n    governing-law: EE\n    jurisdictions: [LU, EE]\n")
	base := agreement.DefaultBaseline()
	f.Fuzz(func(t *testing.T, doc string) {
		s, err := ParseSettings(strings.NewReader(doc), base)
		if err != nil {
			return
		}
		if _, err := ParseSettings(bytes.NewReader(s.Marshal()), base); err != nil {
			t.Fatalf("marshalled settings do not parse: %v", err)
		}
	})
}
