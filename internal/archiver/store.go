package archiver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/digital-embassy/embassy/internal/chunker"
	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/repo"
)

// store lists the folders depth-first and stores the content of every new
// or changed file on o.Workers goroutines (unchanged files reuse their
// parent's blob list). A folder's tree is stored as soon as its last entry
// is, by whichever goroutine stored that entry, and its entries are then
// dropped: memory holds the folders being worked on, not the whole source
// (100,000 tiny files: 42 MB of entries before). It returns the root tree.
func (a *arch) store(ctx context.Context, root *entry) (repo.ID, error) {
	jobs := make(chan *entry, 64)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s := &storeRun{a: a, ctx: ctx, links: map[inodeKey]*entry{}}
	s.fail = func(err error) { s.once.Do(func() { s.fatal = err; cancel() }) }
	var wg sync.WaitGroup
	for range a.o.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ws := &scratch{sc: &repo.Scratch{}}
			for e := range jobs {
				if ctx.Err() != nil {
					continue
				}
				var err error
				if ws.buf, err = a.storeFile(ctx, e, ws.sc, ws.buf); err == nil {
					err = s.fileDone(e, ws)
				}
				if err != nil {
					s.fail(err)
				}
			}
		}()
	}
	s.jobs = jobs
	s.walker = &scratch{sc: &repo.Scratch{}}
	if err := s.visit(root); err != nil {
		s.fail(err)
	}
	if a.pf != nil {
		a.pf.close() // the walk is over: nothing more to load
	}
	a.o.Progress.Scanned.Store(true)
	close(jobs)
	wg.Wait()
	if s.fatal != nil {
		return repo.ID{}, s.fatal
	}
	if err := ctx.Err(); err != nil {
		return repo.ID{}, err
	}
	if err := a.w.Err(); err != nil {
		return repo.ID{}, err
	}
	if s.root == nil {
		return repo.ID{}, errors.New("internal error: the snapshot ended with folders still open")
	}
	return *s.root, nil
}

// storeRun is the state of one store: the walker's, shared with workers.
type storeRun struct {
	a      *arch
	ctx    context.Context
	jobs   chan<- *entry
	walker *scratch
	links  map[inodeKey]*entry // walker only
	once   sync.Once
	fatal  error
	fail   func(error)
	root   *repo.ID // set when the root folder's tree is stored
}

// scratch is one goroutine's buffers for reading and storing files.
type scratch struct {
	sc  *repo.Scratch
	buf []byte
}

// visit lists folder d, hands its new files to the workers and visits its
// folders, depth-first. The tree is stored when the last entry is done.
func (s *storeRun) visit(d *entry) error {
	a := s.a
	if !d.listed {
		if err := s.list(d); err != nil {
			if errors.Is(err, errSkipped) {
				return s.release(d.parent, s.walker)
			}
			return err
		}
	}
	d.pending.Store(1) // the listing
	for _, c := range d.children {
		if err := s.ctx.Err(); err != nil {
			return err
		}
		switch c.node.Type {
		case repo.NodeFile:
			a.mu.Lock()
			a.stats.Files++
			a.stats.Bytes += c.node.Size
			a.mu.Unlock()
			if unchanged(&c.node, c.old) {
				reuse(&c.node, c.old)
				a.unchg.Add(1)
				a.o.Progress.Files.Add(1)
				a.o.Progress.Bytes.Add(c.node.Size)
				continue
			}
			d.pending.Add(1)
			if c.node.Links > 1 {
				k := inodeKey{c.node.Dev, c.node.Inode}
				if first := s.links[k]; first != nil {
					c.link = first
					a.mu.Lock()
					wait := !first.done
					if wait {
						first.waiters = append(first.waiters, c) // stored with it
					}
					a.mu.Unlock()
					if !wait {
						if err := s.linkDone(c, s.walker); err != nil {
							return err
						}
					}
					continue
				}
				s.links[k] = c
			}
			select {
			case s.jobs <- c:
			case <-s.ctx.Done():
				return s.ctx.Err()
			}
		case repo.NodeDir:
			a.mu.Lock()
			a.stats.Dirs++
			a.mu.Unlock()
			d.pending.Add(1)
			if err := s.visit(c); err != nil {
				return err
			}
		}
	}
	return s.release(d, s.walker)
}

