package restorer_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/archiver"
	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/keys"
	"github.com/digital-embassy/embassy/internal/repo"
	"github.com/digital-embassy/embassy/internal/restorer"
	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/site/mem"
)

// snapshotOf archives src into a fresh two-site in-memory repository and
// returns the dataset and its committed snapshot, read back.
func snapshotOf(t *testing.T, src string) (*repo.Dataset, *repo.Snapshot) {
	t.Helper()
	ctx := context.Background()
	_, rec, err := keys.GenerateIdentity(true)
	if err != nil {
		t.Fatal(err)
	}
	sites := []*repo.Site{
		{Name: "lu", Jurisdiction: "LU", Backend: mem.New(site.Properties{Name: "lu"})},
		{Name: "home", Backend: mem.New(site.Properties{Name: "home"}), MetaOnly: true},
	}
	root, home, err := repo.Init(ctx, repo.InitOptions{Custodians: []repo.Custodian{{Recipient: rec}}, Threshold: 1, Sites: sites})
	if err != nil {
		t.Fatal(err)
	}
	r, err := repo.Open(ctx, repo.Options{Home: home, Root: root, Sites: sites, PackSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	dk, _, err := r.EnsureDataset(ctx, "reg")
	if err != nil {
		t.Fatal(err)
	}
	d, err := r.OpenDataset(ctx, dk)
	if err != nil {
		t.Fatal(err)
	}
	res, err := archiver.Run(ctx, d, archiver.Options{Paths: []string{src}})
	if err != nil {
		t.Fatal(err)
	}
	id, err := d.SaveSnapshot(ctx, &repo.Snapshot{Paths: []string{src}, Tree: res.Tree, Root: res.Root, Stats: res.Stats})
	if err != nil {
		t.Fatal(err)
	}
	s, err := d.LoadSnapshot(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return d, s
}

var stamp = time.Date(2024, 2, 29, 12, 30, 0, 0, time.UTC)

// tree builds a source with every node type a restore must recreate.
func tree(t *testing.T) string {
	t.Helper()
	src := t.TempDir()
	rng := rand.NewChaCha8([32]byte{3})
	big := make([]byte, 3<<20+17)
	rng.Read(big)
	w := func(p string, b []byte, mode os.FileMode) {
		p = filepath.Join(src, p)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, b, mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, mode)
	}
	w("big.bin", big, 0o640)
	w("docs/a.txt", []byte("document a\n"), 0o600)
	w("docs/deep/b.txt", []byte("b"), 0o755)
	w("zero", nil, 0o644)
	os.MkdirAll(filepath.Join(src, "empty"), 0o750)
	os.Symlink("docs/a.txt", filepath.Join(src, "link"))
	os.Symlink("/nowhere/at/all", filepath.Join(src, "dangling"))
	os.Link(filepath.Join(src, "docs/a.txt"), filepath.Join(src, "hard"))
	if err := syscall.Mkfifo(filepath.Join(src, "pipe"), 0o620); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"big.bin", "docs/a.txt", "docs/deep/b.txt", "docs/deep", "docs", "empty", "zero", "pipe"} {
		os.Chtimes(filepath.Join(src, p), stamp, stamp)
	}
	return src
}

// same fails unless got holds what want holds: names, types, modes,
// file bytes, link targets and (for everything but symlinks) mtimes.
func same(t *testing.T, want, got string) {
	t.Helper()
	n := 0
	err := filepath.Walk(want, func(p string, wi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(want, p)
		g := filepath.Join(got, rel)
		gi, err := os.Lstat(g)
		if err != nil {
			t.Errorf("%s: missing from the restore", rel)
			return nil
		}
		n++
		if gi.Mode() != wi.Mode() {
			t.Errorf("%s: mode %v, want %v", rel, gi.Mode(), wi.Mode())
		}
		switch {
		case wi.Mode()&os.ModeSymlink != 0:
			a, _ := os.Readlink(p)
			b, _ := os.Readlink(g)
			if a != b {
				t.Errorf("%s: link to %q, want %q", rel, b, a)
			}
			return nil
		case wi.Mode().IsRegular():
			a, _ := os.ReadFile(p)
			b, _ := os.ReadFile(g)
			if !bytes.Equal(a, b) {
				t.Errorf("%s: content differs", rel)
			}
		}
		if rel != "." && !gi.ModTime().Equal(wi.ModTime()) {
			t.Errorf("%s: mtime %v, want %v", rel, gi.ModTime(), wi.ModTime())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 10 {
		t.Fatalf("compared only %d entries", n)
	}
}

func TestRestoreWholeTree(t *testing.T) {
	src := tree(t)
	d, s := snapshotOf(t, src)
	target := filepath.Join(t.TempDir(), "new", "target")
	p := &restorer.Progress{}
	st, err := restorer.Restore(context.Background(), d, s, target, mode(restorer.Options{Workers: 3, Progress: p}))
	if err != nil {
		t.Fatal(err)
	}
	same(t, src, target)
	if st.Files != 4 || st.HardLinks != 1 || st.Symlinks != 2 || st.Special != 1 || st.Dirs != 3 {
		t.Fatalf("stats: %+v", st)
	}
	wantBytes := int64(3<<20+17) + 11 + 1
	if st.Bytes != wantBytes || p.TotalBytes.Load() != wantBytes+11 || p.Bytes.Load() != wantBytes+11 || p.Files.Load() != 5 {
		t.Fatalf("bytes: stats %d, progress total %d done %d files %d", st.Bytes, p.TotalBytes.Load(), p.Bytes.Load(), p.Files.Load())
	}
	a, _ := os.Stat(filepath.Join(target, "docs/a.txt"))
	h, _ := os.Stat(filepath.Join(target, "hard"))
	if !os.SameFile(a, h) {
		t.Fatal("the hard link was restored as a copy")
	}
}

func TestRestorePath(t *testing.T) {
	src := tree(t)
	d, s := snapshotOf(t, src)
	ctx := context.Background()
	target := t.TempDir()
	st, err := restorer.Restore(ctx, d, s, target, mode(restorer.Options{Path: "/docs/deep/"}))
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(target, "docs/deep/b.txt")); err != nil || string(b) != "b" || st.Files != 1 {
		t.Fatalf("--path docs/deep: %q %v %+v", b, err, st)
	}
	if _, err := os.Stat(filepath.Join(target, "docs/a.txt")); err == nil {
		t.Fatal("--path restored a file outside the path")
	}
	// A single file, then a single symlink.
	one := t.TempDir()
	if _, err := restorer.Restore(ctx, d, s, one, mode(restorer.Options{Path: "big.bin"})); err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(filepath.Join(src, "big.bin"))
	if got, _ := os.ReadFile(filepath.Join(one, "big.bin")); !bytes.Equal(got, want) {
		t.Fatal("single file differs")
	}
	if _, err := restorer.Restore(ctx, d, s, one, mode(restorer.Options{Path: "link"})); err != nil {
		t.Fatal(err)
	}
	if l, _ := os.Readlink(filepath.Join(one, "link")); l != "docs/a.txt" {
		t.Fatalf("single symlink: %q", l)
	}
	for _, bad := range []string{"nosuch", "docs/nosuch", "big.bin/inside"} {
		_, err := restorer.Restore(ctx, d, s, t.TempDir(), mode(restorer.Options{Path: bad}))
		if err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("--path %s: %v", bad, err)
		}
	}
	if _, err := restorer.Restore(ctx, d, s, "", mode(restorer.Options{})); err == nil || hint.CodeOf(err) != hint.CodeUsage {
		t.Fatalf("empty target: %v", err)
	}
}

// TestRestoreInTheWay: a restore never replaces what is at the target
// unless told; with Overwrite it replaces anything, whatever its type; an
// existing folder is merged into.
func TestRestoreInTheWay(t *testing.T) {
	src := tree(t)
	d, s := snapshotOf(t, src)
	ctx := context.Background()
	target := t.TempDir()
	os.WriteFile(filepath.Join(target, "zero"), []byte("mine"), 0o644)      // a file where a file goes
	os.WriteFile(filepath.Join(target, "docs"), []byte("a file"), 0o644)    // a file where a folder goes
	os.MkdirAll(filepath.Join(target, "big.bin", "sub"), 0o755)             // a folder where a file goes
	os.WriteFile(filepath.Join(target, "unrelated"), []byte("keep"), 0o644) // merged around
	_, err := restorer.Restore(ctx, d, s, target, mode(restorer.Options{}))
	if err == nil || hint.Of(err) == "" || !strings.Contains(hint.Of(err), "--overwrite") {
		t.Fatalf("restore over existing files: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(target, "zero")); string(b) != "mine" {
		t.Fatal("a refused restore changed an existing file")
	}
	if _, err := restorer.Restore(ctx, d, s, target, mode(restorer.Options{Overwrite: true})); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(target, "unrelated")); string(b) != "keep" {
		t.Fatal("overwrite removed a file the snapshot does not have")
	}
	os.Remove(filepath.Join(target, "unrelated"))
	same(t, src, target)

	// A file where the target folder itself should be.
	file := filepath.Join(t.TempDir(), "t")
	os.WriteFile(file, nil, 0o644)
	if _, err := restorer.Restore(ctx, d, s, file, mode(restorer.Options{})); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Fatalf("target is a file: %v", err)
	}
}

func TestRestoreCanceled(t *testing.T) {
	d, s := snapshotOf(t, tree(t))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := restorer.Restore(ctx, d, s, t.TempDir(), mode(restorer.Options{})); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled restore: %v", err)
	}
}

