// Package check qualifies a live storage site: it runs the storage
// contract's essential behaviours against the real thing (an operator's
// S3 bucket, a mounted folder, an embassy daemon) in a scratch namespace,
// and reports each check with its timing. It is what 'embassy site check'
// runs before a host is trusted with the vault.
package check

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/digital-embassy/embassy/internal/site"
)

// Result is the outcome of one check.
type Result struct {
	Name     string        `json:"name"`
	OK       bool          `json:"ok"`
	Detail   string        `json:"detail,omitempty"`
	Duration time.Duration `json:"duration_ns"`
}

// Options tune Run.
type Options struct {
	LargeSize int64 // size of the large-object check (default 32 MiB)
}

// Run executes every check against b inside the locks/ namespace under a
// random prefix, and removes what it wrote.
func Run(ctx context.Context, b site.Backend, o Options) []Result {
	if o.LargeSize <= 0 {
		o.LargeSize = 32 << 20
	}
	pre := make([]byte, 8)
	rand.Read(pre)
	prefix := "site-check-" + hex.EncodeToString(pre)
	h := func(n string) site.Handle { return site.Handle{Kind: site.KindLock, Name: prefix + "/" + n} }
	var written []site.Handle
	put := func(hd site.Handle, data []byte, ifAbsent bool) error {
		err := b.Put(ctx, hd, site.Bytes(data), site.PutOptions{IfAbsent: ifAbsent})
		if err == nil {
			written = append(written, hd)
		}
		return err
	}
	payload := make([]byte, 100_000)
	rand.Read(payload)
	checks := []struct {
		name string
		fn   func() error
	}{
		{"put and get back", func() error {
			if err := put(h("a"), payload, true); err != nil {
				return err
			}
			got, err := site.ReadAll(ctx, b, h("a"))
			if err != nil {
				return err
			}
			if !bytes.Equal(got, payload) {
				return errors.New("object read back differs from what was written")
			}
			return nil
		}},
		{"create-only put refuses an existing object", func() error {
			err := b.Put(ctx, h("a"), site.Bytes([]byte("other")), site.PutOptions{IfAbsent: true})
			if !errors.Is(err, site.ErrExists) {
				return fmt.Errorf("second create-only put gave %v, want an 'exists' error: the site cannot guarantee write-once objects", err)
			}
			got, err := site.ReadAll(ctx, b, h("a"))
			if err != nil || !bytes.Equal(got, payload) {
				return errors.New("the original object was changed by a refused put")
			}
			return nil
		}},
		{"concurrent create-only puts: exactly one wins", func() error {
			var wg sync.WaitGroup
			var mu sync.Mutex
			wins := 0
			for i := 0; i < 4; i++ {
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					err := b.Put(ctx, h("race"), site.Bytes([]byte{byte(i)}), site.PutOptions{IfAbsent: true})
					if err == nil {
						mu.Lock()
						wins++
						mu.Unlock()
					}
				}(i)
			}
			wg.Wait()
			written = append(written, h("race"))
			if wins != 1 {
				return fmt.Errorf("%d of 4 concurrent create-only puts succeeded, want exactly 1", wins)
			}
			return nil
		}},
		{"ranged get", func() error {
			got, err := site.ReadRange(ctx, b, h("a"), 1000, 5000)
			if err != nil {
				return err
			}
			if !bytes.Equal(got, payload[1000:6000]) {
				return errors.New("range read returned the wrong bytes")
			}
			return nil
		}},
		{"stat reports the size", func() error {
			fi, err := b.Stat(ctx, h("a"))
			if err != nil {
				return err
			}
			if fi.Size != int64(len(payload)) {
				return fmt.Errorf("stat says %d bytes, want %d", fi.Size, len(payload))
			}
			return nil
		}},
		{"list shows written objects", func() error {
			seen := false
			err := b.List(ctx, site.KindLock, func(fi site.Info) error {
				if fi.Handle == h("a") {
					seen = true
				}
				return nil
			})
			if err != nil {
				return err
			}
			if !seen {
				return errors.New("a written object is missing from the listing (stale or eventually consistent listing)")
			}
			return nil
		}},
		{"missing objects are reported as missing", func() error {
			_, err := b.Stat(ctx, h("nope"))
			if !errors.Is(err, site.ErrNotFound) {
				return fmt.Errorf("stat of a missing object gave %v, want 'not found'", err)
			}
			return nil
		}},
		{fmt.Sprintf("large object (%d MiB) streams intact", o.LargeSize>>20), func() error {
			big := make([]byte, o.LargeSize)
			rand.Read(big)
			if err := put(h("large"), big, true); err != nil {
				return err
			}
			var got bytes.Buffer
			if err := b.Get(ctx, h("large"), 0, 0, func(r io.Reader) error {
				got.Reset()
				_, err := io.Copy(&got, r)
				return err
			}); err != nil {
				return err
			}
			if !bytes.Equal(got.Bytes(), big) {
				return errors.New("large object read back differs")
			}
			return nil
		}},
		{"delete removes", func() error {
			if err := b.Delete(ctx, h("a")); err != nil {
				return err
			}
			if _, err := b.Stat(ctx, h("a")); !errors.Is(err, site.ErrNotFound) {
				return fmt.Errorf("object still there after delete: %v", err)
			}
			return nil
		}},
	}
	var out []Result
	for _, c := range checks {
		start := time.Now()
		err := c.fn()
		r := Result{Name: c.name, OK: err == nil, Duration: time.Since(start)}
		if err != nil {
			r.Detail = err.Error()
		}
		out = append(out, r)
		if ctx.Err() != nil {
			break
		}
	}
	for _, hd := range written {
		_ = b.Delete(context.WithoutCancel(ctx), hd)
	}
	return out
}
