package repo_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/digital-embassy/embassy/internal/archiver"
	"github.com/digital-embassy/embassy/internal/keys"
	"github.com/digital-embassy/embassy/internal/repo"
	"github.com/digital-embassy/embassy/internal/restorer"
	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/site/mem"
	"github.com/digital-embassy/embassy/internal/site/sitetest"
)

// Bad-input and fault tests of the multi-site logic: damage at one site
// must be survived through the other and named by verify; damage at every
// site must give a clear error naming the object.

type vault struct {
	t     *testing.T
	sites []*sitetest.Faulty
	mems  []*mem.Backend
	root  *keys.Root
	home  string
}

func newVault(t *testing.T) *vault {
	t.Helper()
	v := &vault{t: t}
	var cs []repo.Custodian
	for i := 0; i < 2; i++ {
		_, rec, err := keys.GenerateIdentity(true)
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, repo.Custodian{Recipient: rec})
	}
	var rs []*repo.Site
	for _, n := range []string{"lu", "ch"} {
		m := mem.New(site.Properties{Name: n, Jurisdiction: strings.ToUpper(n)})
		f := sitetest.NewFaulty(m)
		v.mems, v.sites = append(v.mems, m), append(v.sites, f)
		rs = append(rs, &repo.Site{Name: n, Jurisdiction: strings.ToUpper(n), Backend: f})
	}
	root, home, err := repo.Init(context.Background(), repo.InitOptions{Custodians: cs, Threshold: 1, Sites: rs})
	if err != nil {
		t.Fatal(err)
	}
	v.root, v.home = root, home
	return v
}

// open opens the vault afresh (no state shared with earlier sessions).
func (v *vault) open() *repo.Repo {
	v.t.Helper()
	var rs []*repo.Site
	for i, n := range []string{"lu", "ch"} {
		rs = append(rs, &repo.Site{Name: n, Jurisdiction: strings.ToUpper(n), Backend: v.sites[i]})
	}
	r, err := repo.Open(context.Background(), repo.Options{Home: v.home, Root: v.root, Sites: rs, PackSize: 1 << 20})
	if err != nil {
		v.t.Fatal(err)
	}
	return r
}

func (v *vault) dataset(r *repo.Repo) *repo.Dataset {
	v.t.Helper()
	ctx := context.Background()
	dk, _, err := r.EnsureDataset(ctx, "registry")
	if err != nil {
		v.t.Fatal(err)
	}
	d, err := r.OpenDataset(ctx, dk)
	if err != nil {
		v.t.Fatal(err)
	}
	return d
}

