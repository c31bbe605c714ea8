// Package restorer writes a snapshot back to a directory, byte-exact, with
// modes, modification times, symlinks and empty directories.
package restorer

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/repo"
)

// Options configure a restore.
type Options struct {
	Path      string // restore only this path inside the snapshot ("" = all)
	Overwrite bool   // replace existing files, folders and links, whatever their type
	Workers   int
	Owners    bool // restore uid/gid (needs root; the CLI turns it on for root)
	// PackOrder reads the blobs in the order they lie in the packs, each
	// pack range once, writing each where its files need it (for remote
	// sites: scatter.go), instead of file by file. Its writes go through
	// the page cache whatever directio says.
	PackOrder bool
	Progress  *Progress
}

// Progress is updated while restoring.
type Progress struct {
	TotalBytes   atomic.Int64
	Files, Bytes atomic.Int64
}

// Stats summarise a restore.
type Stats struct {
	Files, Dirs, Symlinks int64
	Bytes                 int64
	HardLinks             int64 // files restored as links to an earlier file
	Special               int64 // FIFOs and device nodes
	// Notes say, once per kind with a count, what the target could not
	// hold (extended attributes, ACLs, owners, devices without root).
	Notes []string
}

type job struct {
	path  string
	node  repo.Node
	fresh bool // in a folder this restore created (mode 0700 until the end)
}

type dirMeta struct {
	path string
	node repo.Node
}

type inodeKey struct{ dev, ino uint64 }

type linkJob struct {
	job
	first int // index of the first link in the jobs
}

// prefetchTrees is how many subtrees of a folder the walk loads ahead.
const prefetchTrees = 4

// Restore writes snapshot s of d under target.
func Restore(ctx context.Context, d *repo.Dataset, s *repo.Snapshot, target string, o Options) (*Stats, error) {
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0) + 2
	}
	if o.Progress == nil {
		o.Progress = &Progress{}
	}
	if target == "" {
		return nil, hint.WithCode(errors.New("no restore target"), hint.CodeUsage)
	}
	rootTree, rootNode, prefix, err := resolvePath(ctx, d, s, o.Path)
	if err != nil {
		return nil, err
	}
	dest := filepath.Join(target, filepath.FromSlash(prefix))
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return nil, fmt.Errorf("create restore target: %w", err)
	}
	st := &Stats{}
	m := &metaApplier{owners: o.Owners}
	var dirs []dirMeta
	jobs := make([]job, 0, 1024)
	var links []linkJob          // further hard links, made after the files exist
	firsts := map[inodeKey]int{} // index in jobs of the first file of each linked inode
	// fresh: a folder this restore just created, so nothing is in the way
	// of its entries (no lstat per file). Keyed by the folder's clean path.
	fresh := map[string]bool{}
	node := func(p string, n *repo.Node, _ int) error {
		if !fresh[path.Dir(p)] {
			if err := clearPath(p, n.Type == repo.NodeDir, o.Overwrite); err != nil {
				return err
			}
		}
		switch n.Type {
		case repo.NodeDir:
			created, err := mkdir(p)
			if err != nil {
				return err
			}
			fresh[p] = created
			st.Dirs++
			dirs = append(dirs, dirMeta{p, *n})
		case repo.NodeFile:
			o.Progress.TotalBytes.Add(n.Size)
			if n.Links > 1 {
				k := inodeKey{n.Dev, n.Inode}
				if i, ok := firsts[k]; !ok {
					firsts[k] = len(jobs)
				} else if sameContent(&jobs[i].node, n) {
					links = append(links, linkJob{job{p, *n, false}, i})
					return nil
				}
			}
			jobs = append(jobs, job{p, *n, fresh[path.Dir(p)]})
		case repo.NodeSymlink:
			if err := os.Symlink(n.Target, p); err != nil {
				return fmt.Errorf("restore symlink %s: %w", p, err)
			}
			st.Symlinks++
			m.apply(p, n)
		case repo.NodeFIFO, repo.NodeCharDev, repo.NodeBlockDev:
			ok, err := mkspecial(p, n)
			if err != nil {
				return err
			}
			if !ok {
				m.count(&m.devices, p, nil)
				return nil
			}
			st.Special++
			m.apply(p, n)
		}
		return nil
	}
	// plan walks t (one walk implementation: repo.Dataset.Walk) under dir,
	// making folders, links and special files and queueing file contents.
	plan := func(dir string, t *repo.Tree, created bool) error {
		dir = path.Clean(dir)
		fresh[dir] = created
		// Subtrees are loaded and decoded ahead, on the other cores, while
		// this goroutine makes folders: the walk is the restore's one
		// serial stage.
		return d.WalkLoaded(ctx, t, repo.Walker{Dir: dir, Node: node, Prefetch: prefetchTrees, Tree: func(v repo.TreeVisit) error {
			if v.Err != nil {
				return fmt.Errorf("load tree of %s: %w", v.Dir, v.Err)
			}
			return nil
		}})
	}
	if rootNode == nil || rootNode.Type == repo.NodeDir {
		if err := clearPath(dest, true, o.Overwrite); err != nil {
			return nil, err
		}
		created, err := mkdir(dest)
		if err != nil {
			return nil, err
		}
		if err := plan(dest, rootTree, created); err != nil {
			return nil, err
		}
		// dirs is in walk order (a folder before its contents); the
		// restored top folder goes first, so it is applied last.
		if rootNode != nil {
			dirs = append([]dirMeta{{dest, *rootNode}}, dirs...)
		} else if s.Root != nil {
			dirs = append([]dirMeta{{dest, *s.Root}}, dirs...)
		}
	} else {
		// A single file or symlink selected with --path.
		single := &repo.Tree{Nodes: []repo.Node{*rootNode}}
		if err := plan(filepath.Dir(dest), single, false); err != nil {
			return nil, err
		}
	}
	if err := writeFiles(ctx, d, jobs, o, st, m); err != nil {
		return nil, err
	}
	for _, l := range links {
		if err := os.Link(jobs[l.first].path, l.path); err != nil {
			// A target that cannot link (another file system rule) gets a copy.
			m.count(&m.linkFails, l.path, err)
			if err := writeFiles(ctx, d, []job{l.job}, o, st, m); err != nil {
				return nil, err
			}
			continue
		}
		st.HardLinks++
		o.Progress.Bytes.Add(l.node.Size)
		o.Progress.Files.Add(1)
	}
	// Directory metadata last, deepest first, so writing children does not
	// disturb the parents' times.
	for i := len(dirs) - 1; i >= 0; i-- {
		m.apply(dirs[i].path, &dirs[i].node)
	}
	st.Notes = m.notes()
	return st, nil
}

