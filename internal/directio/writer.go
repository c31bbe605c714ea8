package directio

import "golang.org/x/sys/unix"

// Writer writes a file from offset 0 on, through a descriptor with
// O_DIRECT set: bytes that arrive aligned go straight from the caller's
// buffer in whole blocks, the rest are gathered in Stage (aligned; one
// block of its own if nil) and written when it is full; Finish pads the
// last block with zeros and cuts the file to Size. From the file system's
// first refusal on (EINVAL), O_DIRECT is cleared and the same bytes, and
// every later one, go through the page cache (Buffered). The one
// implementation behind site/fs's direct puts and the restorer's direct
// files.
type Writer struct {
	FD       int
	Stage    []byte
	Size     int64 // bytes written or staged
	Buffered bool

	n   int   // bytes staged for offset off
	off int64 // file offset of Stage[0]
}

// Write writes b at the end of what was written.
func (w *Writer) Write(b []byte) error {
	w.Size += int64(len(b))
	if w.n == 0 && !w.Buffered && Aligned(b) && len(b) >= Align {
		k := len(b) &^ (Align - 1)
		if err := w.write(b[:k], k); err != nil {
			return err
		}
		b = b[k:]
	}
	if w.Buffered {
		return w.pwrite(b)
	}
	if w.Stage == nil {
		w.Stage = Make(Align)
	}
	for len(b) > 0 {
		c := copy(w.Stage[w.n:], b)
		w.n += c
		b = b[c:]
		if w.n == len(w.Stage) {
			if err := w.flush(w.n); err != nil {
				return err
			}
			if w.Buffered {
				return w.pwrite(b)
			}
		}
	}
	return nil
}

// Finish writes the last partial block and cuts the padding off.
func (w *Writer) Finish() error {
	if w.n > 0 && !w.Buffered {
		if err := w.flush((w.n + Align - 1) &^ (Align - 1)); err != nil {
			return err
		}
	}
	if w.Buffered {
		return nil
	}
	return unix.Ftruncate(w.FD, w.off)
}

// flush writes the staged bytes as blk bytes (n rounded up to a block).
func (w *Writer) flush(blk int) error {
	clear(w.Stage[w.n:blk])
	n := w.n
	w.n = 0
	return w.write(w.Stage[:blk], n)
}

// write writes the aligned p, of which the first n bytes are the file's,
// at off; on a refusal, those n bytes through the page cache.
func (w *Writer) write(p []byte, n int) error {
	err := WriteAt(w.FD, p, w.off)
	if err != nil && Refused(err) {
		if err = Set(w.FD, false); err == nil {
			w.Buffered = true
			return w.pwrite(p[:n])
		}
	}
	if err != nil {
		return err
	}
	w.off += int64(n)
	return nil
}

func (w *Writer) pwrite(b []byte) error {
	for len(b) > 0 {
		n, err := unix.Pwrite(w.FD, b, w.off)
		if err != nil {
			return err
		}
		b, w.off = b[n:], w.off+int64(n)
	}
	return nil
}
