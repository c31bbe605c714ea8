package fs

import (
	"container/list"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// maxOpenPacks bounds the pack files a Backend keeps open between reads.
// A restore reads a pack's blobs in many small ranges, often from several
// goroutines; opening the file for each one cost about ten syscalls a blob
// (openat, the poller's fcntl and epoll_ctl, fstat, close).
const maxOpenPacks = 64

// openFile is a read-only pack file kept open for positioned reads.
type openFile struct {
	path string
	f    *os.File
	size int64
	dev  uint64 // the file's identity when opened: a hit is checked
	ino  uint64 // against the path's (stat) before it is used
	refs int    // Gets reading it now
	// dfd is the same file opened with O_DIRECT for large reads (-1 until
	// first wanted; -2 if the file system refused it), guarded by dmu.
	dmu     sync.Mutex
	dfd     int
	evicted bool // no longer in the cache: close at the last release
	elem    *list.Element
}

// fdCache holds up to max open pack files, least recently used evicted
// first. Packs are immutable once written; the Backend still drops a
// path's entry whenever it replaces or deletes the file, so a cached
// descriptor never outlives what this process wrote. Others may change
// the folder too (the host, at a daemon site; another process): every hit
// stats the path (one syscall, against about ten for an open) and a file
// removed or replaced since it was opened is not read through the old
// descriptor, so proofs and verification see the disk as it is now.
type fdCache struct {
	mu     sync.Mutex
	max    int
	files  map[string]*openFile
	lru    list.List // *openFile, most recent at the front
	closed bool
	// forgets counts forget calls: a file opened while one ran may be
	// the old one, so it is used once and not cached.
	forgets uint64
}

func newFDCache(max int) *fdCache {
	return &fdCache{max: max, files: map[string]*openFile{}}
}

// acquire returns path's open file (opening it when not cached) with a
// reference the caller must release. The error is the open's or fstat's;
// isReg is false (and the file closed) when path is not a regular file.
func (c *fdCache) acquire(path string) (of *openFile, isReg bool, err error) {
	c.mu.Lock()
	cached := c.files[path]
	if cached != nil {
		cached.refs++
		c.lru.MoveToFront(cached.elem)
	}
	gen := c.forgets
	c.mu.Unlock()
	if of := cached; of != nil {
		var st unix.Stat_t
		serr := unix.Stat(path, &st)
		if serr == nil && st.Dev == of.dev && st.Ino == of.ino {
			return of, true, nil
		}
		// Removed or replaced behind this process: drop the descriptor.
		c.mu.Lock()
		if c.files[path] == of {
			c.evict(of)
		}
		c.mu.Unlock()
		c.release(of)
		if serr != nil {
			return nil, false, &os.PathError{Op: "stat", Path: path, Err: serr}
		}
	}

	// unix.Open and os.NewFile rather than os.Open: a regular file gains
	// nothing from Go's poller, and registering it costs five syscalls.
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, false, &os.PathError{Op: "open", Path: path, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, false, &os.PathError{Op: "fstat", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return nil, false, nil
	}
	of = &openFile{path: path, f: os.NewFile(uintptr(fd), path), size: st.Size, dev: uint64(st.Dev), ino: st.Ino, refs: 1, dfd: -1}

	c.mu.Lock()
	defer c.mu.Unlock()
	if prev := c.files[path]; prev != nil {
		// Another Get opened it meanwhile: use theirs.
		of.close()
		prev.refs++
		c.lru.MoveToFront(prev.elem)
		return prev, true, nil
	}
	if c.closed || c.forgets != gen {
		of.evicted = true // not cached: closed at release
		return of, true, nil
	}
	c.files[path] = of
	of.elem = c.lru.PushFront(of)
	for c.lru.Len() > c.max {
		c.evict(c.lru.Back().Value.(*openFile))
	}
	return of, true, nil
}

// close closes both descriptors of the file.
func (of *openFile) close() {
	of.f.Close()
	of.dmu.Lock()
	if of.dfd >= 0 {
		unix.Close(of.dfd)
	}
	of.dfd = -2
	of.dmu.Unlock()
}

// directFD returns the file opened with O_DIRECT (opening it on first
// use), or -1 when the file system refuses O_DIRECT. The descriptor
// stays valid while the caller holds its reference from acquire.
func (of *openFile) directFD(d *directIO) int {
	of.dmu.Lock()
	defer of.dmu.Unlock()
	if of.dfd == -1 {
		fd, err := unix.Open(of.path, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_DIRECT, 0)
		var st unix.Stat_t
		switch {
		case err != nil:
			d.refused(err)
			of.dfd = -2
		case unix.Fstat(fd, &st) != nil || uint64(st.Dev) != of.dev || st.Ino != of.ino:
			// Replaced since the first open: not the file this entry is.
			unix.Close(fd)
			of.dfd = -2
		default:
			of.dfd = fd
		}
	}
	return max(of.dfd, -1)
}

// release drops a reference from acquire.
func (c *fdCache) release(of *openFile) {
	c.mu.Lock()
	of.refs--
	done := of.evicted && of.refs == 0
	c.mu.Unlock()
	if done {
		of.close()
	}
}

// evict removes of from the cache (c.mu held); it is closed now or at its
// last release.
func (c *fdCache) evict(of *openFile) {
	delete(c.files, of.path)
	c.lru.Remove(of.elem)
	of.evicted = true
	if of.refs == 0 {
		of.close()
	}
}

// forget drops path's entry, if any: the file is being replaced or removed.
func (c *fdCache) forget(path string) {
	c.mu.Lock()
	c.forgets++
	if of := c.files[path]; of != nil {
		c.evict(of)
	}
	c.mu.Unlock()
}

// close evicts every entry and stops caching.
func (c *fdCache) close() {
	c.mu.Lock()
	c.closed = true
	for c.lru.Len() > 0 {
		c.evict(c.lru.Back().Value.(*openFile))
	}
	c.mu.Unlock()
}

// open reports how many files the cache holds (for tests).
func (c *fdCache) open() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.files)
}
