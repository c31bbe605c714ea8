package repo

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// fixTreeV2 uses every version 2 feature: raw names and targets that are
// not UTF-8 (two of which collide once rewritten), hard links, a sparse
// file, extended attributes with a POSIX ACL, a FIFO, devices, owner names
// and times before 1970 with nanoseconds.
func fixTreeV2() *Tree {
	sub := fixID(0xc0)
	pre1970 := time.Date(1969, 7, 20, 20, 17, 40, 123456789, time.UTC)
	return &Tree{Nodes: []Node{
		{Name: "caf\xe9", Type: NodeFile, Mode: 0o644, ModTime: pre1970, Size: 3, Content: []ID{fixID(1)}},
		{Name: "caf\xff", Type: NodeFile, Mode: 0o644, ModTime: fixTime(1), Size: 3, Content: []ID{fixID(1)}},
		{Name: "link\x80", Type: NodeSymlink, Mode: 0o777, ModTime: fixTime(2), Target: "../caf\xe9"},
		{Name: "sparse.img", Type: NodeFile, Mode: 0o600, ModTime: fixTime(3), Size: 5 << 30, UID: 1000, GID: 100, User: "alice", Group: "users",
			Content: []ID{fixID(2), fixID(3), fixID(4)}, Extents: []Extent{{Off: 0, Len: 4096, Blobs: 1}, {Off: 1 << 30, Len: 40 << 20, Blobs: 2}}},
		{Name: "a", Type: NodeFile, Mode: 0o640, ModTime: fixTime(4), Size: 3, Inode: 77, Dev: 2049, Links: 2, Content: []ID{fixID(1)},
			Xattrs: []Xattr{{Name: "system.posix_acl_access", Value: []byte{2, 0, 0, 0, 1, 0, 6, 0, 255, 255, 255, 255}}, {Name: "user.note", Value: []byte("x\x00y")}}},
		{Name: "b", Type: NodeFile, Mode: 0o640, ModTime: fixTime(4), Size: 3, Inode: 77, Dev: 2049, Links: 2, Content: []ID{fixID(1)}},
		{Name: "pipe", Type: NodeFIFO, Mode: 0o600, ModTime: fixTime(5)},
		{Name: "null", Type: NodeCharDev, Mode: 0o666, ModTime: fixTime(6), Rdev: 0x103},
		{Name: "loop0", Type: NodeBlockDev, Mode: 0o660, ModTime: fixTime(7), Rdev: 0x700},
		{Name: "dir", Type: NodeDir, Mode: 0o755, ModTime: fixTime(8), Subtree: &sub,
			Xattrs: []Xattr{{Name: "system.posix_acl_default", Value: []byte{2, 0, 0, 0}}}},
	}}
}

// TestTreeKnownAnswerV2 pins the version 2 encoding, and that version 1
// trees (testdata/tree.json, written by earlier builds) still decode.
func TestTreeKnownAnswerV2(t *testing.T) {
	b, err := EncodeTree(fixTreeV2())
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "tree-v2.json", b)
	got, err := DecodeTree(b)
	if err != nil {
		t.Fatal(err)
	}
	want := fixTreeV2()
	EncodeTree(want)
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("v2 round trip (-want +got):\n%s", d)
	}
	old, err := os.ReadFile(filepath.Join("testdata", "tree.json"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(old), `"version"`) {
		t.Fatal("testdata/tree.json must stay a version 1 tree")
	}
	v1, err := DecodeTree(old)
	if err != nil {
		t.Fatalf("version 1 tree no longer decodes: %v", err)
	}
	again, err := EncodeTree(v1)
	if err != nil || string(again) != string(old) {
		t.Errorf("a tree of ordinary files must still encode as version 1:\n got  %s\n want %s", again, old)
	}
}

