package vault

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/keys"
	"github.com/digital-embassy/embassy/internal/policy"
	"github.com/digital-embassy/embassy/internal/protect"
	"github.com/digital-embassy/embassy/internal/repo"
	"github.com/digital-embassy/embassy/internal/restorer"
	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/site/mem"
	"github.com/digital-embassy/embassy/internal/tlog"
)

// memSites keeps one in-memory backend per site name for the whole test,
// so that every vault opened over the home sees the same objects.
type memSites struct {
	mu    sync.Mutex
	sites map[string]*mem.Backend
}

func (m *memSites) open(_ context.Context, sc home.SiteConfig, _ bool) (site.Backend, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.sites == nil {
		m.sites = map[string]*mem.Backend{}
	}
	b := m.sites[sc.Name]
	if b == nil {
		b = mem.New(site.Properties{Name: sc.Name, Jurisdiction: sc.Jurisdiction})
		m.sites[sc.Name] = b
	}
	return nopClose{b}, nil
}

// nopClose keeps the shared backend open when a vault closes its sites.
type nopClose struct{ *mem.Backend }

func (nopClose) Close() error { return nil }

var testNow = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

// newVault makes a home with three custodians (threshold 2) and the sites
// given as name=jurisdiction, all in memory.
func newVault(t *testing.T, sites ...string) (dir string, o Options) {
	t.Helper()
	dir = t.TempDir()
	ms := &memSites{}
	o = Options{Clock: func() time.Time { return testNow }, OpenSite: ms.open, Warn: func(msg string) { t.Logf("warning: %s", msg) }}
	initVault(t, dir, o, func(name string) string { return "mem:" + name }, sites...)
	return dir, o
}

// initVault makes a home in dir/home with three custodians (threshold 2)
// and the sites "NAME=CC" at url(NAME): the one home fixture of the
// service layer's tests (newVault: in-memory sites; newFSVault:
// directories).
func initVault(t *testing.T, dir string, o Options, url func(name string) string, sites ...string) {
	t.Helper()
	var recs []string
	for range 3 {
		_, rec, err := keys.GenerateIdentity(false)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
	}
	ctx := context.Background()
	v, err := Init(ctx, InitRequest{Dir: filepath.Join(dir, "home"), Config: home.Default(), Custodians: recs, Threshold: 2}, o)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sites {
		name, cc, _ := strings.Cut(s, "=")
		if _, err := v.AddSite(ctx, AddSiteRequest{Site: home.SiteConfig{Name: name, URL: url(name), Jurisdiction: cc}}); err != nil {
			t.Fatal(err)
		}
	}
	v.Close()
}

