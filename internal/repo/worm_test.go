package repo_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/archiver"
	"github.com/digital-embassy/embassy/internal/keys"
	"github.com/digital-embassy/embassy/internal/repo"
	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/site/mem"
)

// wormSite is an object-lock (WORM) site as S3 with versioning and object
// lock in COMPLIANCE mode behaves: every write is a new version, a version
// under retention cannot be deleted, a host's plain DELETE leaves a delete
// marker (the object reads as missing), and a create-only write is refused
// while any version exists (as versitygw does). It is the local stand-in
// for the versitygw test of internal/cli (TestCLIWORMRepairAndPruneOnRealS3).
type wormSite struct {
	mu   sync.Mutex
	objs map[site.Handle][]wormVersion
}

type wormVersion struct {
	data   []byte
	mod    time.Time
	until  time.Time
	marker bool
}

var _ site.Backend = (*wormSite)(nil)

func newWORM() *wormSite { return &wormSite{objs: map[site.Handle][]wormVersion{}} }

func (w *wormSite) current(h site.Handle) (wormVersion, bool) {
	vs := w.objs[h]
	if len(vs) == 0 || vs[len(vs)-1].marker {
		return wormVersion{}, false
	}
	return vs[len(vs)-1], true
}

func (w *wormSite) Put(ctx context.Context, h site.Handle, p site.Payload, opts site.PutOptions) error {
	b, err := io.ReadAll(p.NewReader())
	if err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if opts.IfAbsent && len(w.objs[h]) > 0 {
		return fmt.Errorf("put %v: %w", h, site.ErrExists)
	}
	w.objs[h] = append(w.objs[h], wormVersion{data: b, mod: time.Now(), until: opts.RetainUntil})
	return nil
}

func (w *wormSite) Get(ctx context.Context, h site.Handle, off, n int64, fn func(io.Reader) error) error {
	w.mu.Lock()
	v, ok := w.current(h)
	w.mu.Unlock()
	if !ok {
		return fmt.Errorf("get %v: %w", h, site.ErrNotFound)
	}
	size := int64(len(v.data))
	if off < 0 || off > size || n > 0 && off+n > size {
		return fmt.Errorf("get %v: %w", h, site.ErrRange)
	}
	end := size
	if n > 0 {
		end = off + n
	}
	return fn(bytes.NewReader(v.data[off:end]))
}

func (w *wormSite) Stat(ctx context.Context, h site.Handle) (site.Info, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	v, ok := w.current(h)
	if !ok {
		return site.Info{}, fmt.Errorf("stat %v: %w", h, site.ErrNotFound)
	}
	return site.Info{Handle: h, Size: int64(len(v.data)), ModTime: v.mod}, nil
}

func (w *wormSite) List(ctx context.Context, k site.Kind, fn func(site.Info) error) error {
	w.mu.Lock()
	var infos []site.Info
	for h := range w.objs {
		if v, ok := w.current(h); ok && h.Kind == k {
			infos = append(infos, site.Info{Handle: h, Size: int64(len(v.data)), ModTime: v.mod})
		}
	}
	w.mu.Unlock()
	for _, fi := range infos {
		if err := fn(fi); err != nil {
			return err
		}
	}
	return nil
}

// Delete removes every version, as the s3 site does, unless one is retained.
func (w *wormSite) Delete(ctx context.Context, h site.Handle) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.current(h); !ok {
		return fmt.Errorf("delete %v: %w", h, site.ErrNotFound)
	}
	for _, v := range w.objs[h] {
		if time.Now().Before(v.until) {
			return site.Permanent(fmt.Errorf("delete %v: a version is under object lock retention", h))
		}
	}
	delete(w.objs, h)
	return nil
}

func (w *wormSite) Properties() site.Properties {
	return site.Properties{Name: "worm", Jurisdiction: "LU", Location: "worm:", Connections: 4, ObjectLock: true}
}

func (w *wormSite) Close() error { return nil }

// hostDelete is a host's DELETE without a version: a delete marker.
func (w *wormSite) hostDelete(h site.Handle) {
	w.mu.Lock()
	w.objs[h] = append(w.objs[h], wormVersion{marker: true, mod: time.Now()})
	w.mu.Unlock()
}

