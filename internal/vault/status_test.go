package vault

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/tlog"
)

// TestLogResolvesDatasetNames (issue 10): entries name datasets by id, and
// a query by name finds them; a name that matches nothing finds nothing.
func TestLogResolvesDatasetNames(t *testing.T) {
	dir, o := newVault(t, "lu=LU")
	v := open(t, dir, o)
	ctx := context.Background()
	src := filepath.Join(dir, "src")
	writeTree(t, src, map[string]string{"a.txt": "a"})
	for _, ds := range []string{"registry", "census"} {
		if _, err := v.Snapshot(ctx, SnapshotRequest{Dataset: ds, Paths: []string{src}, Class: "C1-I1-A1", By: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	id := v.DatasetID(ctx, "registry")
	if id == "registry" || id == "" {
		t.Fatalf("DatasetID(registry) = %q, want its id", id)
	}
	for _, q := range []string{"registry", id} {
		res, err := v.Log(ctx, LogQuery{Dataset: q, Kinds: []string{tlog.KindSnapshot}})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Entries) != 1 || res.Entries[0].Dataset != id || res.Size == 0 {
			t.Errorf("log --dataset %s: %d entries %+v, want registry's one snapshot", q, len(res.Entries), res.Entries)
		}
	}
	res, err := v.Log(ctx, LogQuery{Dataset: "no-such"})
	if err != nil || len(res.Entries) != 0 {
		t.Errorf("log --dataset no-such: %v %v", res.Entries, err)
	}
	res, err = v.Log(ctx, LogQuery{Kinds: []string{tlog.KindSnapshot}, Limit: 1, From: testNow.Add(-time.Hour)})
	if err != nil || len(res.Entries) != 1 || res.Entries[0].Dataset == id {
		t.Errorf("the last snapshot entry: %+v %v; want census's", res.Entries, err)
	}
}

// TestKeyStatusNamesDatasets: key status shows the current epoch, its
// custodians and each dataset by name with its key versions.
func TestKeyStatusNamesDatasets(t *testing.T) {
	dir, o := newVault(t, "lu=LU")
	v := open(t, dir, o)
	ctx := context.Background()
	src := filepath.Join(dir, "src")
	writeTree(t, src, map[string]string{"a.txt": "a"})
	if _, err := v.Snapshot(ctx, SnapshotRequest{Dataset: "registry", Paths: []string{src}, Class: "C1-I1-A1", By: "test"}); err != nil {
		t.Fatal(err)
	}
	ks, err := v.KeyStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ks.Epoch != 1 || ks.Threshold != 2 || len(ks.Custodians) != 3 || ks.Home != v.Home.Config.Home {
		t.Errorf("key status %+v", ks)
	}
	if len(ks.Datasets) != 1 || ks.Datasets[0].Name != "registry" || ks.Datasets[0].Versions != 1 {
		t.Errorf("datasets %+v", ks.Datasets)
	}
}

// TestSiteStatusesRedactCredentials: a hostile or broken site's error may
// echo its URL; neither the shown URL nor the status carries the secret.
func TestSiteStatusesRedactCredentials(t *testing.T) {
	dir, o := newVault(t, "lu=LU")
	const secret = "s3cr3t-Pa55word"
	inner := o.OpenSite
	o.OpenSite = func(ctx context.Context, sc home.SiteConfig, create bool) (site.Backend, error) {
		if sc.Name == "ch" {
			return nil, errors.New("dial " + sc.URL + ": refused")
		}
		return inner(ctx, sc, create)
	}
	v := open(t, dir, o)
	v.Home.Config.Sites = append(v.Home.Config.Sites, home.SiteConfig{Name: "ch", Jurisdiction: "CH",
		URL: "s3://ops:" + secret + "@s3.ch.example/bucket?x-amz-security-token=" + secret})
	got := v.SiteStatuses(context.Background(), time.Second)
	if len(got) != 2 || !got[0].OK() || got[1].OK() {
		t.Fatalf("statuses %+v: want lu ok, ch unreachable", got)
	}
	for _, st := range got {
		if strings.Contains(st.URL+st.Status, secret) {
			t.Errorf("site %s shows its credential: %q %q", st.Name, st.URL, st.Status)
		}
	}
	if !strings.HasPrefix(got[1].Status, "unreachable: ") || !strings.Contains(got[1].URL, "redacted") {
		t.Errorf("ch: %+v", got[1])
	}
}
