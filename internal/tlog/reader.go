package tlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"time"

	f_log "github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/api"
	"github.com/transparency-dev/tessera/api/layout"
	"github.com/transparency-dev/tessera/client"
	"golang.org/x/mod/sumdb/note"
)

// Reader reads a log directory without appending. Everything it returns is
// checked against the policy: the checkpoint's signatures and quorum, and
// entries against the checkpoint's root.
type Reader struct {
	f      Fetcher
	policy *Policy
}

// Fetcher reads the static tlog-tiles resources of a log. A missing
// checkpoint is an error wrapping fs.ErrNotExist.
type Fetcher interface {
	ReadCheckpoint(ctx context.Context) ([]byte, error)
	ReadTile(ctx context.Context, level, index uint64, p uint8) ([]byte, error)
	ReadEntryBundle(ctx context.Context, index uint64, p uint8) ([]byte, error)
}

// NewReader reads the log in dir (the directory given to Open).
func NewReader(dir string, p *Policy) *Reader {
	return NewFetcherReader(client.FileFetcher{Root: filepath.Join(dir, TilesDir)}, p)
}

// NewFetcherReader reads a log through f (an S3 bucket, for instance).
func NewFetcherReader(f Fetcher, p *Policy) *Reader {
	return &Reader{f: f, policy: p}
}

// ErrEmpty is returned when no checkpoint has been published yet.
var ErrEmpty = errors.New("the log has no published checkpoint yet")

// Checkpoint returns the latest published checkpoint, verified.
func (r *Reader) Checkpoint(ctx context.Context) (*f_log.Checkpoint, []byte, error) {
	raw, err := r.f.ReadCheckpoint(ctx)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, ErrEmpty
	}
	if err != nil {
		return nil, nil, err
	}
	cp, err := r.policy.VerifyCheckpoint(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("published checkpoint: %w", err)
	}
	return cp, raw, nil
}

// Leaves returns the raw entries [from, from+n) of a tree of the given size.
func (r *Reader) Leaves(ctx context.Context, size, from, n uint64) ([][]byte, error) {
	if from+n > size {
		return nil, fmt.Errorf("entries %d..%d are beyond the tree size %d", from, from+n, size)
	}
	var out [][]byte
	for ri := range layout.Range(from, n, size) {
		b, err := client.GetEntryBundle(ctx, r.f.ReadEntryBundle, ri.Index, size)
		if err != nil {
			return nil, fmt.Errorf("entry bundle %d: %w", ri.Index, err)
		}
		if uint(len(b.Entries)) < ri.First+ri.N {
			return nil, fmt.Errorf("entry bundle %d is truncated: %d entries, want %d", ri.Index, len(b.Entries), ri.First+ri.N)
		}
		out = append(out, b.Entries[ri.First:ri.First+ri.N]...)
	}
	return out, nil
}

// Entries decodes entries [from, from+n) of a tree of the given size.
func (r *Reader) Entries(ctx context.Context, size, from, n uint64) ([]Indexed, error) {
	leaves, err := r.Leaves(ctx, size, from, n)
	if err != nil {
		return nil, err
	}
	out := make([]Indexed, len(leaves))
	for i, l := range leaves {
		e, err := UnmarshalEntry(l)
		if err != nil {
			return nil, fmt.Errorf("entry %d: %w", from+uint64(i), err)
		}
		out[i] = Indexed{Index: from + uint64(i), Entry: e}
	}
	return out, nil
}

// All returns the verified checkpoint and every entry it covers, after
// checking that the entries hash to the checkpoint's root (so edited,
// missing or reordered entries are detected).
func (r *Reader) All(ctx context.Context) (*f_log.Checkpoint, []Indexed, error) {
	cp, _, err := r.Checkpoint(ctx)
	if err != nil {
		return nil, nil, err
	}
	leaves, err := r.Leaves(ctx, cp.Size, 0, cp.Size)
	if err != nil {
		return nil, nil, err
	}
	if err := checkRoot(leaves, cp.Hash); err != nil {
		return nil, nil, err
	}
	out := make([]Indexed, len(leaves))
	for i, l := range leaves {
		e, err := UnmarshalEntry(l)
		if err != nil {
			return nil, nil, fmt.Errorf("entry %d: %w", i, err)
		}
		out[i] = Indexed{Index: uint64(i), Entry: e}
	}
	return cp, out, nil
}

