package restorer

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/digital-embassy/embassy/internal/repo"
)

// metaApplier sets ownership, mode, extended attributes and times, and
// counts what the target could not take, for one note per kind.
type metaApplier struct {
	owners bool

	xattrs, chowns, devices, linkFails atomic.Int64
	mu                                 sync.Mutex
	first                              map[*atomic.Int64]string
}

// count records one failure of a kind, keeping the first for the note.
func (m *metaApplier) count(c *atomic.Int64, p string, err error) {
	if c.Add(1) != 1 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.first == nil {
		m.first = map[*atomic.Int64]string{}
	}
	if err != nil {
		m.first[c] = fmt.Sprintf("%s: %v", p, err)
	} else {
		m.first[c] = p
	}
}

func (m *metaApplier) notes() []string {
	var out []string
	add := func(c *atomic.Int64, format string) {
		if n := c.Load(); n > 0 {
			out = append(out, fmt.Sprintf(format, n, m.first[c]))
		}
	}
	add(&m.xattrs, "%d extended attributes or ACLs could not be set: the target file system does not hold them or needs privileges (first: %s)")
	add(&m.chowns, "%d owners could not be set (first: %s); restore as root, or pass --no-owner")
	add(&m.devices, "%d device nodes not restored: creating devices needs root (first: %s)")
	add(&m.linkFails, "%d hard links restored as copies: the target refused the link (first: %s)")
	return out
}

// apply sets p's metadata from n: owner first (chown clears set-id bits),
// then mode, then extended attributes (an ACL also sets the group bits
// consistently with the mode), then times. Failures are counted, not fatal.
func (m *metaApplier) apply(p string, n *repo.Node) { m.applyTo(p, nil, nil, n) }

// applyTo is apply through f, the open file at p, when f is not nil: no
// path lookup at all. st, when not nil, is f's state as created (fstat):
// an owner or mode it already has is not set again (a restore of 100,000
// tiny files spent two inode updates per file on no-ops).
func (m *metaApplier) applyTo(p string, f *os.File, st *unix.Stat_t, n *repo.Node) {
	symlink := n.Type == repo.NodeSymlink
	if m.owners && (st == nil || st.Uid != n.UID || st.Gid != n.GID) {
		var err error
		if f != nil {
			err = f.Chown(int(n.UID), int(n.GID))
		} else {
			err = os.Lchown(p, int(n.UID), int(n.GID))
		}
		if err != nil {
			m.count(&m.chowns, p, err)
		}
	}
	mode := fs.FileMode(n.Mode)&fs.ModePerm | modeBits(n.Mode)
	if f != nil {
		if st == nil || st.Mode&07777 != unixMode(n.Mode) {
			_ = f.Chmod(mode)
		}
	} else if !symlink {
		_ = os.Chmod(p, mode)
	}
	for _, x := range n.Xattrs {
		var err error
		if f != nil {
			err = unix.Fsetxattr(int(f.Fd()), x.Name, x.Value, 0)
		} else {
			err = unix.Lsetxattr(p, x.Name, x.Value, 0)
		}
		if err != nil {
			m.count(&m.xattrs, p, fmt.Errorf("%s: %w", x.Name, err))
		}
	}
	t := n.ModTime
	if t.IsZero() {
		t = time.Now() //nolint:forbidigo // a node with no time (never written by this vault) gets the restore's
	}
	ts := []unix.Timespec{{Sec: t.Unix(), Nsec: int64(t.Nanosecond())}, {Sec: t.Unix(), Nsec: int64(t.Nanosecond())}}
	// Through the descriptor (utimensat with an empty path: futimens),
	// by path where that is refused.
	if f == nil || unix.UtimesNanoAt(int(f.Fd()), "", ts, unix.AT_EMPTY_PATH) != nil {
		_ = unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW)
	}
}

// unixMode is the st_mode permission and special bits (07777) of a node's
// mode (fs.FileMode bits).
func unixMode(m uint32) uint32 {
	u := m & 0o777
	fm := fs.FileMode(m)
	if fm&fs.ModeSetuid != 0 {
		u |= unix.S_ISUID
	}
	if fm&fs.ModeSetgid != 0 {
		u |= unix.S_ISGID
	}
	if fm&fs.ModeSticky != 0 {
		u |= unix.S_ISVTX
	}
	return u
}

func modeBits(m uint32) fs.FileMode {
	return fs.FileMode(m) & (fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
}

// mkspecial creates a FIFO or device node. ok is false for a device that
// needs privileges this process does not have.
func mkspecial(p string, n *repo.Node) (ok bool, err error) {
	perm := n.Mode & 0o777
	switch n.Type {
	case repo.NodeFIFO:
		err = unix.Mkfifo(p, perm)
	case repo.NodeCharDev:
		err = unix.Mknod(p, unix.S_IFCHR|perm, int(n.Rdev))
	case repo.NodeBlockDev:
		err = unix.Mknod(p, unix.S_IFBLK|perm, int(n.Rdev))
	}
	if err == nil {
		return true, nil
	}
	if n.Type != repo.NodeFIFO && (errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES)) {
		return false, nil
	}
	return false, fmt.Errorf("restore %s %s: %w", n.Type, p, err)
}
