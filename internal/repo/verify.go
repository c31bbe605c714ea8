package repo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/digital-embassy/embassy/internal/codec"
	"github.com/digital-embassy/embassy/internal/site"
)

// Damage is one problem found by Verify.
type Damage struct {
	Site      string   `json:"site"`
	Dataset   string   `json:"dataset,omitempty"`
	Object    string   `json:"object"`
	Problem   string   `json:"problem"`
	Snapshots []string `json:"snapshots,omitempty"` // affected snapshot IDs
}

// VerifyReport is the outcome of Verify.
type VerifyReport struct {
	Sites     []string `json:"sites"`
	Datasets  int      `json:"datasets"`
	Snapshots int      `json:"snapshots"`
	Packs     int64    `json:"packs_checked"`
	Blobs     int64    `json:"blobs_checked"`
	Bytes     int64    `json:"bytes_read"`
	ReadData  bool     `json:"read_data"`
	// DuplicateBlobs counts blobs listed at more than one location; the
	// lowest (pack, offset) is used (docs/FORMAT.md §9).
	DuplicateBlobs int      `json:"duplicate_blobs"`
	Damage         []Damage `json:"damage"`
	// Withheld counts, per site and dataset, the objects a site lacks
	// because the policy keeps that dataset off it (VerifyOptions.Held):
	// not damage, and nothing for repair to copy there.
	Withheld []Withheld `json:"withheld,omitempty"`
	mu       sync.Mutex
}

// Withheld is one dataset a site does not hold by policy.
type Withheld struct {
	Site    string `json:"site"`
	Dataset string `json:"dataset"`
	Objects int    `json:"objects"`
}

func (v *VerifyReport) add(d Damage) {
	v.mu.Lock()
	v.Damage = append(v.Damage, d)
	v.mu.Unlock()
}

// withhold moves the missing objects held says a site is not meant to
// hold from Damage to Withheld.
func (v *VerifyReport) withhold(held CopyFilter) {
	kept := v.Damage[:0]
	count := map[[2]string]int{}
	for _, d := range v.Damage {
		if d.Problem == "missing" {
			if h, err := parseHandle(d.Object); err == nil && !held(d.Site, h) {
				count[[2]string{d.Site, d.Dataset}]++
				continue
			}
		}
		kept = append(kept, d)
	}
	v.Damage = kept
	for k, n := range count {
		v.Withheld = append(v.Withheld, Withheld{Site: k[0], Dataset: k[1], Objects: n})
	}
	sort.Slice(v.Withheld, func(i, j int) bool {
		a, b := v.Withheld[i], v.Withheld[j]
		if a.Site != b.Site {
			return a.Site < b.Site
		}
		return a.Dataset < b.Dataset
	})
}

// VerifyOptions configure Verify.
type VerifyOptions struct {
	ReadData bool
	Sites    []string // restrict to these sites ("" = all)
	Progress func(done, total int64)
	// Held says whether a site is meant to hold an object (the policy's
	// replication decisions, vault.Gate.HeldFilter); a missing object a
	// site is not meant to hold is counted in Withheld, not as damage.
	// nil: every site holds everything.
	Held CopyFilter
}

// Verify checks every site: the signed descriptor and key epochs, that
// every index, snapshot and pack the vault needs is present with the right
// size, that every snapshot's trees resolve, and with ReadData that every
// pack hashes to its name and every blob authenticates and hashes to its ID.
func (r *Repo) Verify(ctx context.Context, o VerifyOptions) (*VerifyReport, error) {
	if err := r.needRoot(); err != nil {
		return nil, err
	}
	rep := &VerifyReport{ReadData: o.ReadData}
	alertsBefore := r.alertCount()
	want := map[string]bool{}
	for _, s := range o.Sites {
		want[s] = true
	}
	var sites []*Site
	for _, s := range r.Sites() {
		if len(want) > 0 && !want[s.Name] {
			continue
		}
		sites = append(sites, s)
		rep.Sites = append(rep.Sites, s.Name)
		if s.Backend == nil {
			rep.add(Damage{Site: s.Name, Object: "-", Problem: fmt.Sprintf("site unreachable: %v", s.Err())})
		}
	}
	for n := range want {
		if !contains(rep.Sites, n) {
			return nil, fmt.Errorf("no site named %q", n)
		}
	}
	for _, s := range sites {
		if s.Backend != nil {
			r.verifyConfig(ctx, s, rep)
		}
	}
	all, err := r.Datasets(ctx)
	if err != nil {
		return nil, err
	}
	rep.Datasets = len(all)
	names := make([]string, 0, len(all))
	for n := range all {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := r.verifyDataset(ctx, all[n], sites, o, rep); err != nil {
			return nil, err
		}
	}
	// What the sites were caught at while verifying (planted key records,
	// manifests the state does not list, substituted blobs) is damage even
	// though every object the home uses authenticates. A stale site shows
	// as the newest state or epoch record missing (verifyConfig).
	inScope := map[string]bool{"*": true}
	for _, s := range sites {
		inScope[s.Name] = true
	}
	for _, a := range dedupAlerts(r.alertsSince(alertsBefore)) {
		if inScope[a.Site] && a.Attack != AttackMissingSnap {
			rep.add(Damage{Site: a.Site, Object: a.Object, Problem: string(a.Attack) + ": " + a.Detail})
		}
	}
	if o.Held != nil {
		rep.withhold(o.Held)
	}
	sort.Slice(rep.Damage, func(i, j int) bool {
		a, b := rep.Damage[i], rep.Damage[j]
		if a.Site != b.Site {
			return a.Site < b.Site
		}
		return a.Object < b.Object
	})
	return rep, nil
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}

