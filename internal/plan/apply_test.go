package plan

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/digital-embassy/embassy/internal/agreement"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/policy"
)

func TestApplyIdempotentOnAHome(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cfg := home.Default()
	cfg.Home = "plan-test-home"
	if _, err := home.Create(dir, cfg); err != nil {
		t.Fatal(err)
	}
	in := small
	for _, n := range []string{"lu", "ch", "fi", "lv"} {
		in = strings.Replace(in, "{name: "+n+",", "{name: "+n+", url: "+filepath.Join(dir, "site-"+n)+",", 1)
	}
	s := parseString(t, in)
	pl, err := Solve(s, Score(s), SolveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a := &HomeApplier{Dir: dir}
	want := DesiredSystem(s, pl)
	have, err := a.System(ctx)
	if err != nil {
		t.Fatal(err)
	}
	diffs := Compare(want, have)
	if len(diffs) == 0 {
		t.Fatal("a fresh home already matches the plan")
	}
	done, err := Apply(ctx, a, diffs)
	if err != nil {
		t.Fatal(err)
	}
	if len(done) != len(diffs) {
		t.Fatalf("applied %d of %d differences", len(done), len(diffs))
	}
	have, _ = a.System(ctx)
	if d := Compare(want, have); len(d) != 0 {
		t.Fatalf("after apply: %v", d)
	}
	// the written settings are what the policy engine reads
	f, err := os.Open(filepath.Join(dir, policy.SettingsFile))
	if err != nil {
		t.Fatal(err)
	}
	st, err := policy.ParseSettings(f, agreement.DefaultBaseline())
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	var rule *policy.ClassRule
	for i := range st.Classes {
		if st.Classes[i].Class == "C2-I3-A3" {
			rule = &st.Classes[i]
		}
	}
	if rule == nil || rule.MinJurisdictions != 2 || len(rule.Jurisdictions) != 2 || !rule.RequireCopies {
		t.Fatalf("class rule %+v: want the placement's two jurisdictions, required", rule)
	}
	// drift: a site's tier changes and an unplanned site appears
	h, _ := home.Open(dir)
	h.Config.Sites[0].Tier = 1
	h.Config.Sites = append(h.Config.Sites, home.SiteConfig{Name: "rogue", URL: filepath.Join(dir, "rogue"), Jurisdiction: "RU"})
	if err := h.Save(); err != nil {
		t.Fatal(err)
	}
	have, _ = a.System(ctx)
	diffs = Compare(want, have)
	kinds := map[string]bool{}
	for _, d := range diffs {
		kinds[d.Kind+" "+d.Subject] = d.Fixable
	}
	if fix, ok := kinds["site-facts "+h.Config.Sites[0].Name]; !ok || !fix {
		t.Fatalf("differences %v: want a fixable site-facts for %s", diffs, h.Config.Sites[0].Name)
	}
	if fix, ok := kinds["site-extra rogue"]; !ok || fix {
		t.Fatalf("differences %v: want an unfixable site-extra for rogue", diffs)
	}
	if _, err := Apply(ctx, a, diffs); err != nil {
		t.Fatal(err)
	}
	have, _ = a.System(ctx)
	if d := Compare(want, have); len(d) != 1 || d[0].Kind != "site-extra" {
		t.Fatalf("after the second apply: %v, want only the extra site", d)
	}
}

func TestDesiredErasureGroup(t *testing.T) {
	s := parseString(t, strings.Replace(small, "rto-hours: 24}", `rto-hours: 24, critical: false, schemes: ["2+1"]}`, 1))
	s.Thresholds = nil // every site eligible
	for i := range s.Sites {
		s.Sites[i].URL = "/srv/" + s.Sites[i].Name
	}
	pl, err := Solve(s, Score(s), SolveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d := DesiredSystem(s, pl)
	members, groups := 0, 0
	for _, sc := range d.Sites {
		if sc.Member {
			members++
		}
		if sc.IsGroup() {
			groups++
			if !strings.HasPrefix(sc.URL, "erasure:2+1?members=") {
				t.Fatalf("group url %q", sc.URL)
			}
		}
	}
	if members != 3 || groups != 1 || d.Classes[0].Erasure != "2+1" {
		t.Fatalf("desired %+v: want 3 members, 1 group and a 2+1 rule", d)
	}
}

func TestMissingAgreements(t *testing.T) {
	want := Desired{System: System{Sites: []home.SiteConfig{{Name: "a", Agreement: "ee-lu"}, {Name: "b", Agreement: "ee-ch"}, {Name: "c"}}}}
	d := MissingAgreements(want, []string{"ee-lu"})
	if len(d) != 1 || d[0].Subject != "b" || d[0].Fixable {
		t.Fatalf("got %v, want one unfixable difference for site b", d)
	}
}

// TestRulesMergeToThePlacement: the policy merges every rule at most as
// strict as a label, so the plan's rules must be monotone.
func TestRulesMergeToThePlacement(t *testing.T) {
	for _, name := range []string{"baltic.yaml", "gulf.yaml", "pacific.yaml"} {
		s := loadExample(t, name)
		pl, err := Solve(s, Score(s), SolveOptions{})
		if err != nil {
			t.Fatal(err)
		}
		d := DesiredSystem(s, pl)
		for _, diff := range Compare(d, System{}) {
			if diff.Kind == "class-conflict" {
				t.Errorf("%s: %v", name, diff)
			}
		}
		// a stray rule that forbids a planned jurisdiction is a conflict
		j := d.Placed[0].Jurisdictions[0]
		stray := policy.ClassRule{Class: "C0-I0-A0", Jurisdictions: []string{"ZZ"}}
		if j == "ZZ" {
			t.Fatal("test needs another jurisdiction")
		}
		found := false
		for _, diff := range Compare(d, System{Classes: []policy.ClassRule{stray}}) {
			found = found || diff.Kind == "class-conflict" && strings.Contains(diff.Have, "jurisdiction "+j+" not allowed")
		}
		if !found {
			t.Errorf("%s: a rule allowing only ZZ is not reported as a conflict", name)
		}
	}
}
