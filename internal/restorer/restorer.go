// Package restorer writes a snapshot back to a directory, byte-exact, with
// modes, modification times, symlinks and empty directories.
package restorer

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/repo"
)

// Options configure a restore.
type Options struct {
	Path      string // restore only this path inside the snapshot ("" = all)
	Overwrite bool   // replace existing files instead of refusing
	Workers   int
	Owners    bool // restore uid/gid (needs root)
	Progress  *Progress
}

// Progress is updated while restoring.
type Progress struct {
	TotalBytes   atomic.Int64
	Files, Bytes atomic.Int64
}

// Stats summarise a restore.
type Stats struct {
	Files, Dirs, Symlinks int64
	Bytes                 int64
}

type job struct {
	path string
	node repo.Node
}

type dirMeta struct {
	path string
	node repo.Node
}

// Restore writes snapshot s of d under target.
func Restore(ctx context.Context, d *repo.Dataset, s *repo.Snapshot, target string, o Options) (*Stats, error) {
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0) + 2
	}
	if o.Progress == nil {
		o.Progress = &Progress{}
	}
	if target == "" {
		return nil, hint.WithCode(errors.New("no restore target"), hint.CodeUsage)
	}
	rootTree, rootNode, prefix, err := resolvePath(ctx, d, s, o.Path)
	if err != nil {
		return nil, err
	}
	dest := filepath.Join(target, filepath.FromSlash(prefix))
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return nil, fmt.Errorf("create restore target: %w", err)
	}
	st := &Stats{}
	var dirs []dirMeta
	jobs := make([]job, 0, 1024)
	var plan func(dir string, t *repo.Tree) error
	plan = func(dir string, t *repo.Tree) error {
		for _, n := range t.Nodes {
			if err := ctx.Err(); err != nil {
				return err
			}
			p := filepath.Join(dir, n.Name)
			switch n.Type {
			case repo.NodeDir:
				if err := mkdir(p, o.Overwrite); err != nil {
					return err
				}
				st.Dirs++
				sub, err := d.LoadTree(ctx, *n.Subtree)
				if err != nil {
					return fmt.Errorf("load tree of %s: %w", p, err)
				}
				if err := plan(p, sub); err != nil {
					return err
				}
				dirs = append(dirs, dirMeta{p, n})
			case repo.NodeFile:
				jobs = append(jobs, job{p, n})
				o.Progress.TotalBytes.Add(n.Size)
			case repo.NodeSymlink:
				if o.Overwrite {
					os.Remove(p)
				}
				if err := os.Symlink(n.Target, p); err != nil {
					if errors.Is(err, fs.ErrExist) {
						return hint.Wrap(fmt.Errorf("restore: %s already exists", p), "restore into an empty directory, or pass --overwrite")
					}
					return fmt.Errorf("restore symlink: %w", err)
				}
				st.Symlinks++
				setMeta(p, n, o.Owners, true)
			}
		}
		return nil
	}
	if rootNode == nil || rootNode.Type == repo.NodeDir {
		if err := mkdir(dest, true); err != nil {
			return nil, err
		}
		if err := plan(dest, rootTree); err != nil {
			return nil, err
		}
		if rootNode != nil {
			dirs = append(dirs, dirMeta{dest, *rootNode})
		} else if s.Root != nil {
			dirs = append([]dirMeta{{dest, *s.Root}}, dirs...)
		}
	} else {
		// A single file or symlink selected with --path.
		single := &repo.Tree{Nodes: []repo.Node{*rootNode}}
		if err := plan(filepath.Dir(dest), single); err != nil {
			return nil, err
		}
	}
	if err := writeFiles(ctx, d, jobs, o, st); err != nil {
		return nil, err
	}
	// Directory metadata last, deepest first, so writing children does not
	// disturb the parents' times.
	for i := len(dirs) - 1; i >= 0; i-- {
		setMeta(dirs[i].path, dirs[i].node, o.Owners, false)
	}
	return st, nil
}

func mkdir(p string, existingOK bool) error {
	err := os.Mkdir(p, 0o700)
	if err == nil {
		return nil
	}
	if errors.Is(err, fs.ErrExist) {
		fi, serr := os.Lstat(p)
		if serr == nil && fi.IsDir() {
			return nil
		}
		if !existingOK {
			return hint.Wrap(fmt.Errorf("restore: %s exists and is not a directory", p), "restore into an empty directory, or pass --overwrite")
		}
	}
	return fmt.Errorf("restore: %w", err)
}

