package repo

import (
	"context"
	"errors"
	"fmt"
	"path"

	"github.com/digital-embassy/embassy/internal/hint"
)

// MaxTreeDepth bounds how deeply Walk descends into a snapshot's trees:
// deeper than any path a file system keeps (PATH_MAX is 4096 bytes, so at
// most 2048 levels of one-letter names), and shallow enough that a tree
// nested without end, hand-made under the dataset key, ends in a clear error
// instead of exhausting memory.
const MaxTreeDepth = 4096

// SkipTree, returned by a Walker's Tree or Node callback, skips the tree
// being entered (Tree: its nodes are not listed) or the directory just
// listed (Node: its subtree is not entered). It is not an error.
var SkipTree = errors.New("skip this tree")

// TreeVisit is one tree as Walk enters it.
type TreeVisit struct {
	ID    ID
	Dir   string // slash-joined path of the directory (the walk's Dir for the root)
	Depth int    // 0 for the root
	// Tree is nil when Seen is set or when Err is set.
	Tree *Tree
	// Seen: the tree was already entered by a walk sharing the Walker's
	// Seen set (a subtree shared by directories or snapshots); it is not
	// loaded or listed again.
	Seen bool
	// Err: the tree could not be loaded. The Tree callback decides: return
	// nil to go on without it, or an error to stop the walk. Without a Tree
	// callback the walk stops with Err.
	Err error
}

// Walker walks a snapshot's directory trees depth first, in the order of
// the nodes (a directory's node comes just before its contents). Each tree
// is loaded at most once per walk; with Seen, at most once across every
// walk sharing the set.
type Walker struct {
	// Dir is the path given to the root tree ("" by default).
	Dir string
	// MaxDepth bounds the nesting (default MaxTreeDepth); a deeper tree
	// stops the walk with a damage error.
	MaxDepth int
	// Seen, when not nil, holds the trees already entered; Walk adds each
	// tree it enters. Callers that count each object once (prune, verify)
	// share one set over all snapshots; callers that need every path
	// (ls, restore) leave it nil.
	Seen map[ID]bool
	// Tree is called as each tree is entered, before its nodes.
	Tree func(v TreeVisit) error
	// Node is called for each node of a tree, with the node's full path.
	Node func(p string, n *Node, depth int) error
	// Prefetch, when positive, loads up to this many of a tree's subtrees
	// ahead of the walk, each in a goroutine of its own, so that reading
	// and decoding them overlaps the callbacks (a restore makes folders
	// meanwhile). The callbacks still run one at a time, in walk order.
	Prefetch int
}

// Walk walks the tree root and every tree below it. It returns the first
// error a callback returns (but SkipTree), the error of a tree that cannot
// be loaded when there is no Tree callback, or ctx's error.
func (d *Dataset) Walk(ctx context.Context, root ID, w Walker) error {
	if w.MaxDepth <= 0 {
		w.MaxDepth = MaxTreeDepth
	}
	err := d.walkTree(ctx, &w, root, w.Dir, 0)
	if errors.Is(err, SkipTree) {
		return nil
	}
	return err
}

// loadedTree is a subtree that a prefetch loaded.
type loadedTree struct {
	t   *Tree
	err error
}

// prefetcher loads the subtrees of one tree, up to k ahead of the walk.
type prefetcher struct {
	d    *Dataset
	ctx  context.Context
	t    *Tree
	k    int
	subs []int             // indices of t's nodes with a subtree
	res  []chan loadedTree // per subs entry, once started
	next int               // next subs entry to start
	cur  int               // next subs entry to take
}

func (d *Dataset) newPrefetcher(ctx context.Context, t *Tree, k int) *prefetcher {
	p := &prefetcher{d: d, ctx: ctx, t: t, k: k}
	for i := range t.Nodes {
		if t.Nodes[i].Type == NodeDir && t.Nodes[i].Subtree != nil {
			p.subs = append(p.subs, i)
		}
	}
	if len(p.subs) < 2 {
		return nil // nothing to overlap
	}
	p.res = make([]chan loadedTree, len(p.subs))
	p.start(k)
	return p
}

