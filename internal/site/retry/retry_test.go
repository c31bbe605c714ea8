package retry_test

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/site/mem"
	"github.com/digital-embassy/embassy/internal/site/retry"
	"github.com/digital-embassy/embassy/internal/site/sitetest"
)

var fast = retry.Options{Attempts: 5, Base: time.Millisecond, Max: 5 * time.Millisecond}

func TestConformance(t *testing.T) {
	sitetest.Run(t, func(t *testing.T) site.Backend {
		return retry.New(mem.New(site.Properties{}), fast)
	})
}

// TestConformanceFlaky runs the suite over a site that fails often, before
// or after doing the work: retry must hide every failure, except a lost
// Delete reply, which shows as ErrNotFound (see Delete).
func TestConformanceFlaky(t *testing.T) {
	sitetest.Run(t, func(t *testing.T) site.Backend {
		f := sitetest.NewFaulty(mem.New(site.Properties{}))
		f.Inject(sitetest.Fault{Every: 3})
		f.Inject(sitetest.Fault{Ops: sitetest.OpAll &^ sitetest.OpDelete, Every: 5, After: true})
		return retry.New(f, fast)
	})
}

func setup(t *testing.T) (*sitetest.Faulty, *retry.Backend) {
	f := sitetest.NewFaulty(mem.New(site.Properties{}))
	return f, retry.New(f, fast)
}

var h = site.Handle{Kind: site.KindPack, Name: "obj"}

func TestAttempts(t *testing.T) {
	for _, tc := range []struct {
		name      string
		fault     sitetest.Fault
		wantCalls int
		wantErr   error
	}{
		{"always fails", sitetest.Fault{}, 5, sitetest.ErrInjected},
		{"fails twice", sitetest.Fault{Every: 1}, 5, sitetest.ErrInjected},
		{"fails once", sitetest.Fault{Nth: 1}, 2, nil},
		{"permanent", sitetest.Fault{Err: site.Permanent(sitetest.ErrInjected)}, 1, sitetest.ErrInjected},
		{"not found", sitetest.Fault{Err: site.ErrNotFound}, 1, site.ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, b := setup(t)
			sitetest.Put(t, f.Unwrap(), h, []byte("x"), site.PutOptions{})
			f.Inject(tc.fault)
			_, err := b.Stat(t.Context(), h)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Errorf("Stat: got %v, want %v", err, tc.wantErr)
			}
			if got := f.Calls(sitetest.OpStat); got != tc.wantCalls {
				t.Errorf("got %d calls, want %d", got, tc.wantCalls)
			}
		})
	}
}

// cancelAfterStat cancels the operation's context once the first Stat
// has failed: the retry is then in its (hour-long) backoff.
type cancelAfterStat struct {
	site.Backend
	cancel context.CancelFunc
}

func (c cancelAfterStat) Stat(ctx context.Context, h site.Handle) (site.Info, error) {
	defer c.cancel()
	return c.Backend.Stat(ctx, h)
}

// TestCancelDuringBackoff: cancelling the context ends an hour-long
// backoff at once (a backoff that ignored ctx would hang the test until
// its timeout), with the context's error and no further attempt.
func TestCancelDuringBackoff(t *testing.T) {
	f := sitetest.NewFaulty(mem.New(site.Properties{}))
	f.Inject(sitetest.Fault{})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	b := retry.New(cancelAfterStat{f, cancel}, retry.Options{Base: time.Hour, Max: time.Hour})
	_, err := b.Stat(ctx, h)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Stat: got %v, want context canceled", err)
	}
	if got := f.Calls(sitetest.OpStat); got != 1 {
		t.Errorf("got %d calls, want 1 (no retry after the cancel)", got)
	}
}

