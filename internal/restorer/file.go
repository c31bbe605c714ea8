package restorer

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/digital-embassy/embassy/internal/directio"
	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/repo"
)

// batchFiles is how many consecutive small files a worker reads together
// (LoadBlobSet) and holds the contents of.
const batchFiles = 32

// runBytes bounds the bytes of one run of files a worker takes at a time.
const runBytes = 4 << 20

// runs hands out the jobs in their order (the snapshot's walk order), in
// runs of consecutive files of one folder holding at most runBytes (a
// larger file is a run of its own), to whichever worker asks next.
//
// In that order the workers restore together the files the snapshot's
// workers chunked together, whose blobs lie interleaved in the same packs,
// so a read-ahead window fetched for one file serves its neighbours while
// it is cached. Workers that each owned a region of the list (round six)
// restored one of those files after the other: a remote restore of the
// 2 GiB corpus fetched every pack window about three times (2.2 GiB sent
// per GiB restored against a floor of 0.72; bench/README.md, round seven).
// A run stays in one folder so that workers writing tiny files do not
// create them in one folder at once: that takes the folder's lock, and
// four workers spun on it (rwsem_spin_on_owner, 4-9% of a tiny-file
// restore's cycles).
type runs struct {
	mu   sync.Mutex
	jobs []job
	next int
}

// take returns the next run [lo, hi); ok is false when all are handed out.
func (r *runs) take() (lo, hi int, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	lo = r.next
	if lo >= len(r.jobs) {
		return 0, 0, false
	}
	dir := path.Dir(r.jobs[lo].path)
	size := r.jobs[lo].node.Size
	hi = lo + 1
	for hi < len(r.jobs) && path.Dir(r.jobs[hi].path) == dir && size+r.jobs[hi].node.Size <= runBytes {
		size += r.jobs[hi].node.Size
		hi++
	}
	r.next = hi
	return lo, hi, true
}

func writeFiles(ctx context.Context, d *repo.Dataset, jobs []job, o Options, st *Stats, m *metaApplier) error {
	if o.PackOrder {
		// Blobs arrive in pack order, each written where it belongs:
		// buffered writes (direct writes need whole aligned blocks).
		return writeScattered(ctx, d, jobs, o, st, m)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var once sync.Once
	var firstErr error
	var nfiles, nbytes atomic.Int64
	rs := &runs{jobs: jobs}
	for range o.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wb := &workBufs{}
			var pre preloaded
			var dir folder
			defer dir.close()
			for ctx.Err() == nil {
				lo, hi, ok := rs.take()
				if !ok {
					return
				}
				for b := lo; b < hi && ctx.Err() == nil; b += batchFiles {
					batch := jobs[b:min(b+batchFiles, hi)]
					wb.buf = pre.load(ctx, d, batch, wb.buf)
					for k, j := range batch {
						if ctx.Err() != nil {
							break
						}
						content, err := pre.content(k)
						if err == nil {
							err = writeFile(ctx, d, j, o, wb, m, &dir, content)
						}
						if err != nil {
							once.Do(func() { firstErr = err; cancel() })
							break
						}
						nfiles.Add(1)
						nbytes.Add(j.node.Size)
					}
				}
			}
		}()
	}
	wg.Wait()
	st.Files += nfiles.Load()
	st.Bytes += nbytes.Load()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

// folder is the folder a worker is writing files in, held open so that
// each file is created relative to it (openat): the path's other
// components are not looked up again for every file.
type folder struct {
	path string
	fd   int // -1: not open (files are opened by their whole path)
}

// at returns the directory descriptor and name to create p with.
func (f *folder) at(p string) (int, string) {
	dir, name := filepath.Split(p)
	if dir == "" {
		return unix.AT_FDCWD, p
	}
	if dir != f.path {
		f.close()
		f.path, f.fd = dir, openDir(dir)
	}
	if f.fd < 0 {
		return unix.AT_FDCWD, p
	}
	return f.fd, name
}

// openDir opens folder dir to create files in with openat; -1 when it
// cannot (files are then opened by their whole path).
func openDir(dir string) int {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1
	}
	return fd
}

func (f *folder) close() {
	if f.path != "" && f.fd >= 0 {
		unix.Close(f.fd)
	}
	f.path, f.fd = "", -1
}

// maxTiny is the largest file whose content a worker reads together with
// its batch's other small files (LoadBlobSet), rather than on its own:
// a worker holds at most batchFiles × maxTiny (2 MiB) of contents.
const maxTiny = 64 << 10