func (r *Repo) verifyConfig(ctx context.Context, s *Site, rep *VerifyReport) {
	check := func(h site.Handle) {
		b, err := ReadObject(ctx, s.Backend, h)
		if err != nil {
			rep.add(Damage{Site: s.Name, Object: h.String(), Problem: problem(err)})
			return
		}
		if h.Name == "repo" {
			if _, _, err := verifyRepoBody(b, r.home); err != nil {
				rep.add(Damage{Site: s.Name, Object: h.String(), Problem: err.Error()})
			}
		}
	}
	check(site.Handle{Kind: site.KindConfig, Name: "repo"})
	for e := range r.epochs {
		check(site.Handle{Kind: site.KindConfig, Name: epochName(e)})
	}
	if r.state != nil {
		check(stateHandle(r.state.Seq))
	}
	ep := r.epochs[r.current]
	for _, c := range ep.Custodians {
		h := shareHandle(r.current, c.Index)
		if _, err := s.Backend.Stat(ctx, h); err != nil {
			rep.add(Damage{Site: s.Name, Object: h.String(), Problem: problem(err) + " (custodian share: recovery from this site alone needs it)"})
		}
	}
}

func problem(err error) string {
	if errors.Is(err, site.ErrNotFound) {
		return "missing"
	}
	return err.Error()
}

