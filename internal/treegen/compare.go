package treegen

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// CompareOptions say what Compare checks beyond content, types, modes,
// times, link targets, extended attributes, hard links and holes.
type CompareOptions struct {
	Owners   bool // uid and gid
	SkipRoot bool // do not compare the two top folders' own metadata
	// Ignore lists slash-separated paths (relative to the tops) left out.
	Ignore []string
}

// Compare walks a and b and returns every difference, as readable lines
// (names quoted, so bytes that are not UTF-8 show). No difference: nil.
func Compare(a, b string, o CompareOptions) []string {
	c := &cmp{a: a, b: b, o: o, inoA: map[uint64][]string{}, inoB: map[uint64][]string{}}
	c.walk("")
	c.links()
	return c.diffs
}

type cmp struct {
	a, b       string
	o          CompareOptions
	diffs      []string
	inoA, inoB map[uint64][]string // inode -> relative paths, for files with several links
}

func (c *cmp) add(rel, format string, args ...any) {
	c.diffs = append(c.diffs, fmt.Sprintf("%q: ", rel)+fmt.Sprintf(format, args...))
}

func (c *cmp) walk(rel string) {
	if slices.Contains(c.o.Ignore, rel) {
		return
	}
	pa, pb := filepath.Join(c.a, rel), filepath.Join(c.b, rel)
	sa, err := lstat(pa)
	if err != nil {
		c.add(rel, "source: %v", err)
		return
	}
	sb, err := lstat(pb)
	if err != nil {
		c.add(rel, "missing: %v", err)
		return
	}
	if !(rel == "" && c.o.SkipRoot) {
		c.meta(rel, pa, pb, sa, sb)
	}
	if sa.Mode&unix.S_IFMT != sb.Mode&unix.S_IFMT {
		return
	}
	switch sa.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		na, nb := names(pa), names(pb)
		for _, n := range na {
			c.walk(filepath.Join(rel, n))
		}
		for _, n := range nb {
			if !slices.Contains(na, n) && !slices.Contains(c.o.Ignore, filepath.Join(rel, n)) {
				c.add(filepath.Join(rel, n), "only in the copy")
			}
		}
	case unix.S_IFREG:
		if sa.Nlink > 1 {
			c.inoA[sa.Ino] = append(c.inoA[sa.Ino], rel)
			c.inoB[sb.Ino] = append(c.inoB[sb.Ino], rel)
		}
		if !sameContent(pa, pb) {
			c.add(rel, "content differs")
		}
		// Holes stay holes: the copy allocates no more than the source
		// (plus one 64 KiB of slack for file system rounding).
		if sa.Blocks*512 < sa.Size && sb.Blocks > sa.Blocks+128 {
			c.add(rel, "holes filled: %d blocks allocated, source has %d", sb.Blocks, sa.Blocks)
		}
	case unix.S_IFLNK:
		ta, _ := os.Readlink(pa)
		tb, _ := os.Readlink(pb)
		if ta != tb {
			c.add(rel, "link target %q, source %q", tb, ta)
		}
	case unix.S_IFCHR, unix.S_IFBLK:
		if sa.Rdev != sb.Rdev {
			c.add(rel, "device %#x, source %#x", sb.Rdev, sa.Rdev)
		}
	}
}

func (c *cmp) meta(rel, pa, pb string, sa, sb *unix.Stat_t) {
	if sa.Mode != sb.Mode {
		c.add(rel, "mode %o, source %o", sb.Mode, sa.Mode)
		return
	}
	if sa.Mtim != sb.Mtim {
		c.add(rel, "mtime %d.%09d, source %d.%09d", sb.Mtim.Sec, sb.Mtim.Nsec, sa.Mtim.Sec, sa.Mtim.Nsec)
	}
	if sa.Mode&unix.S_IFMT == unix.S_IFREG && sa.Size != sb.Size {
		c.add(rel, "size %d, source %d", sb.Size, sa.Size)
	}
	if c.o.Owners && (sa.Uid != sb.Uid || sa.Gid != sb.Gid) {
		c.add(rel, "owner %d:%d, source %d:%d", sb.Uid, sb.Gid, sa.Uid, sa.Gid)
	}
	xa, ea := Xattrs(pa)
	xb, eb := Xattrs(pb)
	if ea != nil || eb != nil {
		c.add(rel, "extended attributes: %v", errors.Join(ea, eb))
	} else if d := diffXattrs(xa, xb); d != "" {
		c.add(rel, "extended attributes differ: %s", d)
	}
}

// links checks that the same paths share inodes in both trees.
func (c *cmp) links() {
	group := func(m map[uint64][]string) map[string]string {
		out := map[string]string{}
		for _, ps := range m {
			slices.Sort(ps)
			for _, p := range ps {
				out[p] = strings.Join(ps, "|")
			}
		}
		return out
	}
	ga, gb := group(c.inoA), group(c.inoB)
	for p, g := range ga {
		if gb[p] != g {
			c.add(p, "hard links %q, source %q", gb[p], g)
		}
	}
}

func lstat(p string) (*unix.Stat_t, error) {
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

func names(p string) []string {
	ents, _ := os.ReadDir(p)
	out := make([]string, len(ents))
	for i, e := range ents {
		out[i] = e.Name()
	}
	return out
}

func sameContent(a, b string) bool {
	fa, err := os.Open(a)
	if err != nil {
		return false
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		return false
	}
	defer fb.Close()
	ba, bb := make([]byte, 1<<20), make([]byte, 1<<20)
	for {
		na, ea := io.ReadFull(fa, ba)
		nb, eb := io.ReadFull(fb, bb)
		if na != nb || !bytes.Equal(ba[:na], bb[:nb]) {
			return false
		}
		if ea != nil || eb != nil {
			return atEnd(ea) && atEnd(eb)
		}
	}
}

// Xattrs returns the extended attributes of p (not following symlinks).
func Xattrs(p string) (map[string][]byte, error) {
	buf := make([]byte, 64<<10)
	n, err := unix.Llistxattr(p, buf)
	if errors.Is(err, unix.ENOTSUP) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", p, err)
	}
	out := map[string][]byte{}
	for _, name := range strings.Split(string(buf[:n]), "\x00") {
		if name == "" {
			continue
		}
		v := make([]byte, 64<<10)
		m, err := unix.Lgetxattr(p, name, v)
		if err != nil {
			return nil, fmt.Errorf("get %s of %s: %w", name, p, err)
		}
		out[name] = v[:m]
	}
	return out, nil
}

func diffXattrs(a, b map[string][]byte) string {
	var d []string
	for k, v := range a {
		w, ok := b[k]
		switch {
		case !ok:
			d = append(d, "missing "+k)
		case !bytes.Equal(v, w):
			d = append(d, fmt.Sprintf("%s is %x, source %x", k, w, v))
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			d = append(d, "extra "+k)
		}
	}
	slices.Sort(d)
	return strings.Join(d, "; ")
}

func atEnd(err error) bool { return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) }