// hostOverwrite is a host's PUT over a retained object: a new version.
func (w *wormSite) hostOverwrite(h site.Handle, b []byte) {
	w.mu.Lock()
	w.objs[h] = append(w.objs[h], wormVersion{data: b, mod: time.Now()})
	w.mu.Unlock()
}

// age moves every version d into the past, retention included.
func (w *wormSite) age(d time.Duration) {
	w.mu.Lock()
	for _, vs := range w.objs {
		for i := range vs {
			vs[i].mod = vs[i].mod.Add(-d)
			if !vs[i].until.IsZero() {
				vs[i].until = vs[i].until.Add(-d)
			}
		}
	}
	w.mu.Unlock()
}

type wormVault struct {
	t    *testing.T
	worm *wormSite
	ch   *mem.Backend
	root *keys.Root
	home string
}

const wormRetain = 24 * time.Hour

func newWORMVault(t *testing.T) *wormVault {
	t.Helper()
	v := &wormVault{t: t, worm: newWORM(), ch: mem.New(site.Properties{Name: "ch", Jurisdiction: "CH"})}
	_, rec, err := keys.GenerateIdentity(true)
	if err != nil {
		t.Fatal(err)
	}
	root, home, err := repo.Init(context.Background(), repo.InitOptions{Custodians: []repo.Custodian{{Recipient: rec}}, Threshold: 1, Sites: v.sites()})
	if err != nil {
		t.Fatal(err)
	}
	v.root, v.home = root, home
	return v
}

func (v *wormVault) sites() []*repo.Site {
	return []*repo.Site{{Name: "lu", Jurisdiction: "LU", Backend: v.worm, RetainFor: wormRetain}, {Name: "ch", Jurisdiction: "CH", Backend: v.ch}}
}

func (v *wormVault) open() (*repo.Repo, *repo.Dataset) {
	v.t.Helper()
	ctx := context.Background()
	r, err := repo.Open(ctx, repo.Options{Home: v.home, Root: v.root, Sites: v.sites(), PackSize: 1 << 20})
	if err != nil {
		v.t.Fatal(err)
	}
	dk, _, err := r.EnsureDataset(ctx, "registry")
	if err != nil {
		v.t.Fatal(err)
	}
	d, err := r.OpenDataset(ctx, dk)
	if err != nil {
		v.t.Fatal(err)
	}
	return r, d
}

func (v *wormVault) snapshot(src string) *repo.Snapshot {
	v.t.Helper()
	ctx := context.Background()
	_, d := v.open()
	res, err := archiver.Run(ctx, d, archiver.Options{Paths: []string{src}})
	if err != nil {
		v.t.Fatal(err)
	}
	s := &repo.Snapshot{Paths: []string{src}, Tree: res.Tree, Root: res.Root, Stats: res.Stats}
	if _, err := d.SaveSnapshot(ctx, s); err != nil {
		v.t.Fatal(err)
	}
	return s
}

func (v *wormVault) verify(readData bool) *repo.VerifyReport {
	v.t.Helper()
	r, _ := v.open()
	rep, err := r.Verify(context.Background(), repo.VerifyOptions{ReadData: readData})
	if err != nil {
		v.t.Fatal(err)
	}
	return rep
}

func (v *wormVault) count(b site.Backend, k site.Kind) int {
	n := 0
	b.List(context.Background(), k, func(site.Info) error { n++; return nil })
	return n
}

