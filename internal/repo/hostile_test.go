package repo_test

import (
	"filippo.io/age"

	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/archiver"
	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/keys"
	"github.com/digital-embassy/embassy/internal/repo"
	"github.com/digital-embassy/embassy/internal/restorer"
	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/site/mem"
	"github.com/digital-embassy/embassy/internal/site/sitetest"
)

// The hostile-site unit tests: site "lu" is played by sitetest.Hostile,
// "ch" is honest, and "home" is the home's own mirror. Each test plays one
// attack of docs/THREATS.md with only what a host holds (its site's bytes
// and the vault's public records) and checks that it is refused or
// detected with an alert naming the site, and that nothing is lost.

type hostileVault struct {
	t      *testing.T
	lu     *sitetest.Hostile
	ch     *mem.Backend
	meta   *mem.Backend
	root   *keys.Root
	home   string
	alerts []repo.Alert
	cs     [][]age.Identity
}

func newHostileVault(t *testing.T) *hostileVault {
	t.Helper()
	v := &hostileVault{t: t,
		lu:   sitetest.NewHostile(mem.New(site.Properties{Name: "lu", Jurisdiction: "LU"})),
		ch:   mem.New(site.Properties{Name: "ch", Jurisdiction: "CH"}),
		meta: mem.New(site.Properties{Name: "home"}),
	}
	var cs []repo.Custodian
	for i := 0; i < 2; i++ {
		id, rec, err := keys.GenerateIdentity(true)
		if err != nil {
			t.Fatal(err)
		}
		ids, err := keys.ParseIdentities([]byte(id))
		if err != nil {
			t.Fatal(err)
		}
		v.cs = append(v.cs, ids)
		cs = append(cs, repo.Custodian{Recipient: rec})
	}
	root, home, err := repo.Init(context.Background(), repo.InitOptions{Custodians: cs, Threshold: 1, Sites: v.sites()})
	if err != nil {
		t.Fatal(err)
	}
	v.root, v.home = root, home
	return v
}

func (v *hostileVault) sites() []*repo.Site {
	return []*repo.Site{
		{Name: "lu", Jurisdiction: "LU", Backend: v.lu},
		{Name: "ch", Jurisdiction: "CH", Backend: v.ch},
		{Name: "home", Backend: v.meta, MetaOnly: true},
	}
}

func (v *hostileVault) open() *repo.Repo {
	v.t.Helper()
	r, err := repo.Open(context.Background(), repo.Options{Home: v.home, Root: v.root, Sites: v.sites(), PackSize: 1 << 20,
		OnAlert: func(a repo.Alert) { v.alerts = append(v.alerts, a) }})
	if err != nil {
		v.t.Fatal(err)
	}
	return r
}

func (v *hostileVault) alerted(siteName string, attack repo.Attack) bool {
	for _, a := range v.alerts {
		if a.Site == siteName && a.Attack == attack {
			return true
		}
	}
	return false
}