func TestLostReplies(t *testing.T) {
	f, b := setup(t)
	ctx := t.Context()
	lost := sitetest.Fault{Nth: 1, After: true}

	// A create-only Put whose reply was lost still succeeds...
	f.Inject(lost)
	if err := b.Put(ctx, h, site.Bytes("mine"), site.PutOptions{IfAbsent: true}); err != nil {
		t.Fatalf("Put with lost reply: %v", err)
	}
	// ...but a retried one over someone else's object still gets ErrExists.
	f.Clear()
	f.Inject(sitetest.Fault{Nth: 1})
	err := b.Put(ctx, h, site.Bytes("theirs"), site.PutOptions{IfAbsent: true})
	if !errors.Is(err, site.ErrExists) {
		t.Fatalf("retried Put over another object: got %v, want ErrExists", err)
	}

	// A List interrupted after reporting objects does not report them twice.
	f.Clear()
	for _, name := range []string{"a", "b", "c"} {
		sitetest.Put(t, b, site.Handle{Kind: site.KindIndex, Name: name}, nil, site.PutOptions{})
	}
	f.Inject(sitetest.Fault{Ops: sitetest.OpList, Nth: 1, After: true})
	calls := 0
	if err := b.List(ctx, site.KindIndex, func(site.Info) error { calls++; return nil }); err != nil {
		t.Fatal(err)
	}
	if calls != 3 || f.Calls(sitetest.OpList) != 2 {
		t.Errorf("List: fn called %d times over %d listings, want 3 over 2", calls, f.Calls(sitetest.OpList))
	}

	// A Delete whose reply was lost reports the object gone.
	f.Inject(sitetest.Fault{Ops: sitetest.OpDelete, Nth: 1, After: true})
	if err := b.Delete(ctx, h); !errors.Is(err, site.ErrNotFound) {
		t.Fatalf("Delete with lost reply: got %v, want ErrNotFound", err)
	}
	wantGone(t, b, h)
}

func TestCorruptionIsNotRetried(t *testing.T) {
	f, b := setup(t)
	sitetest.Put(t, b, h, []byte("abc"), site.PutOptions{})
	f.Corrupt(func(site.Handle) bool { return true })
	bad := errors.New("authentication failed")
	calls := 0
	err := b.Get(t.Context(), h, 0, 0, func(r io.Reader) error {
		calls++
		got, _ := io.ReadAll(r)
		if string(got) != "abc" {
			return site.Permanent(bad)
		}
		return nil
	})
	if !errors.Is(err, bad) || calls != 1 {
		t.Errorf("Get of corrupt object: %v after %d calls, want %v after 1", err, calls, bad)
	}
}

func wantGone(t *testing.T, b site.Backend, h site.Handle) {
	t.Helper()
	if _, err := b.Stat(t.Context(), h); !errors.Is(err, site.ErrNotFound) {
		t.Errorf("Stat %v: got %v, want ErrNotFound", h, err)
	}
}

func TestReaderErrorsAreRetried(t *testing.T) {
	inner := &resetOnce{Backend: mem.New(site.Properties{})}
	b := retry.New(inner, fast)
	sitetest.Put(t, b, h, []byte("abc"), site.PutOptions{})
	calls := 0
	err := b.Get(t.Context(), h, 0, 0, func(r io.Reader) error {
		calls++
		_, err := io.ReadAll(r)
		return err
	})
	if err != nil || calls != 2 {
		t.Errorf("Get: %v after %d calls, want success after 2", err, calls)
	}
}

// resetOnce fails the reader of its first Get midway.
type resetOnce struct {
	site.Backend
	done bool
}

func (r *resetOnce) Get(ctx context.Context, h site.Handle, off, n int64, fn func(io.Reader) error) error {
	if r.done {
		return r.Backend.Get(ctx, h, off, n, fn)
	}
	r.done = true
	return r.Backend.Get(ctx, h, off, n, func(rd io.Reader) error {
		return fn(io.MultiReader(io.LimitReader(rd, 1), failReader{}))
	})
}

type failReader struct{}

func (failReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }
