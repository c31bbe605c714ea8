package repo

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/digital-embassy/embassy/internal/crashpoint"
	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/site"
)

// maxPacksPerIndex bounds one index object (a few MiB), far below the
// decompression limit readers apply.
const maxPacksPerIndex = 4096

// PruneOptions configure Prune.
type PruneOptions struct {
	DryRun bool
	// MaxWaste is the fraction of unused bytes above which a partly used
	// pack is repacked (default 0.2).
	MaxWaste float64
}

// PruneReport says what Prune did (or would do).
type PruneReport struct {
	Dataset       string `json:"dataset"`
	Snapshots     int    `json:"snapshots"`
	UsedBlobs     int    `json:"used_blobs"`
	UnusedBlobs   int    `json:"unused_blobs"`
	PacksKept     int    `json:"packs_kept"`
	PacksDeleted  int    `json:"packs_deleted"`
	PacksRepacked int    `json:"packs_repacked"`
	OrphanPacks   int    `json:"orphan_packs_deleted"`
	BytesFreed    int64  `json:"bytes_freed"`
	IndexesMerged int    `json:"indexes_replaced"`
	// Deferred counts the objects left in place everywhere because a site
	// with object lock still retains them (docs/FORMAT.md §12): a later
	// prune deletes them once their retention has passed.
	Deferred int  `json:"deferred_under_retention"`
	DryRun   bool `json:"dry_run"`
}

// Prune deletes data no snapshot refers to. It never loses a referenced
// blob, even if interrupted at any point: new packs and a complete new
// index (superseding the old ones) are written before anything is deleted,
// and if any snapshot's trees cannot be read it stops before deleting.
// The caller must hold the dataset's exclusive lock.
func (d *Dataset) Prune(ctx context.Context, o PruneOptions) (*PruneReport, error) {
	if o.MaxWaste <= 0 {
		o.MaxWaste = 0.2
	}
	rep := &PruneReport{Dataset: d.Keys.Name, DryRun: o.DryRun}
	if n := len(d.badIndexes); n > 0 {
		return nil, hint.WithCode(hint.Wrap(fmt.Errorf("%d index object(s) of %s do not authenticate at any site; refusing to prune", n, d.Keys.Name),
			"run 'embassy verify' and 'embassy repair'; if a site planted them, delete them there first"), hint.CodeDamaged)
	}
	snaps, bad, err := d.Snapshots(ctx)
	if err != nil {
		return nil, err
	}
	if len(bad) > 0 {
		return nil, hint.WithCode(hint.Wrap(fmt.Errorf("%d snapshot manifest(s) of %s cannot be read; refusing to prune", len(bad), d.Keys.Name),
			"run 'embassy verify' and repair or forget the damaged snapshots first"), hint.CodeDamaged)
	}
	rep.Snapshots = len(snaps)
	used := map[ID]bool{}
	seen := map[ID]bool{}
	tw := Walker{
		Seen: seen,
		Tree: func(v TreeVisit) error {
			used[v.ID] = true
			if v.Err != nil {
				return hint.WithCode(hint.Wrap(fmt.Errorf("tree %s unreadable, refusing to prune: %w", v.ID.Short(), v.Err),
					"run 'embassy verify'; nothing was deleted"), hint.CodeDamaged)
			}
			return nil
		},
		Node: func(_ string, n *Node, _ int) error {
			for _, c := range n.Content {
				used[c] = true
			}
			return nil
		},
	}
	for _, s := range snaps {
		if err := d.Walk(ctx, s.Tree, tw); err != nil {
			return nil, err
		}
	}
	for id := range used {
		if !d.Idx.Has(id) {
			return nil, hint.WithCode(fmt.Errorf("blob %s is referenced but in no index; refusing to prune", id.Short()), hint.CodeDamaged)
		}
	}
	// Classify packs.
	type packUse struct {
		used, unused   int
		usedB, unusedB int64
		entries        []BlobLoc
		ids            []ID
	}
	packs := map[ID]*packUse{}
	for p := range d.Idx.Packs() {
		packs[p] = &packUse{}
	}
	err = d.EachIndexFile(ctx, func(_ ID, f *IndexFile) error {
		for _, p := range f.Packs {
			pu := packs[p.ID]
			if pu == nil || len(pu.ids) > 0 {
				continue // listed by more than one index: count once
			}
			for _, e := range p.Entries {
				pu.ids = append(pu.ids, e.ID)
				pu.entries = append(pu.entries, BlobLoc{Pack: p.ID, KeyVersion: p.KeyVersion, Type: e.Type, Codec: e.Codec, Offset: e.Offset, Length: e.Length, Raw: e.Raw})
				loc, _ := d.Idx.Lookup(e.ID)
				if used[e.ID] && loc.Pack == p.ID {
					pu.used++
					pu.usedB += int64(e.Length)
				} else {
					pu.unused++
					pu.unusedB += int64(e.Length)
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	rep.UsedBlobs = len(used)
	var keep, drop, repack []ID
	for id, pu := range packs {
		rep.UnusedBlobs += pu.unused
		switch {
		case pu.used == 0:
			drop = append(drop, id)
		case pu.unused > 0 && float64(pu.unusedB) > o.MaxWaste*float64(pu.usedB+pu.unusedB):
			repack = append(repack, id)
		default:
			keep = append(keep, id)
		}
	}
	sort.Slice(repack, func(i, j int) bool { return repack[i].String() < repack[j].String() })
	// Orphans: packs at the sites that no index lists.
	orphans, err := d.listOrphans(ctx)
	if err != nil {
		return nil, err
	}
	rep.PacksKept, rep.PacksDeleted, rep.PacksRepacked, rep.OrphanPacks = len(keep), len(drop), len(repack), len(orphans)
	sizes := d.Idx.Packs()
	for _, id := range append(append([]ID{}, drop...), repack...) {
		rep.BytesFreed += sizes[id]
	}
	if o.DryRun {
		return rep, nil
	}
	nothing := len(drop) == 0 && len(repack) == 0
	if nothing && len(d.Idx.Files()) <= 1 {
		// Only orphans and superseded indexes a retaining site kept, if
		// anything: delete those no site retains any more, without writing
		// another index.
		leftover, err := d.supersededLeft(ctx)
		if err != nil {
			return nil, err
		}
		for _, h := range leftover {
			if d.r.retained(ctx, h) {
				rep.Deferred++
				continue
			}
			if err := d.r.DeleteAll(ctx, h); err != nil {
				return nil, err
			}
		}
		for _, id := range orphans {
			h := d.PackHandle(id)
			if d.r.retained(ctx, h) {
				rep.Deferred++
				continue
			}
			if err := d.r.DeleteAll(ctx, h); err != nil {
				return nil, err
			}
		}
		return rep, nil
	}
	// 1. Copy the used blobs of packs being repacked into new packs.
	w := d.NewWriter(ctx)
	w.noIndex = true
	var sc Scratch
	for _, p := range repack {
		pu := packs[p]
		for i, id := range pu.ids {
			if !used[id] || pu.entries[i].Pack != p {
				continue
			}
			if loc, _ := d.Idx.Lookup(id); loc.Pack != p {
				continue
			}
			plain, err := d.LoadBlob(ctx, id, nil)
			if err != nil {
				w.Abort()
				return nil, fmt.Errorf("repack: read blob %s: %w; nothing was deleted", id.Short(), err)
			}
			if _, err := w.rewriteBlob(pu.entries[i].Type, id, plain, &sc); err != nil {
				w.Abort()
				return nil, err
			}
		}
	}
	if err := w.Flush(); err != nil {
		return nil, fmt.Errorf("repack: %w; nothing was deleted", err)
	}
	// 2. One complete index of the packs that stay, superseding all others.
	var oldIndexes []ID
	files := d.Idx.Files()
	seenIdx := map[ID]bool{}
	for id, f := range files {
		// With the indexes an interrupted prune superseded but did not
		// delete: dropping their superseder alone would bring them back.
		for _, o := range append([]ID{id}, f.Supersedes...) {
			if !seenIdx[o] {
				seenIdx[o] = true
				oldIndexes = append(oldIndexes, o)
			}
		}
	}
	keepSet := map[ID]bool{}
	for _, id := range keep {
		keepSet[id] = true
	}
	var newPacks []IndexPack
	listed := map[ID]bool{}
	err = d.EachIndexFile(ctx, func(_ ID, f *IndexFile) error {
		for _, p := range f.Packs {
			if keepSet[p.ID] && !listed[p.ID] {
				newPacks = append(newPacks, p)
				listed[p.ID] = true
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	newPacks = append(newPacks, w.repacked...)
	// The new index is written in bounded parts first, then one small
	// object that supersedes the old indexes: until that last write the old
	// and new indexes coexist (harmless duplicates); after it, only the new.
	w2 := &Writer{d: d, key: d.Keys.CurrentKey(), ctx: ctx}
	for len(newPacks) > 0 {
		n := min(len(newPacks), maxPacksPerIndex)
		if err := w2.writeIndex(newPacks[:n], nil); err != nil {
			return nil, fmt.Errorf("write new index: %w; nothing was deleted", err)
		}
		newPacks = newPacks[n:]
	}
	if err := w2.writeIndex(nil, oldIndexes); err != nil {
		return nil, fmt.Errorf("write new index: %w; nothing was deleted", err)
	}
	rep.IndexesMerged = len(oldIndexes)
	// 3. Only now delete: old indexes, then dropped, repacked and orphan packs.
	// An object a retaining site still holds under object lock is deferred
	// at every site, so that the sites keep agreeing: a superseded index
	// stays superseded, a dropped pack becomes an orphan, and both go in a
	// later prune.
	crashpoint.Hit("repo.prune.delete")
	var handles []site.Handle
	for _, id := range oldIndexes {
		handles = append(handles, d.IndexHandle(id))
	}
	for _, id := range append(append(drop, repack...), orphans...) {
		handles = append(handles, d.PackHandle(id))
	}
	for _, h := range handles {
		if d.r.retained(ctx, h) {
			rep.Deferred++
			continue
		}
		if err := d.r.DeleteAll(ctx, h); err != nil {
			return nil, err
		}
	}
	return rep, d.LoadIndex(ctx)
}

// retained reports whether a site with object lock may still refuse to
// delete h: it holds h and h's retention has not passed, or it cannot say.
// The site's modification time is its own claim; a host that backdates it
// only makes the delete fail there, loudly.
func (r *Repo) retained(ctx context.Context, h site.Handle) bool {
	for _, s := range r.sites {
		if s.RetainFor <= 0 || !s.usable() || !s.holds(h.Kind) {
			continue
		}
		fi, err := s.Backend.Stat(ctx, h)
		if errors.Is(err, site.ErrNotFound) {
			continue
		}
		if err != nil || r.now().Before(fi.ModTime.Add(s.RetainFor)) {
			return true
		}
	}
	return false
}

// supersededLeft lists the index objects still at some site that a live
// index supersedes: left by an interrupted prune, or deferred by one.
func (d *Dataset) supersededLeft(ctx context.Context) ([]site.Handle, error) {
	sup := map[ID]bool{}
	for _, f := range d.Idx.Files() {
		for _, id := range f.Supersedes {
			sup[id] = true
		}
	}
	if len(sup) == 0 {
		return nil, nil
	}
	var out []site.Handle
	err := d.r.listUnion(ctx, site.KindIndex, func(fi site.Info) error {
		if id, ok := parseObjectName(d.Keys.ID, fi.Handle.Name); ok && sup[id] {
			out = append(out, d.IndexHandle(id))
		}
		return nil
	})
	return out, err
}

func (d *Dataset) listOrphans(ctx context.Context) ([]ID, error) {
	known := d.Idx.Packs()
	var out []ID
	err := d.r.listUnion(ctx, site.KindPack, func(fi site.Info) error {
		if id, ok := parseObjectName(d.Keys.ID, fi.Handle.Name); ok {
			if _, ok := known[id]; !ok {
				out = append(out, id)
			}
		}
		return nil
	})
	return out, err
}