// snapshot stores src (a fresh session each time) and returns the manifest.
func (v *vault) snapshot(src string) *repo.Snapshot {
	v.t.Helper()
	ctx := context.Background()
	d := v.dataset(v.open())
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

// restore restores s into a new directory and returns it, and the sites
// whose copies were damaged but replaced by another site's.
func (v *vault) restore(s *repo.Snapshot) (string, map[string]error, error) {
	r := v.open()
	d := v.dataset(r)
	target := filepath.Join(v.t.TempDir(), "r")
	_, err := restorer.Restore(context.Background(), d, s, target, restorer.Options{})
	return target, r.ReadErrors(), err
}

func (v *vault) verify(readData bool) *repo.VerifyReport {
	v.t.Helper()
	rep, err := v.open().Verify(context.Background(), repo.VerifyOptions{ReadData: readData})
	if err != nil {
		v.t.Fatal(err)
	}
	return rep
}

// objects lists the objects of kind k at site i.
func (v *vault) objects(i int, k site.Kind) []site.Info {
	var out []site.Info
	v.mems[i].List(context.Background(), k, func(fi site.Info) error {
		out = append(out, fi)
		return nil
	})
	return out
}

func (v *vault) read(i int, h site.Handle) []byte {
	b, err := site.ReadAll(context.Background(), v.mems[i], h)
	if err != nil {
		v.t.Fatal(err)
	}
	return b
}

// replace overwrites object h at site i, as a hostile or broken host would.
func (v *vault) replace(i int, h site.Handle, b []byte) {
	if err := v.mems[i].Put(context.Background(), h, site.Bytes(b), site.PutOptions{}); err != nil {
		v.t.Fatal(err)
	}
}

// writeSource writes a source folder of about n MiB of incompressible data
// in several files, so that it spans several 1 MiB packs.
func writeSource(t *testing.T, n int) string {
	t.Helper()
	src := t.TempDir()
	for i := 0; i < n; i++ {
		b := make([]byte, 1<<20+i*4096)
		rand.Read(b)
		if err := os.WriteFile(filepath.Join(src, "part"+string(rune('a'+i))+".bin"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(src, "small.txt"), []byte("38501012231,Mari,Tamm,Tallinn\n"), 0o644)
	return src
}

func sameTree(t *testing.T, a, b string) {
	t.Helper()
	ents, err := os.ReadDir(a)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		x, _ := os.ReadFile(filepath.Join(a, e.Name()))
		y, err := os.ReadFile(filepath.Join(b, e.Name()))
		if err != nil || !bytes.Equal(x, y) {
			t.Errorf("%s restored differently: %v", e.Name(), err)
		}
	}
}

// damageAt returns the damage verify reported at site for object h.
func damageAt(rep *repo.VerifyReport, siteName string, h site.Handle) *repo.Damage {
	for i, d := range rep.Damage {
		if d.Site == siteName && d.Object == h.String() {
			return &rep.Damage[i]
		}
	}
	return nil
}

func TestDamagedPackAtOneSite(t *testing.T) {
	src := writeSource(t, 3)
	for _, tc := range []struct {
		name     string
		damage   func(v *vault, victim, other site.Info) []byte
		readData bool   // whether verify needs --read-data to see it
		problem  string // what verify says
	}{
		{"truncated", func(v *vault, victim, _ site.Info) []byte {
			b := v.read(0, victim.Handle)
			return b[:len(b)/2]
		}, false, "truncated or replaced"},
		{"swapped with another pack of the dataset", func(v *vault, _, other site.Info) []byte {
			return v.read(0, other.Handle)
		}, false, "truncated or replaced"},
		{"one byte flipped", func(v *vault, victim, _ site.Info) []byte {
			b := bytes.Clone(v.read(0, victim.Handle))
			b[len(b)/3] ^= 0x40
			return b
		}, true, "does not match its name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newVault(t)
			s := v.snapshot(src)
			packs := v.objects(0, site.KindPack)
			if len(packs) < 3 {
				t.Fatalf("want several packs, got %d", len(packs))
			}
			// The victim, a data pack (the largest: the tree pack's trees
			// may be served from the dataset's tree cache without a read,
			// and which pack sorted first was chance), and a pack of
			// another size to swap in.
			victim := packs[0]
			for _, p := range packs {
				if p.Size > victim.Size {
					victim = p
				}
			}
			other := victim
			for _, p := range packs {
				if p.Size != victim.Size {
					other = p
				}
			}
			bad := tc.damage(v, victim, other)
			v.replace(0, victim.Handle, bad)

			// Restore falls back to the intact copy at the other site, and
			// notes the damaged one.
			target, rerrs, err := v.restore(s)
			if err != nil {
				t.Fatalf("restore with one damaged copy: %v", err)
			}
			sameTree(t, src, target)
			if e := rerrs["lu"]; len(rerrs) != 1 || e == nil || !strings.Contains(e.Error(), victim.Handle.String()) {
				t.Errorf("damaged copy not noted: %v", rerrs)
			}

			// Verify names the site, the object and the snapshot.
			rep := v.verify(tc.readData)
			d := damageAt(rep, "lu", victim.Handle)
			if d == nil || !strings.Contains(d.Problem, tc.problem) || len(d.Snapshots) != 1 || d.Snapshots[0] != s.ID.String() {
				t.Fatalf("verify: want damage %q at lu %s for snapshot %s, got %+v", tc.problem, victim.Handle, s.ID.Short(), rep.Damage)
			}
			if len(rep.Damage) != 1 {
				t.Errorf("verify reported more than the one damaged pack: %+v", rep.Damage)
			}

			// Damaged at both sites: restore fails and names the pack.
			v.replace(1, victim.Handle, bad)
			_, _, err = v.restore(s)
			if err == nil {
				t.Fatal("restore succeeded with the pack damaged at every site")
			}
			id, _ := repo.ParseID(victim.Handle.Name[strings.LastIndexByte(victim.Handle.Name, '/')+1:])
			for _, want := range []string{victim.Handle.String(), "site lu", "site ch"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("restore error %q does not name %q (pack %s)", err, want, id.Short())
				}
			}
		})
	}
}

