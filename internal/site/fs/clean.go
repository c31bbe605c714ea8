package fs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/digital-embassy/embassy/internal/site"
)

// StaleAfter is the age past which Clean treats a temp file as left behind
// by a crash rather than being written.
const StaleAfter = time.Hour

// Clean removes temp files older than olderThan (StaleAfter if zero) left by
// interrupted Puts, and returns how many it removed.
func (b *Backend) Clean(ctx context.Context, olderThan time.Duration) (int, error) {
	if olderThan <= 0 {
		olderThan = StaleAfter
	}
	cutoff := time.Now().Add(-olderThan)
	removed := 0
	for _, k := range site.Kinds {
		err := filepath.WalkDir(filepath.Join(b.root, k.String()), func(path string, d fs.DirEntry, err error) error {
			if cerr := ctx.Err(); cerr != nil {
				return cerr
			}
			if err != nil {
				if missing(err) {
					return nil
				}
				return err
			}
			if !d.Type().IsRegular() || !strings.HasPrefix(d.Name(), tmpPrefix) {
				return nil
			}
			fi, err := d.Info()
			if err != nil || !fi.ModTime().Before(cutoff) {
				return nil
			}
			if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			removed++
			return nil
		})
		if err != nil {
			return removed, hint(fmt.Errorf("clean %v: %w", k, err), b.root)
		}
	}
	return removed, nil
}

// cleanStamp is touched by cleanOnOpen; ValidName refuses dot names, so no
// object can be called this.
const cleanStamp = ".clean-stamp"

// cleanOnOpen removes temp files of killed runs older than StaleAfter, at
// most once per StaleAfter per site (a stamp file records the last run),
// so opening a large site does not walk it every time. It is best effort:
// a read-only site or a failed walk leaves the files for the next open.
func (b *Backend) cleanOnOpen(ctx context.Context) {
	stamp := filepath.Join(b.root, cleanStamp)
	if fi, err := os.Stat(stamp); err == nil && time.Since(fi.ModTime()) < StaleAfter {
		return
	}
	if _, err := b.Clean(ctx, StaleAfter); err != nil {
		return
	}
	if f, err := os.OpenFile(stamp, os.O_CREATE|os.O_WRONLY, 0o600); err == nil {
		f.Close()
		now := time.Now()
		_ = os.Chtimes(stamp, now, now)
	}
}