// errSkipped is list's word for a folder that could not be listed and is
// left out (and reported) instead.
var errSkipped = errors.New("folder skipped")

// list reads folder d's entries into d.children: from its prefetched
// listing, or straight from the folder (one lstat at a time, nothing
// held but the entries).
func (s *storeRun) list(d *entry) error {
	a := s.a
	path := d.path()
	fail := func(err error) error {
		if d.parent == nil {
			return fmt.Errorf("read source directory: %w", err)
		}
		a.skip(path, err)
		d.skipped = true
		return errSkipped
	}
	if d.load != nil {
		ls, t := a.pf.get(d.load)
		if ls == nil {
			return s.ctx.Err()
		}
		if t != nil {
			d.sub = t
			d.prev, d.prevID = t, d.load.id
		}
		d.load = nil
		if ls.err != nil {
			return fail(ls.err)
		}
		d.children = make([]*entry, 0, len(ls.names))
		sub := d.sub
		d.sub = nil
		for i, name := range ls.names {
			fi := ls.infos[i]
			ls.infos[i] = nil
			if err := s.add(d, path, sub, name, fi, ls.errs[i]); err != nil {
				return err
			}
		}
		return nil
	}
	dir, ents, err := readDir(path)
	if err != nil {
		return fail(err)
	}
	defer dir.Close()
	d.children = make([]*entry, 0, len(ents))
	sub := d.sub
	d.sub = nil
	for _, de := range ents {
		fi, err := lstatAt(dir, de.Name())
		if err := s.add(d, path, sub, de.Name(), fi, err); err != nil {
			return err
		}
	}
	return nil
}

// add scans entry name of folder d (at path), whose lstat gave fi or err,
// into d.children; sub is the parent snapshot's tree of d.
func (s *storeRun) add(d *entry, path string, sub *repo.Tree, name string, fi fs.FileInfo, err error) error {
	cp := filepath.Join(path, name)
	if err != nil {
		s.a.skip(cp, err)
		return nil
	}
	c, err := s.a.scanPath(s.ctx, d, cp, fi, sub, false)
	if err != nil {
		return err
	}
	if c != nil {
		c.node.Name = name // not a slice of cp, which can go
		d.children = append(d.children, c)
	}
	return nil
}

// fileDone follows a stored file: the later links to its inode waiting
// for it are resolved, and its folder is told.
func (s *storeRun) fileDone(e *entry, ws *scratch) error {
	if e.node.Links > 1 {
		s.a.mu.Lock()
		e.done = true
		ws2 := e.waiters
		e.waiters = nil
		s.a.mu.Unlock()
		for _, c := range ws2 {
			if err := s.linkDone(c, ws); err != nil {
				return err
			}
		}
	}
	return s.release(e.parent, ws)
}

// linkDone gives a later hard link the first one's content; if that could
// not be read, the link is read on its own.
func (s *storeRun) linkDone(c *entry, ws *scratch) error {
	a := s.a
	if !c.link.skipped && c.link.node.Size == c.node.Size {
		reuse(&c.node, &c.link.node)
		a.o.Progress.Files.Add(1)
		a.o.Progress.Bytes.Add(c.node.Size)
	} else {
		var err error
		if ws.buf, err = a.storeFile(s.ctx, c, ws.sc, ws.buf); err != nil {
			return err
		}
	}
	return s.release(c.parent, ws)
}

// release counts one entry of folder d as done; the last one stores d's
// tree (with the caller's scratch ws) and releases d in its own folder.
func (s *storeRun) release(d *entry, ws *scratch) error {
	for d != nil {
		if d.pending.Add(-1) > 0 {
			return nil
		}
		id, err := s.a.storeTree(d, ws.sc)
		if err != nil {
			return err
		}
		d.node.Subtree = &id
		if d.parent == nil {
			s.root = &id
			return nil
		}
		d = d.parent
	}
	return nil
}

