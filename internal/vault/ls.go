package vault

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"time"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/policy"
	"github.com/digital-embassy/embassy/internal/repo"
)

// ListEntry is one file of a snapshot as List returns it. Path holds the
// exact bytes of the names, which need not be valid UTF-8.
type ListEntry struct {
	Path    string
	Type    string
	Mode    fs.FileMode
	Size    int64
	ModTime time.Time
}

// Listing is what List found.
type Listing struct {
	Dataset  string
	Snapshot *repo.Snapshot
	Entries  []ListEntry
	Denied   []Decision // sites the policy kept the listing from reading (policy.Read)
}

// gateRead asks the gate for one policy.Read decision per site before a
// snapshot's trees are read back to the home without a restore (ls):
// denied sites are closed for the rest of the command, none allowed
// refuses. The manifest itself was read to learn the snapshot's class;
// names, sizes and times come only from the trees.
func (v *Vault) gateRead(ctx context.Context, d *repo.Dataset, s *repo.Snapshot) ([]Decision, error) {
	g, err := v.Gate()
	if err != nil {
		return nil, err
	}
	lbl := DatasetClass(ctx, d)
	if lbl == "" {
		lbl = s.Class
	}
	return g.GateReads(ctx, v.Repo, policy.Read, policy.Dataset{Name: d.Keys.Name, Class: lbl, ID: d.Keys.ID})
}

// List lists the files of snapshot ref (DATASET[@ID]) under dir ("" or "/"
// for the top), one level or, with recursive, every level, in the order of
// the tree (a directory just before its contents). It holds the dataset's
// shared lock while it reads.
func (v *Vault) List(ctx context.Context, ref, dir string, recursive bool) (*Listing, error) {
	name, _ := SplitRef(ref)
	dk, err := v.Repo.Dataset(ctx, name)
	if err != nil {
		return nil, err
	}
	unlock, err := v.LockDataset(ctx, OpLs, dk)
	if err != nil {
		return nil, err
	}
	defer unlock()
	d, s, err := v.OpenSnapshot(ctx, ref)
	if err != nil {
		return nil, err
	}
	denied, err := v.gateRead(ctx, d, s)
	if err != nil {
		return nil, err
	}
	root, prefix := s.Tree, ""
	for _, part := range splitPath(dir) {
		t, err := d.LoadTree(ctx, root)
		if err != nil {
			return nil, err
		}
		var next *repo.Node
		for i := range t.Nodes {
			if t.Nodes[i].Name == part {
				next = &t.Nodes[i]
			}
		}
		if next == nil || next.Type != repo.NodeDir {
			return nil, hint.Wrap(fmt.Errorf("no directory %q in snapshot %s", dir, s.ID.Short()),
				fmt.Sprintf("list the snapshot's top with 'embassy ls %s' and give a directory it shows", ref))
		}
		root, prefix = *next.Subtree, path.Join(prefix, part)
	}
	l := &Listing{Dataset: name, Snapshot: s, Denied: denied}
	err = d.Walk(ctx, root, repo.Walker{
		Dir: prefix,
		Node: func(p string, n *repo.Node, _ int) error {
			l.Entries = append(l.Entries, ListEntry{Path: p, Type: n.Type, Mode: fs.FileMode(n.Mode), Size: n.Size, ModTime: n.ModTime})
			if !recursive {
				return repo.SkipTree
			}
			return nil
		},
	})
	if err != nil {
		return nil, err
	}
	return l, nil
}

// splitPath splits a slash-separated path inside a snapshot into its names,
// without empty ones, after cleaning it as an absolute path (so ".." never
// climbs above the top).
func splitPath(p string) []string {
	var out []string
	for _, s := range strings.Split(path.Clean("/"+p), "/") {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}