func checkRoot(leaves [][]byte, want []byte) error {
	rf := compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
	cr := rf.NewEmptyRange(0)
	for _, l := range leaves {
		if err := cr.Append(rfc6962.DefaultHasher.HashLeaf(l), nil); err != nil {
			return err
		}
	}
	root := rfc6962.DefaultHasher.EmptyRoot()
	if len(leaves) > 0 {
		var err error
		if root, err = cr.GetRootHash(nil); err != nil {
			return err
		}
	}
	if !bytes.Equal(root, want) {
		return fmt.Errorf("%w: the stored entries do not hash to the checkpoint's root", ErrInclusion)
	}
	return nil
}

// Check verifies the whole local log: the checkpoint, every entry against
// its root, every hash tile against the tree rebuilt from the entries, and
// receipts for the first, middle and last entries.
func (r *Reader) Check(ctx context.Context) (*f_log.Checkpoint, error) {
	cp, _, err := r.All(ctx)
	if err != nil {
		return nil, err
	}
	if err := r.checkTiles(ctx, cp.Size); err != nil {
		return nil, err
	}
	for _, i := range []uint64{0, cp.Size / 2, cp.Size - 1} {
		if cp.Size == 0 {
			break
		}
		if _, err := r.Receipt(ctx, i); err != nil {
			return nil, err
		}
	}
	return cp, nil
}

// Receipt returns a c2sp.org/tlog-proof for entry index against the latest
// checkpoint, verified before it is returned.
func (r *Reader) Receipt(ctx context.Context, index uint64) ([]byte, error) {
	cp, raw, err := r.Checkpoint(ctx)
	if err != nil {
		return nil, err
	}
	if index >= cp.Size {
		return nil, fmt.Errorf("entry %d is not in the log yet (size %d)", index, cp.Size)
	}
	pb, err := client.NewProofBuilder(ctx, cp.Size, r.f.ReadTile)
	if err != nil {
		return nil, fmt.Errorf("read tiles: %w", err)
	}
	hashes, err := pb.InclusionProof(ctx, index)
	if err != nil {
		return nil, fmt.Errorf("inclusion proof: %w", err)
	}
	leaf, err := r.Leaves(ctx, cp.Size, index, 1)
	if err != nil {
		return nil, err
	}
	rc := MakeReceipt(index, leaf[0], hashes, raw)
	if _, _, err := VerifyReceipt(rc, r.policy); err != nil {
		return nil, fmt.Errorf("the local log is damaged: %w", err)
	}
	return rc, nil
}