func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func open(t *testing.T, dir string, o Options) *Vault {
	t.Helper()
	v, err := Open(context.Background(), filepath.Join(dir, "home"), true, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	return v
}

// TestSnapshotRestore drives the service layer end to end on in-memory
// sites: a snapshot is placed by one write decision per site, recorded
// with dataset, class and sites, and restores byte-exact.
func TestSnapshotRestore(t *testing.T) {
	dir, o := newVault(t, "lu=LU", "ch=CH")
	src := filepath.Join(dir, "src")
	writeTree(t, src, map[string]string{"register.csv": "38501012231,Mari,Tamm\n", "docs/a.txt": "a"})
	v := open(t, dir, o)
	ctx := context.Background()
	res, err := v.Snapshot(ctx, SnapshotRequest{Dataset: "registry", Paths: []string{src}, Class: "restricted", By: "test"})
	if err != nil {
		t.Fatal(err)
	}
	want := tlog.Entry{V: tlog.Version, Kind: tlog.KindSnapshot, Time: testNow, Actor: "home", Home: v.Home.Config.Home,
		Dataset: res.DatasetID, Object: res.ID.String(),
		Details: map[string]string{"class": "C2-I3-A3", "sites": "lu,ch", "files": "2", "new_blobs": res.Entry.Details["new_blobs"], "by": "test"}}
	if diff := cmp.Diff(want, res.Entry); diff != "" {
		t.Errorf("snapshot entry (-want +got):\n%s", diff)
	}
	g, _ := v.Gate()
	var writes []string
	for _, d := range g.Decisions() {
		if d.Action == policy.Write && d.Allow {
			writes = append(writes, d.Site)
		}
	}
	if !slices.Equal(writes, []string{"lu", "ch"}) {
		t.Errorf("write decisions allowed %v, want lu, ch", writes)
	}
	out := filepath.Join(dir, "out")
	rr, err := v.Restore(ctx, RestoreRequest{Ref: "registry", Target: out, By: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if rr.Stats.Files != 2 || rr.Entry.Kind != tlog.KindRestore || rr.Entry.Dataset != res.DatasetID {
		t.Errorf("restore: %+v, entry %+v", rr.Stats, rr.Entry)
	}
	for _, f := range []string{"register.csv", "docs/a.txt"} {
		a, _ := os.ReadFile(filepath.Join(src, f))
		b, err := os.ReadFile(filepath.Join(out, f))
		if err != nil || string(a) != string(b) {
			t.Errorf("restored %s: %q, %v; want %q", f, b, err, a)
		}
	}
	// the log holds both entries, as built
	rd, err := v.Recorder().Reader()
	if err != nil {
		t.Fatal(err)
	}
	_, ents, err := rd.All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range ents {
		kinds = append(kinds, e.Entry.Kind)
	}
	if !slices.Contains(kinds, tlog.KindSnapshot) || !slices.Contains(kinds, tlog.KindRestore) {
		t.Errorf("log kinds %v", kinds)
	}
}

// TestEntryPointsAgree (issue 10): the same snapshot taken through the
// command line's path (Snapshot), through protect (Protect, as 'embassy
// protect --once' does) and through protect's long-running runner (the
// daemon path) asks the same policy decisions and records the same entry.
func TestEntryPointsAgree(t *testing.T) {
	type trace struct {
		entry     tlog.Entry
		decisions []Decision
	}
	norm := func(v *Vault, e tlog.Entry) tlog.Entry {
		if e.Dataset == "" || e.Object == "" {
			t.Errorf("snapshot entry without dataset or snapshot id: %+v", e)
		}
		e.Object, e.Dataset, e.Home = "", "", "" // random per home
		delete(e.Details, "by")
		delete(e.Details, "new_blobs")
		return e
	}
	take := func(t *testing.T, how string) trace {
		dir, o := newVault(t, "lu=LU", "ch=CH", "us=US")
		// the class may not be held in the US: one denial, the same everywhere
		if err := os.WriteFile(filepath.Join(dir, "home", policy.SettingsFile), []byte("classes:\n  - class: C2-I0-A0\n    jurisdictions: [LU, CH]\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		src := filepath.Join(dir, "src")
		writeTree(t, src, map[string]string{"a.txt": "register row\n"})
		v := open(t, dir, o)
		ctx := context.Background()
		ds := protect.Dataset{Name: "registry", Class: "C2-I3-A3", Source: protect.Source{Type: "dir", Path: src}}
		var ent tlog.Entry
		switch how {
		case "cli":
			res, err := v.Snapshot(ctx, SnapshotRequest{Dataset: "registry", Paths: []string{src}, Class: "C2-I3-A3", By: "snapshot"})
			if err != nil {
				t.Fatal(err)
			}
			ent = res.Entry
		case "protect":
			if _, err := v.Protect(ctx, ds); err != nil {
				t.Fatal(err)
			}
		case "daemon":
			rn := &protect.Runner{Repo: v.Repo, Home: v.Home, Config: &protect.Config{Datasets: []protect.Dataset{ds}}, Take: v.Protect, Now: v.Now}
			if errs := rn.Cycle(ctx, true); len(errs) > 0 {
				t.Fatal(errs)
			}
		}
		rd, err := v.Recorder().Reader()
		if err != nil {
			t.Fatal(err)
		}
		_, ents, err := rd.All(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			if e.Entry.Kind == tlog.KindSnapshot {
				ent = e.Entry
			}
		}
		g, _ := v.Gate()
		return trace{norm(v, ent), g.Decisions()}
	}
	cli := take(t, "cli")
	if cli.entry.Details["sites"] != "lu,ch" || cli.entry.Details["class"] != "C2-I3-A3" {
		t.Fatalf("cli entry %+v", cli.entry)
	}
	denied := 0
	for _, d := range cli.decisions {
		if !d.Allow {
			denied++
			if d.Site != "us" || !slices.Contains(d.Rules, "residency-class") {
				t.Errorf("denial %+v, want us by residency-class", d)
			}
		}
	}
	if denied != 1 {
		t.Errorf("%d denials, want 1: %+v", denied, cli.decisions)
	}
	for _, how := range []string{"protect", "daemon"} {
		got := take(t, how)
		if diff := cmp.Diff(cli.entry, got.entry); diff != "" {
			t.Errorf("%s snapshot entry differs from the CLI's (-cli +%s):\n%s", how, how, diff)
		}
		if diff := cmp.Diff(cli.decisions, got.decisions); diff != "" {
			t.Errorf("%s policy decisions differ from the CLI's (-cli +%s):\n%s", how, how, diff)
		}
	}
}

// TestRestoreAsksEverySite: a restore asks one policy.Restore decision
// per configured site before reading (and a site marked denied is then
// neither read nor reported as failed).
func TestRestoreAsksEverySite(t *testing.T) {
	dir, o := newVault(t, "lu=LU", "ch=CH")
	src := filepath.Join(dir, "src")
	writeTree(t, src, map[string]string{"a.txt": "a"})
	ctx := context.Background()
	v := open(t, dir, o)
	if _, err := v.Snapshot(ctx, SnapshotRequest{Dataset: "ds", Paths: []string{src}, Class: "C2-I1-A1"}); err != nil {
		t.Fatal(err)
	}
	v2 := open(t, dir, o)
	if _, err := v2.Restore(ctx, RestoreRequest{Ref: "ds", Target: filepath.Join(dir, "out"), Options: restorer.Options{}}); err != nil {
		t.Fatal(err)
	}
	g, _ := v2.Gate()
	var asked []string
	for _, d := range g.Decisions() {
		if d.Action == policy.Restore && d.Dataset == "ds" && d.Class == "C2-I1-A1" && d.Allow {
			asked = append(asked, d.Site)
		}
	}
	if !slices.Equal(asked, []string{"lu", "ch"}) {
		t.Errorf("restore decisions for %v, want lu, ch", asked)
	}
	s := v2.Repo.Sites()[0]
	DenySite(s, Decision{Action: policy.Restore, Site: s.Name, Rules: []string{"test"}, Reasons: []string{"because"}})
	if !IsDenied(s.Err()) || s.Backend != nil {
		t.Errorf("denied site: %v, backend %v", s.Err(), s.Backend)
	}
}

func TestClassOf(t *testing.T) {
	at := func(h int) time.Time { return testNow.Add(time.Duration(h) * time.Hour) }
	snaps := []*repo.Snapshot{{Time: at(0), Class: "C1-I1-A1"}, {Time: at(2), Class: "C2-I3-A3"}, {Time: at(3)}}
	if c := ClassOf(snaps); c != "C2-I3-A3" {
		t.Errorf("class %q: want the newest label, whatever later unlabelled snapshots say", c)
	}
	if c := ClassOf(nil); c != "" {
		t.Errorf("no snapshots: %q", c)
	}
}