// preloaded holds the contents of a batch's small files, read with one
// LoadBlobSet: a batch of tiny files that lie together in a pack is one
// read instead of one per file (each a stat and a pread at a local site).
type preloaded struct {
	data  []byte    // the contents, back to back
	spans [][2]int  // per file of the batch: its bytes in data; {-1,-1} when not preloaded
	errAt int       // the batch file whose content failed to load (-1: none)
	err   error     // its error
	ids   []repo.ID // reused
	which []int     // reused: ids[x] is the content of file which[x]
}

// load reads the contents of batch's small single-blob files. A file
// whose blob could not be read keeps the error for its turn: the files
// before it are still written, as they were when each read its own.
func (p *preloaded) load(ctx context.Context, d *repo.Dataset, batch []job, buf []byte) []byte {
	p.data, p.ids, p.which, p.spans = p.data[:0], p.ids[:0], p.which[:0], p.spans[:0]
	p.errAt, p.err = -1, nil
	for k := range batch {
		p.spans = append(p.spans, [2]int{-1, -1})
		n := &batch[k].node
		if len(n.Content) == 1 && n.Size <= maxTiny && !sparse(n) {
			p.ids = append(p.ids, n.Content[0])
			p.which = append(p.which, k)
		}
	}
	if len(p.ids) < 2 {
		return buf // nothing to gain: each file reads its own
	}
	buf, failed, err := d.LoadBlobSet(ctx, p.ids, buf, func(x int, b []byte) error {
		p.spans[p.which[x]] = [2]int{len(p.data), len(p.data) + len(b)}
		p.data = append(p.data, b...)
		return nil
	})
	if err != nil {
		// That file fails at its turn; those before it in the batch are
		// written, reading their own content if it was not reached.
		p.errAt, p.err = p.which[failed], fmt.Errorf("restore %s: %w", batch[p.which[failed]].path, err)
	}
	return buf
}

// content returns batch file k's preloaded content (nil: read it itself).
func (p *preloaded) content(k int) ([]byte, error) {
	if k == p.errAt {
		return nil, p.err
	}
	if k >= len(p.spans) || p.spans[k][0] < 0 {
		return nil, nil
	}
	return p.data[p.spans[k][0]:p.spans[k][1]:p.spans[k][1]], nil
}

// sparse reports whether n has holes: recorded data extents, or no
// content at all for a non-empty file.
func sparse(n *repo.Node) bool { return len(n.Extents) > 0 || (n.Size > 0 && len(n.Content) == 0) }

// workBufs are one writer goroutine's buffers, kept from file to file:
// buf for LoadBlobs, stage for direct writes (made on first use).
type workBufs struct {
	buf, stage []byte
}

// writeFile restores file j; content, when not nil, is its content as its
// batch preloaded it.
func writeFile(ctx context.Context, d *repo.Dataset, j job, o Options, wb *workBufs, m *metaApplier, dir *folder, content []byte) error {
	f, stp, err := createFile(dir, &j)
	if err != nil {
		return err
	}
	fd := int(f.Fd())
	switch {
	case sparse(&j.node):
		wb.buf, err = writeSparse(ctx, d, f, j, o, wb.buf)
	case content == nil && j.node.Size >= directio.Min && directio.Enabled(directio.Restore):
		err = writeDirect(ctx, d, fd, j, o, wb)
	default:
		wb.buf, err = writeDense(ctx, d, f, j, o, wb.buf, content)
	}
	if err != nil {
		f.Close()
		return err
	}
	// Owner, mode, extended attributes and times through the open file,
	// after the last write.
	m.applyTo(j.path, f, stp, &j.node)
	if err := f.Close(); err != nil {
		return fmt.Errorf("restore %s: %w", j.path, err)
	}
	o.Progress.Files.Add(1)
	return nil
}

// createFile creates file j (which must not exist) for writing, relative
// to the folder dir holds open, and returns it with its fstat (nil when
// that failed: owner and mode are then set unconditionally).
//
// unix.Open and os.NewFile rather than os.OpenFile: a regular file gains
// nothing from Go's poller, and registering it costs five syscalls (four
// fcntl and a failing epoll_ctl) per restored file. In a folder this
// restore made (mode 0700 until the end, so no one else can reach the
// file half-written) the file is created with its final permission bits,
// and fstat then says which of owner and mode still need setting: for a
// restore by the files' owner, neither.
func createFile(dir *folder, j *job) (*os.File, *unix.Stat_t, error) {
	dirfd, name := dir.at(j.path)
	return createAt(dirfd, name, j)
}

