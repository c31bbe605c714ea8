package archiver_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/digital-embassy/embassy/internal/archiver"
	"github.com/digital-embassy/embassy/internal/repo"
	"github.com/digital-embassy/embassy/internal/restorer"
	"github.com/digital-embassy/embassy/internal/treegen"
)

func openDS(t *testing.T, r *repo.Repo, name string) *repo.Dataset {
	t.Helper()
	ctx := context.Background()
	dk, _, err := r.EnsureDataset(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	d, err := r.OpenDataset(ctx, dk)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func restoreInto(t *testing.T, d *repo.Dataset, s *repo.Snapshot, target string, overwrite bool) *restorer.Stats {
	t.Helper()
	st, err := restorer.Restore(context.Background(), d, s, target, restorer.Options{Overwrite: overwrite, Owners: os.Geteuid() == 0, PackOrder: packOrder})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func noDiffs(t *testing.T, what string, diffs []string) {
	t.Helper()
	for _, d := range diffs {
		t.Errorf("%s: %s", what, d)
	}
}

// TestFidelityRoundTrip is issue 11 items 1 to 7: every awkward case of
// treegen comes back byte-exact (lstat fields, content, targets, xattrs
// and ACLs, hard-link groups, holes), and a second snapshot in which
// entries changed type restores over the first with --overwrite, and back.
func TestFidelityRoundTrip(t *testing.T) {
	v := newVault(t, 1)
	r := v.open()
	src := t.TempDir()
	made, err := treegen.Build(src, treegen.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for c, why := range made.Missing {
		t.Run("uncovered/"+c, func(t *testing.T) { t.Skipf("this machine cannot make %s: %s", c, why) })
	}
	owners := os.Geteuid() == 0
	s1 := snapshot(t, r, "fidelity", src)
	d := openDS(t, r, "fidelity")

	target := t.TempDir()
	st := restoreInto(t, d, s1, target, false)
	noDiffs(t, "first restore", treegen.Compare(src, target, treegen.CompareOptions{Owners: owners}))
	if st.HardLinks != 3 {
		t.Errorf("restored %d hard links, want 3 (hard/b, hard/sub/c, hard/y)", st.HardLinks)
	}
	if len(st.Notes) != 0 {
		t.Errorf("notes on a restore to the same file system: %q", st.Notes)
	}

	// The source tree's own listing is what a UTF-8 rewrite would break.
	tr, err := d.LoadTree(context.Background(), s1.Tree)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, n := range tr.Nodes {
		names = append(names, n.Name)
	}
	if !slices.Contains(names, "names") {
		t.Fatalf("root tree lacks names/: %q", names)
	}

	// Second snapshot after type changes, restored over the first.
	first := t.TempDir()
	restoreInto(t, d, s1, first, false)
	if err := treegen.ChangeTypes(src); err != nil {
		t.Fatal(err)
	}
	s2 := snapshot(t, r, "fidelity", src)
	d = openDS(t, r, "fidelity")
	restoreInto(t, d, s2, target, true)
	noDiffs(t, "second snapshot over the first", treegen.Compare(src, target, treegen.CompareOptions{Owners: owners}))
	restoreInto(t, d, s1, target, true)
	noDiffs(t, "first snapshot back over the second", treegen.Compare(first, target, treegen.CompareOptions{Owners: owners}))
}

// packOrder makes restoreInto restore in pack order, as restores from
// remote sites do.
var packOrder bool

// TestFidelityRoundTripPackOrder is TestFidelityRoundTrip with the files'
// blobs read in pack order and scattered to their files.
func TestFidelityRoundTripPackOrder(t *testing.T) {
	packOrder = true
	defer func() { packOrder = false }()
	TestFidelityRoundTrip(t)
}

// TestSparseNotRead: holes are neither read nor stored. A 1 GiB file with
// 2 MiB of data adds about 2 MiB of new content.
func TestSparseNotRead(t *testing.T) {
	v := newVault(t, 1)
	r := v.open()
	d := openDS(t, r, "sparse")
	src := t.TempDir()
	if _, err := treegen.Build(src, treegen.Options{SparseSize: 1 << 30}); err != nil {
		t.Fatal(err)
	}
	res, err := archiver.Run(context.Background(), d, archiver.Options{Paths: []string{filepath.Join(src, "sparse.img")}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Stats.NewRaw > 3<<20 {
		t.Errorf("stored %d new bytes for 2 MiB of data in a sparse file", res.Stats.NewRaw)
	}
	tr, err := d.LoadTree(context.Background(), res.Tree)
	if err != nil {
		t.Fatal(err)
	}
	n := tr.Nodes[0]
	if n.Size != 1<<30 || len(n.Extents) != 2 || n.Extents[1].Off != 1<<29 {
		t.Errorf("sparse node size %d extents %+v", n.Size, n.Extents)
	}
}

// TestSocketNoted: a socket is left out with one note, and the snapshot
// is complete.
func TestSocketNoted(t *testing.T) {
	v := newVault(t, 1)
	r := v.open()
	d := openDS(t, r, "sock")
	src := t.TempDir()
	l, err := net.Listen("unix", filepath.Join(src, "s.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	os.WriteFile(filepath.Join(src, "f"), []byte("x"), 0o644)
	res, err := archiver.Run(context.Background(), d, archiver.Options{Paths: []string{src}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Incomplete || len(res.Skipped) != 0 {
		t.Errorf("socket made the snapshot incomplete: %v", res.Skipped)
	}
	if len(res.Notes) != 1 || !strings.Contains(res.Notes[0], "1 sockets not stored") {
		t.Errorf("notes %q, want one about the socket", res.Notes)
	}
}