// resolvePath finds the tree (or single node) at path inside the snapshot.
func resolvePath(ctx context.Context, d *repo.Dataset, s *repo.Snapshot, path string) (*repo.Tree, *repo.Node, string, error) {
	t, err := d.LoadTree(ctx, s.Tree)
	if err != nil {
		return nil, nil, "", fmt.Errorf("load root tree: %w", err)
	}
	path = strings.Trim(filepath.ToSlash(filepath.Clean("/"+path)), "/")
	if path == "" {
		return t, nil, "", nil
	}
	parts := strings.Split(path, "/")
	var node *repo.Node
	for i, part := range parts {
		node = nil
		for j := range t.Nodes {
			if t.Nodes[j].Name == part {
				node = &t.Nodes[j]
				break
			}
		}
		if node == nil {
			return nil, nil, "", hint.Wrap(fmt.Errorf("path %q not found in snapshot %s", path, s.ID.Short()),
				"list the snapshot's top level with 'embassy ls'; paths are relative to the snapshot root")
		}
		if node.Type != repo.NodeDir {
			if i != len(parts)-1 {
				return nil, nil, "", fmt.Errorf("path %q: %s is not a directory", path, part)
			}
			return nil, node, path, nil
		}
		if t, err = d.LoadTree(ctx, *node.Subtree); err != nil {
			return nil, nil, "", err
		}
	}
	return t, node, path, nil
}

func writeFiles(ctx context.Context, d *repo.Dataset, jobs []job, o Options, st *Stats) error {
	ch := make(chan job)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var once sync.Once
	var firstErr error
	var nfiles, nbytes atomic.Int64
	for range o.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []byte
			for j := range ch {
				if ctx.Err() != nil {
					continue
				}
				var err error
				buf, err = writeFile(ctx, d, j, o, buf)
				if err != nil {
					once.Do(func() { firstErr = err; cancel() })
					continue
				}
				nfiles.Add(1)
				nbytes.Add(j.node.Size)
			}
		}()
	}
	for _, j := range jobs {
		if ctx.Err() != nil {
			break
		}
		ch <- j
	}
	close(ch)
	wg.Wait()
	st.Files += nfiles.Load()
	st.Bytes += nbytes.Load()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

func writeFile(ctx context.Context, d *repo.Dataset, j job, o Options, buf []byte) ([]byte, error) {
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL | unix.O_NOFOLLOW
	if o.Overwrite {
		os.Remove(j.path)
	}
	f, err := os.OpenFile(j.path, flags, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return buf, hint.Wrap(fmt.Errorf("restore: %s already exists", j.path), "restore into an empty directory, or pass --overwrite")
		}
		return buf, fmt.Errorf("restore: %w", err)
	}
	if j.node.Size > 0 {
		_ = unix.Fallocate(int(f.Fd()), 0, 0, j.node.Size)
	}
	var written int64
	for _, id := range j.node.Content {
		b, err := d.LoadBlob(ctx, id, buf)
		if err != nil {
			f.Close()
			return buf, fmt.Errorf("restore %s: %w", j.path, err)
		}
		if cap(b) > cap(buf) {
			buf = b[:0]
		}
		if _, err := f.Write(b); err != nil {
			f.Close()
			return buf, fmt.Errorf("restore %s: %w", j.path, err)
		}
		written += int64(len(b))
		o.Progress.Bytes.Add(int64(len(b)))
	}
	if written != j.node.Size {
		if err := f.Truncate(written); err != nil {
			f.Close()
			return buf, err
		}
		f.Close()
		return buf, fmt.Errorf("restore %s: content is %d bytes, snapshot says %d", j.path, written, j.node.Size)
	}
	if err := f.Close(); err != nil {
		return buf, fmt.Errorf("restore %s: %w", j.path, err)
	}
	setMeta(j.path, j.node, o.Owners, false)
	o.Progress.Files.Add(1)
	return buf, nil
}

// setMeta applies ownership, mode and times; failures are not fatal (an
// unprivileged restore cannot chown).
func setMeta(p string, n repo.Node, owners, symlink bool) {
	if owners {
		_ = os.Lchown(p, int(n.UID), int(n.GID))
	}
	if !symlink {
		_ = os.Chmod(p, fs.FileMode(n.Mode)&fs.ModePerm|modeBits(n.Mode))
	}
	ts := []unix.Timespec{unix.NsecToTimespec(n.ModTime.UnixNano()), unix.NsecToTimespec(n.ModTime.UnixNano())}
	if n.ModTime.IsZero() {
		now := time.Now().UnixNano()
		ts = []unix.Timespec{unix.NsecToTimespec(now), unix.NsecToTimespec(now)}
	}
	_ = unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW)
}

func modeBits(m uint32) fs.FileMode {
	return fs.FileMode(m) & (fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
}