// TestRestoreSparse: a file with holes comes back with the same bytes and
// its holes still holes (fewer blocks allocated than its size).
func TestRestoreSparse(t *testing.T) {
	src := t.TempDir()
	p := filepath.Join(src, "disk.img")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(64 << 20)
	f.WriteAt([]byte("boot sector"), 0)
	f.WriteAt(bytes.Repeat([]byte("x"), 70000), 40<<20)
	f.Close()
	os.WriteFile(filepath.Join(src, "hole-only"), nil, 0o644)
	os.Truncate(filepath.Join(src, "hole-only"), 1<<20)
	d, s := snapshotOf(t, src)
	target := t.TempDir()
	if _, err := restorer.Restore(context.Background(), d, s, target, mode(restorer.Options{})); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"disk.img", "hole-only"} {
		want, _ := os.ReadFile(filepath.Join(src, n))
		got, _ := os.ReadFile(filepath.Join(target, n))
		if !bytes.Equal(got, want) {
			t.Fatalf("%s differs", n)
		}
	}
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(target, "disk.img"), &st); err != nil {
		t.Fatal(err)
	}
	if st.Blocks*512 >= 8<<20 {
		t.Fatalf("restored disk.img allocates %d bytes of its 64 MiB: the holes were filled", st.Blocks*512)
	}
}

