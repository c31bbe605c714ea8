// Package archiver turns files, directories and streams into a snapshot: it
// walks the sources, reuses unchanged files from a parent snapshot, chunks
// and stores new content through a repo.Writer on all cores, and writes the
// directory trees bottom-up.
package archiver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/digital-embassy/embassy/internal/chunker"
	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/repo"
)

// Options configure one snapshot.
type Options struct {
	Paths     []string  // files or directories
	Stdin     io.Reader // if set, snapshot this stream instead of Paths
	StdinName string    // file name for the stream (default "stdin")
	Parent    *repo.Snapshot
	Workers   int
	Progress  *Progress // optional; updated while running
	// Now stamps the snapshot's root folder and a stream's file (the
	// vault's clock); nil: the wall clock.
	Now func() time.Time
}

// Progress is updated atomically while a snapshot runs.
type Progress struct {
	TotalFiles, TotalBytes atomic.Int64 // grow while folders are listed; final once Scanned
	Files, Bytes           atomic.Int64 // processed so far
	Scanned                atomic.Bool
}

// FileError is a source that could not be read; the snapshot goes on without it.
type FileError struct {
	Path string
	Err  error
}

func (e FileError) Error() string { return fmt.Sprintf("%s: %v", e.Path, e.Err) }

// Result is the outcome of a run: the tree to put in a manifest, and stats.
type Result struct {
	Tree       repo.ID
	Stats      repo.SnapshotStats
	Skipped    []FileError
	Paths      []string
	Incomplete bool
	// Notes say what the snapshot left out or could not record by design
	// (sockets), once per kind with a count; they do not make it incomplete.
	Notes []string
	// Root is the metadata of the source directory itself when a single
	// directory was snapshotted (its contents form the root tree).
	Root *repo.Node
}

type entry struct {
	// src is the path of a source given to the run ("-" for the standard
	// input); deeper entries build their path from their folder's and
	// their name when they need it.
	src      string
	parent   *entry // the folder that holds it; nil for the root
	node     repo.Node
	children []*entry   // folders: listed, until its tree is stored
	old      *repo.Node // matching node of the parent snapshot
	// skipped is set by the worker that could not read the file; the file
	// is then left out of its tree.
	skipped bool
	blocks  int64  // st_blocks (512-byte units), -1 if unknown: fewer than the size needs means holes
	link    *entry // an earlier hard link to the same inode, whose content this file shares

	// Folders: sub is the parent snapshot's tree of this folder, listed
	// marks a synthetic root whose children are known, and pending counts
	// the children still being stored, plus one while it is being listed.
	sub    *repo.Tree
	load   *treeLoad // sub and prev on their way in (see prefetcher)
	listed bool
	// prev is the parent snapshot's tree of this folder, whose id is
	// prevID: kept until the folder's tree is stored, which is then the
	// same tree when every entry is the same (see storeTree).
	prev    *repo.Tree
	prevID  repo.ID
	pending atomic.Int64
	// First links to an inode: done once its content is stored, and the
	// later links waiting for it until then (guarded by arch.mu).
	done    bool
	waiters []*entry
}

// path is the file's path on the source file system.
func (e *entry) path() string {
	if e.parent == nil || e.src != "" {
		return e.src
	}
	return filepath.Join(e.parent.path(), e.node.Name)
}

type arch struct {
	d      *repo.Dataset
	w      *repo.Writer
	o      Options
	table  *chunker.Table
	params chunker.Params

	own        owners // scan only
	xbuf       []byte // scan only
	sockets    int
	xattrErrs  int
	xattrFirst string

	mu      sync.Mutex
	skipped []FileError
	stats   repo.SnapshotStats
	unchg   atomic.Int64
	// sameTrees counts the folders whose tree is the parent snapshot's,
	// reused without encoding it again.
	sameTrees atomic.Int64
	// pf loads the parent snapshot's folder trees ahead of the walker
	// (nil without a parent snapshot).
	pf *prefetcher
	// adopt waits for the orphan packs and hands them to w, once; every
	// blob is stored after it (saveBlob).
	adopt func() error
}

// saveBlob stores a blob once the orphan packs are adopted.
func (a *arch) saveBlob(t repo.BlobType, b []byte, sc *repo.Scratch) (repo.ID, bool, error) {
	if err := a.adopt(); err != nil {
		return repo.ID{}, false, err
	}
	return a.w.SaveBlob(t, b, sc)
}

