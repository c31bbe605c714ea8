package archiver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"

	"github.com/digital-embassy/embassy/internal/chunker"
	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/repo"
)

// storeFiles stores the content of every new or changed file, using
// o.Workers goroutines; unchanged files reuse their parent's blob list.
func (a *arch) storeFiles(ctx context.Context, root *entry) error {
	jobs := make(chan *entry, 64)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var once sync.Once
	var fatal error
	for range a.o.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sc := &repo.Scratch{}
			var buf []byte
			for e := range jobs {
				if ctx.Err() != nil {
					continue
				}
				var err error
				buf, err = a.storeFile(ctx, e, sc, buf)
				if err != nil {
					once.Do(func() { fatal = err; cancel() })
				}
			}
		}()
	}
	links := map[inodeKey]*entry{}
	var aliases []*entry
	var walk func(e *entry)
	walk = func(e *entry) {
		for _, c := range e.children {
			if ctx.Err() != nil {
				return
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
				if c.node.Links > 1 {
					k := inodeKey{c.node.Dev, c.node.Inode}
					if first := links[k]; first != nil {
						c.link = first // read once, after the workers
						aliases = append(aliases, c)
						continue
					}
					links[k] = c
				}
				jobs <- c
			case repo.NodeDir:
				a.mu.Lock()
				a.stats.Dirs++
				a.mu.Unlock()
				walk(c)
			}
		}
	}
	a.o.Progress.Scanned.Store(true)
	walk(root)
	close(jobs)
	wg.Wait()
	if fatal != nil {
		return fatal
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// Further hard links share the first one's content; if it could not
	// be read, each is tried on its own.
	sc := &repo.Scratch{}
	var buf []byte
	for _, c := range aliases {
		if !c.link.skipped && c.link.node.Size == c.node.Size {
			reuse(&c.node, &c.link.node)
			a.o.Progress.Files.Add(1)
			a.o.Progress.Bytes.Add(c.node.Size)
			continue
		}
		var err error
		if buf, err = a.storeFile(ctx, c, sc, buf); err != nil {
			return err
		}
	}
	return a.w.Err()
}

type inodeKey struct{ dev, ino uint64 }

// storeFile chunks one file and stores its chunks. Read errors skip the
// file; store errors are fatal.
func (a *arch) storeFile(ctx context.Context, e *entry, sc *repo.Scratch, buf []byte) ([]byte, error) {
	var r io.Reader
	if e.path == "-" {
		r = a.o.Stdin
	} else {
		f, err := os.OpenFile(e.path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NOATIME, 0)
		if errors.Is(err, syscall.EPERM) {
			f, err = os.OpenFile(e.path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
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
		if e.path == "-" {
			return buf, fmt.Errorf("read standard input: %w", err)
		}
		a.skipFile(e, err)
		return buf, nil
	}
	if e.path == "-" {
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
		id, _, err := a.w.SaveBlob(repo.BlobData, chunk, sc)
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
	a.skip(e.path, err)
	e.skipped = true
	a.mu.Lock()
	a.stats.Files--
	a.stats.Bytes -= e.node.Size
	a.mu.Unlock()
}

// storeTrees encodes and stores the directory trees bottom-up and returns
// the root tree's ID.
func (a *arch) storeTrees(root *entry) (repo.ID, error) {
	sc := &repo.Scratch{}
	var store func(e *entry) (repo.ID, error)
	store = func(e *entry) (repo.ID, error) {
		t := &repo.Tree{Nodes: make([]repo.Node, 0, len(e.children))}
		for _, c := range e.children {
			if c.skipped {
				continue
			}
			if c.node.Type == repo.NodeDir {
				id, err := store(c)
				if err != nil {
					return repo.ID{}, err
				}
				c.node.Subtree = &id
			}
			t.Nodes = append(t.Nodes, c.node)
		}
		b, err := repo.EncodeTree(t)
		if err != nil {
			return repo.ID{}, fmt.Errorf("directory %s: %w", e.path, err)
		}
		// Never commit a tree that does not read back as written.
		if back, err := repo.DecodeTree(b); err != nil || !repo.SameTree(t, back) {
			return repo.ID{}, hint.Wrap(fmt.Errorf("directory %s: its tree does not read back (%v); nothing was committed", e.path, err),
				"report this as a bug with the names in that directory ('ls -b')")
		}
		if len(b) > repo.MaxBlobSize {
			return repo.ID{}, fmt.Errorf("directory %s has too many entries (%d bytes of metadata)", e.path, len(b))
		}
		id, _, err := a.w.SaveBlob(repo.BlobTree, b, sc)
		return id, err
	}
	return store(root)
}