func (r *Repo) verifyDataset(ctx context.Context, k *DatasetKeys, sites []*Site, o VerifyOptions, rep *VerifyReport) error {
	d, err := r.OpenDataset(ctx, k)
	if err != nil {
		rep.add(Damage{Site: "*", Dataset: k.Name, Object: "index/" + k.ID, Problem: err.Error()})
		return nil
	}
	for id, e := range d.BadIndexes() {
		rep.add(Damage{Site: "*", Dataset: k.Name, Object: d.IndexHandle(id).String(), Problem: "index does not authenticate at any site: " + e.Error()})
	}
	snaps, bad, err := d.Snapshots(ctx)
	if err != nil {
		return err
	}
	rep.mu.Lock()
	rep.DuplicateBlobs += d.Idx.Duplicates()
	rep.Snapshots += len(snaps)
	rep.mu.Unlock()
	for id, e := range bad {
		rep.add(Damage{Site: "*", Dataset: k.Name, Object: d.SnapshotHandle(id).String(), Problem: "manifest does not authenticate at any site: " + e.Error(), Snapshots: []string{id.String()}})
	}
	// The bound index sets (FORMAT §10.1): restore refuses these snapshots.
	files := d.Idx.Files()
	for _, s := range snaps {
		for _, id := range missingBound(s, files) {
			rep.add(Damage{Site: "*", Dataset: k.Name, Object: d.IndexHandle(id).String(),
				Problem: "an index the snapshot's signed manifest is bound to is missing at every site (dropped or replaced); restore refuses the snapshot", Snapshots: []string{s.ID.String()}})
		}
	}
	// Which snapshots need which packs. The walk (it loads every tree)
	// runs while the packs are read: only the damage report needs its
	// result (which snapshots a damaged pack affects), so pack damage
	// waits in pending until the walk is done.
	packUsers := map[ID]map[string]bool{}
	walkCtx, cancelWalk := context.WithCancel(ctx)
	defer cancelWalk()
	walked := make(chan error, 1)
	go func() { walked <- d.walkUsers(walkCtx, snaps, k.Name, packUsers, rep) }()
	var pendMu sync.Mutex
	var pending []pendingDamage
	pend := func(pd pendingDamage) {
		pendMu.Lock()
		pending = append(pending, pd)
		pendMu.Unlock()
	}
	packs := d.Idx.Packs()
	var total, largest int64
	for _, sz := range packs {
		total += sz
		largest = max(largest, sz)
	}
	// Buffers per worker, made once for the largest pack and kept for
	// every pack and site: pooled buffers of the size at hand were
	// dropped at collections and regrown, and each new one was zeroed and
	// faulted in again.
	var bufs []verifyBufs
	if o.ReadData && len(packs) > 0 {
		bufs = make([]verifyBufs, min(verifyWorkers, len(packs)))
		for i := range bufs {
			bufs[i].pack = make([]byte, largest)
		}
	}
	for _, s := range sites {
		if s.Backend == nil {
			continue
		}
		// Presence of manifests and indexes.
		have := map[string]int64{}
		for _, kind := range []site.Kind{site.KindSnapshot, site.KindIndex, site.KindPack} {
			err := s.Backend.List(ctx, kind, func(fi site.Info) error {
				have[fi.Handle.String()] = fi.Size
				return nil
			})
			if err != nil {
				rep.add(Damage{Site: s.Name, Dataset: k.Name, Object: kind.String() + "/", Problem: "cannot list: " + err.Error()})
				continue
			}
		}
		// The packs go to the workers first, so that reading them
		// overlaps the manifest and index reads below.
		jobs := make(chan ID)
		var done atomic.Int64
		var wg sync.WaitGroup
		for w := range bufs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for id := range jobs {
					if err := d.checkPack(ctx, s, id, packs[id], &bufs[w], rep); err != nil {
						pend(pendingDamage{Damage{Site: s.Name, Dataset: k.Name, Object: d.PackHandle(id).String(), Problem: err.Error()}, id, false})
					}
					n := done.Add(packs[id])
					if o.Progress != nil {
						o.Progress(n, total)
					}
				}
			}()
		}
		feed := make(chan struct{})
		go func() {
			defer close(feed)
			defer close(jobs)
			for id, size := range packs {
				h := d.PackHandle(id)
				got, ok := have[h.String()]
				switch {
				case !ok:
					pend(pendingDamage{Damage{Site: s.Name, Dataset: k.Name, Object: h.String(), Problem: "missing"}, id, true})
					continue
				case got != size:
					pend(pendingDamage{Damage{Site: s.Name, Dataset: k.Name, Object: h.String(), Problem: fmt.Sprintf("size %d, index says %d (truncated or replaced)", got, size)}, id, false})
					continue
				}
				atomic.AddInt64(&rep.Packs, 1)
				if o.ReadData {
					jobs <- id
				}
			}
		}()
		for _, sn := range snaps {
			h := d.SnapshotHandle(sn.ID)
			if _, ok := have[h.String()]; !ok {
				rep.add(Damage{Site: s.Name, Dataset: k.Name, Object: h.String(), Problem: "missing", Snapshots: []string{sn.ID.String()}})
			} else if o.ReadData {
				if b, err := ReadObject(ctx, s.Backend, h); err != nil {
					rep.add(Damage{Site: s.Name, Dataset: k.Name, Object: h.String(), Problem: problem(err), Snapshots: []string{sn.ID.String()}})
				} else if _, err := d.openSnapshot(sn.ID, b); err != nil {
					rep.add(Damage{Site: s.Name, Dataset: k.Name, Object: h.String(), Problem: err.Error(), Snapshots: []string{sn.ID.String()}})
				}
			}
		}
		for id := range d.Idx.Files() {
			h := d.IndexHandle(id)
			if _, ok := have[h.String()]; !ok {
				rep.add(Damage{Site: s.Name, Dataset: k.Name, Object: h.String(), Problem: "missing"})
			} else if o.ReadData {
				if b, err := ReadObject(ctx, s.Backend, h); err != nil {
					rep.add(Damage{Site: s.Name, Dataset: k.Name, Object: h.String(), Problem: problem(err)})
				} else if _, err := d.openIndexObject(id, b); err != nil {
					rep.add(Damage{Site: s.Name, Dataset: k.Name, Object: h.String(), Problem: err.Error()})
				}
			}
		}
		<-feed
		wg.Wait()
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	if err := <-walked; err != nil {
		return err
	}
	for _, pd := range pending {
		u := packUsers[pd.pack]
		if pd.ifUsed && len(u) == 0 {
			continue
		}
		pd.d.Snapshots = slices.Sorted(maps.Keys(u))
		rep.add(pd.d)
	}
	return nil
}

// verifyWorkers is how many packs Verify reads and checks at a time.
const verifyWorkers = 2