// Run snapshots the sources into d through a new writer, flushes it and
// returns the root tree. The caller writes the manifest.
func Run(ctx context.Context, d *repo.Dataset, o Options) (*Result, error) {
	start := time.Now() //nolint:forbidigo // elapsed time of the run, not a stamp
	if o.Now == nil {
		o.Now = time.Now //nolint:forbidigo // the default clock: internal/vault passes its own
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0) + 1
	}
	if o.Progress == nil {
		o.Progress = &Progress{}
	}
	desc := d.Repo().Descriptor()
	a := &arch{d: d, o: o,
		table:  chunker.NewTable(d.Keys.CurrentKey().GearKey),
		params: chunker.Params{Min: desc.ChunkMin, Avg: desc.ChunkAvg, Max: desc.ChunkMax}}
	if err := a.params.Validate(); err != nil {
		return nil, fmt.Errorf("repository chunker parameters: %w", err)
	}
	// The packs an interrupted snapshot left are looked for (every pack
	// folder of every site listed) while the walk starts: the first
	// blob stored waits for them to be adopted, so that none of theirs
	// is stored again and no pack of this run is taken for an orphan
	// (bench/README.md, round six).
	orphansDone := make(chan struct{})
	var orphans []repo.IndexPack
	var orphansErr error
	go func() {
		defer close(orphansDone)
		orphans, orphansErr = d.RecoverOrphans(ctx)
	}()
	defer func() { <-orphansDone }()
	a.w = d.NewWriter(ctx)
	a.adopt = sync.OnceValue(func() error {
		<-orphansDone
		if orphansErr != nil {
			return orphansErr
		}
		a.w.AdoptPacks(orphans)
		return nil
	})
	if o.Parent != nil {
		a.pf = newPrefetcher(ctx, d)
		defer a.pf.close()
	}
	root, err := a.scan(ctx)
	if err != nil {
		a.w.Abort()
		return nil, err
	}
	treeID, err := a.store(ctx, root)
	if err != nil {
		a.w.Abort()
		return nil, err
	}
	if err := a.adopt(); err != nil { // nothing was stored: adopt them all the same
		a.w.Abort()
		return nil, err
	}
	if err := a.w.Flush(); err != nil {
		return nil, err
	}
	res := &Result{Tree: treeID, Skipped: a.skipped, Paths: o.Paths}
	if root.src != "" && root.src != "-" {
		n := root.node
		n.Name, n.Subtree = "", nil
		n.Dev, n.Links = 0, 0
		res.Root = &n
	}
	res.Stats = a.stats
	res.Stats.NewBlobs = a.w.Stats.NewBlobs.Load()
	res.Stats.NewRaw = a.w.Stats.NewRaw.Load()
	res.Stats.NewStored = a.w.Stats.NewStored.Load()
	res.Stats.Unchanged = a.unchg.Load()
	res.Stats.DurationSec = time.Since(start).Seconds()
	res.Incomplete = len(a.skipped) > 0
	if a.sockets > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("%d sockets not stored: a socket is recreated by the program that listens on it", a.sockets))
	}
	if a.xattrErrs > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("extended attributes of %d files could not be read and are not in the snapshot (first: %s)", a.xattrErrs, a.xattrFirst))
	}
	return res, nil
}

func (a *arch) skip(path string, err error) {
	a.mu.Lock()
	a.skipped = append(a.skipped, FileError{Path: path, Err: err})
	a.mu.Unlock()
}

// scan finds the sources: the root entry, whose folders store lists as
// it goes, so that only the folders being worked on are in memory.
func (a *arch) scan(ctx context.Context) (*entry, error) {
	root := &entry{listed: true, node: repo.Node{Type: repo.NodeDir, Mode: 0o755, ModTime: a.o.Now().UTC()}}
	var parentRoot *repo.Tree
	if a.o.Parent != nil {
		t, err := a.d.LoadTree(ctx, a.o.Parent.Tree)
		if err == nil {
			parentRoot = t
			root.prev, root.prevID = t, a.o.Parent.Tree
		}
	}
	if a.o.Stdin != nil {
		name := a.o.StdinName
		if name == "" {
			name = "stdin"
		}
		root.children = []*entry{{src: "-", parent: root, node: repo.Node{Name: name, Type: repo.NodeFile, Mode: 0o644, ModTime: a.o.Now().UTC()}}}
		return root, nil
	}
	if len(a.o.Paths) == 0 {
		return nil, hint.WithCode(errors.New("nothing to snapshot"), hint.CodeUsage)
	}
	// One directory: its contents become the root. Otherwise each path is
	// an entry of the root, by base name.
	if len(a.o.Paths) == 1 {
		fi, err := os.Lstat(a.o.Paths[0])
		if err != nil {
			return nil, hint.WithCode(hint.Wrap(fmt.Errorf("source %v", err), "check the path"), hint.CodeUsage)
		}
		if fi.IsDir() {
			e, err := a.scanPath(ctx, nil, a.o.Paths[0], fi, parentRoot, true)
			if err != nil {
				return nil, err
			}
			return e, nil
		}
	}
	seen := map[string]bool{}
	for _, p := range a.o.Paths {
		fi, err := os.Lstat(p)
		if err != nil {
			return nil, hint.WithCode(hint.Wrap(fmt.Errorf("source %v", err), "check the path"), hint.CodeUsage)
		}
		base := filepath.Base(filepath.Clean(p))
		if seen[base] {
			return nil, hint.WithCode(hint.Wrap(fmt.Errorf("two sources are named %q", base), "snapshot them as separate datasets or from their common parent"), hint.CodeUsage)
		}
		seen[base] = true
		e, err := a.scanPath(ctx, root, p, fi, parentRoot, false)
		if err != nil {
			return nil, err
		}
		if e != nil {
			root.children = append(root.children, e)
		}
	}
	return root, nil
}

