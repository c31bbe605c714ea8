package sitetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/site"
)

func testIfAbsent(t *testing.T, b site.Backend) {
	ctx := t.Context()
	create := site.PutOptions{IfAbsent: true}
	h := site.Handle{Kind: site.KindSnapshot, Name: "s1"}
	Put(t, b, h, []byte("original"), create)
	for _, body := range []string{"replacement", ""} {
		err := b.Put(ctx, h, site.Bytes(body), create)
		wantIs(t, "second create-only Put", err, site.ErrExists)
		if err != nil && !site.IsPermanent(err) {
			t.Errorf("ErrExists %v is not permanent", err)
		}
	}
	// A large create-only Put over an existing object is refused too.
	err := b.Put(ctx, h, Gen{Seed: 1, N: 3 << 20}, create)
	wantIs(t, "large create-only Put", err, site.ErrExists)
	wantContent(t, b, h, []byte("original"))

	if err := b.Delete(ctx, h); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	Put(t, b, h, []byte("after delete"), create)
	wantContent(t, b, h, []byte("after delete"))

	// RetainUntil is accepted whether or not the site enforces it.
	r := site.Handle{Kind: site.KindConfig, Name: "retained"}
	Put(t, b, r, []byte("keep me"), site.PutOptions{IfAbsent: true, RetainUntil: time.Now().Add(2 * time.Second)})
	wantContent(t, b, r, []byte("keep me"))
}

func testIfAbsentConcurrent(t *testing.T, b site.Backend) {
	const n = 8
	h := site.Handle{Kind: site.KindLock, Name: "contended"}
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		errs  [n]error
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = b.Put(t.Context(), h, site.Bytes(data(uint64(i), int64(1000+i))), site.PutOptions{IfAbsent: true})
		}()
	}
	close(start)
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("Puts %d and %d both created %v", winner, i, h)
		case err == nil:
			winner = i
		case !errors.Is(err, site.ErrExists):
			t.Errorf("Put %d: got %v, want nil or ErrExists", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no concurrent create-only Put succeeded")
	}
	wantContent(t, b, h, data(uint64(winner), int64(1000+winner)))
}