// Export writes an auditor's evidence bundle for entries logged between
// from and to (inclusive; zero times are open ends): the contiguous index
// range from the first to the last entry logged in the period, each with
// an inclusion proof, the entries just before and after the range, the
// cosigned checkpoint, the policy, and a seal over the period and range
// signed with the log's key (signer). The bundle is verified before it is
// returned.
func (r *Reader) Export(ctx context.Context, from, to time.Time, signer note.Signer) ([]byte, error) {
	if signer == nil {
		return nil, errors.New("export: the log's signing key is needed to seal the bundle")
	}
	cp, raw, err := r.Checkpoint(ctx)
	if err != nil {
		return nil, err
	}
	leaves, err := r.Leaves(ctx, cp.Size, 0, cp.Size)
	if err != nil {
		return nil, err
	}
	first, last := -1, -1
	insert := len(leaves) // where an empty period would sit
	for i, l := range leaves {
		e, err := UnmarshalEntry(l)
		if err != nil {
			return nil, fmt.Errorf("entry %d: %w", i, err)
		}
		if inPeriod(e.Time, from, to) {
			if first < 0 {
				first = i
			}
			last = i
		} else if first < 0 && insert == len(leaves) && !from.IsZero() && !e.Time.Before(from) {
			insert = i
		}
	}
	b := Bundle{Format: BundleFormat, Origin: cp.Origin, Policy: string(r.policy.Text), Checkpoint: string(raw), From: from, To: to}
	if first >= 0 {
		b.Start, b.End = uint64(first), uint64(last)+1
	} else {
		b.Start, b.End = uint64(insert), uint64(insert)
	}
	pb, err := client.NewProofBuilder(ctx, cp.Size, r.f.ReadTile)
	if err != nil {
		return nil, fmt.Errorf("read tiles: %w", err)
	}
	entry := func(i uint64) (*BundleEntry, error) {
		hashes, err := pb.InclusionProof(ctx, i)
		if err != nil {
			return nil, fmt.Errorf("inclusion proof %d: %w", i, err)
		}
		return &BundleEntry{Index: i, Leaf: leaves[i], Proof: hashes}, nil
	}
	for i := b.Start; i < b.End; i++ {
		be, err := entry(i)
		if err != nil {
			return nil, err
		}
		b.Entries = append(b.Entries, *be)
	}
	if b.Start > 0 {
		if b.Before, err = entry(b.Start - 1); err != nil {
			return nil, err
		}
	}
	if b.End < cp.Size {
		if b.After, err = entry(b.End); err != nil {
			return nil, err
		}
	}
	seal, err := note.Sign(&note.Note{Text: b.sealText(cp.Size)}, signer)
	if err != nil {
		return nil, fmt.Errorf("seal bundle: %w", err)
	}
	b.Seal = string(seal)
	out, err := b.Marshal()
	if err != nil {
		return nil, err
	}
	if _, _, err := VerifyBundle(out, r.policy); err != nil {
		return nil, fmt.Errorf("the local log is damaged: %w", err)
	}
	return out, nil
}

// checkTiles rebuilds every tree level from the leaves and compares each
// stored hash tile with it.
func (r *Reader) checkTiles(ctx context.Context, size uint64) error {
	if size == 0 {
		return nil
	}
	leaves, err := r.Leaves(ctx, size, 0, size)
	if err != nil {
		return err
	}
	level := make([][]byte, len(leaves))
	for i, l := range leaves {
		level[i] = rfc6962.DefaultHasher.HashLeaf(l)
	}
	for tl := uint64(0); len(level) > 0; tl++ {
		n := uint64(len(level))
		for ti := uint64(0); ti*layout.TileWidth < n; ti++ {
			p := layout.PartialTileSize(tl, ti, size)
			raw, err := r.f.ReadTile(ctx, tl, ti, p)
			if err != nil {
				return fmt.Errorf("hash tile %d/%d: %w", tl, ti, err)
			}
			var tile api.HashTile
			if err := tile.UnmarshalText(raw); err != nil {
				return fmt.Errorf("hash tile %d/%d: %w", tl, ti, err)
			}
			end := min((ti+1)*layout.TileWidth, n)
			want := level[ti*layout.TileWidth : end]
			if len(tile.Nodes) < len(want) {
				return fmt.Errorf("hash tile %d/%d is truncated: %d hashes, want %d", tl, ti, len(tile.Nodes), len(want))
			}
			for i := range want {
				if !bytes.Equal(tile.Nodes[i], want[i]) {
					return fmt.Errorf("hash tile %d/%d: hash %d does not match the entries", tl, ti, i)
				}
			}
		}
		// Up eight tree levels: only complete subtrees are stored in tiles above.
		for range layout.TileHeight {
			next := make([][]byte, 0, len(level)/2)
			for i := 0; i+1 < len(level); i += 2 {
				next = append(next, rfc6962.DefaultHasher.HashChildren(level[i], level[i+1]))
			}
			level = next
		}
	}
	return nil
}