func TestIndexMissingAtOneSite(t *testing.T) {
	v := newVault(t)
	src := writeSource(t, 2)
	s := v.snapshot(src)
	idx := v.objects(0, site.KindIndex)
	if len(idx) == 0 {
		t.Fatal("no index written")
	}
	for _, fi := range idx {
		if err := v.mems[0].Delete(context.Background(), fi.Handle); err != nil {
			t.Fatal(err)
		}
	}
	target, rerrs, err := v.restore(s)
	if err != nil {
		t.Fatalf("restore with the indexes gone at one site: %v", err)
	}
	sameTree(t, src, target)
	if len(rerrs) != 0 {
		t.Errorf("a missing copy was noted as damaged: %v", rerrs)
	}
	rep := v.verify(false)
	for _, fi := range idx {
		if d := damageAt(rep, "lu", fi.Handle); d == nil || d.Problem != "missing" {
			t.Errorf("verify does not report %s missing at lu: %+v", fi.Handle, rep.Damage)
		}
	}
	if len(rep.Damage) != len(idx) {
		t.Errorf("verify: want %d problems, got %+v", len(idx), rep.Damage)
	}
	// An index that does not authenticate at one site is also survived.
	v.replace(0, idx[0].Handle, bytes.Repeat([]byte{7}, int(idx[0].Size)))
	if _, rerrs, err := v.restore(s); err != nil || rerrs["lu"] == nil {
		t.Fatalf("restore with a garbage index at one site: %v (noted: %v)", err, rerrs)
	}
	// Garbage at every site: opening the dataset fails and names the index.
	v.replace(1, idx[0].Handle, bytes.Repeat([]byte{7}, int(idx[0].Size)))
	r := v.open()
	dk, _, _ := r.EnsureDataset(context.Background(), "registry")
	_, err = r.OpenDataset(context.Background(), dk)
	if err == nil || !strings.Contains(err.Error(), "index") || !strings.Contains(err.Error(), "does not match its name") {
		t.Fatalf("open dataset with an index damaged everywhere: %v", err)
	}
}

