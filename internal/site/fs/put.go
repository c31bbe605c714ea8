package fs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/digital-embassy/embassy/internal/directio"
	"github.com/digital-embassy/embassy/internal/site"
)

// tmpPrefix starts the names of files being written. ValidName refuses
// names starting with a dot, so no object can collide with one.
const tmpPrefix = ".tmp-"

// Put writes p to a temp file beside the object, syncs it and moves it into
// place: os.Link for IfAbsent (atomic create-only), os.Rename otherwise.
// RetainUntil is not enforced by a plain directory.
func (b *Backend) Put(ctx context.Context, h site.Handle, p site.Payload, opts site.PutOptions) (err error) {
	final, err := b.path(ctx, h)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil && !errors.Is(err, site.ErrExists) {
			err = hint(fmt.Errorf("put %v: %w", h, err), b.root)
		}
	}()
	dir := filepath.Dir(final)
	durable := syncDir
	if opts.Deferred {
		durable = b.pendDir
	}
	if err := makeDirs(dir, durable); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, tmpPrefix+"*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after Link, or after a failure; fails harmlessly after Rename
	if err := b.writeFile(ctx, f, p, !opts.Deferred); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if opts.IfAbsent {
		err = os.Link(tmp, final)
		if errors.Is(err, fs.ErrExist) {
			if fi, serr := os.Lstat(final); serr == nil && fi.IsDir() {
				return fmt.Errorf("name is a directory of other objects: %w", err)
			}
			return fmt.Errorf("put %v: %w", h, site.ErrExists)
		}
	} else {
		b.packs.forget(final) // a cached descriptor would read the old file
		err = os.Rename(tmp, final)
		b.packs.forget(final)
	}
	if err != nil {
		return err
	}
	if opts.Deferred {
		b.repend([]string{final})
		return nil
	}
	if err := b.syncAncestors(dir); err != nil {
		return err
	}
	return syncDir(dir)
}

// syncAncestors syncs the folders a deferred put created entries in that
// lie on the way to dir: an object put durably into a folder that a
// deferred put created is durable only once that folder's own entry is.
func (b *Backend) syncAncestors(dir string) error {
	b.pendMu.Lock()
	var mine []string
	b.pendingDirs = slices.DeleteFunc(b.pendingDirs, func(d string) bool {
		if dir == d || strings.HasPrefix(dir, d+string(filepath.Separator)) {
			mine = append(mine, d)
			return true
		}
		return false
	})
	b.pendMu.Unlock()
	for i, d := range mine {
		if err := syncDir(d); err != nil {
			b.rependDirs(mine[i:])
			return err
		}
	}
	return nil
}

// Sync makes every deferred write durable: an fsync of each file put
// with Deferred since the last Sync, then of each folder holding them.
// (It was one syncfs(2) of the site's file system, which also flushes
// everything else dirty on it: 130 ms of a 1% incremental snapshot on a
// busy machine, for 2 MiB of new packs.) The files are synced
// concurrently, then the folders, up to syncWorkers at a time: the file
// system commits them together instead of one journal commit after
// another (bench/README.md, round six). On failure every file whose own
// or folder's sync failed or was not reached stays pending for the next
// Sync.
func (b *Backend) Sync(ctx context.Context) error {
	b.pendMu.Lock()
	files, newDirs := b.pending, b.pendingDirs
	b.pending, b.pendingDirs = nil, nil
	b.pendMu.Unlock()
	if len(files) == 0 && len(newDirs) == 0 {
		return nil
	}
	slices.Sort(files)
	files = slices.Compact(files)
	if err := ctx.Err(); err != nil {
		b.repend(files)
		b.rependDirs(newDirs)
		return err
	}
	if errs := syncAll(files, syncFile); errs != nil {
		// all of them: the folders of those that did sync are not yet
		b.repend(files)
		b.rependDirs(newDirs)
		return hint(fmt.Errorf("sync: %w", errors.Join(errs...)), b.root)
	}
	// The folders holding the files, and the parents of the folders the
	// puts created (whose entries must be durable too).
	dirs := slices.Clone(newDirs)
	for _, path := range files {
		dirs = append(dirs, filepath.Dir(path))
	}
	slices.Sort(dirs)
	dirs = slices.Compact(dirs)
	if errs := syncAll(dirs, syncDir); errs != nil {
		// The files are durable, their folder entries may not be: keep
		// the files of the folders not synced, and those folders, for
		// next time.
		failed := map[string]bool{}
		for i, err := range errs {
			if err != nil {
				failed[dirs[i]] = true
			}
		}
		for _, path := range files {
			if failed[filepath.Dir(path)] {
				b.repend([]string{path})
			}
		}
		for _, d := range newDirs {
			if failed[d] {
				b.rependDirs([]string{d})
			}
		}
		return hint(fmt.Errorf("sync: %w", errors.Join(errs...)), b.root)
	}
	return nil
}

