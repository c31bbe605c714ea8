package archiver_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/digital-embassy/embassy/internal/archiver"
	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/repo"
)

func commit(t *testing.T, d *repo.Dataset, o archiver.Options) (*archiver.Result, *repo.Snapshot) {
	t.Helper()
	ctx := context.Background()
	res, err := archiver.Run(ctx, d, o)
	if err != nil {
		t.Fatal(err)
	}
	id, err := d.SaveSnapshot(ctx, &repo.Snapshot{Paths: o.Paths, Tree: res.Tree, Root: res.Root, Stats: res.Stats})
	if err != nil {
		t.Fatal(err)
	}
	s, err := d.LoadSnapshot(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return res, s
}

// TestSourcesByName: several sources become entries of the root by base
// name; two sources of one name, a missing source or none at all are
// usage errors with a hint.
func TestSourcesByName(t *testing.T) {
	v := newVault(t, 1)
	d := openDS(t, v.open(), "multi")
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "docs"), 0o755)
	os.WriteFile(filepath.Join(dir, "docs", "a.txt"), []byte("a"), 0o644)
	os.WriteFile(filepath.Join(dir, "single.csv"), []byte("1,2\n"), 0o644)
	res, s := commit(t, d, archiver.Options{Paths: []string{filepath.Join(dir, "docs"), filepath.Join(dir, "single.csv")}})
	if res.Stats.Files != 2 || len(res.Skipped) != 0 {
		t.Fatalf("stats %+v, skipped %v", res.Stats, res.Skipped)
	}
	target := t.TempDir()
	restoreInto(t, d, s, target, false)
	if b, _ := os.ReadFile(filepath.Join(target, "docs", "a.txt")); string(b) != "a" {
		t.Fatalf("docs/a.txt: %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(target, "single.csv")); string(b) != "1,2\n" {
		t.Fatalf("single.csv: %q", b)
	}

	other := t.TempDir()
	os.WriteFile(filepath.Join(other, "single.csv"), nil, 0o644)
	for name, o := range map[string]archiver.Options{
		"same name": {Paths: []string{filepath.Join(dir, "single.csv"), filepath.Join(other, "single.csv")}},
		"missing":   {Paths: []string{filepath.Join(dir, "gone")}},
		"missing 2": {Paths: []string{filepath.Join(dir, "docs"), filepath.Join(dir, "gone")}},
		"nothing":   {},
	} {
		_, err := archiver.Run(context.Background(), d, o)
		if err == nil || hint.CodeOf(err) != hint.CodeUsage {
			t.Errorf("%s: %v, want a usage error", name, err)
		}
	}
}

// TestStdinSnapshot: a stream is stored as one file, "stdin" unless
// named, and restores byte for byte.
func TestStdinSnapshot(t *testing.T) {
	v := newVault(t, 1)
	d := openDS(t, v.open(), "stream")
	data := bytes.Repeat([]byte("INSERT INTO parcels VALUES (1);\n"), 50000)
	res, s := commit(t, d, archiver.Options{Stdin: bytes.NewReader(data)})
	if res.Stats.Files != 1 || res.Stats.Bytes != int64(len(data)) {
		t.Fatalf("stats %+v", res.Stats)
	}
	target := t.TempDir()
	restoreInto(t, d, s, target, false)
	if b, _ := os.ReadFile(filepath.Join(target, "stdin")); !bytes.Equal(b, data) {
		t.Fatal("the stream did not restore as stdin")
	}
	_, s = commit(t, d, archiver.Options{Stdin: strings.NewReader("x"), StdinName: "land.sql"})
	target = t.TempDir()
	restoreInto(t, d, s, target, false)
	if b, _ := os.ReadFile(filepath.Join(target, "land.sql")); string(b) != "x" {
		t.Fatalf("named stream: %q", b)
	}
}

