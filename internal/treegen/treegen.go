// Package treegen builds directory trees of the awkward cases a backup
// must restore exactly (names that are not UTF-8, names that collide once
// rewritten, hard links, sparse files, extended attributes and POSIX ACLs,
// FIFOs, devices, owners, nanosecond and pre-1970 times, type changes), and
// compares two trees byte for byte: lstat fields, content, link targets,
// extended attributes, hard-link groups and allocated blocks of holes.
//
// It is a test helper: it writes only under the folder it is given.
package treegen

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	"golang.org/x/sys/unix"
)

// Options choose what Build makes.
type Options struct {
	// SparseSize is the apparent size of the sparse file (default 64 MiB);
	// it holds 1 MiB of data at the start and 1 MiB in the middle.
	SparseSize int64
}

// Made lists the cases Build created, and the ones this machine cannot
// (with the reason), so a test can say what it did not cover.
type Made struct {
	Cases   []string
	Missing map[string]string
}

func (m *Made) ok(c string)              { m.Cases = append(m.Cases, c) }
func (m *Made) miss(c string, err error) { m.Missing[c] = err.Error() }

// Times used by Build: nanoseconds, and before 1970.
var (
	NanoTime    = time.Date(2024, 2, 29, 12, 34, 56, 123456789, time.UTC)
	Pre1970Time = time.Date(1969, 7, 20, 20, 17, 40, 987654321, time.UTC)
)

// Build creates the awkward cases under dir (which must exist).
func Build(dir string, o Options) (*Made, error) {
	if o.SparseSize == 0 {
		o.SparseSize = 64 << 20
	}
	m := &Made{Missing: map[string]string{}}
	j := func(p ...string) string { return filepath.Join(append([]string{dir}, p...)...) }
	write := func(p string, data string, mode os.FileMode) error { return os.WriteFile(p, []byte(data), mode) }

	// Names: Latin-1 bytes, a lone 0xff, and one that collides with it
	// once bytes that are not UTF-8 become U+FFFD; U+FFFD itself; control
	// characters and a backslash.
	if err := os.Mkdir(j("names"), 0o755); err != nil {
		return nil, err
	}
	for i, n := range []string{"caf\xe9", "caf\xff", "caf\uFFFD", "\xff\xfe", "line\nbreak", "back\\slash", " lead space", "-dash", "é-nfc", "e\u0301-nfd"} {
		if err := write(j("names", n), fmt.Sprintf("name %d\n", i), 0o644); err != nil {
			return nil, err
		}
	}
	if err := os.Mkdir(j("names", "dir\xc3\x28"), 0o750); err != nil {
		return nil, err
	}
	if err := write(j("names", "dir\xc3\x28", "inner\xa0"), "inner\n", 0o600); err != nil {
		return nil, err
	}
	m.ok("names")

	// Symlinks: a target that is not UTF-8, a dangling one, an absolute one.
	if err := os.Mkdir(j("links"), 0o755); err != nil {
		return nil, err
	}
	for name, target := range map[string]string{"raw\xff": "../names/caf\xe9", "dangling": "does/not/exist", "absolute": "/etc/hostname"} {
		if err := os.Symlink(target, j("links", name)); err != nil {
			return nil, err
		}
	}
	m.ok("symlinks")

	// Hard links: three names of one inode across two folders, and a pair.
	if err := os.MkdirAll(j("hard", "sub"), 0o755); err != nil {
		return nil, err
	}
	if err := write(j("hard", "a"), "one inode, three names\n", 0o640); err != nil {
		return nil, err
	}
	for _, p := range []string{j("hard", "b"), j("hard", "sub", "c")} {
		if err := os.Link(j("hard", "a"), p); err != nil {
			return nil, err
		}
	}
	if err := write(j("hard", "x"), "pair\n", 0o600); err != nil {
		return nil, err
	}
	if err := os.Link(j("hard", "x"), j("hard", "y")); err != nil {
		return nil, err
	}
	m.ok("hardlinks")

	// Sparse: data at the start and in the middle, a hole at the end; and
	// a file that is one hole.
	if err := sparseFile(j("sparse.img"), o.SparseSize); err != nil {
		return nil, err
	}
	if err := os.WriteFile(j("hole.img"), nil, 0o644); err != nil {
		return nil, err
	}
	if err := os.Truncate(j("hole.img"), 16<<20); err != nil {
		return nil, err
	}
	m.ok("sparse")

	// Extended attributes (a binary value and an empty one) and POSIX ACLs
	// (access on a file, access and default on a folder).
	if err := write(j("xattr.txt"), "attributes\n", 0o640); err != nil {
		return nil, err
	}
	if err := errors.Join(
		unix.Lsetxattr(j("xattr.txt"), "user.binary", []byte{0, 1, 2, 0xff, 0}, 0),
		unix.Lsetxattr(j("xattr.txt"), "user.empty", nil, 0),
		unix.Lsetxattr(j("xattr.txt"), "user.utf8", []byte("Tallinn ⇄ Luxembourg"), 0),
	); err != nil {
		m.miss("xattrs", err)
	} else {
		m.ok("xattrs")
	}
	if err := os.Mkdir(j("acl"), 0o750); err != nil {
		return nil, err
	}
	if err := write(j("acl", "file"), "acl\n", 0o640); err != nil {
		return nil, err
	}
	acl := ACL(0o6, 0o4, 0o0, 0o6, map[uint32]uint16{4242: 0o6})
	if err := errors.Join(
		unix.Lsetxattr(j("acl", "file"), "system.posix_acl_access", acl, 0),
		unix.Lsetxattr(j("acl"), "system.posix_acl_access", ACL(0o7, 0o5, 0o0, 0o7, map[uint32]uint16{4242: 0o5}), 0),
		unix.Lsetxattr(j("acl"), "system.posix_acl_default", ACL(0o7, 0o5, 0o0, 0o7, map[uint32]uint16{4343: 0o7}), 0),
	); err != nil {
		m.miss("acls", err)
	} else {
		m.ok("acls")
	}

	// FIFO, and devices (root only).
	if err := unix.Mkfifo(j("fifo"), 0o620); err != nil {
		return nil, err
	}
	m.ok("fifo")
	if err := errors.Join(
		unix.Mknod(j("null-char"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))),
		unix.Mknod(j("loop-block"), unix.S_IFBLK|0o660, int(unix.Mkdev(7, 200))),
	); err != nil {
		os.Remove(j("null-char"))
		os.Remove(j("loop-block"))
		m.miss("devices", err)
	} else {
		m.ok("devices")
	}

	// Owners (root only): numeric ids that have no name here, too.
	if err := write(j("owned"), "owned\n", 0o644); err != nil {
		return nil, err
	}
	if err := errors.Join(os.Lchown(j("owned"), 4242, 4343), os.Lchown(j("links", "dangling"), 4242, 4343)); err != nil {
		m.miss("owners", err)
	} else {
		m.ok("owners")
	}

	// Modes: set-id and sticky bits, an empty folder, an empty file.
	if err := os.Mkdir(j("sticky"), 0o755); err != nil {
		return nil, err
	}
	if err := os.Chmod(j("sticky"), 0o1777|os.ModeSticky); err != nil {
		return nil, err
	}
	if err := write(j("setid"), "#!/bin/sh\n", 0o755); err != nil {
		return nil, err
	}
	if err := os.Chmod(j("setid"), 0o755|os.ModeSetuid|os.ModeSetgid); err != nil {
		return nil, err
	}
	if err := os.Mkdir(j("empty-dir"), 0o700); err != nil {
		return nil, err
	}
	if err := write(j("empty-file"), "", 0o600); err != nil {
		return nil, err
	}
	m.ok("modes")

	// Times, set last (children change their folders' times).
	for p, t := range map[string]time.Time{j("names", "caf\xe9"): NanoTime, j("names", "caf\xff"): Pre1970Time, j("empty-dir"): Pre1970Time, j("links", "raw\xff"): NanoTime} {
		ts := unix.Timespec{Sec: t.Unix(), Nsec: int64(t.Nanosecond())}
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, p, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return nil, err
		}
	}
	m.ok("times")
	return m, nil
}

