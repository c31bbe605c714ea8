package cli

import (
	"github.com/digital-embassy/embassy/internal/vault"

	"strconv"
	"unicode/utf8"

	"fmt"
)

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

func (e *env) printLs(l *vault.Listing, raw bool) error {
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
}
