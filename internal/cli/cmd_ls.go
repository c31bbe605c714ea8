package cli

import (
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
			return e.printLs(l, raw)
		},
	}
	c.Flags().BoolVarP(&recursive, "recursive", "r", false, "list subdirectories too")
	c.Flags().BoolVar(&raw, "raw", false, "print names byte for byte, even if they are not UTF-8 or hold control characters")
	return c
}
