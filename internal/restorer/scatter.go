package restorer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/digital-embassy/embassy/internal/repo"
)

// A pack-order restore (Options.PackOrder, for remote sites) takes the
// files in batches of at most scatterFiles files and scatterBytes bytes,
// in walk order, creates them, and has Dataset.ScatterBlobs read the
// batch's blobs in the order they lie in the packs, each pack range once,
// writing every blob where its files need it. The file-order restore
// read the packs through 8 read-ahead windows of 4 MiB: the snapshot's
// workers interleave neighbouring files' blobs in shared packs, and the
// restore's workers drifted apart in pack order, so a window was evicted
// before a worker behind reached it and fetched again (a 2+1 erasure
// restore of the 2 GiB corpus sent 1.05-1.11 GiB per GiB restored where
// the data shards are 0.72; bench/README.md, rounds seven and nine).
const (
	scatterFiles = 1024    // files held open at once
	scatterBytes = 1 << 30 // file bytes per batch (only the plan is held)
)

// scatterFile is one file of a batch, created when its first blob
// arrives (by whichever worker brings it) and open until its last.
type scatterFile struct {
	j    *job
	once sync.Once
	f    *os.File
	st   *unix.Stat_t
	err  error        // creating it failed
	left atomic.Int64 // blobs not yet written; the file is finished at 0
	hole int64        // bytes in holes (progress counts them at the end)
}

// blobAt is where one blob of a batch goes.
type blobAt struct {
	file int
	off  int64
}

// writeScattered restores jobs' contents in pack order, batch by batch.
func writeScattered(ctx context.Context, d *repo.Dataset, jobs []job, o Options, st *Stats, m *metaApplier) error {
	maxFiles := openFiles()
	for lo := 0; lo < len(jobs); {
		hi, n := lo, int64(0)
		for hi < len(jobs) && hi-lo < maxFiles && (hi == lo || n+jobs[hi].node.Size <= scatterBytes) {
			n += jobs[hi].node.Size
			hi++
		}
		if err := scatterBatch(ctx, d, jobs[lo:hi], o, st, m); err != nil {
			return err
		}
		lo = hi
	}
	return ctx.Err()
}

// openFiles is how many files a batch may hold open: scatterFiles, or a
// quarter of the process's descriptor limit where that is lower (the
// sites' connections and the folders need theirs).
func openFiles() int {
	var rl unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &rl) == nil && rl.Cur/4 < scatterFiles {
		return max(int(rl.Cur/4), 16)
	}
	return scatterFiles
}

// planBlobs appends the blobs of file k (j), their locations and where
// they go to ids, locs and at, checking that their sizes (the signed index's) add up to the
// file's, extent by extent for a sparse file; it returns the bytes in
// holes.
func planBlobs(d *repo.Dataset, j *job, k int, ids []repo.ID, locs []repo.BlobLoc, at []blobAt) ([]repo.ID, []repo.BlobLoc, []blobAt, int64, error) {
	n := &j.node
	place := func(blobs []repo.ID, off, want int64, what string) error {
		start := off
		for _, id := range blobs {
			loc, err := d.Locate(id)
			if err != nil {
				return fmt.Errorf("restore %s: %w", j.path, err)
			}
			ids, locs = append(ids, id), append(locs, loc)
			at = append(at, blobAt{k, off})
			off += int64(loc.Raw)
		}
		if off-start != want {
			return fmt.Errorf("restore %s: %s is %d bytes, snapshot says %d", j.path, what, off-start, want)
		}
		return nil
	}
	if !sparse(n) {
		err := place(n.Content, 0, n.Size, "content")
		return ids, locs, at, 0, err
	}
	next, data := 0, int64(0)
	for _, x := range n.Extents {
		if x.Blobs < 0 || next+x.Blobs > len(n.Content) || x.Off < 0 || x.Len < 0 || x.Off+x.Len > n.Size {
			return ids, locs, at, 0, fmt.Errorf("restore %s: the snapshot's extent at %d does not fit the file: %w", j.path, x.Off, errBadExtent)
		}
		if err := place(n.Content[next:next+x.Blobs], x.Off, x.Len, fmt.Sprintf("extent at %d", x.Off)); err != nil {
			return ids, locs, at, 0, err
		}
		next += x.Blobs
		data += x.Len
	}
	return ids, locs, at, n.Size - data, nil
}

