package sitetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"testing"

	"github.com/digital-embassy/embassy/internal/site"
)

func testRanges(t *testing.T, b site.Backend) {
	h := site.Handle{Kind: site.KindPack, Name: "ranged"}
	obj := data(3, 1000)
	Put(t, b, h, obj, site.PutOptions{IfAbsent: true})
	for _, tc := range []struct {
		off, n int64
		want   []byte // nil: ErrRange
	}{
		{0, 0, obj},
		{0, -1, obj},
		{0, 1000, obj},
		{10, 20, obj[10:30]},
		{990, 10, obj[990:]},
		{990, 0, obj[990:]},
		{999, 1, obj[999:]},
		{1000, 0, []byte{}},
		{1001, 0, nil},
		{990, 11, nil},
		{1000, 1, nil},
		{5000, 10, nil},
		{-1, 0, nil},
	} {
		t.Run(fmt.Sprintf("%d+%d", tc.off, tc.n), func(t *testing.T) {
			called := false
			var got []byte
			err := b.Get(t.Context(), h, tc.off, tc.n, func(r io.Reader) error {
				called = true
				var err error
				got, err = readAll(r)
				return err
			})
			if tc.want == nil {
				wantIs(t, "Get", err, site.ErrRange)
				if called {
					t.Error("Get called fn for a range outside the object")
				}
				return
			}
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			if !bytes.Equal(got, tc.want) {
				t.Errorf("Get: got %d bytes, want %d", len(got), len(tc.want))
			}
		})
	}
}

func testGetCallbackError(t *testing.T, b site.Backend) {
	h := site.Handle{Kind: site.KindIndex, Name: "cb"}
	Put(t, b, h, []byte("payload"), site.PutOptions{})
	err := b.Get(t.Context(), h, 0, 0, func(io.Reader) error { return errStop })
	wantIs(t, "Get", err, errStop)
}

func testZeroLength(t *testing.T, b site.Backend) {
	h := site.Handle{Kind: site.KindKey, Name: "empty"}
	Put(t, b, h, nil, site.PutOptions{IfAbsent: true})
	wantContent(t, b, h, []byte{})
	fi, err := b.Stat(t.Context(), h)
	if err != nil || fi.Size != 0 {
		t.Errorf("Stat: got size %d, error %v; want 0, nil", fi.Size, err)
	}
	if got := Names(t, b, site.KindKey); len(got) != 1 || got["empty"] != 0 {
		t.Errorf("List: got %v, want empty:0", got)
	}
	err = b.Get(t.Context(), h, 0, 1, func(io.Reader) error { return nil })
	wantIs(t, "Get 0+1", err, site.ErrRange)
}

func testLarge(t *testing.T, b site.Backend) {
	const size = 20 << 20
	p := Gen{Seed: 42, N: size}
	h := site.Handle{Kind: site.KindPack, Name: "large/20mib.pack"}
	if err := b.Put(t.Context(), h, p, site.PutOptions{IfAbsent: true}); err != nil {
		t.Fatalf("Put: %v", err)
	}
	fi, err := b.Stat(t.Context(), h)
	if err != nil || fi.Size != size {
		t.Fatalf("Stat: got size %d, error %v; want %d", fi.Size, err, size)
	}
	want := sha256.New()
	_, _ = io.Copy(want, p.NewReader())
	err = b.Get(t.Context(), h, 0, 0, func(r io.Reader) error {
		got := sha256.New()
		if _, err := io.Copy(got, r); err != nil {
			return err
		}
		if !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
			return errors.New("content differs")
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	off, n := int64(size/2-3), int64(7)
	r := p.NewReader()
	_, _ = io.CopyN(io.Discard, r, off)
	mid := make([]byte, n)
	_, _ = io.ReadFull(r, mid)
	got, err := site.ReadRange(t.Context(), b, h, off, n)
	if err != nil || !bytes.Equal(got, mid) {
		t.Errorf("ReadRange(%d, %d): got %x, %v; want %x", off, n, got, err, mid)
	}
}

func testFailingPayload(t *testing.T, b site.Backend) {
	ctx := t.Context()
	old := site.Handle{Kind: site.KindIndex, Name: "existing"}
	Put(t, b, old, []byte("old content"), site.PutOptions{})
	for _, tc := range []struct {
		name string
		h    site.Handle
		p    site.Payload
		opts site.PutOptions
	}{
		{"at start", site.Handle{Kind: site.KindPack, Name: "f1"}, Failing{N: 1000, At: 0}, site.PutOptions{}},
		{"midway", site.Handle{Kind: site.KindPack, Name: "f2"}, Failing{N: 1 << 20, At: 512 << 10}, site.PutOptions{IfAbsent: true}},
		{"large", site.Handle{Kind: site.KindPack, Name: "f3/large"}, Failing{N: 20 << 20, At: 15 << 20}, site.PutOptions{IfAbsent: true}},
		{"overwrite", old, Failing{N: 1000, At: 100}, site.PutOptions{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := b.Put(ctx, tc.h, tc.p, tc.opts); err == nil {
				t.Fatal("Put with a failing payload succeeded")
			}
			if tc.h == old {
				wantContent(t, b, old, []byte("old content"))
				return
			}
			wantAbsent(t, b, tc.h)
		})
	}
}

func testShortPayload(t *testing.T, b site.Backend) {
	h := site.Handle{Kind: site.KindPack, Name: "short"}
	if err := b.Put(t.Context(), h, Short{N: 1000, At: 500}, site.PutOptions{IfAbsent: true}); err == nil {
		t.Error("Put of a payload shorter than its Len succeeded")
	}
	wantAbsent(t, b, h)
}

// cancelPayload cancels a context once At bytes have been read.
type cancelPayload struct {
	Gen
	At     int64
	cancel context.CancelFunc
}

func (c cancelPayload) NewReader() io.Reader {
	return &cancelReader{r: c.Gen.NewReader(), left: c.At, cancel: c.cancel}
}

type cancelReader struct {
	r      io.Reader
	left   int64
	cancel context.CancelFunc
	done   atomic.Bool
}

func (c *cancelReader) Read(p []byte) (int, error) {
	if c.left <= 0 && !c.done.Swap(true) {
		c.cancel()
	}
	if c.left > 0 && int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	return n, err
}

func testCanceled(t *testing.T, b site.Backend) {
	h := site.Handle{Kind: site.KindPack, Name: "present"}
	Put(t, b, h, []byte("present"), site.PutOptions{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	nh := site.Handle{Kind: site.KindPack, Name: "new"}
	wantIs(t, "Put", b.Put(ctx, nh, site.Bytes("x"), site.PutOptions{}), context.Canceled)
	wantIs(t, "Get", b.Get(ctx, h, 0, 0, func(io.Reader) error { return nil }), context.Canceled)
	_, err := b.Stat(ctx, h)
	wantIs(t, "Stat", err, context.Canceled)
	wantIs(t, "List", b.List(ctx, site.KindPack, func(site.Info) error { return nil }), context.Canceled)
	wantIs(t, "Delete", b.Delete(ctx, h), context.Canceled)
	wantAbsent(t, b, nh)
	wantContent(t, b, h, []byte("present"))

	// Canceled while the body streams.
	ctx, cancel = context.WithCancel(t.Context())
	defer cancel()
	err = b.Put(ctx, nh, cancelPayload{Gen: Gen{Seed: 5, N: 8 << 20}, At: 3 << 20, cancel: cancel}, site.PutOptions{IfAbsent: true})
	if err == nil {
		t.Error("Put canceled midway succeeded")
	}
	wantAbsent(t, b, nh)
}