// TestTreeRawNames is issue 11 item 1: names that differ only in bytes
// that are not UTF-8 must stay distinct and exact.
func TestTreeRawNames(t *testing.T) {
	tr := &Tree{Nodes: []Node{
		{Name: "\xff", Type: NodeFile, ModTime: fixTime(0)},
		{Name: "\xfe", Type: NodeFile, ModTime: fixTime(0)},
		{Name: "\uFFFD", Type: NodeFile, ModTime: fixTime(0)},
		{Name: "l", Type: NodeSymlink, ModTime: fixTime(0), Target: "\xc3\x28/x"},
	}}
	b, err := EncodeTree(tr)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeTree(b)
	if err != nil {
		t.Fatalf("tree with names that collide after a UTF-8 rewrite does not read back: %v", err)
	}
	var names []string
	for _, n := range got.Nodes {
		names = append(names, n.Name)
	}
	if d := cmp.Diff([]string{"l", "\uFFFD", "\xfe", "\xff"}, names); d != "" {
		t.Errorf("names (-want +got):\n%s", d)
	}
	if got.Nodes[0].Target != "\xc3\x28/x" {
		t.Errorf("target %q, want raw bytes", got.Nodes[0].Target)
	}
	if !SameTree(tr, got) {
		t.Error("SameTree says the round trip differs")
	}
}

func TestTreeRefusesMalformedV2(t *testing.T) {
	id := fixID(1).String()
	for _, tc := range []struct{ name, json string }{
		{"newer version", `{"version":3,"nodes":[]}`},
		{"raw name with slash", `{"version":2,"nodes":[{"name":"x","name_raw":"YS9i","type":"file"}]}`},
		{"raw names collide", `{"version":2,"nodes":[{"name":"x","name_raw":"/w==","type":"file"},{"name":"y","name_raw":"/w==","type":"file"}]}`},
		{"extent past end", `{"version":2,"nodes":[{"name":"f","type":"file","size":10,"content":["` + id + `"],"extents":[{"off":5,"len":6,"blobs":1}]}]}`},
		{"extents overlap", `{"version":2,"nodes":[{"name":"f","type":"file","size":10,"content":["` + id + `","` + id + `"],"extents":[{"off":0,"len":4,"blobs":1},{"off":3,"len":2,"blobs":1}]}]}`},
		{"extents miss blobs", `{"version":2,"nodes":[{"name":"f","type":"file","size":10,"content":["` + id + `","` + id + `"],"extents":[{"off":0,"len":4,"blobs":1}]}]}`},
		{"fifo with content", `{"version":2,"nodes":[{"name":"p","type":"fifo","content":["` + id + `"]}]}`},
		{"xattrs unsorted", `{"version":2,"nodes":[{"name":"f","type":"file","xattrs":[{"name":"user.b"},{"name":"user.a"}]}]}`},
		{"dir with links", `{"version":2,"nodes":[{"name":"d","type":"dir","links":2,"subtree":"` + id + `"}]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeTree([]byte(tc.json))
			if !errors.Is(err, errFormat) {
				t.Fatalf("got %v, want a malformed-object error", err)
			}
		})
	}
}

func FuzzDecodeTreeV2(f *testing.F) {
	valid, err := EncodeTree(fixTreeV2())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid)
	f.Add([]byte(`{"version":2,"nodes":[{"name":"x","name_raw":"/w==","type":"file"},{"name":"y","name_raw":"/g==","type":"file"}]}`))
	f.Add([]byte(`{"version":2,"nodes":[{"name":"f","type":"file","size":10,"content":["` + fixID(1).String() + `"],"extents":[{"off":2,"len":6,"blobs":1}]}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		tr, err := DecodeTree(b)
		if err != nil {
			if !errors.Is(err, errFormat) {
				t.Fatalf("error does not wrap errFormat: %v", err)
			}
			return
		}
		for _, n := range tr.Nodes {
			if validName(n.Name) != nil {
				t.Fatalf("accepted bad name %q", n.Name)
			}
			if n.Type == NodeFile && validExtents(&n) != nil {
				t.Fatalf("accepted bad extents %+v", n.Extents)
			}
		}
		enc, err := EncodeTree(tr)
		if err != nil {
			return // e.g. an xattr name that is not UTF-8 after JSON decoding cannot occur; times out of range can
		}
		tr2, err := DecodeTree(enc)
		if err != nil {
			t.Fatalf("re-encoded tree does not decode: %v\n%s", err, enc)
		}
		sort.Slice(tr.Nodes, func(i, j int) bool { return tr.Nodes[i].Name < tr.Nodes[j].Name })
		if d := cmp.Diff(tr, tr2, cmpopts.EquateEmpty()); d != "" {
			t.Fatalf("round trip differs:\n%s", d)
		}
	})
}