func TestManifestCorruptAtEverySite(t *testing.T) {
	v := newVault(t)
	src := writeSource(t, 1)
	s1 := v.snapshot(src)
	s2 := v.snapshot(src)
	h := site.Handle{Kind: site.KindSnapshot}
	for _, fi := range v.objects(0, site.KindSnapshot) {
		if strings.HasSuffix(fi.Handle.Name, s1.ID.String()) {
			h = fi.Handle
		}
	}
	for i := range v.mems {
		b := bytes.Clone(v.read(i, h))
		b[len(b)-1] ^= 1
		v.replace(i, h, b)
	}
	d := v.dataset(v.open())
	good, bad, err := d.Snapshots(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(good) != 1 || good[0].ID != s2.ID {
		t.Errorf("intact snapshots: %v", good)
	}
	if e, ok := bad[s1.ID]; !ok || len(bad) != 1 || !strings.Contains(e.Error(), "does not match its name") {
		t.Errorf("damaged snapshots: %v", bad)
	}
	// Asking for the damaged snapshot says it is damaged, not unknown.
	_, err = d.FindSnapshot(context.Background(), s1.ID.String()[:10])
	if err == nil || !strings.Contains(err.Error(), "damaged") || !strings.Contains(err.Error(), s1.ID.Short()) {
		t.Errorf("find damaged snapshot: %v", err)
	}
	if got, err := d.FindSnapshot(context.Background(), "latest"); err != nil || got.ID != s2.ID {
		t.Errorf("latest: %v %v", got, err)
	}
	rep := v.verify(false)
	if len(rep.Damage) == 0 || rep.Damage[0].Site != "*" || rep.Damage[0].Object != h.String() {
		t.Errorf("verify: %+v", rep.Damage)
	}
}

func TestSiteFaults(t *testing.T) {
	ctx := context.Background()
	src := writeSource(t, 2)
	isPack := func(h site.Handle) bool { return h.Kind == site.KindPack }

	t.Run("reads fail at one site", func(t *testing.T) {
		v := newVault(t)
		s := v.snapshot(src)
		v.sites[0].Inject(sitetest.Fault{Ops: sitetest.OpGet, Match: isPack})
		target, rerrs, err := v.restore(s)
		if err != nil {
			t.Fatal(err)
		}
		sameTree(t, src, target)
		if e := rerrs["lu"]; e == nil || !strings.Contains(e.Error(), "injected fault") {
			t.Errorf("failed reads not noted: %v", rerrs)
		}
	})
	t.Run("writes fail at one site", func(t *testing.T) {
		v := newVault(t)
		v.sites[1].Inject(sitetest.Fault{Ops: sitetest.OpPut, Match: isPack, Err: errors.New("no space left on device")})
		r := v.open()
		dk, _, err := r.EnsureDataset(ctx, "registry")
		if err != nil {
			t.Fatal(err)
		}
		d, _ := r.OpenDataset(ctx, dk)
		res, err := archiver.Run(ctx, d, archiver.Options{Paths: []string{src}})
		if err != nil {
			t.Fatalf("snapshot with one failing site: %v", err)
		}
		s := &repo.Snapshot{Paths: []string{src}, Tree: res.Tree, Root: res.Root}
		if _, err := d.SaveSnapshot(ctx, s); err != nil {
			t.Fatal(err)
		}
		errs := r.SiteErrors()
		if e := errs["ch"]; len(errs) != 1 || e == nil || !strings.Contains(e.Error(), "no space left") || !strings.Contains(e.Error(), "data/") {
			t.Fatalf("site errors: %v", errs)
		}
		v.sites[1].Clear()
		target, _, err := v.restore(s)
		if err != nil {
			t.Fatal(err)
		}
		sameTree(t, src, target)
		// The failed site was skipped, so it has neither packs nor the manifest.
		if rep := v.verify(false); damageAt(rep, "ch", d.SnapshotHandle(s.ID)) == nil {
			t.Errorf("verify does not report the manifest missing at ch: %+v", rep.Damage)
		}
	})
	t.Run("writes fail at every site", func(t *testing.T) {
		v := newVault(t)
		for _, f := range v.sites {
			f.Inject(sitetest.Fault{Ops: sitetest.OpPut, Match: isPack})
		}
		r := v.open()
		dk, _, _ := r.EnsureDataset(ctx, "registry")
		d, _ := r.OpenDataset(ctx, dk)
		_, err := archiver.Run(ctx, d, archiver.Options{Paths: []string{src}})
		if err == nil || !strings.Contains(err.Error(), "every site") || !strings.Contains(err.Error(), "injected fault") {
			t.Fatalf("snapshot with every site failing: %v", err)
		}
	})
}
