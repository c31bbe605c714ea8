package vault

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/assess"
	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/keys"
	"github.com/digital-embassy/embassy/internal/repo"
	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/tlog"
)

// Every unwrap of a dataset key is in the transparency log (framework
// requirement 12): a command that opens the keys leaves one key.unwrap
// entry per key version it unwrapped, naming dataset id, version, epoch
// and the site read from, initiated by the home, so the disclosure
// cross-check does not flag them.
func TestKeyCustodyEveryUnwrapLogged(t *testing.T) {
	dir, o := newVault(t, "lu=LU")
	src := filepath.Join(dir, "src")
	writeTree(t, src, map[string]string{"register.csv": "38501012231,Mari,Tamm\n"})
	ctx := context.Background()
	v := open(t, dir, o)
	res, err := v.Snapshot(ctx, SnapshotRequest{Dataset: "registry", Paths: []string{src}, Class: "restricted", By: "test"})
	if err != nil {
		t.Fatal(err)
	}
	v.Close()
	before := logEntries(t, dir, o)
	// a later command (another process) unwraps the key to restore
	v2 := open(t, dir, o)
	if _, err := v2.Restore(ctx, RestoreRequest{Ref: "registry", Target: filepath.Join(dir, "out"), By: "test"}); err != nil {
		t.Fatal(err)
	}
	after := logEntries(t, dir, o)
	var unwraps []tlog.Indexed
	for _, e := range after[len(before):] {
		if e.Kind == tlog.KindKeyUnwrap {
			unwraps = append(unwraps, e)
		}
	}
	if len(unwraps) != 1 {
		t.Fatalf("restore left %d key.unwrap entries, want 1 (one key version): %+v", len(unwraps), after[len(before):])
	}
	u := unwraps[0]
	if u.Dataset != res.DatasetID || u.Object != "v000001.e00000001" || u.Details[tlog.DetailInitiator] != "home" || u.Details["purpose"] != UnwrapUse || u.Site == "" {
		t.Errorf("unwrap entry %+v: want dataset %s, key v000001.e00000001, initiator home, purpose use, a site", u.Entry, res.DatasetID)
	}
	if u.Privileged() {
		t.Errorf("a home-initiated unwrap needs no disclosure, but Privileged() is true")
	}
	rep := tlog.Disclosures(after, tlog.DisclosureOptions{Now: testNow.AddDate(0, 0, 7)})
	if len(rep.Alerts) != 0 {
		t.Errorf("home unwraps raised disclosure alerts: %+v", rep.Alerts)
	}
}

