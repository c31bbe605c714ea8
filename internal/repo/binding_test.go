package repo

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/keys"
	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/site/mem"
)

// saveV1 writes and commits s as builds before index binding did: a v1
// manifest that binds no index set.
func saveV1(t *testing.T, d *Dataset, s *Snapshot) ID {
	t.Helper()
	ctx := context.Background()
	k := d.Keys.CurrentKey()
	s.Format, s.Home, s.Dataset, s.DatasetID, s.KeyVersion, s.Indexes = snapshotFormatV1, d.r.home, d.Keys.Name, d.Keys.ID, k.Version, nil
	s.Time = fixTime(0)
	plain, err := signManifest(s, d.r.current, d.r.root.Signer())
	if err != nil {
		t.Fatal(err)
	}
	obj := sealObject(k.Enc, k.Version, objSnapshot, d.Keys.ID, plain)
	id := Hash(obj)
	if err := d.r.PutAll(ctx, d.SnapshotHandle(id), obj); err != nil {
		t.Fatal(err)
	}
	err = d.r.updateState(ctx, func(st *StateBody) error {
		sd := st.Dataset(d.Keys.ID)
		sd.Snapshots = append(sd.Snapshots, id)
		sd.Head.Seq++
		sd.Head.Latest = &id
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// bindFixture is a home with two sites and one committed snapshot of one
// data blob.
type bindFixture struct {
	lu, ch *mem.Backend
	root   *keys.Root
	home   string
	blob   ID
	plain  []byte
	snap   ID
	alerts []Alert
}

func newBindFixture(t *testing.T) *bindFixture {
	t.Helper()
	ctx := context.Background()
	f := &bindFixture{lu: mem.New(site.Properties{Name: "lu"}), ch: mem.New(site.Properties{Name: "ch"})}
	_, rec, _ := keys.GenerateIdentity(true)
	var err error
	f.root, f.home, err = Init(ctx, InitOptions{Custodians: []Custodian{{Recipient: rec}}, Threshold: 1, Sites: f.sites()})
	if err != nil {
		t.Fatal(err)
	}
	d := f.open(t)
	f.plain = bytes.Repeat([]byte("38501012231,Mari,Tamm\n"), 50)
	w := d.NewWriter(ctx)
	f.blob, _, err = w.SaveBlob(BlobData, f.plain, &Scratch{})
	if err != nil || w.Flush() != nil {
		t.Fatal(err)
	}
	f.snap, err = d.SaveSnapshot(ctx, &Snapshot{Tree: f.blob})
	if err != nil {
		t.Fatal(err)
	}
	f.alerts = nil
	return f
}

func (f *bindFixture) sites() []*Site {
	return []*Site{{Name: "lu", Backend: f.lu}, {Name: "ch", Backend: f.ch}}
}

func (f *bindFixture) open(t *testing.T) *Dataset {
	t.Helper()
	ctx := context.Background()
	r, err := Open(ctx, Options{Home: f.home, Root: f.root, Sites: f.sites(), OnAlert: func(a Alert) { f.alerts = append(f.alerts, a) }})
	if err != nil {
		t.Fatal(err)
	}
	dk, _, err := r.EnsureDataset(ctx, "registry")
	if err != nil {
		t.Fatal(err)
	}
	d, err := r.OpenDataset(ctx, dk)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func (f *bindFixture) alerted(site string, a Attack) bool {
	for _, x := range f.alerts {
		if x.Site == site && x.Attack == a {
			return true
		}
	}
	return false
}

func TestManifestBindsLiveIndexes(t *testing.T) {
	f := newBindFixture(t)
	d := f.open(t)
	s, err := d.LoadSnapshot(context.Background(), f.snap)
	if err != nil {
		t.Fatal(err)
	}
	live := d.liveIndexes()
	if !s.Bound() || len(s.Indexes) != 1 || len(live) != 1 || s.Indexes[0] != live[0] {
		t.Fatalf("manifest binds %v, live indexes %v", s.Indexes, live)
	}
	b, err := d.Bind(context.Background(), s)
	if err != nil || b.Legacy || len(b.Excluded) != 0 || len(b.Dropped) != 0 || len(f.alerts) != 0 {
		t.Fatalf("honest vault: %+v %v, alerts %v", b, err, f.alerts)
	}
}

// A host drops the index a snapshot needs. At one of two sites: the
// restore reads it at the other, and the dropping site is named. At every
// site: the snapshot is refused (exit 3), each site named.
func TestBindDroppedIndex(t *testing.T) {
	ctx := context.Background()
	f := newBindFixture(t)
	d := f.open(t)
	s, _ := d.LoadSnapshot(ctx, f.snap)
	h := d.IndexHandle(s.Indexes[0])
	if err := f.lu.Delete(ctx, h); err != nil {
		t.Fatal(err)
	}
	d = f.open(t)
	b, err := d.Bind(ctx, s)
	if err != nil || len(b.Dropped[s.Indexes[0]]) != 1 || !f.alerted("lu", AttackDroppedIndex) || f.alerted("ch", AttackDroppedIndex) {
		t.Fatalf("dropped at lu only: %+v %v, alerts %v", b, err, f.alerts)
	}
	if got, err := d.LoadBlob(ctx, f.blob, nil); err != nil || !bytes.Equal(got, f.plain) {
		t.Fatalf("blob after one site dropped the index: %v", err)
	}
	if err := f.ch.Delete(ctx, h); err != nil {
		t.Fatal(err)
	}
	f.alerts = nil
	d = f.open(t)
	_, err = d.Bind(ctx, s)
	if !errors.Is(err, ErrUnboundIndexes) || hint.CodeOf(err) != hint.CodeDamaged || hint.Of(err) == "" {
		t.Fatalf("dropped at every site: %v", err)
	}
	if !f.alerted("lu", AttackDroppedIndex) || !f.alerted("ch", AttackDroppedIndex) {
		t.Fatalf("alerts %v", f.alerts)
	}
	rep, err := d.r.Verify(ctx, VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, dm := range rep.Damage {
		if dm.Object == h.String() && len(dm.Snapshots) == 1 && dm.Snapshots[0] == f.snap.String() {
			found = true
		}
	}
	if !found {
		t.Fatalf("verify does not report the dropped bound index: %+v", rep.Damage)
	}
}

// Someone with a dataset key (leaked or retired) plants an unsigned index
// that lists the snapshot's blob in a pack whose id sorts first. Without the
// binding that location wins; with it, the planted index is left out, the
// site is named, and the real bytes are returned.
func TestBindExcludesSubstitutingIndex(t *testing.T) {
	ctx := context.Background()
	f := newBindFixture(t)
	d := f.open(t)
	honest, _ := d.Idx.Lookup(f.blob)
	var planted IndexPack
	if err := d.EachIndexFile(ctx, func(_ ID, file *IndexFile) error { planted = file.Packs[0]; return nil }); err != nil {
		t.Fatal(err)
	}
	planted.ID = ID{} // sorts before every real pack
	k := d.Keys.CurrentKey()
	obj := sealObject(k.Enc, k.Version, objIndex, d.Keys.ID, (&IndexFile{Packs: []IndexPack{planted}}).Encode())
	if err := f.lu.Put(ctx, d.IndexHandle(Hash(obj)), site.Bytes(obj), site.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	d = f.open(t)
	if loc, _ := d.Idx.Lookup(f.blob); loc.Pack != (ID{}) {
		t.Fatal("fixture: the planted location does not win before binding")
	}
	s, _ := d.LoadSnapshot(ctx, f.snap)
	b, err := d.Bind(ctx, s)
	if err != nil || len(b.Excluded) != 1 || b.Excluded[0] != Hash(obj) {
		t.Fatalf("bind: %+v %v", b, err)
	}
	if !f.alerted("lu", AttackUnboundIndex) || f.alerted("ch", AttackUnboundIndex) {
		t.Fatalf("alerts %v", f.alerts)
	}
	if loc, _ := d.Idx.Lookup(f.blob); loc != honest {
		t.Fatalf("location after binding %+v, want %+v", loc, honest)
	}
	if got, err := d.LoadBlob(ctx, f.blob, nil); err != nil || !bytes.Equal(got, f.plain) {
		t.Fatalf("blob after binding: %v", err)
	}
}

// A v1 manifest binds nothing: read as before, flagged Legacy; upgrade
// re-signs it in place (parent mapped, v1 copy tombstoned) and the result
// binds the live indexes.
func TestRebindV1Manifests(t *testing.T) {
	ctx := context.Background()
	f := newBindFixture(t)
	d := f.open(t)
	old1 := saveV1(t, d, &Snapshot{Tree: f.blob})
	old2 := saveV1(t, d, &Snapshot{Tree: f.blob, Parent: &old1, Tags: []string{"second"}})
	d = f.open(t)
	s, err := d.LoadSnapshot(ctx, old2)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := d.Bind(ctx, s); err != nil || !b.Legacy {
		t.Fatalf("v1 manifest: %+v %v", b, err)
	}
	rep, err := d.r.Upgrade(ctx, nil)
	if err != nil || rep.Already || rep.Rebound != 2 || rep.NewEpoch != rep.OldEpoch {
		t.Fatalf("upgrade: %+v %v", rep, err)
	}
	d = f.open(t)
	snaps, bad, err := d.Snapshots(ctx)
	if err != nil || len(bad) != 0 || len(snaps) != 3 {
		t.Fatalf("snapshots after rebind: %v %v %v", snaps, bad, err)
	}
	sd := d.r.State().Dataset(d.Keys.ID)
	if !sd.WasForgotten(old1) || !sd.WasForgotten(old2) || len(sd.Snapshots) != 3 || sd.Snapshots[0] != f.snap {
		t.Fatalf("state after rebind: %+v", sd)
	}
	for _, n := range snaps {
		if !n.Bound() {
			t.Fatalf("snapshot %s still v1", n.ID.Short())
		}
		if _, err := d.Bind(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	var second *Snapshot
	for _, n := range snaps {
		if len(n.Tags) == 1 && n.Tags[0] == "second" {
			second = n
		}
	}
	if second == nil || second.Parent == nil || *second.Parent == old1 || !sd.Has(*second.Parent) || *sd.Head.Latest != second.ID {
		t.Fatalf("parent not mapped or head not moved: %+v head %v", second, sd.Head)
	}
	// Running it again does nothing.
	if again, err := d.r.Upgrade(ctx, nil); err != nil || !again.Already {
		t.Fatalf("second upgrade: %+v %v", again, err)
	}
}

// snapshotFile writes one file's blob and its tree and commits a snapshot.
func snapshotFile(t *testing.T, d *Dataset, content string) (*Snapshot, ID) {
	t.Helper()
	ctx := context.Background()
	w := d.NewWriter(ctx)
	blob, _, err := w.SaveBlob(BlobData, []byte(content), &Scratch{})
	if err != nil {
		t.Fatal(err)
	}
	tb, err := EncodeTree(&Tree{Nodes: []Node{{Name: "register.csv", Type: "file", Mode: 0o644, ModTime: fixTime(0), Size: int64(len(content)), Content: []ID{blob}}}})
	if err != nil {
		t.Fatal(err)
	}
	tree, _, err := w.SaveBlob(BlobTree, tb, &Scratch{})
	if err != nil || w.Flush() != nil {
		t.Fatal(err)
	}
	s := &Snapshot{Tree: tree}
	if _, err := d.SaveSnapshot(ctx, s); err != nil {
		t.Fatal(err)
	}
	return s, blob
}

// A bound index retired by prune (a signed index of a later epoch than
// the manifest's, after a rotation) is not a dropped one: every snapshot
// still binds and restores, nothing is excluded and no alert is raised.
func TestBindAfterRotateAndPrune(t *testing.T) {
	ctx := context.Background()
	f := newBindFixture(t)
	d := f.open(t)
	s1, b1 := snapshotFile(t, d, "first register\n")
	s2, b2 := snapshotFile(t, d, "second register\n")
	var newRoot *keys.Root
	if _, err := d.r.Rotate(ctx, RotateOptions{Persist: func(k *keys.Root) error { newRoot = k; return nil }}); err != nil {
		t.Fatal(err)
	}
	f.root = newRoot
	d = f.open(t)
	if err := d.Forget(ctx, []ID{f.snap}); err != nil {
		t.Fatal(err)
	}
	rep, err := d.Prune(ctx, PruneOptions{})
	if err != nil || rep.IndexesMerged == 0 {
		t.Fatalf("prune: %+v %v", rep, err)
	}
	f.alerts = nil
	for _, c := range []struct {
		id   ID
		blob ID
		want string
	}{{s1.ID, b1, "first register\n"}, {s2.ID, b2, "second register\n"}} {
		d = f.open(t)
		s, err := d.LoadSnapshot(ctx, c.id)
		if err != nil || s.Epoch != 1 {
			t.Fatalf("snapshot after prune: %v (epoch %d)", err, s.Epoch)
		}
		if missing := missingBound(s, d.Idx.Files()); len(missing) != 0 {
			t.Fatalf("bound indexes missing after prune: %v", missing)
		}
		b, err := d.Bind(ctx, s)
		if err != nil || len(b.Excluded) != 0 {
			t.Fatalf("bind after rotate and prune: %+v %v", b, err)
		}
		if got, err := d.LoadBlob(ctx, c.blob, nil); err != nil || string(got) != c.want {
			t.Fatalf("blob after prune: %q %v", got, err)
		}
	}
	if len(f.alerts) != 0 {
		t.Fatalf("alerts on an honest vault: %v", f.alerts)
	}
}

// TestMissingIndexesCounted: the refusal's count agrees with its noun and
// verb ("1 of the 1 indexes it is bound to are missing" was the old text).
func TestMissingIndexesCounted(t *testing.T) {
	for _, c := range []struct {
		missing, n int
		want       string
	}{
		{1, 1, "the index it is bound to is"},
		{2, 2, "both indexes it is bound to are"},
		{3, 3, "all 3 indexes it is bound to are"},
		{1, 3, "1 of the 3 indexes it is bound to is"},
		{2, 3, "2 of the 3 indexes it is bound to are"},
	} {
		if got := missingIndexes(c.missing, c.n); got != c.want {
			t.Errorf("missingIndexes(%d, %d) = %q, want %q", c.missing, c.n, got, c.want)
		}
	}
}
