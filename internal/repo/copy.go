package repo

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/digital-embassy/embassy/internal/crashpoint"
	"github.com/digital-embassy/embassy/internal/site"
)

// CopyStats count what Backfill copied.
type CopyStats struct {
	Objects int64
	Bytes   int64
	Present int64
	Planted int64 // objects the signed state says the home never wrote: not copied
}

// Backfill copies every object the repository's sites hold to target,
// skipping objects target already has. Objects are immutable and named by
// content, so an interrupted backfill is simply run again.
func (r *Repo) Backfill(ctx context.Context, target *Site, progress func(done, total int64)) (CopyStats, error) {
	return r.backfill(ctx, target, nil, progress)
}

func (r *Repo) backfill(ctx context.Context, target *Site, keep CopyFilter, progress func(done, total int64)) (CopyStats, error) {
	var st CopyStats
	if b, err := ReadObject(ctx, target.Backend, site.Handle{Kind: site.KindConfig, Name: "repo"}); err == nil {
		if _, _, err := verifyRepoBody(b, r.home); err != nil {
			return st, fmt.Errorf("site %s: %w", target.Name, err)
		}
	} else if !errors.Is(err, site.ErrNotFound) {
		return st, fmt.Errorf("site %s: %w", target.Name, err)
	}
	have := map[site.Handle]int64{}
	for _, k := range site.Kinds {
		if k == site.KindLock || !target.holds(k) {
			continue
		}
		if err := target.Backend.List(ctx, k, func(fi site.Info) error {
			have[fi.Handle] = fi.Size
			return nil
		}); err != nil {
			return st, fmt.Errorf("site %s: list %s: %w", target.Name, k, err)
		}
	}
	var todo []site.Info
	var total int64
	// config/repo last: its presence marks a complete site.
	kinds := []site.Kind{site.KindKey, site.KindPack, site.KindIndex, site.KindSnapshot, site.KindConfig}
	for _, k := range kinds {
		if !target.holds(k) {
			continue
		}
		var repoObj *site.Info
		err := r.listUnion(ctx, k, func(fi site.Info) error {
			if sz, ok := have[fi.Handle]; ok && sz == fi.Size {
				st.Present++
				return nil
			}
			if keep != nil && !keep(target.Name, fi.Handle) {
				return nil
			}
			if r.planted(fi.Handle) {
				st.Planted++
				return nil
			}
			if fi.Handle.Kind == site.KindConfig && fi.Handle.Name == "repo" {
				c := fi
				repoObj = &c
				return nil
			}
			todo = append(todo, fi)
			total += fi.Size
			return nil
		})
		if err != nil {
			return st, err
		}
		if repoObj != nil {
			todo = append(todo, *repoObj)
			total += repoObj.Size
		}
	}
	for _, fi := range todo {
		var data []byte
		err := r.readFirst(ctx, fi.Handle, 0, 0, func(_ *Site, b []byte) error {
			if fi.Handle.Kind == site.KindPack || fi.Handle.Kind == site.KindIndex || fi.Handle.Kind == site.KindSnapshot {
				id, err := ParseID(lastComponent(fi.Handle.Name))
				if err == nil && Hash(b) != id {
					return fmt.Errorf("%s does not match its name", fi.Handle)
				}
			}
			data = b
			return nil
		})
		if err != nil {
			return st, err
		}
		err = target.Backend.Put(ctx, fi.Handle, site.Bytes(data), target.putOptions(fi.Handle, r.now()))
		if errors.Is(err, site.ErrExists) {
			err = nil
		}
		if err != nil {
			return st, fmt.Errorf("site %s: %w", target.Name, err)
		}
		st.Objects++
		st.Bytes += int64(len(data))
		if progress != nil {
			progress(st.Bytes, total)
		}
	}
	return st, nil
}

// planted reports whether h is an object the home's signed state says it
// did not write (a key record, dataset or manifest it does not list, or a
// config object of no known kind): backfill and catch-up never copy such
// an object to another site. Without signed state nothing is judged.
func (r *Repo) planted(h site.Handle) bool {
	st := r.curState()
	if st == nil {
		return false
	}
	switch h.Kind {
	case site.KindConfig:
		if h.Name == "repo" {
			return false
		}
		if e, ok := parseEpochName(h.Name); ok {
			return e > r.current
		}
		_, ok := parseStateName(h.Name)
		return !ok
	case site.KindKey:
		if dsid, v, e, ok := parseDataKeyName(h.Name); ok {
			d := st.Dataset(dsid)
			return e != r.current || d == nil || !d.HasVersion(v)
		}
		if e, _, ok := parseShareName(h.Name); ok {
			return e != r.current
		}
		return true
	case site.KindSnapshot, site.KindIndex, site.KindPack:
		dsid, _, _ := strings.Cut(h.Name, "/")
		d := st.Dataset(dsid)
		if d == nil {
			return true
		}
		if h.Kind == site.KindSnapshot {
			id, ok := parseObjectName(dsid, h.Name)
			return !ok || !d.Has(id)
		}
		return false
	}
	return false
}

func lastComponent(name string) string {
	for i := len(name) - 1; i >= 0; i-- {
		if name[i] == '/' {
			return name[i+1:]
		}
	}
	return name
}

