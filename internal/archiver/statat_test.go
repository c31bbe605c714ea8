package archiver

import (
	"net"
	"os"
	"path/filepath"
	"reflect"
	"syscall"
	"testing"
)

// TestLstatAtIsLstat: lstatAt gives what os.Lstat gives (name, size,
// mode bits and type, mtime) and the same node, for every kind of entry.
func TestLstatAtIsLstat(t *testing.T) {
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(dir, "file"), []byte("hello"), 0o640))
	must(os.WriteFile(filepath.Join(dir, "special"), nil, 0o755))
	must(os.Chmod(filepath.Join(dir, "special"), 0o755|os.ModeSetuid|os.ModeSetgid|os.ModeSticky))
	must(os.Link(filepath.Join(dir, "file"), filepath.Join(dir, "hardlink")))
	must(os.Mkdir(filepath.Join(dir, "sub"), 0o700))
	must(os.Symlink("file", filepath.Join(dir, "link")))
	must(syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o600))
	if l, err := net.Listen("unix", filepath.Join(dir, "sock")); err == nil {
		defer l.Close()
	}
	f, ents, err := readDir(dir)
	must(err)
	defer f.Close()
	want, err := os.ReadDir(dir)
	must(err)
	if len(ents) != len(want) {
		t.Fatalf("readDir: %d entries, os.ReadDir %d", len(ents), len(want))
	}
	for i, de := range ents {
		if de.Name() != want[i].Name() {
			t.Fatalf("entry %d: %q, os.ReadDir %q", i, de.Name(), want[i].Name())
		}
		got, err := lstatAt(f, de.Name())
		must(err)
		exp, err := os.Lstat(filepath.Join(dir, de.Name()))
		must(err)
		if got.Name() != exp.Name() || got.Size() != exp.Size() || got.Mode() != exp.Mode() ||
			!got.ModTime().Equal(exp.ModTime()) || got.IsDir() != exp.IsDir() {
			t.Errorf("%s: lstatAt %v %d %v %v, os.Lstat %v %d %v %v", de.Name(),
				got.Name(), got.Size(), got.Mode(), got.ModTime(), exp.Name(), exp.Size(), exp.Mode(), exp.ModTime())
		}
		gn, gb := nodeFromInfo(got)
		en, eb := nodeFromInfo(exp)
		if !reflect.DeepEqual(gn, en) || gb != eb {
			t.Errorf("%s: node %+v (%d blocks), from os.Lstat %+v (%d)", de.Name(), gn, gb, en, eb)
		}
	}
	if _, err := lstatAt(f, "missing"); !os.IsNotExist(err) {
		t.Fatalf("missing entry: %v", err)
	}
}
