package repo

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/digital-embassy/embassy/internal/site"
)

// Per-kind bounds on what the home reads whole into memory from a site
// (docs/FORMAT.md §3). A site that serves more is refused before the
// excess is read: a host cannot exhaust the home's memory with one huge
// object.
const (
	maxConfigSize   = 1 << 20
	maxKeySize      = 1 << 20
	maxIndexObject  = 256 << 20
	maxSnapshotObj  = maxManifestSize + 1<<10
	maxPackObject   = 512 << 20
	maxUnknownKinds = 1 << 20
)

// ErrTooLarge means a site served an object larger than its kind allows.
var ErrTooLarge = fmt.Errorf("object larger than its kind allows: %w", errFormat)

// MaxObjectSize returns the largest object of kind k the home reads whole.
func MaxObjectSize(h site.Handle) int64 {
	switch h.Kind {
	case site.KindConfig:
		if _, ok := parseStateName(h.Name); ok {
			return maxStateSize
		}
		return maxConfigSize
	case site.KindKey:
		return maxKeySize
	case site.KindIndex:
		return maxIndexObject
	case site.KindSnapshot:
		return maxSnapshotObj
	case site.KindPack:
		return maxPackObject
	}
	return maxUnknownKinds
}

// readLimited reads h whole from b, refusing more than limit bytes without
// reading them.
func readLimited(ctx context.Context, b site.Backend, h site.Handle, limit int64) ([]byte, error) {
	out, err := readBounded(ctx, b, h, limit)
	if errors.Is(err, ErrTooLarge) {
		err = site.Permanent(fmt.Errorf("%s: %w", h, err))
	}
	return out, err
}

// readBounded is readLimited for a caller whose error names h already.
func readBounded(ctx context.Context, b site.Backend, h site.Handle, limit int64) ([]byte, error) {
	var out []byte
	err := b.Get(ctx, h, 0, 0, func(r io.Reader) error {
		var err error
		out, err = io.ReadAll(io.LimitReader(r, limit+1))
		if err != nil {
			return err
		}
		if int64(len(out)) > limit {
			out = nil
			return site.Permanent(fmt.Errorf("more than %d bytes: %w", limit, ErrTooLarge))
		}
		return nil
	})
	return out, err
}

// ReadObject reads h whole from b within its kind's bound (MaxObjectSize).
func ReadObject(ctx context.Context, b site.Backend, h site.Handle) ([]byte, error) {
	return readLimited(ctx, b, h, MaxObjectSize(h))
}
