package repo

import (
	"encoding/json"
	"fmt"
	"sort"
	"time"
)

// Node types.
const (
	NodeFile    = "file"
	NodeDir     = "dir"
	NodeSymlink = "symlink"
)

// Node is one entry of a directory tree.
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
}

// Tree is the plaintext of a tree blob: one directory's entries sorted by name.
type Tree struct {
	Nodes []Node `json:"nodes"`
}

// EncodeTree serialises t after sorting it.
func EncodeTree(t *Tree) ([]byte, error) {
	sort.Slice(t.Nodes, func(i, j int) bool { return t.Nodes[i].Name < t.Nodes[j].Name })
	return json.Marshal(t)
}

// DecodeTree parses and validates a tree blob.
func DecodeTree(b []byte) (*Tree, error) {
	var t Tree
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("tree: %v: %w", err, errFormat)
	}
	seen := make(map[string]bool, len(t.Nodes))
	for i := range t.Nodes {
		n := &t.Nodes[i]
		if err := validName(n.Name); err != nil {
			return nil, fmt.Errorf("tree: %w", err)
		}
		if seen[n.Name] {
			return nil, fmt.Errorf("tree: duplicate name %q: %w", n.Name, errFormat)
		}
		seen[n.Name] = true
		switch n.Type {
		case NodeFile:
			if n.Subtree != nil || n.Size < 0 {
				return nil, fmt.Errorf("tree: file %q malformed: %w", n.Name, errFormat)
			}
		case NodeDir:
			if n.Subtree == nil || len(n.Content) > 0 {
				return nil, fmt.Errorf("tree: directory %q malformed: %w", n.Name, errFormat)
			}
		case NodeSymlink:
			if n.Target == "" {
				return nil, fmt.Errorf("tree: symlink %q has no target: %w", n.Name, errFormat)
			}
		default:
			return nil, fmt.Errorf("tree: node %q has unknown type %q: %w", n.Name, n.Type, errFormat)
		}
	}
	return &t, nil
}

// validName refuses names that could escape a restore target.
func validName(n string) error {
	if n == "" || n == "." || n == ".." || len(n) > 4096 {
		return fmt.Errorf("invalid node name %q: %w", n, errFormat)
	}
	for i := 0; i < len(n); i++ {
		if n[i] == '/' || n[i] == 0 {
			return fmt.Errorf("invalid node name %q: %w", n, errFormat)
		}
	}
	return nil
}
