package repo

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// Node types.
const (
	NodeFile     = "file"
	NodeDir      = "dir"
	NodeSymlink  = "symlink"
	NodeFIFO     = "fifo"     // tree version 2
	NodeCharDev  = "chardev"  // tree version 2
	NodeBlockDev = "blockdev" // tree version 2
)

// TreeVersion is the newest tree format this package reads and writes. A
// tree is written with the lowest version that can express it, so trees of
// ordinary files stay byte-identical to version 1 (see docs/FORMAT.md).
const TreeVersion = 2

// Node is one entry of a directory tree. Name and Target hold the exact
// bytes of the file name and link target, which need not be valid UTF-8;
// use DisplayName for output.
type Node struct {
	Name    string    `json:"name"`
	Type    string    `json:"type"`
	Mode    uint32    `json:"mode"` // permission and special bits (fs.FileMode & (ModePerm|ModeSetuid|ModeSetgid|ModeSticky))
	ModTime time.Time `json:"mtime"`
	Size    int64     `json:"size,omitempty"`
	UID     uint32    `json:"uid,omitempty"`
	GID     uint32    `json:"gid,omitempty"`
	Inode   uint64    `json:"inode,omitempty"`
	CTime   time.Time `json:"ctime,omitzero"`
	Target  string    `json:"target,omitempty"`  // symlinks
	Content []ID      `json:"content,omitempty"` // files: data blobs in order
	Subtree *ID       `json:"subtree,omitempty"` // directories

	// Version 2 fields.
	User    string   `json:"user,omitempty"`    // owner name at snapshot time, if known
	Group   string   `json:"group,omitempty"`   // group name at snapshot time, if known
	Dev     uint64   `json:"dev,omitempty"`     // device of the inode, with Links > 1 (hard links)
	Links   uint64   `json:"links,omitempty"`   // link count, only when > 1
	Rdev    uint64   `json:"rdev,omitempty"`    // device nodes: the device number
	Xattrs  []Xattr  `json:"xattrs,omitempty"`  // extended attributes, POSIX ACLs included, sorted by name
	Extents []Extent `json:"extents,omitempty"` // sparse files: the data regions; the rest is holes
}

// Xattr is one extended attribute. POSIX ACLs are the attributes
// system.posix_acl_access and system.posix_acl_default.
type Xattr struct {
	Name  string `json:"name"`
	Value []byte `json:"value,omitempty"`
}

// Extent is one data region of a sparse file: Len bytes at Off, made of
// the next Blobs entries of Content.
type Extent struct {
	Off   int64 `json:"off"`
	Len   int64 `json:"len"`
	Blobs int   `json:"blobs"`
}

// Tree is the plaintext of a tree blob: one directory's entries sorted by name.
type Tree struct {
	Nodes []Node `json:"nodes"`
}

// DisplayName is n.Name with bytes that are not UTF-8 shown as U+FFFD.
func (n *Node) DisplayName() string { return strings.ToValidUTF8(n.Name, "\uFFFD") }

// wireTree and wireNode are the JSON form: names and targets that are not
// valid UTF-8 travel as base64 bytes in name_raw and target_raw, next to a
// display form that readers ignore.
type wireTree struct {
	Version int        `json:"version,omitempty"`
	Nodes   []wireNode `json:"nodes"`
}

type wireNode struct {
	Node
	NameRaw   []byte `json:"name_raw,omitempty"`
	TargetRaw []byte `json:"target_raw,omitempty"`
}

func (n *Node) needsV2() bool {
	return !utf8.ValidString(n.Name) || !utf8.ValidString(n.Target) || n.User != "" || n.Group != "" ||
		n.Dev != 0 || n.Links != 0 || n.Rdev != 0 || len(n.Xattrs) > 0 || len(n.Extents) > 0 ||
		(n.Type != NodeFile && n.Type != NodeDir && n.Type != NodeSymlink) ||
		(n.Type == NodeFile && n.Size > 0 && len(n.Content) == 0) // all hole
}

// EncodeTree serialises t after sorting it (by the bytes of the names).
func EncodeTree(t *Tree) ([]byte, error) {
	sort.Slice(t.Nodes, func(i, j int) bool { return t.Nodes[i].Name < t.Nodes[j].Name })
	w := wireTree{Version: 1, Nodes: make([]wireNode, len(t.Nodes))}
	for i := range t.Nodes {
		n := t.Nodes[i]
		if n.needsV2() {
			w.Version = 2
		}
		for _, x := range n.Xattrs {
			if !utf8.ValidString(x.Name) {
				return nil, fmt.Errorf("tree: %q: extended attribute name %q is not UTF-8", n.DisplayName(), strings.ToValidUTF8(x.Name, "\uFFFD"))
			}
		}
		wn := wireNode{Node: n}
		if !utf8.ValidString(n.Name) {
			wn.NameRaw, wn.Name = []byte(n.Name), n.DisplayName()
		}
		if !utf8.ValidString(n.Target) {
			wn.TargetRaw, wn.Target = []byte(n.Target), strings.ToValidUTF8(n.Target, "\uFFFD")
		}
		w.Nodes[i] = wn
	}
	if w.Version == 1 {
		w.Version = 0 // version 1 trees carry no version field
	}
	return json.Marshal(w)
}

