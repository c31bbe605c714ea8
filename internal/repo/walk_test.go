package repo_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/repo"
)

// walkFixture stores, in a dataset on in-memory sites, a root tree
//
//	g        (file)
//	x/ -> L  (dir)
//	y/ -> L  (dir, the same subtree)
//	z/ -> missing (a subtree no index lists)
//
// where L holds one file f, and a chain of n nested directories.
type walkFixture struct {
	d              *repo.Dataset
	root, leaf     repo.ID
	chain, missing repo.ID
	data           repo.ID
}

func newWalkFixture(t *testing.T, chainLen int) *walkFixture {
	t.Helper()
	ctx := context.Background()
	v := newVault(t)
	d := v.dataset(v.open())
	w := d.NewWriter(ctx)
	var sc repo.Scratch
	save := func(bt repo.BlobType, b []byte) repo.ID {
		id, _, err := w.SaveBlob(bt, b, &sc)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	mtime := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	file := func(name string, content ...repo.ID) repo.Node {
		return repo.Node{Name: name, Type: repo.NodeFile, Mode: 0o644, ModTime: mtime, Size: int64(len(content)), Content: content}
	}
	dir := func(name string, sub repo.ID) repo.Node {
		return repo.Node{Name: name, Type: repo.NodeDir, Mode: 0o755, ModTime: mtime, Subtree: &sub}
	}
	tree := func(nodes ...repo.Node) repo.ID {
		b, err := repo.EncodeTree(&repo.Tree{Nodes: nodes})
		if err != nil {
			t.Fatal(err)
		}
		return save(repo.BlobTree, b)
	}
	f := &walkFixture{d: d}
	f.data = save(repo.BlobData, []byte("38501012231,Mari,Tamm,Tallinn\n"))
	f.leaf = tree(file("f", f.data))
	f.missing = repo.ID{0xee}
	f.root = tree(file("g"), dir("x", f.leaf), dir("y", f.leaf), dir("z", f.missing))
	f.chain = tree(file("bottom"))
	for i := 0; i < chainLen; i++ {
		f.chain = tree(dir("d", f.chain))
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestWalkOrderAndSharedSubtrees: without a seen-set every path is visited,
// in node order with a directory just before its contents; with one, the
// shared subtree is loaded once and its second visit is marked Seen.
func TestWalkOrderAndSharedSubtrees(t *testing.T) {
	ctx := context.Background()
	f := newWalkFixture(t, 0)
	type visit struct {
		dir        string
		seen, bad  bool
		depth      int
		loadedTree bool
	}
	run := func(seen map[repo.ID]bool) (paths []string, visits []visit) {
		err := f.d.Walk(ctx, f.root, repo.Walker{
			Dir:  "snap",
			Seen: seen,
			Tree: func(v repo.TreeVisit) error {
				visits = append(visits, visit{dir: v.Dir, seen: v.Seen, bad: v.Err != nil, depth: v.Depth, loadedTree: v.Tree != nil})
				return nil
			},
			Node: func(p string, n *repo.Node, _ int) error {
				paths = append(paths, p)
				return nil
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		return paths, visits
	}
	paths, visits := run(nil)
	if want := []string{"snap/g", "snap/x", "snap/x/f", "snap/y", "snap/y/f", "snap/z"}; !slices.Equal(paths, want) {
		t.Fatalf("paths without a seen-set = %q, want %q", paths, want)
	}
	wantVisits := []visit{
		{dir: "snap", loadedTree: true},
		{dir: "snap/x", depth: 1, loadedTree: true},
		{dir: "snap/y", depth: 1, loadedTree: true},
		{dir: "snap/z", depth: 1, bad: true},
	}
	if !slices.Equal(visits, wantVisits) {
		t.Fatalf("tree visits without a seen-set = %+v, want %+v", visits, wantVisits)
	}

	seen := map[repo.ID]bool{}
	paths, visits = run(seen)
	if want := []string{"snap/g", "snap/x", "snap/x/f", "snap/y", "snap/z"}; !slices.Equal(paths, want) {
		t.Fatalf("paths with a seen-set = %q, want %q (the shared subtree listed twice)", paths, want)
	}
	wantVisits[2] = visit{dir: "snap/y", depth: 1, seen: true}
	if !slices.Equal(visits, wantVisits) {
		t.Fatalf("tree visits with a seen-set = %+v, want %+v", visits, wantVisits)
	}
	for _, id := range []repo.ID{f.root, f.leaf, f.missing} {
		if !seen[id] {
			t.Fatalf("tree %s not added to the seen-set", id.Short())
		}
	}
	// A second walk sharing the set (another snapshot of the same tree)
	// loads nothing again.
	paths, visits = run(seen)
	if len(paths) != 0 || len(visits) != 1 || !visits[0].seen {
		t.Fatalf("second walk with the same seen-set: paths %q, visits %+v; want only the root, seen", paths, visits)
	}
}

// TestWalkUnreadableTree: without a Tree callback a tree that cannot be
// loaded stops the walk with its error; a callback's error stops it too.
func TestWalkUnreadableTree(t *testing.T) {
	ctx := context.Background()
	f := newWalkFixture(t, 0)
	if err := f.d.Walk(ctx, f.root, repo.Walker{}); err == nil {
		t.Fatal("walk over a missing subtree without a Tree callback succeeded")
	}
	stop := errors.New("stop")
	err := f.d.Walk(ctx, f.root, repo.Walker{Tree: func(v repo.TreeVisit) error {
		if v.Err != nil {
			return stop
		}
		return nil
	}})
	if !errors.Is(err, stop) {
		t.Fatalf("walk returned %v, want the callback's error", err)
	}
}

// TestWalkSkipTree: SkipTree from Node keeps the walk out of that
// directory; from Tree at the root it ends the walk without error.
func TestWalkSkipTree(t *testing.T) {
	ctx := context.Background()
	f := newWalkFixture(t, 0)
	var paths []string
	err := f.d.Walk(ctx, f.root, repo.Walker{Node: func(p string, n *repo.Node, _ int) error {
		paths = append(paths, p)
		if n.Type == repo.NodeDir {
			return repo.SkipTree
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"g", "x", "y", "z"}; !slices.Equal(paths, want) {
		t.Fatalf("paths = %q, want %q", paths, want)
	}
	paths = nil
	err = f.d.Walk(ctx, f.root, repo.Walker{
		Tree: func(repo.TreeVisit) error { return repo.SkipTree },
		Node: func(p string, _ *repo.Node, _ int) error { paths = append(paths, p); return nil },
	})
	if err != nil || len(paths) != 0 {
		t.Fatalf("SkipTree at the root: err %v, paths %q; want nil and none", err, paths)
	}
}

// TestWalkDepthBound: a tree nested deeper than MaxDepth stops the walk
// with a damage error naming the bound; one at the bound walks.
func TestWalkDepthBound(t *testing.T) {
	ctx := context.Background()
	f := newWalkFixture(t, 5)
	var deepest int
	err := f.d.Walk(ctx, f.chain, repo.Walker{MaxDepth: 5, Tree: func(v repo.TreeVisit) error {
		deepest = max(deepest, v.Depth)
		return nil
	}})
	if err != nil || deepest != 5 {
		t.Fatalf("walk at the bound: err %v, deepest %d; want nil and 5", err, deepest)
	}
	err = f.d.Walk(ctx, f.chain, repo.Walker{MaxDepth: 4})
	if err == nil {
		t.Fatal("a tree nested deeper than MaxDepth walked")
	}
	if hint.CodeOf(err) != hint.CodeDamaged {
		t.Fatalf("depth error %v has exit code %d, want %d (damage)", err, hint.CodeOf(err), hint.CodeDamaged)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := f.d.Walk(cctx, f.chain, repo.Walker{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("walk with a cancelled context returned %v", err)
	}
}

// TestWalkPrefetch: loading subtrees ahead changes nothing the callbacks
// see: the same paths and tree visits in the same order, a missing
// subtree reported at its turn, and a directory skipped by Node not
// entered.
func TestWalkPrefetch(t *testing.T) {
	ctx := context.Background()
	f := newWalkFixture(t, 3)
	run := func(root repo.ID, prefetch int, skip string) (out []string) {
		err := f.d.Walk(ctx, root, repo.Walker{
			Prefetch: prefetch,
			Tree: func(v repo.TreeVisit) error {
				out = append(out, "tree "+v.Dir+map[bool]string{true: " (error)"}[v.Err != nil])
				return nil
			},
			Node: func(p string, n *repo.Node, _ int) error {
				out = append(out, p)
				if p == skip {
					return repo.SkipTree
				}
				return nil
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	for _, root := range []repo.ID{f.root, f.chain} {
		for _, skip := range []string{"", "x", "y"} {
			want := run(root, 0, skip)
			for _, k := range []int{1, 2, 8} {
				if got := run(root, k, skip); !slices.Equal(got, want) {
					t.Fatalf("prefetch %d, skipping %q: %q, want %q", k, skip, got, want)
				}
			}
		}
	}
}
