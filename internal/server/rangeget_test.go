package server_test

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/digital-embassy/embassy/internal/pki"
	"github.com/digital-embassy/embassy/internal/server/servertest"
	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/site/mem"
)

// TestRangedGets: ranges below, at and above the size read into one
// buffer (an erasure shard record), and whole objects, come back exactly,
// also when a buffer is reused for a shorter range after a longer one.
func TestRangedGets(t *testing.T) {
	ctx := context.Background()
	env := servertest.Start(t, mem.New(site.Properties{}), nil)
	c := env.Client(t, pki.RoleHome, "home")
	obj := make([]byte, 3<<20)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range obj {
		obj[i] = byte(rng.Uint32())
	}
	h := site.Handle{Kind: site.KindPack, Name: "p"}
	if err := c.Put(ctx, h, site.Bytes(obj), site.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	const record = 1<<20 + 32
	for _, r := range [][2]int64{{0, 10}, {5, record}, {record, record}, {0, 1<<20 + 4<<10}, {7, 1<<20 + 4<<10 + 1}, {1 << 20, 2 << 20}, {3<<20 - 1, 1}, {100, 0}, {0, 0}} {
		off, n := r[0], r[1]
		want := obj[off:]
		if n > 0 {
			want = obj[off : off+n]
		}
		var got []byte
		err := c.Get(ctx, h, off, n, func(rd io.Reader) error {
			var err error
			got, err = io.ReadAll(rd)
			return err
		})
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("get %d+%d: %d bytes, %v", off, n, len(got), err)
		}
	}
}