var errBadExtent = errors.New("bad extent")

// scatterBatch restores one batch of files in pack order. A file is
// created by the worker that brings its first blob, so the batch's files
// are created on all the workers at once while others fetch (creating
// them up front, one after the other, held back each batch's first
// reads: openat was 11% of a 2+1 restore's CPU).
func scatterBatch(ctx context.Context, d *repo.Dataset, batch []job, o Options, st *Stats, m *metaApplier) error {
	files := make([]scatterFile, len(batch))
	var ids []repo.ID
	var locs []repo.BlobLoc
	var at []blobAt
	for k := range batch {
		n0 := len(ids)
		var err error
		if ids, locs, at, files[k].hole, err = planBlobs(d, &batch[k], k, ids, locs, at); err != nil {
			return err
		}
		files[k].j = &batch[k]
		files[k].left.Store(int64(len(ids) - n0))
	}
	// The batch's folders, held open so that files are created relative
	// to them (openat); read-only while the workers run.
	dirs := map[string]int{}
	defer func() {
		for _, fd := range dirs {
			if fd >= 0 {
				unix.Close(fd)
			}
		}
	}()
	for k := range batch {
		if dir, _ := filepath.Split(batch[k].path); dir != "" {
			if _, ok := dirs[dir]; !ok {
				dirs[dir] = openDir(dir)
			}
		}
	}
	create := func(sf *scatterFile) error {
		sf.once.Do(func() {
			dirfd, name := unix.AT_FDCWD, sf.j.path
			if dir, base := filepath.Split(sf.j.path); dir != "" && dirs[dir] >= 0 {
				dirfd, name = dirs[dir], base
			}
			if sf.f, sf.st, sf.err = createAt(dirfd, name, sf.j); sf.err != nil {
				return
			}
			sf.err = allocate(sf.f, sf.j)
		})
		return sf.err
	}
	var nfiles, nbytes atomic.Int64
	finish := func(sf *scatterFile) error {
		j := sf.j
		// Owner, mode, extended attributes and times through the open
		// file, after the last write.
		m.applyTo(j.path, sf.f, sf.st, &j.node)
		err := sf.f.Close()
		sf.f = nil
		if err != nil {
			return fmt.Errorf("restore %s: %w", j.path, err)
		}
		o.Progress.Bytes.Add(sf.hole)
		o.Progress.Files.Add(1)
		nfiles.Add(1)
		nbytes.Add(j.node.Size)
		return nil
	}
	// Unfinished files are closed (as they are: the restore failed).
	defer func() {
		for k := range files {
			if files[k].f != nil {
				files[k].f.Close()
			}
		}
		st.Files += nfiles.Load()
		st.Bytes += nbytes.Load()
	}()
	// Files without blobs (empty, or all hole) are made here.
	for k := range files {
		if sf := &files[k]; sf.left.Load() == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := create(sf); err != nil {
				return err
			}
			if err := finish(sf); err != nil {
				return err
			}
		}
	}
	failed, err := d.ScatterBlobs(ctx, ids, locs, o.Workers, func(i int, plain []byte) error {
		sf := &files[at[i].file]
		if err := create(sf); err != nil {
			return &fileErr{err}
		}
		if _, err := sf.f.WriteAt(plain, at[i].off); err != nil {
			return &fileErr{fmt.Errorf("restore %s: %w", sf.j.path, err)}
		}
		o.Progress.Bytes.Add(int64(len(plain)))
		if sf.left.Add(-1) == 0 {
			if err := finish(sf); err != nil {
				return &fileErr{err}
			}
		}
		return nil
	})
	if fe, ok := errors.AsType[*fileErr](err); ok {
		return fe.err
	}
	if err != nil && failed >= 0 {
		return fmt.Errorf("restore %s: %w", files[at[failed].file].j.path, err)
	}
	return err
}

// fileErr is an error of writing a file, which already names it.
type fileErr struct{ err error }

func (e *fileErr) Error() string { return e.err.Error() }
func (e *fileErr) Unwrap() error { return e.err }
