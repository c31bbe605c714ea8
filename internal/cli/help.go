package cli

import (
	"embed"
	"strings"
)

// Long help texts live in help/*.txt, so that command files stay flags and
// output.
//
//go:embed help/*.txt
var helpFiles embed.FS

// helpText returns help/name.txt without its final newline; a missing
// file is a build mistake that the help test catches.
func helpText(name string) string {
	b, err := helpFiles.ReadFile("help/" + name + ".txt")
	if err != nil {
		panic("cli: no help text help/" + name + ".txt")
	}
	return strings.TrimSuffix(string(b), "\n")
}