func (v *hostileVault) snapshot(r *repo.Repo, name, src string) *repo.Snapshot {
	v.t.Helper()
	ctx := context.Background()
	dk, _, err := r.EnsureDataset(ctx, name)
	if err != nil {
		v.t.Fatal(err)
	}
	d, err := r.OpenDataset(ctx, dk)
	if err != nil {
		v.t.Fatal(err)
	}
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

func smallSource(t *testing.T, content string) string {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "register.csv"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// mintKeyRecord builds what a host can build from public parts alone: a
// dataset key record of its choosing, HPKE-wrapped to the epoch's public KEM
// key found in the epoch record at its site.
func mintKeyRecord(t *testing.T, r *repo.Repo, dsid, name string, version uint32) (site.Handle, []byte) {
	t.Helper()
	ep := r.CurrentEpoch()
	pubBytes, err := base64.StdEncoding.DecodeString(ep.KEM)
	if err != nil {
		t.Fatal(err)
	}
	k := make([]byte, 32)
	rec, _ := json.Marshal(map[string]any{"format": "embassy.datakey.v1", "home": r.Home(), "dataset": name, "dataset_id": dsid,
		"version": version, "created": time.Now().UTC(), "enc": k, "id_key": k, "gear_key": k})
	info := fmt.Appendf(nil, "embassy.v1 datakey %s %s %d %d", r.Home(), dsid, version, ep.Epoch)
	wrapped, err := keys.Wrap(pubBytes, info, rec)
	if err != nil {
		t.Fatal(err)
	}
	return site.Handle{Kind: site.KindKey, Name: fmt.Sprintf("datasets/%s/v%06d.e%08d", dsid, version, ep.Epoch)}, wrapped
}

func TestHostileMintedKeyVersionIsNeverUsed(t *testing.T) {
	v := newHostileVault(t)
	ctx := context.Background()
	r := v.open()
	v.snapshot(r, "registry", smallSource(t, "38501012231,Mari,Tamm\n"))
	dk, err := r.Dataset(ctx, "registry")
	if err != nil {
		t.Fatal(err)
	}
	// The host mints version 2 of the existing dataset and version 1 of a
	// dataset the home has not created yet, and a second "registry".
	h1, b1 := mintKeyRecord(t, r, dk.ID, "registry", 2)
	h2, b2 := mintKeyRecord(t, r, strings.Repeat("ab", 16), "future", 1)
	h3, b3 := mintKeyRecord(t, r, strings.Repeat("cd", 16), "registry", 1)
	v.lu.Plant(h1, b1)
	v.lu.Plant(h2, b2)
	v.lu.Plant(h3, b3)

	r = v.open()
	all, err := r.Datasets(ctx)
	if err != nil {
		t.Fatalf("a minted record broke the command: %v", err)
	}
	if got := all["registry"]; got == nil || got.Current != 1 || got.ID != dk.ID || len(got.Keys) != 1 {
		t.Fatalf("registry keys after minting: %+v", got)
	}
	if _, ok := all["future"]; ok {
		t.Fatal("a dataset the home never created is listed")
	}
	if !v.alerted("lu", repo.AttackMintedKey) || !v.alerted("lu", repo.AttackUnknownDataset) {
		t.Fatalf("no alert naming lu: %+v", v.alerts)
	}
	// The home's next snapshot of registry uses its own version 1, and
	// creating "future" makes a new dataset id, not the host's.
	s := v.snapshot(r, "registry", smallSource(t, "changed\n"))
	if s.KeyVersion != 1 {
		t.Fatalf("snapshot sealed with key version %d", s.KeyVersion)
	}
	fut, created, err := r.EnsureDataset(ctx, "future")
	if err != nil || !created || fut.ID == strings.Repeat("ab", 16) {
		t.Fatalf("future: %+v %v %v", fut, created, err)
	}
}

func TestHostileUnsignedRecordAtItsNameIsRefused(t *testing.T) {
	v := newHostileVault(t)
	ctx := context.Background()
	r := v.open()
	v.snapshot(r, "registry", smallSource(t, "a\n"))
	dk, _ := r.Dataset(ctx, "registry")
	// Replace the real record at lu with a minted one under the same name:
	// the honest copy at ch is used, lu is named.
	h, b := mintKeyRecord(t, r, dk.ID, "registry", 1)
	v.lu.Plant(h, b)
	r = v.open()
	got, err := r.Dataset(ctx, "registry")
	if err != nil {
		t.Fatal(err)
	}
	if got.CurrentKey().IDKey == [32]byte{} {
		t.Fatal("the host's key was taken")
	}
	if !v.alerted("lu", repo.AttackMintedKey) {
		t.Fatalf("alerts: %+v", v.alerts)
	}
}

func TestHostileResurrectedAndUnlistedManifests(t *testing.T) {
	v := newHostileVault(t)
	ctx := context.Background()
	r := v.open()
	s1 := v.snapshot(r, "registry", smallSource(t, "one\n"))
	s2 := v.snapshot(r, "registry", smallSource(t, "two\n"))
	dk, _ := r.Dataset(ctx, "registry")
	d, _ := r.OpenDataset(ctx, dk)
	h := d.SnapshotHandle(s1.ID)
	kept, err := site.ReadAll(ctx, v.ch, h)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Forget(ctx, []repo.ID{s1.ID}); err != nil {
		t.Fatal(err)
	}
	v.lu.Plant(h, kept) // the host puts the forgotten manifest back
	r = v.open()
	dk, _ = r.Dataset(ctx, "registry")
	d, _ = r.OpenDataset(ctx, dk)
	snaps, bad, err := d.Snapshots(ctx)
	if err != nil || len(bad) != 0 {
		t.Fatal(err, bad)
	}
	if len(snaps) != 1 || snaps[0].ID != s2.ID {
		t.Fatalf("snapshots after resurrection: %v", snaps)
	}
	if !v.alerted("lu", repo.AttackResurrectedSnap) {
		t.Fatalf("alerts: %+v", v.alerts)
	}
	if hd, ok := d.Head(); !ok || hd.Seq != 2 || *hd.Latest != s2.ID {
		t.Fatalf("head %+v", hd)
	}
}

func TestHostileDroppedLatestIsNotSilentlyReplaced(t *testing.T) {
	v := newHostileVault(t)
	ctx := context.Background()
	r := v.open()
	v.snapshot(r, "registry", smallSource(t, "one\n"))
	s2 := v.snapshot(r, "registry", smallSource(t, "two\n"))
	// Only lu is left (ch down), and lu drops the newest manifest.
	v.lu.Hide(func(h site.Handle) bool {
		return h.Kind == site.KindSnapshot && strings.HasSuffix(h.Name, s2.ID.String())
	})
	rr, err := repo.Open(ctx, repo.Options{Home: v.home, Root: v.root, Sites: []*repo.Site{
		{Name: "lu", Backend: v.lu}, {Name: "home", Backend: v.meta, MetaOnly: true}},
		OnAlert: func(a repo.Alert) { v.alerts = append(v.alerts, a) }})
	if err != nil {
		t.Fatal(err)
	}
	dk, _ := rr.Dataset(ctx, "registry")
	d, _ := rr.OpenDataset(ctx, dk)
	_, err = d.FindSnapshot(ctx, "latest")
	if err == nil || hint.CodeOf(err) != hint.CodeDamaged || !errors.Is(err, site.ErrNotFound) {
		t.Fatalf("latest with the newest manifest dropped: %v", err)
	}
	if !v.alerted("lu", repo.AttackMissingSnap) {
		t.Fatalf("alerts: %+v", v.alerts)
	}
	rep, err := rr.Verify(ctx, repo.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Damage) == 0 {
		t.Fatal("verify says no damage while the newest manifest is missing")
	}
}

func TestHostileStaleStateAndHiddenEpoch(t *testing.T) {
	v := newHostileVault(t)
	ctx := context.Background()
	r := v.open()
	v.snapshot(r, "registry", smallSource(t, "one\n"))
	if _, err := r.Rotate(ctx, repo.RotateOptions{Persist: func(k *keys.Root) error { v.root = k; return nil }}); err != nil {
		t.Fatal(err)
	}
	v.snapshot(r, "registry", smallSource(t, "two\n"))
	top := r.State().Seq
	// lu hides the newest epoch record and every state record but one old one.
	v.lu.Hide(func(h site.Handle) bool {
		return h.Kind == site.KindConfig && (h.Name == "epoch-00000002" || strings.HasPrefix(h.Name, "state-") && h.Name != fmt.Sprintf("state-%012d", top-1))
	})
	r = v.open()
	if r.CurrentEpoch().Epoch != 2 || r.State().Seq != top {
		t.Fatalf("opened at epoch %d state %d, want 2 and %d", r.CurrentEpoch().Epoch, r.State().Seq, top)
	}
	if !v.alerted("lu", repo.AttackHiddenEpoch) || !v.alerted("lu", repo.AttackStaleState) {
		t.Fatalf("alerts: %+v", v.alerts)
	}
	if _, ok := r.StaleSites()["lu"]; !ok {
		t.Fatal("lu not reported stale")
	}
	if _, err := r.Datasets(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestHostileOldEpochManifestIsRefused(t *testing.T) {
	// An old epoch's key (old custodians and the old shares a host kept)
	// signs a manifest after rotation: it is not in the new epoch's
	// signed state, so it is never listed.
	v := newHostileVault(t)
	ctx := context.Background()
	r := v.open()
	s1 := v.snapshot(r, "registry", smallSource(t, "real\n"))
	// The fork: same vault, epoch 1, writes a manifest the home never commits.
	fork := sitetest.NewHostile(mem.New(site.Properties{Name: "fork"}))
	copyAll(t, v.ch, fork)
	fr, err := repo.Open(ctx, repo.Options{Home: v.home, Root: v.root, Sites: []*repo.Site{{Name: "fork", Backend: fork}}})
	if err != nil {
		t.Fatal(err)
	}
	evil := v.snapshot(fr, "registry", smallSource(t, "forged\n"))
	if _, err := r.Rotate(ctx, repo.RotateOptions{Persist: func(k *keys.Root) error { v.root = k; return nil }}); err != nil {
		t.Fatal(err)
	}
	// The host copies the forged manifest and its data into lu.
	for _, k := range []site.Kind{site.KindSnapshot, site.KindIndex, site.KindPack} {
		fork.List(ctx, k, func(fi site.Info) error {
			if b, err := site.ReadAll(ctx, fork, fi.Handle); err == nil {
				if _, err := v.lu.Stat(ctx, fi.Handle); err != nil {
					v.lu.Plant(fi.Handle, b)
				}
			}
			return nil
		})
	}
	r = v.open()
	dk, _ := r.Dataset(ctx, "registry")
	d, _ := r.OpenDataset(ctx, dk)
	latest, err := d.FindSnapshot(ctx, "latest")
	if err != nil {
		t.Fatal(err)
	}
	if latest.ID != s1.ID || latest.ID == evil.ID {
		t.Fatalf("latest is %s, want the home's %s", latest.ID.Short(), s1.ID.Short())
	}
	if !v.alerted("lu", repo.AttackUnlistedSnap) {
		t.Fatalf("alerts: %+v", v.alerts)
	}
	target := filepath.Join(t.TempDir(), "r")
	if _, err := restorer.Restore(ctx, d, latest, target, restorer.Options{}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(target, "register.csv")); string(b) != "real\n" {
		t.Fatalf("restored %q", b)
	}
}

func TestHostileHugeObjectIsRefusedUnread(t *testing.T) {
	v := newHostileVault(t)
	ctx := context.Background()
	r := v.open()
	v.snapshot(r, "registry", smallSource(t, "a\n"))
	dk, _ := r.Dataset(ctx, "registry")
	h := site.Handle{Kind: site.KindKey, Name: fmt.Sprintf("datasets/%s/v%06d.e%08d", dk.ID, 1, 1)}
	v.lu.Huge(h, 3<<30) // 3 GiB of zeros, generated as read
	r = v.open()
	if _, err := r.Dataset(ctx, "registry"); err != nil {
		t.Fatal(err)
	}
	if v.lu.Served(h) == 0 {
		t.Fatal("the huge object was not offered")
	}
	if err := r.ReadErrors()["lu"]; err == nil || !errors.Is(err, repo.ErrTooLarge) {
		t.Fatalf("lu read error: %v", err)
	}
}

func TestHostileBackfillDoesNotSpreadPlantedObjects(t *testing.T) {
	v := newHostileVault(t)
	ctx := context.Background()
	r := v.open()
	v.snapshot(r, "registry", smallSource(t, "a\n"))
	dk, _ := r.Dataset(ctx, "registry")
	h, b := mintKeyRecord(t, r, dk.ID, "registry", 2)
	v.lu.Plant(h, b)
	junk := site.Handle{Kind: site.KindConfig, Name: "backdoor"}
	v.lu.Plant(junk, []byte("{}"))
	r = v.open()
	target := &repo.Site{Name: "fi", Backend: mem.New(site.Properties{Name: "fi"})}
	st, err := r.Backfill(ctx, target, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range []site.Handle{h, junk} {
		if _, err := target.Backend.Stat(ctx, x); !errors.Is(err, site.ErrNotFound) {
			t.Fatalf("backfill copied planted %s", x)
		}
	}
	if st.Planted < 2 {
		t.Fatalf("planted objects not counted: %+v", st)
	}
}

func TestHostileForgedVaultFailsThePin(t *testing.T) {
	v := newHostileVault(t)
	ctx := context.Background()
	r := v.open()
	real := r.Fingerprint()
	// The host builds its own vault with the real custodians' recipients
	// (public, in the epoch record) and serves it instead.
	var cs []repo.Custodian
	for _, c := range r.CurrentEpoch().Custodians {
		cs = append(cs, repo.Custodian{Recipient: c.Recipient})
	}
	forged := mem.New(site.Properties{Name: "forged"})
	if _, _, err := repo.Init(ctx, repo.InitOptions{Custodians: cs, Threshold: 1, Sites: []*repo.Site{{Name: "forged", Backend: forged}}}); err != nil {
		t.Fatal(err)
	}
	v.lu.Forge(forged)
	ids := []repo.IdentitySource{{Label: "c0", Identities: v.cs[0]}}
	lu := &repo.Site{Name: "lu", Backend: v.lu}
	if _, err := repo.RecoverExpect(ctx, lu, ids, real); !errors.Is(err, repo.ErrWrongHome) || hint.CodeOf(err) != hint.CodeDamaged {
		t.Fatalf("forged vault with the pin: %v", err)
	}
	_, err := repo.RecoverExpect(ctx, lu, ids, "")
	if !errors.Is(err, repo.ErrUnpinned) || hint.CodeOf(err) != hint.CodeKey || strings.Contains(err.Error(), real) {
		t.Fatalf("forged vault without a pin: %v", err)
	}
	rec, err := repo.RecoverExpect(ctx, &repo.Site{Name: "ch", Backend: v.ch}, ids, strings.ToUpper(real))
	if err != nil || rec.Home != v.home || rec.Fingerprint != real {
		t.Fatalf("real vault with the pin: %+v %v", rec, err)
	}
	// In normal operation a site serving another vault is refused and named.
	r = v.open()
	if r.Home() != v.home || !v.alerted("lu", repo.AttackForgedState) || r.SiteErrors()["lu"] == nil {
		t.Fatalf("forged site in a normal open: alerts %+v, errors %v", v.alerts, r.SiteErrors())
	}
}

func copyAll(t *testing.T, from, to site.Backend) {
	ctx := context.Background()
	for _, k := range site.Kinds {
		from.List(ctx, k, func(fi site.Info) error {
			b, err := site.ReadAll(ctx, from, fi.Handle)
			if err != nil {
				t.Fatal(err)
			}
			return to.Put(ctx, fi.Handle, site.Bytes(b), site.PutOptions{})
		})
	}
}

// A forget interrupted between its two commits (here: a site refuses the
// delete) leaves the manifest at the site: it is not live, it is not
// reported as resurrected, and the next forget finishes the job.
func TestInterruptedForgetIsNotAnAttack(t *testing.T) {
	v := newHostileVault(t)
	ctx := context.Background()
	r := v.open()
	s1 := v.snapshot(r, "registry", smallSource(t, "one\n"))
	v.snapshot(r, "registry", smallSource(t, "two\n"))
	f := sitetest.NewFaulty(v.ch)
	f.Inject(sitetest.Fault{Ops: sitetest.OpDelete})
	sites := []*repo.Site{{Name: "lu", Backend: v.lu}, {Name: "ch", Backend: f}, {Name: "home", Backend: v.meta, MetaOnly: true}}
	rr, err := repo.Open(ctx, repo.Options{Home: v.home, Root: v.root, Sites: sites, OnAlert: func(a repo.Alert) { v.alerts = append(v.alerts, a) }})
	if err != nil {
		t.Fatal(err)
	}
	dk, _ := rr.Dataset(ctx, "registry")
	d, _ := rr.OpenDataset(ctx, dk)
	if err := d.Forget(ctx, []repo.ID{s1.ID}); err == nil {
		t.Fatal("forget with a failing delete reported success")
	}
	r = v.open()
	dk, _ = r.Dataset(ctx, "registry")
	d, _ = r.OpenDataset(ctx, dk)
	snaps, bad, err := d.Snapshots(ctx)
	if err != nil || len(bad) != 0 || len(snaps) != 1 || snaps[0].ID == s1.ID {
		t.Fatalf("after an interrupted forget: %v %v %v", snaps, bad, err)
	}
	if v.alerted("ch", repo.AttackResurrectedSnap) || v.alerted("lu", repo.AttackResurrectedSnap) {
		t.Fatalf("an interrupted forget reported as an attack: %+v", v.alerts)
	}
	if err := d.Forget(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := v.ch.Stat(ctx, d.SnapshotHandle(s1.ID)); !errors.Is(err, site.ErrNotFound) {
		t.Fatalf("the next forget did not finish: %v", err)
	}
	if sd := r.State().Dataset(dk.ID); len(sd.Forgetting) != 0 || !sd.WasForgotten(s1.ID) {
		t.Fatalf("state after finishing: %+v", sd)
	}
}