// TestWORMRepairWritesANewVersion: a host that hides a retained object
// behind a delete marker, or puts a new version over it, is repaired by
// writing the intact copy as a new current version (issue 11 item 14).
func TestWORMRepairWritesANewVersion(t *testing.T) {
	src := writeSource(t, 2)
	for _, tc := range []struct {
		name     string
		damage   func(v *wormVault, h site.Handle)
		readData bool
	}{
		{"delete marker", func(v *wormVault, h site.Handle) { v.worm.hostDelete(h) }, false},
		{"new version over a retained one", func(v *wormVault, h site.Handle) {
			b, _ := site.ReadAll(context.Background(), v.worm, h)
			b = bytes.Clone(b)
			b[len(b)/2] ^= 1
			v.worm.hostOverwrite(h, b)
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newWORMVault(t)
			v.snapshot(src)
			var victim site.Handle
			v.worm.List(context.Background(), site.KindPack, func(fi site.Info) error { victim = fi.Handle; return nil })
			tc.damage(v, victim)
			rep := v.verify(tc.readData)
			if damageAt(rep, "lu", victim) == nil {
				t.Fatalf("verify did not see the damage: %+v", rep.Damage)
			}
			r, _ := v.open()
			acts, err := r.Repair(context.Background(), rep, false)
			if err != nil {
				t.Fatal(err)
			}
			if len(acts) != 1 || !acts[0].Done || acts[0].From != "ch" {
				t.Fatalf("repair at the WORM site: %+v", acts)
			}
			if after := v.verify(true); len(after.Damage) != 0 {
				t.Fatalf("damage after repair: %+v", after.Damage)
			}
			if vs := v.worm.objs[victim]; len(vs) != 3 || !time.Now().Before(vs[2].until) {
				t.Fatalf("repair did not write a new retained version: %d versions", len(vs))
			}
		})
	}
}

// TestWORMPruneDefersRetainedObjects: prune deletes nothing the WORM site
// still retains, at any site, reports it as deferred, leaves verify clean,
// and deletes it in a later prune once retention has passed.
func TestWORMPruneDefersRetainedObjects(t *testing.T) {
	ctx := context.Background()
	v := newWORMVault(t)
	old := v.snapshot(smallSource(t, "old register\n"))
	v.worm.age(wormRetain + time.Hour) // the first snapshot's retention has passed
	kept := v.snapshot(smallSource(t, "new register\n"))
	_, d := v.open()
	if err := d.Forget(ctx, []repo.ID{old.ID}); err != nil {
		t.Fatalf("forget a snapshot past retention: %v", err)
	}
	idxBefore := v.count(v.ch, site.KindIndex)
	_, d = v.open()
	rep, err := d.Prune(ctx, repo.PruneOptions{})
	if err != nil {
		t.Fatalf("prune with retained objects: %v", err)
	}
	if rep.Deferred == 0 || rep.PacksDeleted == 0 {
		t.Fatalf("want retained objects deferred and expired packs deleted: %+v", rep)
	}
	// The retained, superseded index stays at both sites, so they agree.
	_, d = v.open()
	live := len(d.Idx.Files())
	if got := v.count(v.ch, site.KindIndex); got != v.count(v.worm, site.KindIndex) || got <= live || got > idxBefore+live {
		t.Fatalf("indexes: ch %d, worm %d (before %d, live %d)", got, v.count(v.worm, site.KindIndex), idxBefore, live)
	}
	if after := v.verify(true); len(after.Damage) != 0 {
		t.Fatalf("damage after a deferring prune: %+v", after.Damage)
	}
	if _, d := v.open(); !hasSnapshot(t, d, kept.ID) {
		t.Fatal("the kept snapshot is gone")
	}
	// After retention, the next prune deletes what it deferred.
	v.worm.age(wormRetain + time.Hour)
	_, d = v.open()
	if rep, err = d.Prune(ctx, repo.PruneOptions{}); err != nil || rep.Deferred != 0 {
		t.Fatalf("prune after retention: %+v %v", rep, err)
	}
	_, d = v.open()
	live = len(d.Idx.Files())
	if n, m := v.count(v.ch, site.KindIndex), v.count(v.worm, site.KindIndex); n != live || m != live {
		t.Fatalf("superseded indexes left after retention: ch %d, worm %d, live %d", n, m, live)
	}
	if after := v.verify(true); len(after.Damage) != 0 {
		t.Fatalf("damage after the second prune: %+v", after.Damage)
	}
}

func hasSnapshot(t *testing.T, d *repo.Dataset, id repo.ID) bool {
	snaps, _, err := d.Snapshots(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range snaps {
		if s.ID == id {
			return true
		}
	}
	return false
}