type inodeKey struct{ dev, ino uint64 }

// storeFile chunks one file and stores its chunks. Read errors skip the
// file; store errors are fatal.
func (a *arch) storeFile(ctx context.Context, e *entry, sc *repo.Scratch, buf []byte) ([]byte, error) {
	var r io.Reader
	if e.src == "-" {
		r = a.o.Stdin
	} else {
		path := e.path()
		f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NOATIME, 0)
		if errors.Is(err, syscall.EPERM) {
			f, err = os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
		}
		if err != nil {
			a.skipFile(e, err)
			return buf, nil
		}
		defer f.Close()
		r = f
	}
	if buf == nil {
		buf = make([]byte, a.params.Max+(1<<20))
	}
	if f, ok := r.(*os.File); ok && e.node.Size > 0 && e.blocks >= 0 && e.blocks*512 < e.node.Size {
		if exts, ok := dataExtents(f, e.node.Size); ok {
			return a.storeSparse(ctx, e, f, exts, sc, buf)
		}
	}
	content, size, err := a.chunkAll(ctx, r, sc, buf, nil)
	if err != nil {
		if ferr := fatalOf(err); ferr != nil {
			return buf, ferr
		}
		if e.src == "-" {
			return buf, fmt.Errorf("read standard input: %w", err)
		}
		a.skipFile(e, err)
		return buf, nil
	}
	if e.src == "-" {
		a.mu.Lock()
		a.stats.Bytes += size
		a.mu.Unlock()
	}
	// A file that changed size while being read is stored as read.
	e.node.Size = size
	e.node.Content = content
	a.o.Progress.Files.Add(1)
	return buf, nil
}

// storeError marks errors of the writer or the context (fatal) apart from
// read errors (which skip the file).
type storeError struct{ err error }

func (e storeError) Error() string { return e.err.Error() }
func (e storeError) Unwrap() error { return e.err }

// fatalOf returns the error that must stop the run, or nil for a read error.
func fatalOf(err error) error {
	var se storeError
	if errors.As(err, &se) {
		return se.err
	}
	return nil
}

// chunkAll chunks r to its end and stores the chunks, appending their IDs
// to content.
func (a *arch) chunkAll(ctx context.Context, r io.Reader, sc *repo.Scratch, buf []byte, content []repo.ID) ([]repo.ID, int64, error) {
	c := chunker.New(r, a.table, a.params, buf)
	var size int64
	for {
		if err := ctx.Err(); err != nil {
			return content, size, storeError{err}
		}
		chunk, err := c.Next()
		if err == io.EOF {
			return content, size, nil
		}
		if err != nil {
			return content, size, err
		}
		id, _, err := a.saveBlob(repo.BlobData, chunk, sc)
		if err != nil {
			return content, size, storeError{err}
		}
		content = append(content, id)
		size += int64(len(chunk))
		a.o.Progress.Bytes.Add(int64(len(chunk)))
	}
}

// storeSparse stores only the data regions of a file with holes; the
// holes are never read or chunked.
func (a *arch) storeSparse(ctx context.Context, e *entry, f *os.File, exts []repo.Extent, sc *repo.Scratch, buf []byte) ([]byte, error) {
	var content []repo.ID
	out := exts[:0]
	var data int64
	for _, x := range exts {
		n := len(content)
		var got int64
		var err error
		content, got, err = a.chunkAll(ctx, io.NewSectionReader(f, x.Off, x.Len), sc, buf, content)
		if err != nil {
			if ferr := fatalOf(err); ferr != nil {
				return buf, ferr
			}
			a.skipFile(e, err)
			return buf, nil
		}
		data += got
		if got == 0 {
			continue // shrank while being read
		}
		out = append(out, repo.Extent{Off: x.Off, Len: got, Blobs: len(content) - n})
	}
	e.node.Content, e.node.Extents = content, out
	if len(out) == 0 {
		e.node.Extents = nil
	}
	// The holes count as read: progress reaches the file's size.
	a.o.Progress.Bytes.Add(e.node.Size - data)
	a.o.Progress.Files.Add(1)
	return buf, nil
}

