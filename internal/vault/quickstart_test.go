package vault

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/repo"
	"github.com/digital-embassy/embassy/internal/sample"
)

// runQuickstart runs the demo in dir and returns the result and the
// steps it reported, in order.
func runQuickstart(t *testing.T, dir string) (*QuickstartResult, []QuickstartStep, error) {
	t.Helper()
	var steps []QuickstartStep
	res, err := Quickstart(context.Background(), QuickstartRequest{Dir: dir, Rows: 200, Documents: 1,
		Options: Options{Clock: func() time.Time { return testNow }, Warn: func(msg string) { t.Errorf("warning: %s", msg) }},
		Step:    func(s QuickstartStep, _ *QuickstartResult) { steps = append(steps, s) }})
	return res, steps, err
}

// TestQuickstart: the demo makes the custodians, the home and its two
// sites, snapshots the synthetic registry, verifies it, restores it
// identical to the source and reports the log's size; run again it reuses
// the home and adds a snapshot, a verify and a restore.
func TestQuickstart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo")
	res, steps, err := runQuickstart(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	data := []QuickstartStep{QuickstartSites, QuickstartSiteReady, QuickstartSiteReady, QuickstartSample,
		QuickstartSnapshotBegin, QuickstartSnapshotDone, QuickstartVerifyBegin, QuickstartVerified,
		QuickstartRestoreBegin, QuickstartRestored, QuickstartLogged}
	want := append([]QuickstartStep{QuickstartCustodians, QuickstartCustodianReady, QuickstartCustodianReady, QuickstartCustodianReady, QuickstartInit}, data...)
	if diff := cmp.Diff(want, steps); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
	work := filepath.Join(dir, "quickstart")
	var names []string
	for _, c := range res.Custodians {
		names = append(names, c.Name+" "+c.File)
	}
	if diff := cmp.Diff([]string{"alice " + filepath.Join(work, "custodians", "alice.key"), "bob " + filepath.Join(work, "custodians", "bob.key"),
		"carol " + filepath.Join(work, "custodians", "carol.key")}, names); diff != "" {
		t.Errorf("custodians (-want +got):\n%s", diff)
	}
	h, err := home.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if h.Config.Description != QuickstartMarker || h.Config.HomeState != "EE" || len(h.Config.Sites) != 2 {
		t.Errorf("home: %q, state %q, %d sites", h.Config.Description, h.Config.HomeState, len(h.Config.Sites))
	}
	for i := 1; i <= 3; i++ {
		b, err := os.ReadFile(filepath.Join(dir, "custodians", fmt.Sprintf("custodian-%d.txt", i)))
		if err != nil {
			t.Fatal(err)
		}
		if fp, err := repo.ParseCard(b); err != nil || fp[:4] != "fp1-" {
			t.Errorf("card %d: %q, %v", i, fp, err)
		}
	}
	if res.Sample.Rows != 200 || res.Identical != res.Sample.Files || res.Identical == 0 {
		t.Errorf("sample %+v, %d files identical", res.Sample, res.Identical)
	}
	if res.Snapshot.Snapshot.Class != QuickstartClass || !slices.Equal(res.Snapshot.Sites, []string{"lu-1", "ch-1"}) {
		t.Errorf("snapshot class %q at %v", res.Snapshot.Snapshot.Class, res.Snapshot.Sites)
	}
	if res.Verify.Snapshots != 1 || len(res.Verify.Damage) != 0 {
		t.Errorf("verify: %d snapshots, damage %v", res.Verify.Snapshots, res.Verify.Damage)
	}
	if res.LogEntries != 8 || res.Target != filepath.Join(work, "restore-"+testNow.Format("20060102-150405.000")) {
		t.Errorf("log %d entries, want 8; target %s", res.LogEntries, res.Target)
	}

	res, steps, err = runQuickstart(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(append([]QuickstartStep{QuickstartReused}, data...), steps); diff != "" {
		t.Errorf("steps of the second run (-want +got):\n%s", diff)
	}
	if !res.Reused || res.Custodians != nil || res.LogEntries != 14 || res.Verify.Snapshots != 2 {
		t.Errorf("second run: reused %v, custodians %v, %d log entries (want 14), %d snapshots verified", res.Reused, res.Custodians, res.LogEntries, res.Verify.Snapshots)
	}
	if old, _ := filepath.Glob(filepath.Join(work, "restore-*")); len(old) != 1 {
		t.Errorf("restores kept: %v, want the newest only", old)
	}
}

// TestQuickstartRefuses: a folder with a real home is left alone, and a
// registry someone added a file to is not overwritten; each says what to do.
func TestQuickstartRefuses(t *testing.T) {
	dir, _ := newVault(t)
	real := filepath.Join(dir, "home")
	_, _, err := runQuickstart(t, real)
	if err == nil || err.Error() != real+" holds a real home, not a quickstart demo" ||
		hint.Of(err) != "run the demo in its own folder: embassy --home /tmp/embassy-demo quickstart" {
		t.Fatalf("quickstart in a real home: %v (hint %q)", err, hint.Of(err))
	}
	if h, _ := home.Open(real); len(h.Config.Sites) != 0 {
		t.Errorf("the real home got sites: %v", h.Config.Sites)
	}

	demo := filepath.Join(t.TempDir(), "demo")
	if _, _, err := runQuickstart(t, demo); err != nil {
		t.Fatal(err)
	}
	reg := filepath.Join(demo, "quickstart", "registry")
	if err := os.WriteFile(filepath.Join(reg, "notes.txt"), []byte("mine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err = runQuickstart(t, demo)
	if !errors.Is(err, sample.ErrForeign) ||
		hint.Of(err) != "the quickstart registry folder was changed by hand; delete "+reg+" and run quickstart again" {
		t.Fatalf("quickstart over an edited registry: %v (hint %q)", err, hint.Of(err))
	}
}

// TestCompareTrees: a copy matches only with the same files, contents,
// modes and times; each difference is named.
func TestCompareTrees(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	files := map[string]string{"x.txt": "one", "d/y.txt": "two"}
	writeTree(t, a, files)
	writeTree(t, b, files)
	when := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	for _, root := range []string{a, b} {
		for name := range files {
			if err := os.Chtimes(filepath.Join(root, name), when, when); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n, err := CompareTrees(a, b); err != nil || n != 2 {
		t.Fatalf("identical trees: %d, %v", n, err)
	}
	for _, tc := range []struct {
		name   string
		change func(string) error
		want   string
	}{
		{"content", func(p string) error { return os.WriteFile(p, []byte("uno"), 0o644) }, "x.txt: content differs"},
		{"mode", func(p string) error { return os.Chmod(p, 0o600) }, "x.txt: mode -rw-r--r--, copy has -rw-------"},
		{"time", func(p string) error { return os.Chtimes(p, when, when.Add(time.Second)) }, fmt.Sprintf("x.txt: modified %v, copy has %v", when.Local(), when.Add(time.Second).Local())},
		{"missing", os.Remove, "x.txt missing from the copy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := t.TempDir()
			writeTree(t, c, files)
			for name := range files {
				if err := os.Chtimes(filepath.Join(c, name), when, when); err != nil {
					t.Fatal(err)
				}
			}
			if err := tc.change(filepath.Join(c, "x.txt")); err != nil {
				t.Fatal(err)
			}
			if tc.name == "content" {
				_ = os.Chtimes(filepath.Join(c, "x.txt"), when, when)
			}
			if _, err := CompareTrees(a, c); err == nil || err.Error() != tc.want {
				t.Errorf("got %v, want %s", err, tc.want)
			}
		})
	}
}