// createAt is createFile with j's name and the descriptor of its folder
// (or AT_FDCWD and its whole path).
func createAt(dirfd int, name string, j *job) (*os.File, *unix.Stat_t, error) {
	perm := uint32(0o600)
	if j.fresh {
		perm = j.node.Mode & 0o777
	}
	fd, err := unix.Openat(dirfd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, perm)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, nil, hint.Wrap(fmt.Errorf("restore: %s already exists", j.path), "restore into an empty directory, or pass --overwrite")
		}
		return nil, nil, fmt.Errorf("restore: open %s: %w", j.path, err)
	}
	f := os.NewFile(uintptr(fd), j.path)
	st := new(unix.Stat_t)
	if unix.Fstat(fd, st) != nil {
		st = nil
	}
	return f, st, nil
}

// writeBlobs writes blobs in order starting at off (or at the current
// offset if off < 0) and returns how many bytes they held.
func writeBlobs(ctx context.Context, d *repo.Dataset, f *os.File, ids []repo.ID, off int64, o Options, buf []byte) (int64, []byte, error) {
	var written int64
	buf, err := d.LoadBlobs(ctx, ids, buf, func(b []byte) error {
		var err error
		if off >= 0 {
			_, err = f.WriteAt(b, off+written)
		} else {
			_, err = f.Write(b)
		}
		if err != nil {
			return err
		}
		written += int64(len(b))
		o.Progress.Bytes.Add(int64(len(b)))
		return nil
	})
	if err != nil {
		return written, buf, fmt.Errorf("restore %s: %w", f.Name(), err)
	}
	return written, buf, nil
}

func writeDense(ctx context.Context, d *repo.Dataset, f *os.File, j job, o Options, buf []byte, content []byte) ([]byte, error) {
	if err := allocate(f, &j); err != nil {
		return buf, err
	}
	var written int64
	if content != nil {
		if _, err := f.Write(content); err != nil {
			return buf, fmt.Errorf("restore %s: %w", f.Name(), err)
		}
		written = int64(len(content))
		o.Progress.Bytes.Add(written)
	} else {
		var err error
		if written, buf, err = writeBlobs(ctx, d, f, j.node.Content, -1, o, buf); err != nil {
			return buf, err
		}
	}
	if written != j.node.Size {
		_ = f.Truncate(written)
		return buf, fmt.Errorf("restore %s: content is %d bytes, snapshot says %d", j.path, written, j.node.Size)
	}
	return buf, nil
}

// allocate prepares f for j's content before it is written. A sparse
// file gets its size first (one hole) and only its data extents
// allocated, so the holes stay holes. A dense file of more than one blob
// gets its whole size; a file of one blob is one write, which delayed
// allocation places in one extent anyway: fallocate would only add an
// inode update and the zeroing of its unwritten block (13% of a
// tiny-file restore's cycles).
func allocate(f *os.File, j *job) error {
	n := &j.node
	if !sparse(n) {
		if n.Size > 0 && len(n.Content) > 1 {
			_ = unix.Fallocate(int(f.Fd()), 0, 0, n.Size)
		}
		return nil
	}
	if err := f.Truncate(n.Size); err != nil {
		return fmt.Errorf("restore %s: %w", j.path, err)
	}
	for _, x := range n.Extents {
		_ = unix.Fallocate(int(f.Fd()), 0, x.Off, x.Len)
	}
	return nil
}

// writeSparse sets the file's size first (one hole) and writes only the
// data extents, so the holes stay holes: no zeros are ever written.
func writeSparse(ctx context.Context, d *repo.Dataset, f *os.File, j job, o Options, buf []byte) ([]byte, error) {
	if err := allocate(f, &j); err != nil {
		return buf, err
	}
	next := 0
	var data int64
	for _, x := range j.node.Extents {
		ids := j.node.Content[next : next+x.Blobs]
		next += x.Blobs
		n, b, err := writeBlobs(ctx, d, f, ids, x.Off, o, buf)
		buf = b
		if err != nil {
			return buf, err
		}
		if n != x.Len {
			return buf, fmt.Errorf("restore %s: extent at %d is %d bytes, snapshot says %d", j.path, x.Off, n, x.Len)
		}
		data += n
	}
	o.Progress.Bytes.Add(j.node.Size - data)
	return buf, nil
}
