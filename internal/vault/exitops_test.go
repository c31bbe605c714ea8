package vault

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/exit"
	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/keys"
	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/site/fs"
	"github.com/digital-embassy/embassy/internal/tlog"
)

// newFSVault makes a home with three custodians and directory sites
// <dir>/site-NAME, on the clock *now.
func newFSVault(t *testing.T, now *time.Time, sites ...string) (dir string, o Options) {
	t.Helper()
	dir = t.TempDir()
	o = Options{Clock: func() time.Time { return *now }, Warn: func(msg string) { t.Logf("warning: %s", msg) }}
	initVault(t, dir, o, func(name string) string { return filepath.Join(dir, "site-"+name) }, sites...)
	return dir, o
}

// homeRoots loads every root key the home holds, of every epoch.
func homeRoots(t *testing.T, h *home.Home) []*keys.Root {
	t.Helper()
	var out []*keys.Root
	for _, ep := range h.Roots() {
		r, err := h.LoadRoot(ep)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// openedKeys plays the attacker: every wrapped dataset key among objects
// (keys/datasets/DSID/vVVVVVV.eEEEEEEEE, docs/FORMAT.md §5) is tried with
// every root key given. It returns the dataset ids at least one of whose
// keys opened.
func openedKeys(t *testing.T, homeID string, objects map[site.Handle][]byte, roots []*keys.Root) map[string]bool {
	t.Helper()
	opened := map[string]bool{}
	for h, data := range objects {
		if h.Kind != site.KindKey || !strings.HasPrefix(h.Name, "datasets/") {
			continue
		}
		var dsid string
		var ver, ep uint32
		rest := strings.TrimPrefix(h.Name, "datasets/")
		i := strings.LastIndexByte(rest, '/')
		dsid = rest[:i]
		if _, err := fmt.Sscanf(rest[i+1:], "v%06d.e%08d", &ver, &ep); err != nil {
			t.Fatalf("key object %s: %v", h.Name, err)
		}
		for _, r := range roots {
			kem, err := r.KEM()
			if err != nil {
				t.Fatal(err)
			}
			// the epoch in the name is the host's to change: try each root with every epoch it could claim
			for _, e := range []uint32{ep, r.Epoch} {
				info := fmt.Appendf(nil, "embassy.v1 datakey %s %s %d %d", homeID, dsid, ver, e)
				if _, err := keys.Unwrap(kem, info, data); err == nil {
					opened[dsid] = true
				}
			}
		}
	}
	return opened
}

// siteObjects reads every object of a directory site, as the host holds it.
func siteObjects(t *testing.T, dir string) map[site.Handle][]byte {
	t.Helper()
	ctx := context.Background()
	b, err := fs.New(ctx, fs.Config{Path: dir, Name: "kept"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	out := map[site.Handle][]byte{}
	for _, k := range site.Kinds {
		var hs []site.Handle
		if err := b.List(ctx, k, func(fi site.Info) error { hs = append(hs, fi.Handle); return nil }); err != nil {
			t.Fatal(err)
		}
		for _, h := range hs {
			data, err := site.ReadAll(ctx, b, h)
			if err != nil {
				t.Fatal(err)
			}
			out[h] = data
		}
	}
	return out
}

// TestExitShredHostKeepsNothingThatDecrypts (issue 18 #25): a hostile
// host copies every byte of its site just before the exit. After 'exit
// --shred', neither that copy, nor the archive, nor the remaining site,
// opened with every root key the home still holds, yields a key of the
// shredded dataset. The same attack on the same copy before the exit does
// open both datasets' keys, so the test can fail.
func TestExitShredHostKeepsNothingThatDecrypts(t *testing.T) {
	now := testNow
	dir, o := newFSVault(t, &now, "lu=LU", "ch=CH")
	ctx := context.Background()
	v := open(t, dir, o)
	ids := map[string]string{}
	for _, ds := range []string{"census", "land"} {
		src := filepath.Join(dir, "src-"+ds)
		writeTree(t, src, map[string]string{"rows.csv": strings.Repeat(ds+",38501012231,Mari,Tamm\n", 200)})
		res, err := v.Snapshot(ctx, SnapshotRequest{Dataset: ds, Paths: []string{src}, Class: "restricted", By: "test"})
		if err != nil {
			t.Fatal(err)
		}
		ids[ds] = res.DatasetID
	}
	v.Close()

	// The host's copy: every byte its folder holds, taken at the last moment.
	kept := filepath.Join(dir, "host-kept")
	if err := os.CopyFS(kept, os.DirFS(filepath.Join(dir, "site-lu"))); err != nil {
		t.Fatal(err)
	}
	keptObjs := siteObjects(t, kept)
	h0, _ := home.Open(filepath.Join(dir, "home"))
	before := openedKeys(t, h0.Config.Home, keptObjs, homeRoots(t, h0))
	if !before[ids["census"]] || !before[ids["land"]] {
		t.Fatalf("the attack does not work even before the exit (opened %v): the test proves nothing", before)
	}

	now = now.Add(time.Hour)
	v = open(t, dir, o)
	archive := filepath.Join(dir, "lu.tar")
	rep, err := v.Exit(ctx, ExitRequest{Site: "lu", Archive: archive, Shred: []string{"census"}})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Done || rep.Deleted != rep.Objects || rep.Remaining != 0 || !slices.Equal(rep.Shredded, []string{"census"}) {
		t.Fatalf("exit report: %+v", rep)
	}
	roots := homeRoots(t, v.Home)
	if len(roots) != 1 {
		t.Errorf("the home still holds %d root keys: retired epochs must be gone", len(roots))
	}
	homeID := v.Home.Config.Home
	if got := openedKeys(t, homeID, keptObjs, roots); got[ids["census"]] {
		t.Error("the host's copy still yields a key of the shredded dataset with the home's keys")
	}
	// Every byte left at the site after the exit, too.
	if left := siteObjects(t, filepath.Join(dir, "site-lu")); len(left) != 0 {
		t.Errorf("%d objects left at the site after the exit", len(left))
	}
	// The archive (taken after the shred) and the remaining site.
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	arch := map[site.Handle][]byte{}
	if _, err := exit.Read(f, func(h site.Handle, data []byte) error { arch[h] = data; return nil }); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if got := openedKeys(t, homeID, arch, roots); got[ids["census"]] || !got[ids["land"]] {
		t.Errorf("archive keys opened %v: want the kept dataset's only", got)
	}
	if got := openedKeys(t, homeID, siteObjects(t, filepath.Join(dir, "site-ch")), roots); got[ids["census"]] || !got[ids["land"]] {
		t.Errorf("remaining site's keys opened %v: want the kept dataset's only", got)
	}
	// The shred and the exit are in the log, the shred marked as the exit's.
	rd, err := v.Recorder().Reader()
	if err != nil {
		t.Fatal(err)
	}
	_, ents, err := rd.All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var shred, done bool
	for _, e := range ents {
		shred = shred || (e.Kind == tlog.KindKeyShred && e.Dataset == ids["census"] && e.Details["for"] == "exit")
		done = done || (e.Kind == tlog.KindExit && e.Details["phase"] == tlog.ExitPhaseDone && e.Object == rep.Manifest && e.Details["shredded"] == ids["census"])
	}
	if !shred || !done {
		t.Errorf("log: shred entry %v, exit entry %v", shred, done)
	}
}

// TestExitDeadlineOverdue (issue 18 #25): an exit not complete within the
// agreement's exit.export-days is reported overdue and raises one alert;
// running it again does not restart the count; completing it closes it.
// The clock is the vault's, moved by the test.
func TestExitDeadlineOverdue(t *testing.T) {
	now := testNow
	dir, o := newFSVault(t, &now, "lu=LU", "ch=CH")
	ctx := context.Background()
	v := open(t, dir, o)
	// lu is hosted under the EE-LU agreement (30 days); ch under none (the baseline's 90).
	doc, err := os.ReadFile("../../examples/agreements/ee-lu.signed.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(AgreementsDir(v.Home), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(AgreementsDir(v.Home), "ee-lu.yaml"), doc, 0o644); err != nil {
		t.Fatal(err)
	}
	sc, _ := v.Home.Site("lu")
	sc.Agreement = "ee-lu"
	if err := v.Home.Save(); err != nil {
		t.Fatal(err)
	}
	day := 24 * time.Hour
	for site, days := range map[string]int{"lu": 30, "ch": 90} {
		oe, err := v.BeginExit(ctx, site)
		if err != nil {
			t.Fatal(err)
		}
		if oe.Days != days || !oe.Started.Equal(testNow) || !oe.Deadline.Equal(testNow.Add(time.Duration(days)*day)) {
			t.Errorf("%s: open exit %+v, want %d days from %s", site, oe, days, testNow)
		}
	}
	alerts := func() int {
		b, _ := os.ReadFile(filepath.Join(v.Home.Dir, SiteAlertsFile))
		return strings.Count(string(b), `"kind":"`+ExitOverdueKind+`"`)
	}
	overdue := func() []string {
		t.Helper()
		got, err := v.CheckExits()
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, oe := range got {
			names = append(names, oe.Site)
		}
		return names
	}

	now = testNow.Add(30*day - time.Second)
	if got := overdue(); len(got) != 0 || alerts() != 0 {
		t.Fatalf("within the deadline: overdue %v, %d alerts", got, alerts())
	}
	now = testNow.Add(30*day + time.Second)
	if got := overdue(); !slices.Equal(got, []string{"lu"}) || alerts() != 1 {
		t.Fatalf("past lu's deadline: overdue %v, %d alerts; want [lu], 1", got, alerts())
	}
	if got := overdue(); !slices.Equal(got, []string{"lu"}) || alerts() != 1 {
		t.Fatalf("checked again: overdue %v, %d alerts; the alert is raised once", got, alerts())
	}
	// Running the exit again (here only its notice) keeps the first start.
	oe, err := v.BeginExit(ctx, "lu")
	if err != nil || !oe.Started.Equal(testNow) {
		t.Fatalf("second begin: %+v %v; the count must not restart", oe, err)
	}
	// Completing it closes it; ch is still open, and overdue after 90 days.
	if _, err := v.Exit(ctx, ExitRequest{Site: "lu", Archive: filepath.Join(dir, "lu.tar")}); err != nil {
		t.Fatal(err)
	}
	st, err := v.ExitStatus()
	if err != nil || len(st) != 1 || st[0].Site != "ch" || st[0].Overdue {
		t.Fatalf("after lu's exit: %+v %v", st, err)
	}
	now = testNow.Add(90*day + time.Second)
	if got := overdue(); !slices.Equal(got, []string{"ch"}) || alerts() != 2 {
		t.Fatalf("past ch's deadline: overdue %v, %d alerts", got, alerts())
	}
	// Withdrawing ch's exit closes it, logged; withdrawing it twice is a usage error.
	if _, err := v.CancelExit(ctx, "ch"); err != nil {
		t.Fatal(err)
	}
	if st, err := v.ExitStatus(); err != nil || len(st) != 0 {
		t.Fatalf("after cancel: %+v %v", st, err)
	}
	if _, err := v.CancelExit(ctx, "ch"); hint.CodeOf(err) != hint.CodeUsage {
		t.Errorf("second cancel: %v", err)
	}
	if sc, _ := v.Home.Site("ch"); sc == nil {
		t.Error("a withdrawn exit removed the site")
	}
	// The start is in the log with its deadline.
	rd, err := v.Recorder().Reader()
	if err != nil {
		t.Fatal(err)
	}
	_, ents, err := rd.All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	starts := map[string]string{}
	cancelled := false
	for _, e := range ents {
		if e.Kind == tlog.KindExit && e.Details["phase"] == tlog.ExitPhaseStart {
			starts[e.Site] = e.Details["deadline"]
		}
		cancelled = cancelled || (e.Kind == tlog.KindExit && e.Details["phase"] == tlog.ExitPhaseCancel && e.Site == "ch")
	}
	if !cancelled {
		t.Error("the withdrawal is not in the log")
	}
	if starts["lu"] != testNow.Add(30*day).Format(time.RFC3339) || starts["ch"] != testNow.Add(90*day).Format(time.RFC3339) {
		t.Errorf("exit starts in the log: %v", starts)
	}
}