// skipFile leaves a file that could not be read out of the snapshot: a
// node without its content would make the snapshot unrestorable.
func (a *arch) skipFile(e *entry, err error) {
	a.skip(e.path(), err)
	e.skipped = true
	a.mu.Lock()
	a.stats.Files--
	a.stats.Bytes -= e.node.Size
	a.mu.Unlock()
}

// storeTree encodes and stores the tree of folder d, whose entries are
// all stored, and drops the entries.
func (a *arch) storeTree(e *entry, sc *repo.Scratch) (repo.ID, error) {
	t := &repo.Tree{Nodes: make([]repo.Node, 0, len(e.children))}
	for _, c := range e.children {
		if !c.skipped {
			t.Nodes = append(t.Nodes, c.node)
		}
	}
	e.children = nil
	if prev := e.prev; prev != nil {
		e.prev = nil
		// The parent snapshot's tree says exactly this (every node equal,
		// field by field): it is this folder's tree, already stored and
		// read back when it was written. An unchanged source is then
		// never encoded, checked and hashed again.
		sort.Slice(t.Nodes, func(i, j int) bool { return t.Nodes[i].Name < t.Nodes[j].Name })
		if sameNodes(t.Nodes, prev.Nodes) && a.d.Idx.Has(e.prevID) {
			a.sameTrees.Add(1)
			return e.prevID, nil
		}
	}
	b, err := repo.EncodeTree(t)
	if err != nil {
		return repo.ID{}, fmt.Errorf("directory %s: %w", e.path(), err)
	}
	// Never commit a tree that does not read back as written.
	if back, err := repo.DecodeTree(b); err != nil || !repo.SameTree(t, back) {
		return repo.ID{}, hint.Wrap(fmt.Errorf("directory %s: its tree does not read back (%v); nothing was committed", e.path(), err),
			"report this as a bug with the names in that directory ('ls -b')")
	}
	if len(b) > repo.MaxBlobSize {
		return repo.ID{}, fmt.Errorf("directory %s has too many entries (%d bytes of metadata)", e.path(), len(b))
	}
	id, _, err := a.saveBlob(repo.BlobTree, b, sc)
	return id, err
}

// sameNodes reports whether two sorted lists of nodes are equal in every
// field a tree records (times as instants in the same zone, so that they
// encode alike).
func sameNodes(a, b []repo.Node) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !sameNode(&a[i], &b[i]) {
			return false
		}
	}
	return true
}

func sameNode(a, b *repo.Node) bool {
	if a.Name != b.Name || a.Type != b.Type || a.Mode != b.Mode || !sameTime(a.ModTime, b.ModTime) ||
		a.Size != b.Size || a.UID != b.UID || a.GID != b.GID || a.Inode != b.Inode || !sameTime(a.CTime, b.CTime) ||
		a.Target != b.Target || a.User != b.User || a.Group != b.Group || a.Dev != b.Dev || a.Links != b.Links ||
		a.Rdev != b.Rdev || !slices.Equal(a.Content, b.Content) || !slices.Equal(a.Extents, b.Extents) ||
		len(a.Xattrs) != len(b.Xattrs) || (a.Subtree == nil) != (b.Subtree == nil) ||
		(a.Subtree != nil && *a.Subtree != *b.Subtree) {
		return false
	}
	for j := range a.Xattrs {
		if a.Xattrs[j].Name != b.Xattrs[j].Name || !bytes.Equal(a.Xattrs[j].Value, b.Xattrs[j].Value) {
			return false
		}
	}
	return true
}

func sameTime(a, b time.Time) bool {
	_, za := a.Zone()
	_, zb := b.Zone()
	return a.Equal(b) && za == zb && a.IsZero() == b.IsZero()
}