// sparseFile writes 1 MiB of data at 0 and at size/2 of a file of size
// bytes; the rest are holes.
func sparseFile(p string, size int64) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	data := make([]byte, 1<<20)
	for i := range data {
		data[i] = byte(i*7 + i>>10)
	}
	_, err1 := f.WriteAt(data, 0)
	data[0] = 'm'
	_, err2 := f.WriteAt(data, size/2)
	return errors.Join(err1, err2, f.Truncate(size), f.Close())
}

// ACL encodes a POSIX access ACL as Linux stores it in the xattr
// system.posix_acl_access (version 2; entries tag, perm, id; see acl(5)):
// owner, owning group, other and mask permissions, and named users.
func ACL(owner, group, other, mask uint16, users map[uint32]uint16) []byte {
	const (
		tagUserObj  = 0x01
		tagUser     = 0x02
		tagGroupObj = 0x04
		tagMask     = 0x10
		tagOther    = 0x20
		undefinedID = 0xffffffff
	)
	b := binary.LittleEndian.AppendUint32(nil, 2)
	entry := func(tag, perm uint16, id uint32) {
		b = binary.LittleEndian.AppendUint16(b, tag)
		b = binary.LittleEndian.AppendUint16(b, perm)
		b = binary.LittleEndian.AppendUint32(b, id)
	}
	entry(tagUserObj, owner, undefinedID)
	for _, id := range slices.Sorted(maps.Keys(users)) {
		entry(tagUser, users[id], id)
	}
	entry(tagGroupObj, group, undefinedID)
	if len(users) > 0 {
		entry(tagMask, mask, undefinedID)
	}
	entry(tagOther, other, undefinedID)
	return b
}

// ChangeTypes turns entries of a tree made by Build into other types, for
// a second snapshot: a file becomes a folder, a folder a file, a symlink a
// file, a file a symlink, and the FIFO a folder.
func ChangeTypes(dir string) error {
	j := func(p ...string) string { return filepath.Join(append([]string{dir}, p...)...) }
	return errors.Join(
		replace(j("owned"), func(p string) error {
			return errors.Join(os.Mkdir(p, 0o755), os.WriteFile(filepath.Join(p, "now-a-folder"), []byte("x\n"), 0o644))
		}),
		replace(j("hard", "sub"), func(p string) error { return os.WriteFile(p, []byte("was a folder\n"), 0o644) }),
		replace(j("links", "absolute"), func(p string) error { return os.WriteFile(p, []byte("was a link\n"), 0o644) }),
		replace(j("empty-file"), func(p string) error { return os.Symlink("setid", p) }),
		replace(j("fifo"), func(p string) error { return os.Mkdir(p, 0o700) }),
	)
}

func replace(p string, mk func(string) error) error {
	if err := os.RemoveAll(p); err != nil {
		return err
	}
	return mk(p)
}