// start begins loading the subtrees before subs entry upto.
func (p *prefetcher) start(upto int) {
	for ; p.next < len(p.subs) && p.next < upto; p.next++ {
		ch := make(chan loadedTree, 1)
		p.res[p.next] = ch
		id := *p.t.Nodes[p.subs[p.next]].Subtree
		go func() {
			t, err := p.d.LoadTree(p.ctx, id)
			ch <- loadedTree{t, err}
		}()
	}
}

// take returns the loaded subtree of node i (nodes are taken in order;
// those skipped are dropped) and starts the next.
func (p *prefetcher) take(i int) *loadedTree {
	for p.cur < len(p.subs) && p.subs[p.cur] < i {
		p.cur++
	}
	if p.cur == len(p.subs) || p.subs[p.cur] != i {
		return nil
	}
	p.start(p.cur + 1 + p.k)
	lt := <-p.res[p.cur]
	p.res[p.cur] = nil
	p.cur++
	return &lt
}

// wait lets every load still running finish, so none outlives the walk.
func (p *prefetcher) wait() {
	for _, ch := range p.res {
		if ch != nil {
			<-ch
		}
	}
}

func (d *Dataset) walkTree(ctx context.Context, w *Walker, id ID, dir string, depth int) error {
	return d.walkTreeLoaded(ctx, w, id, dir, depth, nil)
}

// walkTreeLoaded is walkTree with the tree already loaded by a prefetch
// when pre is not nil.
func (d *Dataset) walkTreeLoaded(ctx context.Context, w *Walker, id ID, dir string, depth int, pre *loadedTree) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if depth > w.MaxDepth {
		return hint.WithCode(hint.Wrap(fmt.Errorf("tree %s at %q is nested deeper than %d levels", id.Short(), dir, w.MaxDepth),
			"no file system keeps paths this deep: the snapshot was made by hand or is damaged; run 'embassy verify'"), hint.CodeDamaged)
	}
	v := TreeVisit{ID: id, Dir: dir, Depth: depth}
	if w.Seen != nil {
		if w.Seen[id] {
			v.Seen = true
			if w.Tree != nil {
				return w.Tree(v)
			}
			return nil
		}
		w.Seen[id] = true
	}
	if pre != nil {
		v.Tree, v.Err = pre.t, pre.err
	} else {
		v.Tree, v.Err = d.LoadTree(ctx, id)
	}
	if v.Err != nil {
		v.Tree = nil
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if w.Tree == nil {
			return v.Err
		}
		return w.Tree(v)
	}
	if w.Tree != nil {
		if err := w.Tree(v); err != nil {
			return err
		}
	}
	return d.walkNodes(ctx, w, v.Tree, dir, depth)
}

// WalkLoaded walks a tree already loaded (a folder found by path, or a
// tree of one node) as Walk walks the tree it loads: t's nodes at depth 0
// under w.Dir, then every tree below them. w.Tree is not called for t.
func (d *Dataset) WalkLoaded(ctx context.Context, t *Tree, w Walker) error {
	if w.MaxDepth <= 0 {
		w.MaxDepth = MaxTreeDepth
	}
	err := d.walkNodes(ctx, &w, t, w.Dir, 0)
	if errors.Is(err, SkipTree) {
		return nil
	}
	return err
}

func (d *Dataset) walkNodes(ctx context.Context, w *Walker, t *Tree, dir string, depth int) error {
	var pf *prefetcher
	if w.Prefetch > 0 {
		if pf = d.newPrefetcher(ctx, t, w.Prefetch); pf != nil {
			defer pf.wait()
		}
	}
	for i := range t.Nodes {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := &t.Nodes[i]
		p := path.Join(dir, n.Name)
		if w.Node != nil {
			err := w.Node(p, n, depth)
			if errors.Is(err, SkipTree) {
				continue
			}
			if err != nil {
				return err
			}
		}
		if n.Type != NodeDir || n.Subtree == nil {
			continue
		}
		var pre *loadedTree
		if pf != nil {
			pre = pf.take(i)
		}
		err := d.walkTreeLoaded(ctx, w, *n.Subtree, p, depth+1, pre)
		if errors.Is(err, SkipTree) {
			continue
		}
		if err != nil {
			return err
		}
	}
	return nil
}
