package vault

import (
	"context"
	"errors"
	"testing"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/tlog"
)

// TestPlanApplierAddsSitesAsSiteAdd: the planner's applier adds a site
// through the real site add: checked like 'embassy site add' (a bad
// jurisdiction or a taken name is a usage error and changes nothing), the
// vault copied to it, registered and logged.
func TestPlanApplierAddsSitesAsSiteAdd(t *testing.T) {
	dir, o := newVault(t, "lu=LU")
	v := open(t, dir, o)
	ctx := context.Background()
	src := dir + "/src"
	writeTree(t, src, map[string]string{"a.txt": "a"})
	if _, err := v.Snapshot(ctx, SnapshotRequest{Dataset: "registry", Paths: []string{src}, Class: "C1-I1-A1", By: "test"}); err != nil {
		t.Fatal(err)
	}
	a := v.PlanApplier()
	for _, bad := range []home.SiteConfig{
		{Name: "lu", URL: "mem:lu2", Jurisdiction: "LU"},     // taken
		{Name: "ee", URL: "mem:ee", Jurisdiction: "Estonia"}, // not a code
		{Name: "ee", Jurisdiction: "EE"},                     // no url
		{Name: "ee", URL: "mem:ee", Jurisdiction: "EE", Location: "north"},
	} {
		err := a.AddSite(ctx, bad)
		if err == nil || hint.CodeOf(err) != hint.CodeUsage {
			t.Errorf("AddSite(%+v) = %v, want a usage error", bad, err)
		}
	}
	if err := a.AddSite(ctx, home.SiteConfig{Name: "ee", URL: "mem:ee", Jurisdiction: "ee", Location: "59.43,24.75"}); err != nil {
		t.Fatal(err)
	}
	h, err := home.Open(v.Home.Dir)
	if err != nil {
		t.Fatal(err)
	}
	sc, _ := h.Site("ee")
	if sc == nil || sc.Jurisdiction != "EE" || len(h.Config.Sites) != 2 {
		t.Fatalf("registry after apply: %+v", h.Config.Sites)
	}
	rd, err := v.Recorder().Reader()
	if err != nil {
		t.Fatal(err)
	}
	_, ents, err := rd.All(ctx)
	if err != nil && !errors.Is(err, tlog.ErrEmpty) {
		t.Fatal(err)
	}
	var adds []string
	for _, x := range ents {
		if x.Kind == tlog.KindSiteAdd {
			adds = append(adds, x.Site+"/"+x.Details["copied_objects"])
		}
	}
	if len(adds) != 2 || adds[1] == "ee/0" || adds[1][:3] != "ee/" {
		t.Fatalf("site.add entries %v: want lu's and ee's, ee with the vault copied", adds)
	}
}
