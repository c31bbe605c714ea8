package archiver_test

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/archiver"
	"github.com/digital-embassy/embassy/internal/keys"
	"github.com/digital-embassy/embassy/internal/repo"
	"github.com/digital-embassy/embassy/internal/restorer"
	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/site/mem"
	"github.com/digital-embassy/embassy/internal/site/sitetest"
)

type vault struct {
	t       *testing.T
	sites   []*repo.Site
	root    *keys.Root
	home    string
	idFiles []string
	dir     string
}

func newVault(t *testing.T, nsites int) *vault {
	t.Helper()
	v := &vault{t: t, dir: t.TempDir()}
	var cs []repo.Custodian
	for i := 0; i < 3; i++ {
		id, rec, err := keys.GenerateIdentity(i == 2) // one classic custodian
		if err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(v.dir, "c"+string(rune('a'+i))+".key")
		os.WriteFile(f, keys.IdentityFile(id, rec, time.Now()), 0o600)
		v.idFiles = append(v.idFiles, f)
		cs = append(cs, repo.Custodian{Recipient: rec})
	}
	for i := 0; i < nsites; i++ {
		b := sitetest.NewFaulty(mem.New(site.Properties{Name: "s" + string(rune('0'+i)), Jurisdiction: "LU"}))
		v.sites = append(v.sites, &repo.Site{Name: "s" + string(rune('0'+i)), Jurisdiction: "LU", Backend: b})
	}
	root, home, err := repo.Init(context.Background(), repo.InitOptions{Custodians: cs, Threshold: 2, Sites: v.sites})
	if err != nil {
		t.Fatal(err)
	}
	v.root, v.home = root, home
	return v
}

func (v *vault) open() *repo.Repo {
	v.t.Helper()
	fresh := make([]*repo.Site, len(v.sites))
	for i, s := range v.sites {
		fresh[i] = &repo.Site{Name: s.Name, Jurisdiction: s.Jurisdiction, Backend: s.Backend}
	}
	r, err := repo.Open(context.Background(), repo.Options{Home: v.home, Root: v.root, Sites: fresh, PackSize: 1 << 20})
	if err != nil {
		v.t.Fatal(err)
	}
	return r
}

func writeTree(t *testing.T, dir string, seed uint64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	os.MkdirAll(filepath.Join(dir, "sub", "deep"), 0o755)
	os.MkdirAll(filepath.Join(dir, "empty"), 0o700)
	for i := 0; i < 20; i++ {
		n := rng.IntN(300_000)
		b := make([]byte, n)
		if i%2 == 0 {
			crand.Read(b)
		} else {
			for j := range b {
				b[j] = "registry,row,Tamm,Mari\n"[j%23]
			}
		}
		p := filepath.Join(dir, []string{"", "sub", "sub/deep"}[i%3], "f"+string(rune('a'+i)))
		os.WriteFile(p, b, 0o640)
	}
	big := make([]byte, 3<<20)
	crand.Read(big)
	os.WriteFile(filepath.Join(dir, "big.bin"), big, 0o600)
	os.WriteFile(filepath.Join(dir, "empty.txt"), nil, 0o644)
	os.Symlink("sub/fb", filepath.Join(dir, "link"))
	os.Chmod(filepath.Join(dir, "sub"), 0o750)
	old := time.Date(2001, 2, 3, 4, 5, 6, 7000, time.UTC)
	os.Chtimes(filepath.Join(dir, "big.bin"), old, old)
}

