package archiver

import (
	"errors"
	"io/fs"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// lstatAt is os.Lstat of name in the open folder dir: the kernel resolves
// one name instead of the whole path again for every entry (path lookups
// were 40% of the walk's lstat CPU on the 2 GiB corpus, perf,
// bench/README.md round six). The result is what os.Lstat returns for
// the same file (TestLstatAtIsLstat).
func lstatAt(dir *os.File, name string) (fs.FileInfo, error) {
	var st unix.Stat_t
	err := unix.Fstatat(int(dir.Fd()), name, &st, unix.AT_SYMLINK_NOFOLLOW)
	for errors.Is(err, unix.EINTR) {
		err = unix.Fstatat(int(dir.Fd()), name, &st, unix.AT_SYMLINK_NOFOLLOW)
	}
	if err != nil {
		return nil, &fs.PathError{Op: "lstat", Path: dir.Name() + "/" + name, Err: err}
	}
	fi := &statInfo{name: name, sys: st}
	// as os.fillFileStatFromSys
	fi.mode = fs.FileMode(st.Mode & 0o777)
	switch st.Mode & syscall.S_IFMT {
	case syscall.S_IFBLK:
		fi.mode |= fs.ModeDevice
	case syscall.S_IFCHR:
		fi.mode |= fs.ModeDevice | fs.ModeCharDevice
	case syscall.S_IFDIR:
		fi.mode |= fs.ModeDir
	case syscall.S_IFIFO:
		fi.mode |= fs.ModeNamedPipe
	case syscall.S_IFLNK:
		fi.mode |= fs.ModeSymlink
	case syscall.S_IFSOCK:
		fi.mode |= fs.ModeSocket
	}
	if st.Mode&syscall.S_ISGID != 0 {
		fi.mode |= fs.ModeSetgid
	}
	if st.Mode&syscall.S_ISUID != 0 {
		fi.mode |= fs.ModeSetuid
	}
	if st.Mode&syscall.S_ISVTX != 0 {
		fi.mode |= fs.ModeSticky
	}
	return fi, nil
}

// statInfo is the fs.FileInfo of lstatAt; Sys is a *unix.Stat_t
// (nodeFromInfo reads it as os.Lstat's *syscall.Stat_t).
type statInfo struct {
	name string
	mode fs.FileMode
	sys  unix.Stat_t
}

func (s *statInfo) Name() string       { return s.name }
func (s *statInfo) Size() int64        { return s.sys.Size }
func (s *statInfo) Mode() fs.FileMode  { return s.mode }
func (s *statInfo) ModTime() time.Time { return time.Unix(s.sys.Mtim.Sec, s.sys.Mtim.Nsec) }
func (s *statInfo) IsDir() bool        { return s.mode.IsDir() }
func (s *statInfo) Sys() any           { return &s.sys }

// readDir opens folder path and lists it sorted by name, as os.ReadDir;
// the folder stays open for lstatAt (the caller closes it). It is opened
// blocking, as os.NewFile takes it: os.Open would set it non-blocking,
// try to add it to the poller (which refuses folders) and set it back,
// four system calls more per folder (strace -c: 3,441 fcntl and 857
// failed epoll_ctl in one incremental of 669 folders).
func readDir(path string) (*os.File, []fs.DirEntry, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	for errors.Is(err, unix.EINTR) {
		fd, err = unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	}
	if err != nil {
		return nil, nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	f := os.NewFile(uintptr(fd), path)
	ents, err := f.ReadDir(-1)
	if err != nil {
		_ = f.Close()
		return nil, nil, err
	}
	slices.SortFunc(ents, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return f, ents, nil
}