func findNode(t *repo.Tree, name string) *repo.Node {
	if t == nil {
		return nil
	}
	i := sort.Search(len(t.Nodes), func(i int) bool { return t.Nodes[i].Name >= name })
	if i < len(t.Nodes) && t.Nodes[i].Name == name {
		return &t.Nodes[i]
	}
	return nil
}

// scanPath reads the metadata of one file or folder (a folder's entries
// are listed by store). dir is the folder that holds it; a source given
// to the run keeps its path.
func (a *arch) scanPath(ctx context.Context, dir *entry, path string, fi fs.FileInfo, parent *repo.Tree, isRoot bool) (*entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	node, blocks := nodeFromInfo(fi)
	e := &entry{parent: dir, node: node, blocks: blocks}
	if dir == nil || dir.listed {
		e.src = path
	}
	if !isRoot {
		e.old = findNode(parent, e.node.Name)
	}
	if !timeInRange(e.node.ModTime) {
		a.skip(path, fmt.Errorf("modification time %v is outside the years 0 to 9999 a snapshot can record", e.node.ModTime))
		return nil, nil
	}
	switch e.node.Type {
	case repo.NodeSymlink:
		t, err := os.Readlink(path)
		if err != nil {
			a.skip(path, err)
			return nil, nil
		}
		e.node.Target = t
	case repo.NodeFile:
		a.o.Progress.TotalFiles.Add(1)
		a.o.Progress.TotalBytes.Add(fi.Size())
	case repo.NodeDir:
		if isRoot {
			e.sub = parent
			if parent != nil {
				e.prev, e.prevID = parent, a.o.Parent.Tree
			}
		} else if e.old != nil && e.old.Type == repo.NodeDir && e.old.Subtree != nil {
			if a.pf != nil {
				e.load = a.pf.want(path, *e.old.Subtree)
			} else if t, err := a.d.LoadTree(ctx, *e.old.Subtree); err == nil {
				e.sub = t
				e.prev, e.prevID = t, *e.old.Subtree
			}
		}
	case repo.NodeFIFO, repo.NodeCharDev, repo.NodeBlockDev:
	default:
		if fi.Mode()&fs.ModeSocket != 0 {
			a.sockets++
			return nil, nil
		}
		a.skip(path, fmt.Errorf("unsupported file type %s", fi.Mode().Type()))
		return nil, nil
	}
	a.own.fill(&e.node)
	if sameXattrs(&e.node, e.old) {
		// Setting or removing an extended attribute changes the ctime:
		// the parent's list is this file's (two syscalls per unchanged
		// file saved, bench/README.md round six).
		e.node.Xattrs = e.old.Xattrs
		return e, nil
	}
	var err error
	e.node.Xattrs, a.xbuf, err = readXattrs(path, a.xbuf)
	if err != nil {
		a.xattrErrs++
		if a.xattrErrs == 1 {
			a.xattrFirst = fmt.Sprintf("%s: %v", path, err)
		}
	}
	return e, nil
}

// sameXattrs reports whether n can take the extended attributes of old,
// the parent snapshot's node of the same name, without reading them: the
// same inode of the same type on the same device with the same ctime
// (setxattr and removexattr set the ctime, as a content change does; the
// parent's tree was authenticated when it was loaded).
func sameXattrs(n *repo.Node, old *repo.Node) bool {
	return old != nil && old.Type == n.Type && old.Inode == n.Inode && old.Dev == n.Dev &&
		!n.CTime.IsZero() && old.CTime.Equal(n.CTime)
}

// unchanged reports whether a file can reuse its parent's content.
func unchanged(n *repo.Node, old *repo.Node) bool {
	return old != nil && old.Type == repo.NodeFile && old.Size == n.Size && old.ModTime.Equal(n.ModTime) &&
		old.Inode == n.Inode && old.CTime.Equal(n.CTime) && (old.Size == 0 || len(old.Content) > 0)
}

// reuse copies the content of an unchanged file or of another link to the
// same inode.
func reuse(n *repo.Node, from *repo.Node) {
	n.Content, n.Extents = from.Content, from.Extents
}
