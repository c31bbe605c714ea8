package erasure

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/digital-embassy/embassy/internal/site"
)

// headerSet is what the members said about an object's shards.
type headerSet struct {
	at      map[int]header // valid headers, by member
	pending []int          // members not asked to the end (an early answer sufficed)
	failed  []error        // members that could not answer
}

// newer orders versions: later write time, then ID.
func newer(a, b versionKey) bool {
	if a.Time != b.Time {
		return a.Time > b.Time
	}
	return bytes.Compare(a.ID[:], b.ID[:]) > 0
}

// counts returns how many members hold each version.
func (hs headerSet) counts() map[versionKey]int {
	c := map[versionKey]int{}
	for _, h := range hs.at {
		c[h.key()]++
	}
	return c
}

// best returns the newest version that at least k members hold.
func (hs headerSet) best(k int) (versionKey, bool) {
	var v versionKey
	found := false
	for key, n := range hs.counts() {
		if n >= k && (!found || newer(key, v)) {
			v, found = key, true
		}
	}
	return v, found
}

// settled reports whether the answers so far decide the newest readable
// version whatever the outstanding members say.
func settled(hs headerSet, k, outstanding int) bool {
	v, ok := hs.best(k)
	if !ok || outstanding >= k {
		return false
	}
	for key, n := range hs.counts() {
		if newer(key, v) && n+outstanding >= k {
			return false
		}
	}
	return true
}

// headers reads the shard headers of h from the members concurrently. Unless
// all is set it returns as soon as the answers settle the version to read.
func (b *Backend) headers(ctx context.Context, h site.Handle, all bool) headerSet {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type answer struct {
		i   int
		hdr header
		err error
	}
	ch := make(chan answer, len(b.members))
	for i, mb := range b.members {
		go func() {
			hdr, err := readHeader(ctx, mb, h, i)
			ch <- answer{i, hdr, err}
		}()
	}
	hs := headerSet{at: map[int]header{}}
	answered := make([]bool, len(b.members))
	for left := len(b.members); left > 0; left-- {
		a := <-ch
		answered[a.i] = true
		switch {
		case a.err == nil:
			hs.at[a.i] = a.hdr
		case errors.Is(a.err, site.ErrNotFound), errors.Is(a.err, errHeader), errors.Is(a.err, site.ErrRange):
			// No usable shard here.
		default:
			hs.failed = append(hs.failed, fmt.Errorf("member %d: %w", a.i, a.err))
		}
		if !all && left > 1 && settled(hs, b.k, left-1) {
			break
		}
	}
	for i, ok := range answered {
		if !ok {
			hs.pending = append(hs.pending, i)
		}
	}
	return hs
}

// readHeader reads and checks member i's shard header.
func readHeader(ctx context.Context, mb site.Backend, h site.Handle, i int) (header, error) {
	buf := make([]byte, headerLen)
	err := mb.Get(ctx, h, 0, headerLen, func(r io.Reader) error {
		_, err := io.ReadFull(r, buf)
		return err
	})
	if err != nil {
		return header{}, err
	}
	hdr, err := parseHeader(buf)
	if err != nil {
		return header{}, err
	}
	if hdr.Index != i {
		return header{}, fmt.Errorf("%w: shard %d at member %d", errHeader, hdr.Index, i)
	}
	return hdr, nil
}

// missing returns the error for an object without a readable version: not
// found, unless members that failed to answer could have held enough.
func (b *Backend) missing(ctx context.Context, op string, h site.Handle, hs headerSet) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s %v: %w", op, h, err)
	}
	most := 0
	for _, n := range hs.counts() {
		most = max(most, n)
	}
	if most+len(hs.failed) >= b.k {
		return fmt.Errorf("%s %v: too few members answered: %w", op, h, errors.Join(hs.failed...))
	}
	return fmt.Errorf("%s %v: %w", op, h, site.ErrNotFound)
}
