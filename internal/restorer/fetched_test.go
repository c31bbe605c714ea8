package restorer_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/digital-embassy/embassy/internal/archiver"
	"github.com/digital-embassy/embassy/internal/keys"
	"github.com/digital-embassy/embassy/internal/repo"
	"github.com/digital-embassy/embassy/internal/restorer"
	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/site/erasure"
	"github.com/digital-embassy/embassy/internal/site/mem"
)

// counted is a member site that counts the pack bytes its Gets return.
type counted struct {
	site.Backend
	bytes, gets *atomic.Int64
}

func (c counted) Get(ctx context.Context, h site.Handle, off, n int64, fn func(io.Reader) error) error {
	if h.Kind != site.KindPack {
		return c.Backend.Get(ctx, h, off, n, fn)
	}
	c.gets.Add(1)
	return c.Backend.Get(ctx, h, off, n, func(r io.Reader) error {
		return fn(countingReader{r, c.bytes})
	})
}

type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// TestRemoteRestoreFetchesNearTheFloor: a restore through a 2+1 erasure
// group with read-ahead windows (as for remote sites) fetches each pack's
// data shards about once. The snapshot's three workers chunk several large
// files at once, so their blobs lie interleaved in the packs; restoring
// one of those files after the other, each window fetched for one file
// was evicted before its neighbours were restored, and fetched again for
// each of them: the 2 GiB bench corpus sent 2.2 GiB per GiB restored
// (bench/README.md, round seven). In file order the best of three
// restores measured 1.61-1.83x the packs' bytes before, 1.06-1.33x since
// (the rest is windows evicted while a worker behind still needed them,
// which the scheduler decides). In pack order (round nine, how remote
// restores now run) every restore fetches each pack range once: 1.00x,
// one GET per shard record and header. The bounds are on bytes and GETs,
// never on time.
func TestRemoteRestoreFetchesNearTheFloor(t *testing.T) {
	if testing.Short() {
		t.Skip("archives and restores 60 MiB")
	}
	ctx := context.Background()
	src := t.TempDir()
	rng := rand.New(rand.NewPCG(7, 17))
	write := func(p string, n int) {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 4 {
		write(filepath.Join(src, fmt.Sprintf("big%d", i)), 12<<20+i*12345)
	}
	for i := range 120 {
		write(filepath.Join(src, fmt.Sprintf("small/d%d/f%d", i/40, i)), 1+rng.IntN(96<<10))
	}
	for i := range 2 {
		write(filepath.Join(src, fmt.Sprintf("tail%d", i)), 6<<20)
	}

	var fetched, gets atomic.Int64
	stores := make([]*mem.Backend, 3)
	for i := range stores {
		stores[i] = mem.New(site.Properties{Name: fmt.Sprintf("m%d", i)})
	}
	homeSite := mem.New(site.Properties{Name: "home"})
	// sites is a fresh group over the members' stores, so that no restore
	// is served by the stripes another one left in the group's cache.
	sites := func() ([]*repo.Site, *erasure.Backend) {
		members := make([]site.Backend, len(stores))
		for i, st := range stores {
			members[i] = counted{st, &fetched, &gets}
		}
		group, err := erasure.NewWithOptions(members, 2, 1, site.Properties{Name: "rs", Jurisdiction: "EU"}, erasure.Options{Hedge: -1})
		if err != nil {
			t.Fatal(err)
		}
		return []*repo.Site{{Name: "rs", Jurisdiction: "EU", Backend: group}, {Name: "home", Backend: homeSite, MetaOnly: true}}, group
	}
	_, rec, err := keys.GenerateIdentity(true)
	if err != nil {
		t.Fatal(err)
	}
	ss, group := sites()
	root, home, err := repo.Init(ctx, repo.InitOptions{Custodians: []repo.Custodian{{Recipient: rec}}, Threshold: 1, Sites: ss})
	if err != nil {
		t.Fatal(err)
	}
	r, err := repo.Open(ctx, repo.Options{Home: home, Root: root, Sites: ss})
	if err != nil {
		t.Fatal(err)
	}
	dk, _, err := r.EnsureDataset(ctx, "reg")
	if err != nil {
		t.Fatal(err)
	}
	d, err := r.OpenDataset(ctx, dk)
	if err != nil {
		t.Fatal(err)
	}
	res, err := archiver.Run(ctx, d, archiver.Options{Paths: []string{src}, Workers: 3})
	if err != nil {
		t.Fatal(err)
	}
	id, err := d.SaveSnapshot(ctx, &repo.Snapshot{Paths: []string{src}, Tree: res.Tree, Root: res.Root, Stats: res.Stats})
	if err != nil {
		t.Fatal(err)
	}
	s, err := d.LoadSnapshot(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	// The floor: every pack's data shards, i.e. its bytes (the shard tags
	// add 32 bytes per MiB), once.
	var packBytes, packs, shardGets int64
	if err := stores[0].List(ctx, site.KindPack, func(fi site.Info) error {
		st, err := group.Stat(ctx, fi.Handle)
		packBytes += st.Size
		packs++
		shardGets += 2 * ((st.Size + 2<<20 - 1) / (2 << 20)) // k shard GETs per stripe of 2 MiB
		return err
	}); err != nil {
		t.Fatal(err)
	}

	// Restored in file order through the windows, the workers' progress,
	// and so how far apart in a pack they read, is the scheduler's: on a
	// loaded machine one restore fetched 1.76x. The best of three restores
	// must be near the floor, and none far off. In pack order every
	// restore fetches each pack range once, whatever the scheduler does.
	for _, packOrder := range []bool{false, true} {
		t.Run(map[bool]string{false: "file order", true: "pack order"}[packOrder], func(t *testing.T) {
			restoreNearTheFloor(t, sites, home, root, dk, s, src, &fetched, &gets, packBytes, packs, shardGets, packOrder)
		})
	}
}

func restoreNearTheFloor(t *testing.T, sites func() ([]*repo.Site, *erasure.Backend), home string, root *keys.Root, dk *repo.DatasetKeys, s *repo.Snapshot, src string,
	fetched, gets *atomic.Int64, packBytes, packs, shardGets int64, packOrder bool) {
	ctx := context.Background()
	best, bestGets := 0.0, int64(0)
	for run := range 3 {
		ss, _ := sites()
		r, err := repo.Open(ctx, repo.Options{Home: home, Root: root, Sites: ss})
		if err != nil {
			t.Fatal(err)
		}
		d, err := r.OpenDataset(ctx, dk)
		if err != nil {
			t.Fatal(err)
		}
		d.ReadAhead = 4 << 20 // as vault.Restore sets it for remote sites
		fetched.Store(0)
		gets.Store(0)
		target := filepath.Join(t.TempDir(), "t")
		if _, err := restorer.Restore(ctx, d, s, target, restorer.Options{Workers: 4, PackOrder: packOrder}); err != nil {
			t.Fatal(err)
		}
		same(t, src, target)
		ratio := float64(fetched.Load()) / float64(packBytes)
		t.Logf("run %d: %d packs, %.1f MiB; members sent %.1f MiB (%.2fx) in %d GETs (%d shard records)", run, packs, float64(packBytes)/(1<<20), float64(fetched.Load())/(1<<20), ratio, gets.Load(), shardGets)
		if ratio > 2.5 {
			t.Fatalf("run %d: the restore fetched %.2fx its packs' data shards (%d bytes for %d)", run, ratio, fetched.Load(), packBytes)
		}
		if packOrder && (ratio > 1.02 || gets.Load() > shardGets+3*packs) {
			t.Fatalf("run %d in pack order: %.2fx the packs' data shards in %d GETs (%d shard records, %d packs), want each range fetched once", run, ratio, gets.Load(), shardGets, packs)
		}
		if run == 0 || ratio < best {
			best, bestGets = ratio, gets.Load()
		}
	}
	// File order through windows is no longer how remote restores run
	// (vault.Restore asks for pack order), and with the whole suite
	// running the best of three reached 1.70x: its bound only catches a
	// return to round six's 2.2x.
	if best > 2.0 {
		t.Fatalf("the best of three restores fetched %.2fx its packs' data shards, want at most 2x", best)
	}
	// And about one GET per shard record, plus each member's header of
	// each pack (read once, when the group first opens the pack).
	if want := (shardGets + 3*packs) * 2; bestGets > want {
		t.Fatalf("%d member GETs for %d shard records of %d packs, want at most %d", bestGets, shardGets, packs, want)
	}
}
