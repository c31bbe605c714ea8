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
					c.node.Content = c.old.Content
					a.unchg.Add(1)
					a.o.Progress.Files.Add(1)
					a.o.Progress.Bytes.Add(c.node.Size)
					continue
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
	return a.w.Err()
}

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
	c := chunker.New(r, a.table, a.params, buf)
	var content []repo.ID
	var size int64
	for {
		if err := ctx.Err(); err != nil {
			return buf, err
		}
		chunk, err := c.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if e.path == "-" {
				return buf, fmt.Errorf("read standard input: %w", err)
			}
			a.skipFile(e, err)
			return buf, nil
		}
		id, _, err := a.w.SaveBlob(repo.BlobData, chunk, sc)
		if err != nil {
			return buf, err
		}
		content = append(content, id)
		size += int64(len(chunk))
		a.o.Progress.Bytes.Add(int64(len(chunk)))
	}
	if e.path == "-" {
		e.node.Size = size
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
			return repo.ID{}, err
		}
		if len(b) > repo.MaxBlobSize {
			return repo.ID{}, fmt.Errorf("directory %s has too many entries (%d bytes of metadata)", e.path, len(b))
		}
		id, _, err := a.w.SaveBlob(repo.BlobTree, b, sc)
		return id, err
	}
	return store(root)
}
