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

func (d *Dataset) walkTree(ctx context.Context, w *Walker, id ID, dir string, depth int) error {
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
	v.Tree, v.Err = d.LoadTree(ctx, id)
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
		err := d.walkTree(ctx, w, *n.Subtree, p, depth+1)
		if errors.Is(err, SkipTree) {
			continue
		}
		if err != nil {
			return err
		}
	}
	return nil
}