// SiteLag is how far a site is behind the union of all sites.
type SiteLag struct {
	Site    string `json:"site"`
	Objects int64  `json:"objects"`
	Bytes   int64  `json:"bytes"`
}

// SyncDataset brings every usable site up to date with the others for one
// dataset: an object (pack, index, manifest or wrapped key) present at some
// site but missing at another is copied there. This heals the replica gap
// an interrupted write leaves (a pack stored at one site when the process
// died) and catches up a site that was unreachable. It errs on the side of
// keeping data: an object deleted at one site only (an interrupted forget)
// is copied back, and the next forget or prune removes it again.
func (r *Repo) SyncDataset(ctx context.Context, dsid string) (CopyStats, error) {
	st, _, err := r.syncObjects(ctx, []site.Kind{site.KindKey, site.KindPack, site.KindIndex, site.KindSnapshot}, func(h site.Handle) bool {
		prefix := dsid + "/"
		if h.Kind == site.KindKey {
			prefix = "datasets/" + dsid + "/"
		}
		return strings.HasPrefix(h.Name, prefix)
	}, nil, true)
	return st, err
}

// CatchUp copies every object some usable site holds to the usable sites
// that lack it, for all datasets, keys and key epochs.
func (r *Repo) CatchUp(ctx context.Context) (CopyStats, map[string]*SiteLag, error) {
	return r.syncObjects(ctx, []site.Kind{site.KindConfig, site.KindKey, site.KindPack, site.KindIndex, site.KindSnapshot}, nil, nil, true)
}

// Lag reports, per usable site, how many objects and bytes it lacks that
// another site holds.
func (r *Repo) Lag(ctx context.Context) (map[string]*SiteLag, error) {
	_, lag, err := r.syncObjects(ctx, []site.Kind{site.KindConfig, site.KindKey, site.KindPack, site.KindIndex, site.KindSnapshot}, nil, nil, false)
	return lag, err
}

func (r *Repo) syncObjects(ctx context.Context, kinds []site.Kind, match func(site.Handle) bool, keep CopyFilter, apply bool) (CopyStats, map[string]*SiteLag, error) {
	var st CopyStats
	lag := map[string]*SiteLag{}
	var sites []*Site
	for _, s := range r.Sites() {
		if s.usable() {
			sites = append(sites, s)
			lag[s.Name] = &SiteLag{Site: s.Name}
		}
	}
	if len(sites) < 2 {
		return st, lag, nil
	}
	for _, k := range kinds {
		where := map[string]map[*Site]int64{}
		for _, s := range sites {
			err := s.Backend.List(ctx, k, func(fi site.Info) error {
				if match == nil || match(fi.Handle) {
					if where[fi.Handle.Name] == nil {
						where[fi.Handle.Name] = map[*Site]int64{}
					}
					where[fi.Handle.Name][s] = fi.Size
				}
				return nil
			})
			if err != nil {
				s.Fail(fmt.Errorf("list %s: %w", k, err))
				return st, lag, nil
			}
		}
		// Deterministic order, and config/repo last: a copy interrupted
		// part-way leaves a site without the descriptor, which opens as
		// empty (to be filled by the next sync) rather than as a site with
		// a broken epoch chain.
		names := make([]string, 0, len(where))
		for name := range where {
			names = append(names, name)
		}
		sort.Slice(names, func(i, j int) bool {
			if (names[i] == "repo") != (names[j] == "repo") {
				return names[j] == "repo"
			}
			return names[i] < names[j]
		})
		for _, name := range names {
			at := where[name]
			if len(at) == len(sites) {
				continue
			}
			if r.planted(site.Handle{Kind: k, Name: name}) {
				st.Planted++
				continue // never spread what the home did not write
			}
			var size int64
			for _, sz := range at {
				size = sz
			}
			h := site.Handle{Kind: k, Name: name}
			for _, s := range sites {
				if _, ok := at[s]; !ok && (keep == nil || keep(s.Name, h)) {
					lag[s.Name].Objects++
					lag[s.Name].Bytes += size
				}
			}
			if !apply {
				continue
			}
			var data []byte
			for s := range at {
				b, err := ReadObject(ctx, s.Backend, h)
				if err != nil {
					continue
				}
				if k != site.KindKey && k != site.KindConfig {
					if id, err := ParseID(lastComponent(name)); err != nil || Hash(b) != id {
						continue // damaged copy: verify reports it
					}
				}
				data = b
				break
			}
			if data == nil {
				continue
			}
			for _, s := range sites {
				if _, ok := at[s]; ok || (keep != nil && !keep(s.Name, h)) {
					continue
				}
				crashpoint.Hit("repo.copy")
				err := s.Backend.Put(ctx, h, site.Bytes(data), s.putOptions(h, r.now()))
				if err != nil && !errors.Is(err, site.ErrExists) {
					s.Fail(fmt.Errorf("catch up %s: %w", h, err))
					continue
				}
				lag[s.Name].Objects--
				lag[s.Name].Bytes -= int64(len(data))
				st.Objects++
				st.Bytes += int64(len(data))
			}
		}
	}
	return st, lag, nil
}