// pendDir notes that dir got a new entry (a folder) for the next Sync.
func (b *Backend) pendDir(dir string) error {
	b.rependDirs([]string{dir})
	return nil
}

// rependDirs puts folders back on the list the next Sync makes durable.
func (b *Backend) rependDirs(dirs []string) {
	if len(dirs) == 0 {
		return
	}
	b.pendMu.Lock()
	b.pendingDirs = append(b.pendingDirs, dirs...)
	b.pendMu.Unlock()
}

// syncWorkers bounds the fsyncs one Sync has in flight.
const syncWorkers = 8

// syncAll calls fn on every path, syncWorkers at a time, and returns
// nil or, by position, each path's error (nil where it succeeded).
func syncAll(paths []string, fn func(string) error) []error {
	errs := make([]error, len(paths))
	var wg sync.WaitGroup
	sem := make(chan struct{}, syncWorkers)
	for i, path := range paths {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := fn(path); err != nil {
				errs[i] = fmt.Errorf("%s: %w", path, err)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return errs
		}
	}
	return nil
}

// repend puts files back on the list the next Sync makes durable.
func (b *Backend) repend(files []string) {
	b.pendMu.Lock()
	b.pending = append(b.pending, files...)
	b.pendMu.Unlock()
}

// syncFile flushes path's data and metadata to stable storage. A
// descriptor opened after the write still reports a writeback error that
// no one has seen.
func syncFile(path string) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // deleted since: nothing to make durable
	} else if err != nil {
		return err
	}
	err = unix.Fsync(fd)
	if cerr := unix.Close(fd); err == nil {
		err = cerr
	}
	return err
}

func (b *Backend) writeFile(ctx context.Context, f *os.File, p site.Payload, sync bool) error {
	done, err := b.writeFileDirect(ctx, f, p)
	if err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if !done {
		n, err := io.Copy(f, ctxReader{ctx, p.NewReader()})
		if err != nil {
			return fmt.Errorf("write: %w", err)
		}
		if n != p.Len() {
			return fmt.Errorf("payload gave %d bytes, want %d", n, p.Len())
		}
	}
	if sync {
		if err := f.Sync(); err != nil {
			return err
		}
	} else if !done && p.Len() >= writebackMin {
		startWriteback(f)
	}
	// Objects are immutable: keep them read-only.
	return f.Chmod(0o400)
}

// writebackMin is the size from which a deferred write is handed to the
// device at once (startWriteback).
const writebackMin = 1 << 20

// startWriteback asks the kernel to start writing f's dirty pages to the
// device now, without waiting for them. The Sync that must come before
// the object is relied on then finds them written, or in flight, instead
// of every pack since the last Sync still in memory: without it the
// kernel holds up to dirty_background_ratio of RAM (2.4 GiB here) before
// writing any, and the whole first snapshot's packs were written by the
// fsyncs at its index writes and its end (bench/README.md, round seven).
// It is only a hint: its errors are ignored, and the Sync reports any
// write error.
func startWriteback(f *os.File) {
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		_ = unix.SyncFileRange(int(fd), 0, 0, unix.SYNC_FILE_RANGE_WRITE)
	})
}

// writeFileDirect writes a large in-memory payload to the new, empty
// file f with O_DIRECT. It reports false, with f still empty and
// buffered, when the payload is small or not in memory, or when the file
// system refuses O_DIRECT (the caller then writes it the usual way).
func (b *Backend) writeFileDirect(ctx context.Context, f *os.File, p site.Payload) (bool, error) {
	data, ok := p.(site.Bytes)
	if !ok || !b.direct.use(int64(len(data))) {
		return false, nil
	}
	if err := ctx.Err(); err != nil {
		return false, err
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return false, nil
	}
	var werr error
	done := false
	cerr := rc.Control(func(fdp uintptr) {
		fd := int(fdp)
		if err := directio.Set(fd, true); err != nil {
			b.direct.refused(err)
			return
		}
		defer func() {
			if err := directio.Set(fd, false); err != nil && werr == nil {
				werr = err
			}
		}()
		refused, err := writeDirect(fd, data)
		if refused {
			b.direct.off.Store(true) // the rest of this site's objects: the page cache
		}
		if err != nil {
			werr = &os.PathError{Op: "write", Path: f.Name(), Err: err}
			return
		}
		done = true
		if !refused {
			b.direct.writes.Add(1)
		}
	})
	if cerr != nil {
		return false, nil
	}
	return done, werr
}

// ctxReader stops reading once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