// TestRestoreDamagedPack: a pack whose bytes changed at the only site
// fails the restore with an error naming the site and the pack.
func TestRestoreDamagedPack(t *testing.T) {
	ctx := context.Background()
	src := tree(t)
	d, s := snapshotOf(t, src)
	b := d.Repo().Sites()[0].Backend
	var packs []site.Handle
	b.List(ctx, site.KindPack, func(fi site.Info) error { packs = append(packs, fi.Handle); return nil })
	for _, h := range packs {
		data, err := repo.ReadObject(ctx, b, h)
		if err != nil {
			t.Fatal(err)
		}
		data[len(data)/2] ^= 0x40
		b.Delete(ctx, h)
		if err := b.Put(ctx, h, site.Bytes(data), site.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	_, err := restorer.Restore(ctx, d, s, t.TempDir(), mode(restorer.Options{}))
	if err == nil || !strings.Contains(err.Error(), "does not authenticate") || !strings.Contains(err.Error(), "site lu") {
		t.Fatalf("restore from damaged packs: %v", err)
	}
}

// TestRestoreManySmallFiles: enough small files, in several folders, for
// the workers' batches (read together, written in separate regions),
// with every mode bit a file can carry: files in folders the restore
// makes are created with their final mode, and fstat decides what still
// needs setting.
func TestRestoreManySmallFiles(t *testing.T) {
	src := t.TempDir()
	modes := []os.FileMode{0o644, 0o600, 0o444, 0o000, 0o755, 0o640 | os.ModeSetuid, 0o750 | os.ModeSetgid, 0o777 | os.ModeSticky, 0o400, 0o666}
	for i := range 300 {
		dir := filepath.Join(src, "d"+string(rune('a'+i%3)))
		os.MkdirAll(dir, 0o755)
		p := filepath.Join(dir, "f"+strings.Repeat("x", i%7)+string(rune('0'+i%10))+"-"+time.Duration(i).String())
		if err := os.WriteFile(p, bytes.Repeat([]byte{byte(i)}, 1+i%200), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, modes[i%len(modes)]); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(p, stamp, stamp.Add(time.Duration(i)*time.Second))
	}
	d, s := snapshotOf(t, src)
	target := filepath.Join(t.TempDir(), "t")
	st, err := restorer.Restore(context.Background(), d, s, target, mode(restorer.Options{Workers: 3}))
	if err != nil {
		t.Fatal(err)
	}
	if st.Files != 300 {
		t.Fatalf("restored %d files, want 300", st.Files)
	}
	same(t, src, target)
}

// TestRestoreDamagedSmallFile: a small file whose blob is damaged, read
// with its batch, fails the restore with an error naming that file.
func TestRestoreDamagedSmallFile(t *testing.T) {
	ctx := context.Background()
	src := t.TempDir()
	for i := range 100 {
		if err := os.WriteFile(filepath.Join(src, fmt.Sprintf("f%03d", i)), []byte(fmt.Sprintf("small file %d", i)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	d, s := snapshotOf(t, src)
	var victim repo.ID
	err := d.Walk(ctx, s.Tree, repo.Walker{Node: func(p string, n *repo.Node, _ int) error {
		if n.Name == "f042" {
			victim = n.Content[0]
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	loc, _ := d.Idx.Lookup(victim)
	b := d.Repo().Sites()[0].Backend
	h := d.PackHandle(loc.Pack)
	data, err := repo.ReadObject(ctx, b, h)
	if err != nil {
		t.Fatal(err)
	}
	data[loc.Offset+loc.Length/2] ^= 1
	b.Delete(ctx, h)
	if err := b.Put(ctx, h, site.Bytes(data), site.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = restorer.Restore(ctx, d, s, t.TempDir(), mode(restorer.Options{Workers: 2}))
	if err == nil || !strings.Contains(err.Error(), "f042") || !strings.Contains(err.Error(), "does not authenticate") {
		t.Fatalf("restore with f042's blob damaged: %v", err)
	}
}

// packOrder makes the tests above restore in pack order (scatter.go), as
// restores from remote sites do.
var packOrder bool

// mode is o in the restore order under test.
func mode(o restorer.Options) restorer.Options {
	o.PackOrder = packOrder
	return o
}

// TestPackOrder runs the restore tests again with the files' blobs read in
// pack order and scattered to their files: every node type, paths, files
// in the way, cancellation, holes, damaged packs and tiny files.
func TestPackOrder(t *testing.T) {
	packOrder = true
	defer func() { packOrder = false }()
	for name, fn := range map[string]func(*testing.T){
		"WholeTree":        TestRestoreWholeTree,
		"Path":             TestRestorePath,
		"InTheWay":         TestRestoreInTheWay,
		"Canceled":         TestRestoreCanceled,
		"Sparse":           TestRestoreSparse,
		"DamagedPack":      TestRestoreDamagedPack,
		"ManySmallFiles":   TestRestoreManySmallFiles,
		"DamagedSmallFile": TestRestoreDamagedSmallFile,
	} {
		t.Run(name, fn)
	}
}

// With few descriptors to spare, a pack-order restore holds fewer files
// open at once (a quarter of the limit) and so takes more batches; every
// file still comes back whole.
func TestPackOrderFewDescriptors(t *testing.T) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	for i := range 150 {
		p := filepath.Join(src, fmt.Sprintf("d%d", i%3), fmt.Sprintf("f%03d", i))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, bytes.Repeat([]byte{byte(i)}, 1+i*97), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	d, s := snapshotOf(t, src)
	low := rl
	low.Cur = 160 // batches of 40 files
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	defer syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
	target := filepath.Join(t.TempDir(), "t")
	st, err := restorer.Restore(context.Background(), d, s, target, restorer.Options{PackOrder: true})
	if err != nil {
		t.Fatal(err)
	}
	if st.Files != 150 {
		t.Fatalf("restored %d files, want 150", st.Files)
	}
	for i := range 150 {
		rel := filepath.Join(fmt.Sprintf("d%d", i%3), fmt.Sprintf("f%03d", i))
		got, err := os.ReadFile(filepath.Join(target, rel))
		if err != nil || !bytes.Equal(got, bytes.Repeat([]byte{byte(i)}, 1+i*97)) {
			t.Fatalf("%s: %d bytes, %v", rel, len(got), err)
		}
	}
}
