// Package directio holds what writing and reading with O_DIRECT needs: the
// alignment, aligned buffers, the test for a file system's refusal, and a
// process-wide choice of where it is used, which the entry points set
// from EMBASSY_DIRECT_IO.
//
// When asked, large restored files and large objects at local sites
// (packs, shards) go around the page cache. Through the page
// cache each 4 KiB costs a page: on a virtual machine whose freed memory
// goes back to its host that was the dearest part of a snapshot or a
// restore (~2.3 s of system time per GiB there, against ~0.1 s written
// straight from the program's buffer; bench/README.md, round six). Small
// files, and file systems that refuse O_DIRECT, go through the page cache.
package directio

import (
	"errors"
	"fmt"
	"strings"
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

// Uses are where direct I/O may be used.
type Uses uint8

const (
	// Sites: packs and shards written and read at local site
	// directories (site/fs, and so embassyd's store).
	Sites Uses = 1 << iota
	// Restore: large dense files written by a restore.
	Restore
)

var uses = func() *atomic.Uint32 { var u atomic.Uint32; u.Store(uint32(Default)); return &u }()

// Set turns direct I/O on for u and off for the rest, for the process:
// the entry points set it from EMBASSY_DIRECT_IO (ParseUses). It applies
// to the sites opened and the restores started after it.
func SetUses(u Uses) { uses.Store(uint32(u)) }

// Enabled reports whether direct I/O is on for u.
func Enabled(u Uses) bool { return Uses(uses.Load())&u == u }

// Default is the use when EMBASSY_DIRECT_IO is not set: none, everything
// through the page cache. Packs at local sites: in bench/run.sh's runs
// (page cache warm, round six) direct site I/O made verify and restore
// read the device instead of the cache (verify 2.25 s against 1.04 s,
// restore 3.70 s against 2.46 s) and the first snapshot no faster; it
// pays where filling the page cache is dear (a VM whose freed memory goes
// back to the host: first snapshot 2.8 s against 4.6 s in that state).
// Restored files: a direct write waits for the device, a buffered one
// only for memory. With a device at 1.3 GB/s (round six) the two were
// level (2.38 s against 2.46 s for 2 GiB); with one at 0.6 GB/s (round
// seven) direct took 3.3-4.8 s against 2.2-3.2 s buffered, so the page
// cache, which is never much slower, is the default.
const Default Uses = 0

// ParseUses reads EMBASSY_DIRECT_IO: "" (Default), "off" (the page cache
// for everything), "on" (sites and restore), or a comma list of "sites"
// and "restore".
func ParseUses(s string) (Uses, error) {
	if strings.TrimSpace(s) == "" {
		return Default, nil
	}
	var u Uses
	for _, f := range strings.Split(s, ",") {
		switch strings.TrimSpace(f) {
		case "off":
		case "on":
			u |= Sites | Restore
		case "sites":
			u |= Sites
		case "restore":
			u |= Restore
		default:
			return Default, fmt.Errorf("EMBASSY_DIRECT_IO=%q: want off, on, or a comma list of sites and restore", s)
		}
	}
	return u, nil
}

// Configure sets the process's uses from the value of EMBASSY_DIRECT_IO,
// which the entry point read. A value it cannot read leaves the default in
// force and is returned, for the entry point to warn about.
func Configure(env string) error {
	u, err := ParseUses(env)
	SetUses(u)
	if err != nil {
		return fmt.Errorf("%w; using the default (%s)", err, u)
	}
	return nil
}

// String names u as EMBASSY_DIRECT_IO spells it.
func (u Uses) String() string {
	switch u {
	case 0:
		return "off"
	case Sites | Restore:
		return "on"
	case Sites:
		return "sites"
	case Restore:
		return "restore"
	}
	return fmt.Sprintf("Uses(%d)", uint8(u))
}

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
