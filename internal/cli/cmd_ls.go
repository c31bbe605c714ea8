package cli

import (
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/repo"
	"github.com/digital-embassy/embassy/internal/vault"
)

func cmdLs(e *env) *cobra.Command {
	var recursive, raw bool
	c := &cobra.Command{
		Use:   "ls DATASET[@ID] [PATH]",
		Short: "List the files in a snapshot",
		Long: `List the files in a snapshot. Names are stored byte for byte; a path that is
not valid UTF-8 or holds control characters (a terminal escape sequence in a
hostile file name) is printed quoted and escaped, as Go's %q does
("caf\xff", "\x1b[31m"), like 'ls -b'. --raw prints the bytes as they are.
With --json such a path also comes as path_base64, the exact bytes.`,
		Example: "  embassy ls population-register@latest documents --recursive",
		Args:    cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := e.openKeyed()
			if err != nil {
				return err
			}
			defer v.Close()
			name, _ := vault.SplitRef(args[0])
			dk, err := v.Repo.Dataset(e.ctx, name)
			if err != nil {
				return err
			}
			unlock, err := v.LockDataset(e.ctx, vault.OpLs, dk)
			if err != nil {
				return err
			}
			defer unlock()
			d, s, err := v.OpenSnapshot(e.ctx, args[0])
			if err != nil {
				return err
			}
			t, err := d.LoadTree(e.ctx, s.Tree)
			if err != nil {
				return err
			}
			prefix := ""
			if len(args) == 2 && args[1] != "" && args[1] != "/" {
				for _, part := range splitPath(args[1]) {
					var next *repo.Node
					for i := range t.Nodes {
						if t.Nodes[i].Name == part {
							next = &t.Nodes[i]
						}
					}
					if next == nil || next.Type != repo.NodeDir {
						return fmt.Errorf("no directory %q in snapshot %s", args[1], s.ID.Short())
					}
					if t, err = d.LoadTree(e.ctx, *next.Subtree); err != nil {
						return err
					}
					prefix = path.Join(prefix, part)
				}
			}
			type row struct {
				Path  string `json:"path"`
				Raw   []byte `json:"path_base64,omitempty"` // when Path is not valid UTF-8
				Type  string `json:"type"`
				Mode  string `json:"mode"`
				Size  int64  `json:"size"`
				MTime string `json:"mtime"`
			}
			var rows []row
			var walk func(dir string, t *repo.Tree) error
			walk = func(dir string, t *repo.Tree) error {
				for _, n := range t.Nodes {
					p := path.Join(dir, n.Name)
					r := row{Path: p, Type: n.Type, Mode: fs.FileMode(n.Mode).String(), Size: n.Size, MTime: n.ModTime.Format("2006-01-02 15:04:05")}
					if !utf8.ValidString(p) {
						r.Raw = []byte(p)
					}
					rows = append(rows, r)
					if recursive && n.Type == repo.NodeDir {
						sub, err := d.LoadTree(e.ctx, *n.Subtree)
						if err != nil {
							return err
						}
						if err := walk(p, sub); err != nil {
							return err
						}
					}
				}
				return nil
			}
			if err := walk(prefix, t); err != nil {
				return err
			}
			if e.json {
				if rows == nil {
					rows = []row{}
				}
				return e.emitJSON(rows)
			}
			for _, r := range rows {
				p := r.Path
				if !raw {
					p = displayPath(p)
				}
				fmt.Fprintf(e.stdout, "%-8s %-11s %12d  %s  %s\n", r.Type, r.Mode, r.Size, r.MTime, p)
			}
			return nil
		},
	}
	c.Flags().BoolVarP(&recursive, "recursive", "r", false, "list subdirectories too")
	c.Flags().BoolVar(&raw, "raw", false, "print names byte for byte, even if they are not UTF-8 or hold control characters")
	return c
}

// displayPath quotes a path that is not valid UTF-8 or holds a character
// that is not printable (as Go's %q), and leaves every other path as is.
func displayPath(p string) string {
	if !utf8.ValidString(p) {
		return strconv.Quote(p)
	}
	for _, r := range p {
		if !strconv.IsPrint(r) {
			return strconv.Quote(p)
		}
	}
	return p
}

func splitPath(p string) []string {
	var out []string
	for _, s := range splitSlash(path.Clean("/" + p)) {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

func splitSlash(p string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(p); i++ {
		if i == len(p) || p[i] == '/' {
			out = append(out, p[start:i])
			start = i + 1
		}
	}
	return out
}
