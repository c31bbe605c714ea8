package fs

import (
	"io"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/digital-embassy/embassy/internal/directio"
)

// Packs and shards of at least directio.Min bytes are written and read
// with O_DIRECT (see package directio for why); smaller objects, and file
// systems that refuse O_DIRECT, go through the page cache.
const (
	directAlign = directio.Align
	directMin   = directio.Min
	// stageSize is the staging buffer of a direct read whose destination
	// or offset is not aligned, or of a write from an unaligned buffer.
	stageSize = 2 << 20
)

// directIO is a Backend's use of O_DIRECT: on if the process turned it on
// for sites (EMBASSY_DIRECT_IO), until the file system refuses it once
// (EINVAL).
type directIO struct {
	off atomic.Bool
	// writes and reads count the direct ones (for tests).
	writes, reads atomic.Int64
}

func newDirectIO() *directIO {
	d := &directIO{}
	d.off.Store(!directio.Enabled(directio.Sites))
	return d
}

func (d *directIO) use(n int64) bool { return n >= directMin && !d.off.Load() }

// refused reports whether err is the file system's refusal of O_DIRECT
// (or of its alignment), and then turns direct I/O off for the Backend.
func (d *directIO) refused(err error) bool {
	if directio.Refused(err) {
		d.off.Store(true)
		return true
	}
	return false
}

var stagePool = sync.Pool{New: func() any {
	b := directio.Make(stageSize)
	return &b
}}

// writeDirect writes data to fd from offset 0 with O_DIRECT already set
// on fd (directio.Writer: aligned blocks straight from data, the rest
// staged, the last block padded and cut off). It reports whether the file
// system refused O_DIRECT midway, so that the rest went through the page
// cache.
func writeDirect(fd int, data []byte) (refused bool, err error) {
	w := &directio.Writer{FD: fd}
	if !directio.Aligned(data) && len(data) >= stageSize {
		sp := stagePool.Get().(*[]byte)
		defer stagePool.Put(sp)
		w.Stage = *sp
	}
	if err := w.Write(data); err != nil {
		return w.Buffered, err
	}
	return w.Buffered, w.Finish()
}

// directReader reads [pos, end) of a file opened with O_DIRECT: straight
// into the caller's buffer when it and the offset are aligned, otherwise
// through a staging buffer holding the aligned span around pos.
type directReader struct {
	fd int
	// ra reads the same file through the page cache, from the first
	// time the file system refuses a direct read (EINVAL) on.
	ra       io.ReaderAt
	d        *directIO
	buffered bool
	pos, end int64
	stage    *[]byte
	sbase    int64 // file offset of stage[0]
	slen     int   // valid bytes in stage
}

func (r *directReader) Read(p []byte) (int, error) {
	if r.pos >= r.end {
		return 0, io.EOF
	}
	want := int(min(int64(len(p)), r.end-r.pos))
	if want == 0 {
		return 0, nil
	}
	n, err := r.read(p[:want])
	if err != nil && r.d.refused(err) {
		r.buffered = true
		n, err = r.read(p[:want])
	}
	return n, err
}

func (r *directReader) read(p []byte) (int, error) {
	want := len(p)
	if r.buffered {
		n, err := r.ra.ReadAt(p, r.pos)
		r.pos += int64(n)
		if err == io.EOF && n > 0 {
			err = nil
		} else if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return n, err
	}
	// Served from the staging buffer.
	if r.slen > 0 && r.pos >= r.sbase && r.pos < r.sbase+int64(r.slen) {
		n := copy(p[:want], (*r.stage)[r.pos-r.sbase:r.slen])
		r.pos += int64(n)
		return n, nil
	}
	if n := want &^ (directAlign - 1); n > 0 && r.pos%directAlign == 0 && directio.Aligned(p) {
		got, err := unix.Pread(r.fd, p[:n], r.pos)
		if err != nil {
			return 0, err
		}
		if got == 0 {
			return 0, io.ErrUnexpectedEOF
		}
		r.pos += int64(got)
		return got, nil
	}
	if r.stage == nil {
		r.stage = stagePool.Get().(*[]byte)
	}
	base := r.pos &^ (directAlign - 1)
	span := min(int64(stageSize), (r.end-base+directAlign-1)&^(directAlign-1))
	got, err := unix.Pread(r.fd, (*r.stage)[:span], base)
	if err != nil {
		return 0, err
	}
	r.sbase, r.slen = base, got
	if base+int64(got) <= r.pos {
		return 0, io.ErrUnexpectedEOF
	}
	n := copy(p[:want], (*r.stage)[r.pos-base:got])
	r.pos += int64(n)
	return n, nil
}

// release gives the staging buffer back.
func (r *directReader) release() {
	if r.stage != nil {
		stagePool.Put(r.stage)
		r.stage = nil
	}
}
