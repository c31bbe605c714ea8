// Package directio holds what writing and reading with O_DIRECT needs: the
// alignment, aligned buffers, the test for a file system's refusal, and a
// process-wide switch that the entry points turn off
// (EMBASSY_DIRECT_IO=off).
//
// Large objects at local sites (packs, shards) and large restored files go
// around the page cache. They are written once and read rarely, and
// through the page cache each 4 KiB costs a fresh page: on a virtual
// machine whose free memory goes back to its host that was the dearest
// part of a snapshot or a restore (~2.3 s of system time per GiB here,
// against ~0.1 s written straight from the program's buffer;
// bench/README.md, round six). It also keeps a snapshot or a restore from
// evicting the machine's useful cache. Small files, and file systems that
// refuse O_DIRECT, go through the page cache as before.
package directio

import (
	"errors"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

const (
	// Align is the alignment of O_DIRECT offsets, lengths and buffers:
	// the largest logical block size in common use.
	Align = 4096
	// Min is the smallest object, read or file that goes direct.
	Min = 128 << 10
)

var off atomic.Bool

// SetEnabled turns direct I/O on or off for the process: the entry points
// turn it off for EMBASSY_DIRECT_IO=off. It applies to the sites opened
// and the restores started after it.
func SetEnabled(on bool) { off.Store(!on) }

// Enabled reports whether direct I/O is on for the process.
func Enabled() bool { return !off.Load() }

// Aligned reports whether p starts at an aligned address.
func Aligned(p []byte) bool {
	return len(p) > 0 && uintptr(unsafe.Pointer(unsafe.SliceData(p)))%Align == 0
}

// Make returns n bytes starting at an aligned address (the heap does not
// move objects, so the alignment holds for the buffer's life).
func Make(n int) []byte {
	b := make([]byte, n+Align)
	off := int(-uintptr(unsafe.Pointer(unsafe.SliceData(b))) & (Align - 1))
	return b[off : off+n : off+n]
}

// Refused reports whether err is a file system's refusal of O_DIRECT or
// of its alignment.
func Refused(err error) bool {
	return errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EOPNOTSUPP)
}

// Set turns O_DIRECT on or off for the open file fd.
func Set(fd int, on bool) error {
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		return err
	}
	if on {
		flags |= unix.O_DIRECT
	} else {
		flags &^= unix.O_DIRECT
	}
	_, err = unix.FcntlInt(uintptr(fd), unix.F_SETFL, flags)
	return err
}

// WriteAt writes p, whose length is a multiple of Align, at the aligned
// offset off of fd (opened or set with O_DIRECT), from an aligned buffer.
func WriteAt(fd int, p []byte, off int64) error {
	for len(p) > 0 {
		n, err := unix.Pwrite(fd, p, off)
		if err != nil {
			return err
		}
		p, off = p[n:], off+int64(n)
	}
	return nil
}
