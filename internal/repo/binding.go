package repo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/site"
)

// ErrUnboundIndexes marks a snapshot whose bound index set (docs/FORMAT.md
// §10.1) the sites do not present: an index it needs was dropped.
var ErrUnboundIndexes = errors.New("the sites do not present the index set the snapshot is bound to")

// liveIndexes returns the ids of the dataset's live index objects,
// ascending: the set a manifest written now binds.
func (d *Dataset) liveIndexes() []ID {
	files := d.Idx.Files()
	ids := make([]ID, 0, len(files))
	for id := range files {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return bytes.Compare(ids[i][:], ids[j][:]) < 0 })
	return ids
}

// Binding is what Bind found about a snapshot's index set.
type Binding struct {
	// Legacy is set for a v1 manifest, which binds nothing: it is read as
	// before, with a warning, until 'embassy upgrade' re-signs it.
	Legacy bool
	// Excluded are index objects the snapshot is not bound to and the home
	// cannot have written after it (unsigned, or signed by an older epoch
	// than the manifest): their blob locations are not used.
	Excluded []ID
	// Dropped maps a bound index to the sites that do not list it while
	// another site does (the restore reads it there).
	Dropped map[ID][]string
}

// Bind checks the sites' indexes against the set manifest s is bound to
// and restricts the dataset's index to what s may use: every bound index,
// or a signed index of s's epoch or later that supersedes it (prune), must
// be present at some site, else Bind refuses (exit 3) and raises an alert
// naming each site that lacks it; an index neither bound nor written by
// the home after s (unsigned, or signed by an older epoch: a substitute
// made with a leaked dataset key or a retired epoch key) is left out of the
// index and raises an alert naming the sites that list it. Call it before
// reading a snapshot's trees.
func (d *Dataset) Bind(ctx context.Context, s *Snapshot) (*Binding, error) {
	b := &Binding{Dropped: map[ID][]string{}}
	if !s.Bound() {
		b.Legacy = true
		d.r.log.WarnContext(ctx, "snapshot manifest of format v1 binds no index set; run 'embassy upgrade' to re-sign it", "dataset", d.Keys.Name, "snapshot", s.ID.Short())
		return b, nil
	}
	files := d.Idx.Files()
	bound := make(map[ID]bool, len(s.Indexes))
	for _, id := range s.Indexes {
		bound[id] = true
	}
	missing := missingBound(s, files)
	var excluded []ID
	for id, f := range files {
		if !bound[id] && (f.Epoch == 0 || f.Epoch < s.Epoch) {
			excluded = append(excluded, id)
		}
	}
	slices.SortFunc(excluded, func(a, b ID) int { return bytes.Compare(a[:], b[:]) })
	b.Excluded = excluded
	listing, err := d.indexListing(ctx)
	if err != nil {
		return nil, err
	}
	// Sites that hold the manifest but not a bound index that is still
	// live elsewhere.
	holders, err := d.manifestHolders(ctx, s.ID)
	if err != nil {
		return nil, err
	}
	for _, id := range s.Indexes {
		if _, live := files[id]; !live {
			continue
		}
		for _, name := range holders {
			if !listing.has[name][id] {
				b.Dropped[id] = append(b.Dropped[id], name)
				d.r.alert(ctx, Alert{Site: name, Attack: AttackDroppedIndex, Object: d.IndexHandle(id).String(),
					Detail: fmt.Sprintf("an index snapshot %s is bound to is missing here; it is read from another site", s.ID.Short())})
			}
		}
	}
	for _, id := range excluded {
		for _, name := range listing.sites {
			if listing.has[name][id] {
				d.r.alert(ctx, Alert{Site: name, Attack: AttackUnboundIndex, Object: d.IndexHandle(id).String(),
					Detail: fmt.Sprintf("an index snapshot %s is not bound to and the home did not write after it; its blob locations are not used", s.ID.Short())})
			}
		}
	}
	if len(missing) > 0 {
		var names []string
		for _, id := range missing {
			if e, bad := d.badIndexes[id]; bad {
				names = append(names, id.Short()+" (no authentic copy: "+e.Error()+")")
			} else {
				names = append(names, id.Short())
			}
			for _, name := range listing.all {
				d.r.alert(ctx, Alert{Site: name, Attack: AttackDroppedIndex, Object: d.IndexHandle(id).String(),
					Detail: fmt.Sprintf("an index snapshot %s is bound to is missing at every site; the snapshot is refused", s.ID.Short())})
			}
		}
		return nil, hint.WithCode(hint.Wrap(fmt.Errorf("snapshot %s of dataset %s: %s missing at every site (%s): %w",
			s.ID.Short(), d.Keys.Name, missingIndexes(len(missing), len(s.Indexes)), strings.Join(names, ", "), ErrUnboundIndexes),
			"a site dropped or replaced them; run 'embassy verify' to see which, restore from a site or backup that still holds them, or restore an older snapshot"), hint.CodeDamaged)
	}
	if len(excluded) > 0 {
		// Rare (an attack): the index without the excluded objects is
		// built in memory, from the objects when a cache file backs it.
		x := newIndex()
		err := d.EachIndexFile(ctx, func(id ID, f *IndexFile) error {
			if slices.Contains(excluded, id) {
				return nil
			}
			x.files[id] = f
			for _, p := range f.Packs {
				x.addPack(p)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		d.Idx = x
	}
	return b, nil
}

// missingBound returns the indexes s is bound to that are neither among
// the loaded files nor retired by a signed index of s's epoch or later.
func missingBound(s *Snapshot, files map[ID]*IndexFile) []ID {
	retired := map[ID]bool{}
	for _, f := range files {
		if f.Epoch != 0 && f.Epoch >= s.Epoch {
			for _, o := range f.Supersedes {
				retired[o] = true
			}
		}
	}
	var missing []ID
	for _, id := range s.Indexes {
		if _, ok := files[id]; !ok && !retired[id] {
			missing = append(missing, id)
		}
	}
	return missing
}

// indexListing is which site lists which index of a dataset.
type indexListing struct {
	sites []string               // sites that list at least one of the dataset's indexes
	all   []string               // every site holding indexes that could be listed
	has   map[string]map[ID]bool // by site
}

func (d *Dataset) indexListing(ctx context.Context) (*indexListing, error) {
	l := &indexListing{has: map[string]map[ID]bool{}}
	for _, s := range d.r.orderedSites() {
		if s.usable() && s.holds(site.KindIndex) {
			l.all = append(l.all, s.Name)
		}
	}
	err := d.r.listUnionSites(ctx, site.KindIndex, func(s *Site, fi site.Info) error {
		id, ok := parseObjectName(d.Keys.ID, fi.Handle.Name)
		if !ok {
			return nil
		}
		m := l.has[s.Name]
		if m == nil {
			m = map[ID]bool{}
			l.has[s.Name] = m
			l.sites = append(l.sites, s.Name)
		}
		m[id] = true
		return nil
	})
	return l, err
}

// rebind re-signs every live v1 manifest of every dataset as v2, bound to
// the dataset's live indexes now (which list every blob of every live
// snapshot), and keeps each one's place in the signed state; the v1
// manifests are then forgotten (signed tombstones), so a site that keeps
// or puts one back is caught. Parents are mapped to their re-signed ids.
// It returns how many manifests it re-signed and warnings for datasets
// whose old manifests could not all be deleted (object lock).
func (r *Repo) rebind(ctx context.Context) (int, []string, error) {
	all, err := r.Datasets(ctx)
	if err != nil {
		return 0, nil, err
	}
	names := make([]string, 0, len(all))
	for n := range all {
		names = append(names, n)
	}
	sort.Strings(names)
	total := 0
	var warnings []string
	for _, name := range names {
		d, err := r.OpenDataset(ctx, all[name])
		if err != nil {
			return total, warnings, err
		}
		snaps, _, err := d.Snapshots(ctx)
		if err != nil {
			return total, warnings, err
		}
		// In commit order (the signed state's), so that a parent is
		// re-signed before its children whatever their times.
		if sd := r.curState().Dataset(d.Keys.ID); sd != nil {
			slices.SortStableFunc(snaps, func(a, b *Snapshot) int {
				return slices.Index(sd.Snapshots, a.ID) - slices.Index(sd.Snapshots, b.ID)
			})
		}
		moved := map[ID]ID{}
		for _, s := range snaps {
			if s.Bound() {
				continue
			}
			n := *s
			if n.Parent != nil {
				if p, ok := moved[*n.Parent]; ok {
					n.Parent = &p
				}
			}
			n.Format, n.Indexes = snapshotFormat, d.liveIndexes()
			if len(n.Indexes) == 0 {
				return total, warnings, fmt.Errorf("dataset %s: no index to bind snapshot %s to", name, s.ID.Short())
			}
			k, err := d.Keys.Key(n.KeyVersion)
			if err != nil {
				return total, warnings, fmt.Errorf("re-sign snapshot %s of dataset %s: %w", s.ID.Short(), name, err)
			}
			plain, err := signManifest(&n, r.current, r.root.Signer())
			if err != nil {
				return total, warnings, err
			}
			obj := sealObject(k.Enc, k.Version, objSnapshot, d.Keys.ID, plain)
			id := Hash(obj)
			if err := r.PutAll(ctx, d.SnapshotHandle(id), obj); err != nil {
				return total, warnings, fmt.Errorf("write re-signed manifest: %w", err)
			}
			moved[s.ID] = id
		}
		if len(moved) == 0 {
			continue
		}
		err = r.updateState(ctx, func(st *StateBody) error {
			sd := st.Dataset(d.Keys.ID)
			if sd == nil {
				return fmt.Errorf("dataset %s left the signed state during upgrade", name)
			}
			for i, id := range sd.Snapshots {
				if n, ok := moved[id]; ok {
					sd.Snapshots[i] = n
					if !sd.IsForgetting(id) {
						sd.Forgetting = append(sd.Forgetting, id)
					}
				}
			}
			if sd.Head.Latest != nil {
				if n, ok := moved[*sd.Head.Latest]; ok {
					sd.Head.Latest = &n
				}
			}
			return nil
		})
		if err != nil {
			return total, warnings, fmt.Errorf("commit re-signed manifests of dataset %s: %w", name, err)
		}
		total += len(moved)
		if err := d.Forget(ctx, nil); err != nil {
			warnings = append(warnings, fmt.Sprintf("dataset %s: the replaced v1 manifests could not all be deleted (%v); run 'embassy forget %s' again once the sites allow it", name, err, name))
		}
	}
	return total, warnings, nil
}

// manifestHolders returns the sites that list manifest id.
func (d *Dataset) manifestHolders(ctx context.Context, id ID) ([]string, error) {
	var out []string
	want := d.SnapshotHandle(id).Name
	err := d.r.listUnionSites(ctx, site.KindSnapshot, func(s *Site, fi site.Info) error {
		if fi.Handle.Name == want {
			out = append(out, s.Name)
		}
		return nil
	})
	return out, err
}

// missingIndexes says how many of the n indexes a snapshot is bound to
// are missing, the verb agreeing: "the index it is bound to is", "both
// indexes it is bound to are", "2 of the 3 indexes it is bound to are".
func missingIndexes(missing, n int) string {
	switch {
	case n == 1:
		return "the index it is bound to is"
	case missing == n && n == 2:
		return "both indexes it is bound to are"
	case missing == n:
		return fmt.Sprintf("all %d indexes it is bound to are", n)
	case missing == 1:
		return fmt.Sprintf("1 of the %d indexes it is bound to is", n)
	}
	return fmt.Sprintf("%d of the %d indexes it is bound to are", missing, n)
}