// DecodeTree parses and validates a tree blob.
func DecodeTree(b []byte) (*Tree, error) {
	var w wireTree
	if !fastTree(b, &w) {
		w = wireTree{}
		if err := json.Unmarshal(b, &w); err != nil {
			return nil, fmt.Errorf("tree: %v: %w", err, errFormat)
		}
	}
	if w.Version < 0 || w.Version > TreeVersion {
		return nil, fmt.Errorf("tree: format version %d is newer than this embassy reads (%d); upgrade embassy: %w", w.Version, TreeVersion, errFormat)
	}
	t := Tree{Nodes: make([]Node, len(w.Nodes))}
	if w.Nodes == nil {
		t.Nodes = nil
	}
	seen := make(map[string]bool, len(w.Nodes))
	for i := range w.Nodes {
		wn := &w.Nodes[i]
		if wn.NameRaw != nil {
			wn.Name = string(wn.NameRaw)
		}
		if wn.TargetRaw != nil {
			wn.Target = string(wn.TargetRaw)
		}
		t.Nodes[i] = wn.Node
		n := &t.Nodes[i]
		if err := validName(n.Name); err != nil {
			return nil, fmt.Errorf("tree: %w", err)
		}
		if seen[n.Name] {
			return nil, fmt.Errorf("tree: duplicate name %q: %w", n.DisplayName(), errFormat)
		}
		seen[n.Name] = true
		if err := validNode(n); err != nil {
			return nil, fmt.Errorf("tree: %q %w: %w", n.DisplayName(), err, errFormat)
		}
	}
	return &t, nil
}

func validNode(n *Node) error {
	switch n.Type {
	case NodeFile:
		if n.Subtree != nil || n.Size < 0 || n.Target != "" || n.Rdev != 0 {
			return fmt.Errorf("is a malformed file")
		}
		if err := validExtents(n); err != nil {
			return err
		}
	case NodeDir:
		if n.Subtree == nil || len(n.Content) > 0 || len(n.Extents) > 0 || n.Links != 0 {
			return fmt.Errorf("is a malformed directory")
		}
	case NodeSymlink:
		if n.Target == "" || strings.IndexByte(n.Target, 0) >= 0 {
			return fmt.Errorf("is a symlink without a valid target")
		}
	case NodeFIFO, NodeCharDev, NodeBlockDev:
		if n.Subtree != nil || len(n.Content) > 0 || len(n.Extents) > 0 || n.Size != 0 || n.Target != "" {
			return fmt.Errorf("is a malformed %s", n.Type)
		}
		if n.Type == NodeFIFO && n.Rdev != 0 {
			return fmt.Errorf("is a fifo with a device number")
		}
	default:
		return fmt.Errorf("has unknown type %q", n.Type)
	}
	if n.Type != NodeSymlink && n.Target != "" {
		return fmt.Errorf("has a link target but is not a symlink")
	}
	for i, x := range n.Xattrs {
		if x.Name == "" || len(x.Name) > 255 || strings.IndexByte(x.Name, 0) >= 0 {
			return fmt.Errorf("has an invalid extended attribute name")
		}
		if i > 0 && n.Xattrs[i-1].Name >= x.Name {
			return fmt.Errorf("has extended attributes out of order or repeated")
		}
	}
	return nil
}

// validExtents checks that a sparse file's regions are in order, do not
// overlap, lie inside the file and use exactly its content blobs.
func validExtents(n *Node) error {
	if len(n.Extents) == 0 {
		return nil
	}
	var end int64
	blobs := 0
	for _, e := range n.Extents {
		if e.Off < end || e.Len <= 0 || e.Blobs <= 0 || e.Off > n.Size || e.Len > n.Size-e.Off {
			return fmt.Errorf("has a malformed sparse extent")
		}
		end = e.Off + e.Len
		blobs += e.Blobs
		if blobs > len(n.Content) {
			return fmt.Errorf("has sparse extents with more blobs than its content")
		}
	}
	if blobs != len(n.Content) {
		return fmt.Errorf("has sparse extents that do not cover its content")
	}
	return nil
}

// validName refuses names that could escape a restore target.
func validName(n string) error {
	if n == "" || n == "." || n == ".." || len(n) > 4096 {
		return fmt.Errorf("invalid node name %q: %w", strings.ToValidUTF8(n, "\uFFFD"), errFormat)
	}
	if strings.IndexByte(n, '/') >= 0 || strings.IndexByte(n, 0) >= 0 {
		return fmt.Errorf("invalid node name %q: %w", strings.ToValidUTF8(n, "\uFFFD"), errFormat)
	}
	return nil
}

// SameTree reports whether a decoded tree says exactly what t says: the
// archiver's check that every tree it writes reads back.
func SameTree(t, u *Tree) bool {
	if len(t.Nodes) != len(u.Nodes) {
		return false
	}
	for i := range t.Nodes {
		a, b := &t.Nodes[i], &u.Nodes[i]
		if a.Name != b.Name || a.Type != b.Type || a.Target != b.Target || a.Size != b.Size ||
			len(a.Content) != len(b.Content) || len(a.Extents) != len(b.Extents) || len(a.Xattrs) != len(b.Xattrs) ||
			a.Links != b.Links || a.Rdev != b.Rdev {
			return false
		}
		for j := range a.Xattrs {
			if a.Xattrs[j].Name != b.Xattrs[j].Name || !bytes.Equal(a.Xattrs[j].Value, b.Xattrs[j].Value) {
				return false
			}
		}
	}
	return true
}