// sameContent reports whether two nodes that claim the same inode also
// hold the same bytes: only then is the second restored as a link.
func sameContent(a, b *repo.Node) bool {
	return a.Size == b.Size && slices.Equal(a.Content, b.Content) && slices.Equal(a.Extents, b.Extents)
}

// clearPath makes room for a node at p. An existing folder stays when a
// folder is wanted (restore merges into it); anything else in the way is
// refused, or with overwrite removed, whatever its type.
func clearPath(p string, wantDir, overwrite bool) error {
	fi, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if wantDir && fi.IsDir() {
		return nil
	}
	if !overwrite {
		what := "already exists"
		if wantDir {
			what = "exists and is not a directory"
		}
		return hint.Wrap(fmt.Errorf("restore: %s %s", p, what), "restore into an empty directory, or pass --overwrite")
	}
	if fi.IsDir() {
		err = os.RemoveAll(p)
	} else {
		err = os.Remove(p)
	}
	if err != nil {
		return fmt.Errorf("restore: replace %s: %w", p, err)
	}
	return nil
}

// mkdir makes folder p, or keeps the folder already there; created says
// which.
func mkdir(p string) (created bool, err error) {
	err = os.Mkdir(p, 0o700)
	if err == nil {
		return true, nil
	}
	if errors.Is(err, fs.ErrExist) {
		if fi, serr := os.Lstat(p); serr == nil && fi.IsDir() {
			return false, nil
		}
		return false, hint.Wrap(fmt.Errorf("restore: %s exists and is not a directory", p), "restore into an empty directory, or pass --overwrite")
	}
	return false, fmt.Errorf("restore: %w", err)
}

// resolvePath finds the tree (or single node) at path inside the snapshot.
func resolvePath(ctx context.Context, d *repo.Dataset, s *repo.Snapshot, path string) (*repo.Tree, *repo.Node, string, error) {
	t, err := d.LoadTree(ctx, s.Tree)
	if err != nil {
		return nil, nil, "", fmt.Errorf("load root tree: %w", err)
	}
	path = strings.Trim(filepath.ToSlash(filepath.Clean("/"+path)), "/")
	if path == "" {
		return t, nil, "", nil
	}
	parts := strings.Split(path, "/")
	var node *repo.Node
	for i, part := range parts {
		node = nil
		for j := range t.Nodes {
			if t.Nodes[j].Name == part {
				node = &t.Nodes[j]
				break
			}
		}
		if node == nil {
			return nil, nil, "", hint.Wrap(fmt.Errorf("path %q not found in snapshot %s", path, s.ID.Short()),
				"list the snapshot's top level with 'embassy ls'; paths are relative to the snapshot root")
		}
		if node.Type != repo.NodeDir {
			if i != len(parts)-1 {
				return nil, nil, "", fmt.Errorf("path %q: %s is not a directory", path, part)
			}
			return nil, node, path, nil
		}
		if t, err = d.LoadTree(ctx, *node.Subtree); err != nil {
			return nil, nil, "", err
		}
	}
	return t, node, path, nil
}
