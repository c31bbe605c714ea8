package archiver

import (
	"errors"
	"fmt"
	"io/fs"
	"os/user"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"github.com/digital-embassy/embassy/internal/repo"
)

// nodeFromInfo turns lstat results into a node. Types the tree cannot
// hold come back with an empty Type.
func nodeFromInfo(fi fs.FileInfo) (repo.Node, int64) {
	n := repo.Node{Name: fi.Name(), ModTime: fi.ModTime().UTC(),
		Mode: uint32(fi.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky))}
	m := fi.Mode()
	switch {
	case m.IsRegular():
		n.Type = repo.NodeFile
		n.Size = fi.Size()
	case m.IsDir():
		n.Type = repo.NodeDir
	case m&fs.ModeSymlink != 0:
		n.Type = repo.NodeSymlink
	case m&fs.ModeNamedPipe != 0:
		n.Type = repo.NodeFIFO
	case m&fs.ModeDevice != 0 && m&fs.ModeCharDevice != 0:
		n.Type = repo.NodeCharDev
	case m&fs.ModeDevice != 0:
		n.Type = repo.NodeBlockDev
	}
	var blocks int64 = -1
	switch st := fi.Sys().(type) {
	case *syscall.Stat_t: // os.Lstat
		blocks = fillStat(&n, stat{dev: uint64(st.Dev), ino: uint64(st.Ino), nlink: uint64(st.Nlink), rdev: uint64(st.Rdev),
			uid: st.Uid, gid: st.Gid, ctime: time.Unix(int64(st.Ctim.Sec), int64(st.Ctim.Nsec)), blocks: int64(st.Blocks)})
	case *unix.Stat_t: // lstatAt
		blocks = fillStat(&n, stat{dev: uint64(st.Dev), ino: uint64(st.Ino), nlink: uint64(st.Nlink), rdev: uint64(st.Rdev),
			uid: st.Uid, gid: st.Gid, ctime: time.Unix(int64(st.Ctim.Sec), int64(st.Ctim.Nsec)), blocks: int64(st.Blocks)})
	}
	return n, blocks
}

// stat is what a node takes from lstat's Stat_t, of either package.
type stat struct {
	dev, ino, nlink, rdev uint64
	uid, gid              uint32
	ctime                 time.Time
	blocks                int64
}

func fillStat(n *repo.Node, st stat) (blocks int64) {
	n.UID, n.GID, n.Inode = st.uid, st.gid, st.ino
	n.CTime = st.ctime.UTC()
	if n.Type == repo.NodeCharDev || n.Type == repo.NodeBlockDev {
		n.Rdev = st.rdev
	}
	if n.Type == repo.NodeFile && st.nlink > 1 {
		n.Dev, n.Links = st.dev, st.nlink
	}
	return st.blocks
}

// timeInRange reports whether t can be written in a tree (RFC 3339 years
// 0 to 9999).
func timeInRange(t time.Time) bool { y := t.Year(); return y >= 0 && y <= 9999 }

// owners caches uid and gid to name lookups for one run.
type owners struct {
	users, groups map[uint32]string
}

func (o *owners) fill(n *repo.Node) {
	if o.users == nil {
		o.users, o.groups = map[uint32]string{}, map[uint32]string{}
	}
	name, ok := o.users[n.UID]
	if !ok {
		if u, err := user.LookupId(strconv.FormatUint(uint64(n.UID), 10)); err == nil && utf8.ValidString(u.Username) {
			name = u.Username
		}
		o.users[n.UID] = name
	}
	n.User = name
	name, ok = o.groups[n.GID]
	if !ok {
		if g, err := user.LookupGroupId(strconv.FormatUint(uint64(n.GID), 10)); err == nil && utf8.ValidString(g.Name) {
			name = g.Name
		}
		o.groups[n.GID] = name
	}
	n.Group = name
}

// readXattrs returns the extended attributes of path (not following
// symlinks), sorted by name. A file system without them gives none.
func readXattrs(path string, buf []byte) ([]repo.Xattr, []byte, error) {
	if len(buf) == 0 {
		buf = make([]byte, 4096) // an empty buffer would ask for the size only
	}
	sz, err := unix.Llistxattr(path, buf)
	for errors.Is(err, unix.ERANGE) {
		if sz, err = unix.Llistxattr(path, nil); err == nil {
			buf = make([]byte, sz*2+1)
			sz, err = unix.Llistxattr(path, buf)
		}
	}
	if err != nil {
		if errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.ENODATA) {
			return nil, buf, nil
		}
		return nil, buf, fmt.Errorf("list extended attributes: %w", err)
	}
	if sz == 0 {
		return nil, buf, nil
	}
	var out []repo.Xattr
	for _, name := range strings.Split(strings.TrimRight(string(buf[:sz]), "\x00"), "\x00") {
		if name == "" {
			continue
		}
		if !utf8.ValidString(name) {
			return nil, buf, fmt.Errorf("extended attribute name %q is not UTF-8", strings.ToValidUTF8(name, "\uFFFD"))
		}
		v, err := getXattr(path, name)
		if errors.Is(err, unix.ENODATA) {
			continue // removed since the listing
		}
		if err != nil {
			return nil, buf, fmt.Errorf("read extended attribute %s: %w", name, err)
		}
		out = append(out, repo.Xattr{Name: name, Value: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, buf, nil
}

func getXattr(path, name string) ([]byte, error) {
	var small [256]byte
	n, err := unix.Lgetxattr(path, name, small[:])
	if err == nil {
		return append([]byte(nil), small[:n]...), nil
	}
	if !errors.Is(err, unix.ERANGE) {
		return nil, err
	}
	for {
		n, err = unix.Lgetxattr(path, name, nil)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return []byte{}, nil
		}
		v := make([]byte, n)
		n, err = unix.Lgetxattr(path, name, v)
		if errors.Is(err, unix.ERANGE) {
			continue // grew in between
		}
		if err != nil {
			return nil, err
		}
		return v[:n], nil
	}
}
