package cli

import (
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/spf13/cobra"
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
			dir := ""
			if len(args) == 2 {
				dir = args[1]
			}
			l, err := v.List(e.ctx, args[0], dir, recursive)
			if err != nil {
				return err
			}
			e.noteDenied(l.Denied)
			type row struct {
				Path  string `json:"path"`
				Raw   []byte `json:"path_base64,omitempty"` // when Path is not valid UTF-8
				Type  string `json:"type"`
				Mode  string `json:"mode"`
				Size  int64  `json:"size"`
				MTime string `json:"mtime"`
			}
			rows := []row{}
			for _, en := range l.Entries {
				r := row{Path: en.Path, Type: en.Type, Mode: en.Mode.String(), Size: en.Size, MTime: en.ModTime.Format("2006-01-02 15:04:05")}
				if !utf8.ValidString(en.Path) {
					r.Raw = []byte(en.Path)
				}
				rows = append(rows, r)
			}
			if e.json {
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