func snapshot(t *testing.T, r *repo.Repo, name, dir string) *repo.Snapshot {
	t.Helper()
	ctx := context.Background()
	dk, _, err := r.EnsureDataset(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	d, err := r.OpenDataset(ctx, dk)
	if err != nil {
		t.Fatal(err)
	}
	var parent *repo.Snapshot
	if snaps, _, _ := d.Snapshots(ctx); len(snaps) > 0 {
		parent = snaps[len(snaps)-1]
	}
	res, err := archiver.Run(ctx, d, archiver.Options{Paths: []string{dir}, Parent: parent})
	if err != nil {
		t.Fatal(err)
	}
	s := &repo.Snapshot{Paths: []string{dir}, Class: "C2-I3-A3", Tree: res.Tree, Root: res.Root, Stats: res.Stats}
	if _, err := d.SaveSnapshot(ctx, s); err != nil {
		t.Fatal(err)
	}
	return s
}

func restoreAndCompare(t *testing.T, r *repo.Repo, name string, s *repo.Snapshot, src string) {
	t.Helper()
	ctx := context.Background()
	dk, err := r.Dataset(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	d, err := r.OpenDataset(ctx, dk)
	if err != nil {
		t.Fatal(err)
	}
	target := t.TempDir()
	if _, err := restorer.Restore(ctx, d, s, target, restorer.Options{}); err != nil {
		t.Fatal(err)
	}
	compareDirs(t, src, target)
}

func compareDirs(t *testing.T, a, b string) {
	t.Helper()
	err := filepath.WalkDir(a, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(a, p)
		q := filepath.Join(b, rel)
		fa, _ := os.Lstat(p)
		fb, err := os.Lstat(q)
		if err != nil {
			t.Errorf("%s missing in restore", rel)
			return nil
		}
		if fa.Mode() != fb.Mode() {
			t.Errorf("%s: mode %v != %v", rel, fa.Mode(), fb.Mode())
		}
		if !fa.ModTime().Equal(fb.ModTime()) && rel != "." {
			t.Errorf("%s: mtime %v != %v", rel, fa.ModTime(), fb.ModTime())
		}
		if fa.Mode().IsRegular() {
			x, _ := os.ReadFile(p)
			y, _ := os.ReadFile(q)
			if !bytes.Equal(x, y) {
				t.Errorf("%s: content differs", rel)
			}
		}
		if fa.Mode()&fs.ModeSymlink != 0 {
			x, _ := os.Readlink(p)
			y, _ := os.Readlink(q)
			if x != y {
				t.Errorf("%s: link differs", rel)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestSnapshotRestoreRoundTrip(t *testing.T) {
	v := newVault(t, 2)
	r := v.open()
	src := t.TempDir()
	writeTree(t, src, 1)
	s1 := snapshot(t, r, "registry", src)
	restoreAndCompare(t, r, "registry", s1, src)

	// Second snapshot: unchanged files are reused, nothing new stored.
	s2 := snapshot(t, r, "registry", src)
	if s2.Stats.NewBlobs != 0 || s2.Stats.Unchanged != s2.Stats.Files {
		t.Errorf("unchanged snapshot stored %d blobs, reused %d of %d files", s2.Stats.NewBlobs, s2.Stats.Unchanged, s2.Stats.Files)
	}
	// Change one file: only its chunks are new.
	os.WriteFile(filepath.Join(src, "sub", "fb"), []byte("changed"), 0o640)
	s3 := snapshot(t, r, "registry", src)
	if s3.Stats.NewBlobs == 0 || s3.Stats.NewBlobs > 3 {
		t.Errorf("after one change, %d new blobs", s3.Stats.NewBlobs)
	}
	restoreAndCompare(t, v.open(), "registry", s3, src)

	// Verify finds nothing, then finds a flipped pack at one site, and
	// restore still works from the other.
	rep, err := v.open().Verify(context.Background(), repo.VerifyOptions{ReadData: true})
	if err != nil || len(rep.Damage) != 0 {
		t.Fatalf("verify: %v %+v", err, rep.Damage)
	}
	v.sites[0].Backend.(*sitetest.Faulty).Corrupt(func(h site.Handle) bool { return h.Kind == site.KindPack })
	rep, err = v.open().Verify(context.Background(), repo.VerifyOptions{ReadData: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Damage) == 0 {
		t.Fatal("verify found no damage after corruption")
	}
	for _, d := range rep.Damage {
		if d.Site != "s0" || !strings.HasPrefix(d.Object, "data/") {
			t.Errorf("unexpected damage %+v", d)
		}
	}
	restoreAndCompare(t, v.open(), "registry", s3, src)
}

func TestRecoverRotateShred(t *testing.T) {
	ctx := context.Background()
	v := newVault(t, 1)
	r := v.open()
	src := t.TempDir()
	writeTree(t, src, 2)
	snapshot(t, r, "keep", src)
	snapshot(t, r, "doomed", src)

	ids := func(files ...string) []repo.IdentitySource {
		var out []repo.IdentitySource
		for _, f := range files {
			b, _ := os.ReadFile(f)
			id, err := keys.ParseIdentities(b)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, repo.IdentitySource{Label: f, Identities: id})
		}
		return out
	}
	// Too few, duplicate, foreign.
	if _, err := repo.Recover(ctx, v.sites[0], ids(v.idFiles[0])); err == nil || !strings.Contains(err.Error(), "2 of 3") {
		t.Errorf("recover with one custodian: %v", err)
	}
	if _, err := repo.Recover(ctx, v.sites[0], ids(v.idFiles[0], v.idFiles[0])); err == nil {
		t.Errorf("recover with a duplicate identity succeeded")
	}
	other := newVault(t, 1)
	if _, err := repo.Recover(ctx, v.sites[0], ids(v.idFiles[0], other.idFiles[1])); !errors.Is(err, repo.ErrForeignHome) {
		t.Errorf("recover with a foreign identity: %v", err)
	}
	rec, err := repo.Recover(ctx, v.sites[0], ids(v.idFiles[0], v.idFiles[2]))
	if err != nil {
		t.Fatal(err)
	}
	if !rec.Root.Equal(v.root) {
		t.Fatal("recovered root differs")
	}

	// A hostile host keeps every byte it is ever given: a copy now (epoch
	// 1 shares and wrapped keys) and another before the shred.
	kept := map[site.Handle][]byte{}
	keepAll := func() {
		for _, k := range site.Kinds {
			v.sites[0].Backend.List(ctx, k, func(fi site.Info) error {
				b, err := site.ReadAll(ctx, v.sites[0].Backend, fi.Handle)
				if err != nil {
					t.Fatal(err)
				}
				kept[fi.Handle] = b
				return nil
			})
		}
	}
	keepAll()

	// Rotate: old snapshots readable, new writes use the new key version.
	var saved *keys.Root
	rep, err := r.Rotate(ctx, repo.RotateOptions{Persist: func(k *keys.Root) error { saved = k; return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if rep.NewEpoch != 2 || saved == nil || saved.Epoch != 2 {
		t.Fatalf("rotate report %+v", rep)
	}
	v.root = saved
	r2 := v.open()
	dk, err := r2.Dataset(ctx, "keep")
	if err != nil {
		t.Fatal(err)
	}
	if dk.Current != 2 || len(dk.Keys) != 2 {
		t.Errorf("after rotate: current version %d, %d versions", dk.Current, len(dk.Keys))
	}
	d, _ := r2.OpenDataset(ctx, dk)
	snaps, _, _ := d.Snapshots(ctx)
	restoreAndCompare(t, r2, "keep", snaps[0], src)
	// Recovery after rotation uses the new shares.
	rec, err = repo.Recover(ctx, v.sites[0], ids(v.idFiles[1], v.idFiles[2]))
	if err != nil || !rec.Root.Equal(saved) {
		t.Fatalf("recover after rotate: %v", err)
	}

	// Shred: copy the site first, as a hostile host would.
	keepAll()
	preShred := saved // the epoch-2 root, for the control below
	doomed, _ := r2.Dataset(ctx, "doomed")
	if d, err := r2.OpenDataset(ctx, doomed); err != nil {
		t.Fatal(err)
	} else if s, _, _ := d.Snapshots(ctx); len(s) != 1 {
		t.Fatalf("doomed has %d snapshots before the shred", len(s))
	}
	if _, err := r2.Shred(ctx, "doomed", func(k *keys.Root) error { saved = k; return nil }); err != nil {
		t.Fatal(err)
	}
	v.root = saved
	r3 := v.open()
	if _, err := r3.Dataset(ctx, "doomed"); err == nil {
		t.Fatal("shredded dataset still listed")
	}
	// Nothing left at the site mentions the dataset.
	for _, k := range site.Kinds {
		v.sites[0].Backend.List(ctx, k, func(fi site.Info) error {
			if strings.Contains(fi.Handle.Name, doomed.ID) {
				t.Errorf("object %s of the shredded dataset survived", fi.Handle)
			}
			return nil
		})
	}
	// The attacker: the host's copy of every byte it ever held (both
	// copies, old shares and old wrapped keys included) plus what the site
	// holds now, and the home's current root, seized after the shred.
	hostile := mem.New(site.Properties{Name: "hostile", Jurisdiction: "LU"})
	put := func(h site.Handle, b []byte) {
		if err := hostile.Put(ctx, h, site.Bytes(b), site.PutOptions{}); err != nil && !errors.Is(err, site.ErrExists) {
			t.Fatal(err)
		}
	}
	for h, b := range kept {
		put(h, b)
	}
	for _, k := range site.Kinds {
		v.sites[0].Backend.List(ctx, k, func(fi site.Info) error {
			b, _ := site.ReadAll(ctx, v.sites[0].Backend, fi.Handle)
			put(fi.Handle, b)
			return nil
		})
	}
	seizedKEM, err := saved.KEM()
	if err != nil {
		t.Fatal(err)
	}
	oldKEM, err := preShred.KEM()
	if err != nil {
		t.Fatal(err)
	}
	// 1. Every wrapped key of the dataset it kept, unwrapped the way the
	// home does (docs: info "embassy.v1 datakey HOME DSID VERSION EPOCH"),
	// fails under the seized root. The control: the epoch-2 key opens
	// under the epoch-2 root, so the attempt is a real one.
	wrapped, opened := 0, 0
	var keyHandles []site.Handle
	hostile.List(ctx, site.KindKey, func(fi site.Info) error {
		keyHandles = append(keyHandles, fi.Handle)
		return nil
	})
	for _, h := range keyHandles {
		var ver, ep uint32
		if !strings.HasPrefix(h.Name, "datasets/"+doomed.ID+"/") {
			continue
		}
		b, err := site.ReadAll(ctx, hostile, h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fmt.Sscanf(strings.TrimPrefix(h.Name, "datasets/"+doomed.ID+"/"), "v%06d.e%08d", &ver, &ep); err != nil {
			t.Fatalf("kept key %s: %v", h, err)
		}
		wrapped++
		info := fmt.Appendf(nil, "embassy.v1 datakey %s %s %d %d", v.home, doomed.ID, ver, ep)
		if _, err := keys.Unwrap(seizedKEM, info, b); err == nil {
			t.Errorf("wrapped key %s of the shredded dataset opens under the root seized after the shred", h)
		}
		if ep == 2 {
			if _, err := keys.Unwrap(oldKEM, info, b); err != nil {
				t.Errorf("control: wrapped key %s does not open under its own epoch's root: %v", h, err)
			}
			opened++
		}
	}
	if wrapped < 2 || opened == 0 {
		t.Fatalf("the host kept %d wrapped keys of the dataset (%d of epoch 2): the attack was not tried", wrapped, opened)
	}
	// 2. A vault opened over everything the host kept, with the seized
	// root, finds no key of the dataset (its data keys are what decrypt
	// manifests and packs; only the shredded epochs' roots unwrap them).
	hr, err := repo.Open(ctx, repo.Options{Home: v.home, Root: saved, Sites: []*repo.Site{{Name: "hostile", Jurisdiction: "LU", Backend: hostile}}})
	if err != nil {
		t.Fatalf("open the hostile copy: %v", err)
	}
	if _, err := hr.Dataset(ctx, "doomed"); err == nil {
		t.Error("the hostile copy with the seized root lists the shredded dataset")
	}
	if all, err := hr.Datasets(ctx); err != nil || all[doomed.Name] != nil || len(all) != 1 {
		t.Errorf("datasets of the hostile copy: %v %v, want only keep", all, err)
	}
	// 3. The custodians, asked after the shred, rebuild the current root
	// from what the sites hold: it does not open the dataset either.
	recNow, err := repo.Recover(ctx, v.sites[0], ids(v.idFiles[0], v.idFiles[1]))
	if err != nil || recNow.Root.Epoch != 3 {
		t.Fatalf("recover after shred: %v", err)
	}
	// The other dataset survives.
	dk, _ = r3.Dataset(ctx, "keep")
	d, _ = r3.OpenDataset(ctx, dk)
	snaps, _, _ = d.Snapshots(ctx)
	restoreAndCompare(t, r3, "keep", snaps[0], src)
}

func TestPruneKeepsReferenced(t *testing.T) {
	ctx := context.Background()
	v := newVault(t, 2)
	r := v.open()
	src := t.TempDir()
	writeTree(t, src, 3)
	s1 := snapshot(t, r, "ds", src)
	os.Remove(filepath.Join(src, "big.bin"))
	os.WriteFile(filepath.Join(src, "new.bin"), bytes.Repeat([]byte("x"), 100000), 0o644)
	s2 := snapshot(t, r, "ds", src)
	dk, _ := r.Dataset(ctx, "ds")
	d, _ := r.OpenDataset(ctx, dk)
	// Forget s1, prune.
	if err := d.Forget(ctx, []repo.ID{s1.ID}); err != nil {
		t.Fatal(err)
	}
	rep, err := d.Prune(ctx, repo.PruneOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.PacksDeleted+rep.PacksRepacked == 0 {
		t.Errorf("prune freed nothing: %+v", rep)
	}
	restoreAndCompare(t, v.open(), "ds", s2, src)
	vr, err := v.open().Verify(ctx, repo.VerifyOptions{ReadData: true})
	if err != nil || len(vr.Damage) > 0 {
		t.Fatalf("verify after prune: %v %+v", err, vr.Damage)
	}
}