// pendingDamage is pack damage whose affected snapshots are known only
// once the walk is done; ifUsed: report it only if a snapshot uses the pack.
type pendingDamage struct {
	d      Damage
	pack   ID
	ifUsed bool
}

// walkUsers walks every snapshot's trees and records in packUsers which
// snapshots use which pack, adding the damage it finds (blobs in no index,
// unreadable trees) to rep.
func (d *Dataset) walkUsers(ctx context.Context, snaps []*Snapshot, dataset string, packUsers map[ID]map[string]bool, rep *VerifyReport) error {
	treeDone := map[ID]bool{}
	for _, s := range snaps {
		sid := s.ID.String()
		var mark = func(id ID) {
			loc, ok := d.Idx.Lookup(id)
			if !ok {
				rep.add(Damage{Site: "*", Dataset: dataset, Object: "blob " + id.String(), Problem: "referenced but in no index (lost)", Snapshots: []string{sid}})
				return
			}
			if packUsers[loc.Pack] == nil {
				packUsers[loc.Pack] = map[string]bool{}
			}
			packUsers[loc.Pack][sid] = true
		}
		// Each snapshot's root is walked in full, so that its own files
		// name it; a subtree an earlier walk entered only records this
		// snapshot as a user of the subtree's own pack.
		delete(treeDone, s.Tree)
		err := d.Walk(ctx, s.Tree, Walker{
			Seen: treeDone,
			Tree: func(v TreeVisit) error {
				if v.Seen {
					markTree(d, v.ID, sid, packUsers)
					return nil
				}
				mark(v.ID)
				if v.Err != nil {
					rep.add(Damage{Site: "*", Dataset: dataset, Object: "tree " + v.ID.String(), Problem: "unreadable at every site: " + v.Err.Error(), Snapshots: []string{sid}})
				}
				return nil
			},
			Node: func(_ string, n *Node, _ int) error {
				for _, c := range n.Content {
					mark(c)
				}
				return nil
			},
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func markTree(d *Dataset, id ID, sid string, packUsers map[ID]map[string]bool) {
	if loc, ok := d.Idx.Lookup(id); ok {
		if packUsers[loc.Pack] == nil {
			packUsers[loc.Pack] = map[string]bool{}
		}
		packUsers[loc.Pack][sid] = true
	}
}

// verifyBufs are one Verify worker's buffers, reused from pack to pack.
type verifyBufs struct {
	pack  []byte // the pack as read
	plain []byte // a decompressed blob
}

// checkPack reads a whole pack from one site into bufs.pack (grown if
// needed) and authenticates everything in it.
func (d *Dataset) checkPack(ctx context.Context, s *Site, id ID, size int64, bufs *verifyBufs, rep *VerifyReport) error {
	if int64(cap(bufs.pack)) < size {
		bufs.pack = make([]byte, size)
	}
	b := bufs.pack[:size]
	err := s.Backend.Get(ctx, d.PackHandle(id), 0, size, func(r io.Reader) error {
		_, err := io.ReadFull(r, b)
		return err
	})
	if err != nil {
		return errors.New(problem(err))
	}
	atomic.AddInt64(&rep.Bytes, int64(len(b)))
	if Hash(b) != id {
		return errors.New("content does not match its name (bytes changed)")
	}
	ip, err := d.openPack(id, b)
	if err != nil {
		return err
	}
	plainBuf := bufs.plain
	defer func() { bufs.plain = plainBuf[:0] }()
	for _, e := range ip.Entries {
		k, err := d.Keys.Key(ip.KeyVersion)
		if err != nil {
			return err
		}
		box := b[e.Offset : e.Offset+e.Length]
		inner, err := k.Enc.OpenInPlace(box, blobAD(e.Type, e.Codec, e.ID))
		if err != nil {
			return fmt.Errorf("blob %s does not authenticate", e.ID.Short())
		}
		plain := inner
		if e.Codec != codec.None {
			if plainBuf, err = codec.Decompress(plainBuf[:0], inner, e.Codec, int(e.Raw)); err != nil {
				return fmt.Errorf("blob %s: %v", e.ID.Short(), err)
			}
			plain = plainBuf
		}
		if len(plain) != int(e.Raw) {
			return fmt.Errorf("blob %s has %d bytes, header says %d", e.ID.Short(), len(plain), e.Raw)
		}
		// The ID key is the same in every key version, so BlobID applies.
		if got := d.BlobID(plain); got != e.ID {
			return fmt.Errorf("blob %s content does not match its ID", e.ID.Short())
		}
		atomic.AddInt64(&rep.Blobs, 1)
	}
	return nil
}