// TestParentReuse: with a parent, unchanged files are reused without
// reading and only the changed file and its trees are new data.
func TestParentReuse(t *testing.T) {
	v := newVault(t, 1)
	d := openDS(t, v.open(), "reuse")
	src := t.TempDir()
	writeTree(t, src, 11)
	_, parent := commit(t, d, archiver.Options{Paths: []string{src}})
	var changed string
	filepath.WalkDir(src, func(p string, de os.DirEntry, err error) error {
		if err == nil && de.Type().IsRegular() && changed == "" {
			changed = p
		}
		return nil
	})
	os.WriteFile(changed, []byte("a new version of this one file"), 0o644)
	res, s := commit(t, d, archiver.Options{Paths: []string{src}, Parent: parent})
	if res.Stats.Unchanged != res.Stats.Files-1 || res.Stats.NewBlobs == 0 || res.Stats.NewRaw > 64<<10 { // the file and the trees above it
		t.Fatalf("second snapshot with a parent: %+v", res.Stats)
	}
	target := t.TempDir()
	restoreInto(t, d, s, target, false)
	compareDirs(t, src, target)
}

// TestLargeXattr: an extended attribute larger than the first read buffer
// is recorded whole and restored.
func TestLargeXattr(t *testing.T) {
	src := t.TempDir()
	f := filepath.Join(src, "signed.pdf")
	os.WriteFile(f, []byte("%PDF"), 0o644)
	big := bytes.Repeat([]byte("signature-block "), 200) // 3200 bytes
	if err := unix.Lsetxattr(f, "user.signature", big, 0); err != nil {
		if errors.Is(err, unix.ENOTSUP) {
			t.Skip("this file system has no user extended attributes")
		}
		t.Fatal(err)
	}
	unix.Lsetxattr(f, "user.empty", nil, 0)
	v := newVault(t, 1)
	d := openDS(t, v.open(), "xattr")
	_, s := commit(t, d, archiver.Options{Paths: []string{src}})
	target := t.TempDir()
	restoreInto(t, d, s, target, false)
	got := make([]byte, 8192)
	n, err := unix.Lgetxattr(filepath.Join(target, "signed.pdf"), "user.signature", got)
	if err != nil || !bytes.Equal(got[:n], big) {
		t.Fatalf("restored attribute: %d bytes, %v", n, err)
	}
	if n, err := unix.Lgetxattr(filepath.Join(target, "signed.pdf"), "user.empty", got); err != nil || n != 0 {
		t.Fatalf("restored empty attribute: %d %v", n, err)
	}
}

// TestManyExtents: a sparse file with more data regions than a snapshot
// records has its smallest holes merged, and still restores byte for byte.
func TestManyExtents(t *testing.T) {
	src := t.TempDir()
	p := filepath.Join(src, "fragmented.img")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	const regions, stride = 4500, 8 << 10 // a 4 KiB block of data, a 4 KiB hole
	for i := range regions {
		f.WriteAt([]byte{byte(i), byte(i >> 8), 0xee}, int64(i)*stride)
	}
	f.Truncate(regions*stride + 1<<20) // and a hole at the end
	f.Close()
	v := newVault(t, 1)
	d := openDS(t, v.open(), "sparse")
	_, s := commit(t, d, archiver.Options{Paths: []string{src}})
	tr, err := d.LoadTree(context.Background(), s.Tree)
	if err != nil {
		t.Fatal(err)
	}
	if n := tr.Nodes[0]; len(n.Extents) == 0 || len(n.Extents) > 4096 {
		t.Fatalf("%d extents recorded for %d data regions", len(n.Extents), regions)
	}
	target := t.TempDir()
	restoreInto(t, d, s, target, false)
	want, _ := os.ReadFile(p)
	got, _ := os.ReadFile(filepath.Join(target, "fragmented.img"))
	if !bytes.Equal(got, want) {
		t.Fatal("the fragmented sparse file differs after restore")
	}
}