func logEntries(t *testing.T, dir string, o Options) []tlog.Indexed {
	t.Helper()
	v := open(t, dir, o)
	rd, err := v.Recorder().Reader()
	if err != nil {
		t.Fatal(err)
	}
	_, ents, err := rd.All(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return ents
}

// With the home unreachable, the host holds only its site's objects: it
// cannot open a dataset key without the home's root key, a root key of its
// own is refused, and nothing it holds is plaintext or key material
// (framework requirement 12).
func TestKeyCustodyHostCannotDecryptWithoutHome(t *testing.T) {
	dir, o := newVault(t, "lu=LU")
	src := filepath.Join(dir, "src")
	secret := []byte("38501012231,Mari,Tamm,Tallinn,")
	writeTree(t, src, map[string]string{"register.csv": string(bytes.Repeat(secret, 200))})
	ctx := context.Background()
	v := open(t, dir, o)
	if _, err := v.Snapshot(ctx, SnapshotRequest{Dataset: "registry", Paths: []string{src}, Class: "restricted", By: "test"}); err != nil {
		t.Fatal(err)
	}
	v.Close()

	// the host: its own site's backend, no home directory, no mirror
	b, err := o.OpenSite(ctx, home.SiteConfig{Name: "lu", Jurisdiction: "LU"}, false)
	if err != nil {
		t.Fatal(err)
	}
	hostSite := func() []*repo.Site { return []*repo.Site{{Name: "lu", Jurisdiction: "LU", Backend: b}} }
	var unwrapped []repo.Unwrap
	onUnwrap := func(_ context.Context, us []repo.Unwrap) { unwrapped = append(unwrapped, us...) }
	r, err := repo.Open(ctx, repo.Options{Sites: hostSite(), OnUnwrap: onUnwrap})
	if err != nil {
		t.Fatalf("the site's public structure should open without keys: %v", err)
	}
	if _, err := r.Datasets(ctx); err == nil || hint.CodeOf(err) != hint.CodeKey {
		t.Errorf("host without the root key: Datasets err = %v, want a key error (exit 4)", err)
	}
	forged, err := keys.NewRoot(r.CurrentEpoch().Epoch)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.SetRoot(forged); err == nil || hint.CodeOf(err) != hint.CodeKey {
		t.Errorf("host's own root key accepted: err = %v", err)
	}
	if _, err := r.Datasets(ctx); err == nil {
		t.Errorf("host opened the dataset keys with a root key of its own")
	}
	if len(unwrapped) != 0 {
		t.Errorf("host unwrapped %d key records", len(unwrapped))
	}
	// nothing at the site is plaintext or key material
	found, err := assess.ScanSite(ctx, b)
	if err != nil || len(found) != 0 {
		t.Errorf("scan of the host's site: %v, %v", found, err)
	}
	for _, k := range site.Kinds {
		_ = b.List(ctx, k, func(i site.Info) error {
			obj, err := repo.ReadObject(ctx, b, i.Handle)
			if err != nil && !errors.Is(err, repo.ErrTooLarge) {
				t.Errorf("read %s: %v", i.Handle, err)
			}
			if bytes.Contains(obj, secret[:16]) {
				t.Errorf("object %s at the host holds the dataset's plaintext", i.Handle)
			}
			return nil
		})
	}
	if !slices.Contains(site.Kinds, site.KindPack) {
		t.Fatal("site.Kinds has no pack kind")
	}
}

// A command that only reads (no entry of its own) appends nothing: its
// unwraps wait in the pending journal, on disk before the keys are
// returned, and go into the log with the next command that appends, once.
func TestKeyCustodyReadOnlyCommandJournals(t *testing.T) {
	dir, o := newVault(t, "lu=LU")
	src := filepath.Join(dir, "src")
	writeTree(t, src, map[string]string{"a.txt": "a"})
	ctx := context.Background()
	v := open(t, dir, o)
	if _, err := v.Snapshot(ctx, SnapshotRequest{Dataset: "registry", Paths: []string{src}, Class: "restricted", By: "test"}); err != nil {
		t.Fatal(err)
	}
	v.Close()
	before := len(logEntries(t, dir, o))
	v2, err := Open(ctx, filepath.Join(dir, "home"), true, o)
	if err != nil {
		t.Fatal(err)
	}
	r, err := v2.OpenRepo(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Datasets(ctx); err != nil {
		t.Fatal(err)
	}
	// on disk before the command ends (a kill -9 now loses nothing)
	j, err := os.ReadFile(filepath.Join(dir, "home", "log", PendingFile))
	if err != nil {
		t.Fatalf("no pending journal after an unwrap: %v", err)
	}
	if ents, bad := DecodePending(j); len(ents) != 1 || bad != 0 || ents[0].Kind != tlog.KindKeyUnwrap || !ents[0].Time.Equal(testNow) {
		t.Fatalf("journal holds %+v (%d bad lines), want one key.unwrap stamped %s", ents, bad, testNow)
	}
	v2.Close()
	if n := len(logEntries(t, dir, o)); n != before {
		t.Fatalf("a read-only command appended to the log (%d -> %d entries)", before, n)
	}
	// the next command that writes the log takes the journal first
	// (an hour later: the log keeps one copy of identical entries)
	later := o
	later.Clock = func() time.Time { return testNow.Add(time.Hour) }
	v3 := open(t, dir, later)
	if _, err := v3.Snapshot(ctx, SnapshotRequest{Dataset: "registry", Paths: []string{src}, By: "test"}); err != nil {
		t.Fatal(err)
	}
	v3.Close()
	after := logEntries(t, dir, o)
	kinds := []string{}
	for _, e := range after[before:] {
		kinds = append(kinds, e.Kind)
	}
	// the journaled unwrap, the snapshot's own unwrap, the snapshot
	if !slices.Equal(kinds, []string{tlog.KindKeyUnwrap, tlog.KindKeyUnwrap, tlog.KindSnapshot}) {
		t.Fatalf("entries after the next snapshot: %v, want the journaled unwrap first: %+v", kinds, after[before:])
	}
	if _, err := os.Stat(filepath.Join(dir, "home", "log", PendingFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("journal not emptied after its entries were appended: %v", err)
	}
	// and only once
	v4 := open(t, dir, o)
	v4.Recorder().Audit(ctx, tlog.Entry{Kind: tlog.KindSnapshot, Object: "x"})
	v4.Close()
	if n := len(logEntries(t, dir, o)); n != len(after)+1 {
		t.Errorf("a later append re-logged journal entries: %d entries, want %d", n, len(after)+1)
	}
}

// A journal line torn by a crash is skipped and the next write starts a
// new line, so that one torn write never spoils the entries after it.
func TestPendingJournalTornLine(t *testing.T) {
	dir, o := newVault(t, "lu=LU")
	v := open(t, dir, o)
	rc := v.Recorder()
	p := filepath.Join(rc.Dir, PendingFile)
	if err := os.MkdirAll(rc.Dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(`{"v":1,"kind":"key.unw`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := rc.journal([]tlog.Entry{{Kind: tlog.KindKeyUnwrap, Object: "v000001.e00000001"}}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	ents, bad := DecodePending(b)
	if len(ents) != 1 || ents[0].Object != "v000001.e00000001" || bad != 1 {
		t.Fatalf("after a torn line and one write: %d entries %+v, %d bad; want 1 and 1", len(ents), ents, bad)
	}
}

func FuzzDecodePending(f *testing.F) {
	f.Add([]byte(`{"v":1,"kind":"key.unwrap","time":"2026-11-25T10:00:00Z","dataset":"d","object":"v000001.e00000001"}` + "\n"))
	f.Add([]byte("\n\n{}\n{\"v\":1"))
	f.Add([]byte(`{"v":1,"kind":"no-such-kind","time":"2026-11-25T10:00:00Z"}` + "\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ents, bad := DecodePending(b)
		if bad < 0 || len(ents) > bytes.Count(b, []byte{'\n'}) {
			t.Fatalf("%d entries from %d lines", len(ents), bytes.Count(b, []byte{'\n'}))
		}
		for i := range ents {
			if err := ents[i].Validate(); err != nil {
				t.Fatalf("decoded an invalid entry: %v", err)
			}
		}
	})
}
