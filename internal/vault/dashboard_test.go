package vault

import (
	"context"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/tlog"
)

// TestDashboardMatchesTheCommands: the dashboard reads the same home the
// commands do: every site with its health, every dataset by name with its
// class, and disclosures measured against each site's agreement deadline
// (an access disclosed 18 h late is late under MC-LU's 12 h, on time under
// the baseline's 24 h), as 'embassy disclosures' measures them.
func TestDashboardMatchesTheCommands(t *testing.T) {
	dir, o := newVault(t, "lu=LU", "ch=CH")
	v := open(t, dir, o)
	ctx := context.Background()
	installAgreement(t, v, "mc-lu.signed.yaml", "mc-lu", "lu")
	src := filepath.Join(dir, "src")
	writeTree(t, src, map[string]string{"a.txt": "a"})
	if _, err := v.Snapshot(ctx, SnapshotRequest{Dataset: "registry", Paths: []string{src}, Class: "C1-I1-A1", By: "test"}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"lu", "ch"} {
		if _, err := v.Disclose(ctx, DiscloseRequest{Site: s, Reason: tlog.ReasonHostService, Who: "tech 4411", What: "rack B3",
			Access: "physical", At: testNow.Add(-18 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	d := v.Dashboard()
	ov, err := d.Overview(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var sites []string
	for _, s := range ov.Sites {
		if !s.Healthy {
			t.Errorf("site %s unhealthy: %s", s.Name, s.Status)
		}
		sites = append(sites, s.Name)
	}
	if !slices.Equal(sites, []string{"lu", "ch"}) || ov.Home != v.Home.Config.Home || ov.LogSize == 0 {
		t.Errorf("overview %+v", ov)
	}
	dss, err := d.Datasets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(dss) != 1 || dss[0].Name != "registry" || dss[0].Class != "C1-I1-A1" || dss[0].Snapshots != 1 {
		t.Errorf("datasets %+v", dss)
	}
	rep, err := d.Disclosures(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cmd, err := v.Disclosures(ctx, DisclosuresRequest{})
	if err != nil {
		t.Fatal(err)
	}
	late := func(r tlog.DisclosureReport) (out []string) {
		for _, x := range r.Disclosures {
			if x.Late {
				out = append(out, x.Site)
			}
		}
		return out
	}
	if got := late(rep); !slices.Equal(got, []string{"lu"}) || !slices.Equal(got, late(cmd.DisclosureReport)) {
		t.Errorf("late on the dashboard %v, by the command %v; want [lu] for both", got, late(cmd.DisclosureReport))
	}
	v1 := d.Version(ctx)
	if err := d.Record(ctx, tlog.Entry{Kind: tlog.KindSession, Details: map[string]string{tlog.DetailInitiator: "home", "event": "sign-in"}}); err != nil {
		t.Fatal(err)
	}
	if v2 := d.Version(ctx); v2 == v1 {
		t.Errorf("the version did not change when the log grew")
	}
	// The page's requests run at once (go test -race checks them).
	var wg sync.WaitGroup
	errs := make(chan error, 12)
	for range 4 {
		wg.Go(func() {
			_, err := d.Datasets(ctx)
			errs <- err
			_, err = d.Overview(ctx)
			errs <- err
			cards, err := d.Agreements(ctx)
			if err == nil && len(cards) != 1 {
				t.Errorf("%d scorecards, want mc-lu's", len(cards))
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}
