package vault

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/keys"
	"github.com/digital-embassy/embassy/internal/repo"
	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/tlog"
)

// custodianVault is newVault keeping the custodians' identity files.
func custodianVault(t *testing.T) (dir string, o Options, ms *memSites, idFiles []string) {
	t.Helper()
	dir = t.TempDir()
	ms = &memSites{}
	o = Options{Clock: func() time.Time { return testNow }, OpenSite: ms.open, Warn: func(msg string) { t.Logf("warning: %s", msg) }}
	var recs []string
	for i := range 3 {
		id, rec, err := keys.GenerateIdentity(false)
		if err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(dir, string(rune('a'+i))+".key")
		if err := os.WriteFile(f, keys.IdentityFile(id, rec, testNow), 0o600); err != nil {
			t.Fatal(err)
		}
		recs, idFiles = append(recs, rec), append(idFiles, f)
	}
	ctx := context.Background()
	v, err := Init(ctx, InitRequest{Dir: filepath.Join(dir, "home"), Config: home.Default(), Custodians: recs, Threshold: 2}, o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.AddSite(ctx, AddSiteRequest{Site: home.SiteConfig{Name: "lu", URL: "mem:lu", Jurisdiction: "LU"}}); err != nil {
		t.Fatal(err)
	}
	v.Close()
	return dir, o, ms, idFiles
}

// TestRecoverService: vault.Recover rebuilds a home from one in-memory
// site and two custodians into a new folder, checks the site against the
// old home's witnessed log, records the recovery with the typed builder,
// and the recovered vault restores the data.
func TestRecoverService(t *testing.T) {
	dir, o, ms, ids := custodianVault(t)
	src := filepath.Join(dir, "src")
	writeTree(t, src, map[string]string{"a.txt": "row 1\n"})
	v := open(t, dir, o)
	ctx := context.Background()
	if _, err := v.Snapshot(ctx, SnapshotRequest{Dataset: "reg", Paths: []string{src}, Class: "C1-I1-A1", By: "test"}); err != nil {
		t.Fatal(err)
	}
	fp := v.Repo.Fingerprint()
	homeID := v.Home.Config.Home
	v.Close()
	srcs, err := LoadIdentities(ids[:2], nil)
	if err != nil {
		t.Fatal(err)
	}
	openSite := func(ctx context.Context, url string, p site.Properties) (site.Backend, error) {
		return ms.open(ctx, home.SiteConfig{Name: strings.TrimPrefix(url, "mem:")}, false)
	}
	req := RecoverRequest{Dir: filepath.Join(dir, "new"), SiteURL: "mem:lu", SiteName: "lu", Jurisdiction: "LU", Identities: srcs, Open: openSite}
	if _, err := Recover(ctx, req, Options{Clock: o.Clock}); !errors.Is(err, repo.ErrUnpinned) {
		t.Fatalf("recover without a pin: %v, want ErrUnpinned", err)
	}
	req.ExpectHome = fp
	req.LogDir = filepath.Join(dir, "home", "log")
	req.LogPolicy = filepath.Join(req.LogDir, "policy")
	res, err := Recover(ctx, req, Options{Clock: o.Clock})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Vault.Close()
	want := tlog.Entry{V: tlog.Version, Kind: tlog.KindRecover, Time: testNow, Actor: "home", Home: homeID, Site: "lu",
		Details: map[string]string{"custodians": "2", "threshold": "2", "epoch": "1", "state": res.Entry.Details["state"]}}
	if diff := cmp.Diff(want, res.Entry); diff != "" {
		t.Errorf("recover entry (-want +got):\n%s", diff)
	}
	if res.Datasets != 1 || res.Entry.Details["state"] == "0" {
		t.Errorf("recovered %d datasets, state %s", res.Datasets, res.Entry.Details["state"])
	}
	out := filepath.Join(dir, "out")
	if _, err := res.Vault.Restore(ctx, RestoreRequest{Ref: "reg", Target: out, By: "test"}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "a.txt")); string(b) != "row 1\n" {
		t.Fatalf("restored %q", b)
	}
	if _, err := Recover(ctx, req, Options{Clock: o.Clock}); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("recover over an existing home: %v", err)
	}
}
