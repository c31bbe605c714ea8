package repo

import (
	"context"
	"strings"

	"github.com/digital-embassy/embassy/internal/site"
)

// CopyFilter decides whether the object h may be copied to the site named
// target. Backfill and catch-up ask it for every object they would copy;
// nil copies everything.
type CopyFilter func(target string, h site.Handle) bool

// DatasetOf returns the dataset id an object belongs to: packs, indexes and
// snapshots are named "<dsid>/...", wrapped data keys "datasets/<dsid>/...".
// Objects of the home itself (config, key epochs, custodian shares) belong
// to no dataset and give "".
func DatasetOf(h site.Handle) string {
	name := h.Name
	switch h.Kind {
	case site.KindPack, site.KindIndex, site.KindSnapshot:
	case site.KindKey:
		rest, ok := strings.CutPrefix(name, "datasets/")
		if !ok {
			return ""
		}
		name = rest
	default:
		return ""
	}
	dsid, _, ok := strings.Cut(name, "/")
	if !ok {
		return ""
	}
	return dsid
}

// SkipDatasets is a CopyFilter that keeps the objects of the dataset ids in
// skip[target] off that site. The home's own objects always go.
func SkipDatasets(skip map[string]map[string]bool) CopyFilter {
	return func(target string, h site.Handle) bool {
		ds := DatasetOf(h)
		return ds == "" || !skip[target][ds]
	}
}

// BackfillFiltered is Backfill copying only the objects keep allows.
func (r *Repo) BackfillFiltered(ctx context.Context, target *Site, keep CopyFilter, progress func(done, total int64)) (CopyStats, error) {
	return r.backfill(ctx, target, keep, progress)
}

// CatchUpFiltered is CatchUp copying only the objects keep allows; an
// object kept off a site does not count in that site's lag.
func (r *Repo) CatchUpFiltered(ctx context.Context, keep CopyFilter) (CopyStats, map[string]*SiteLag, error) {
	return r.syncObjects(ctx, []site.Kind{site.KindConfig, site.KindKey, site.KindPack, site.KindIndex, site.KindSnapshot}, nil, keep, true)
}

// LagFiltered is Lag not counting the objects keep holds off a site.
func (r *Repo) LagFiltered(ctx context.Context, keep CopyFilter) (map[string]*SiteLag, error) {
	_, lag, err := r.syncObjects(ctx, []site.Kind{site.KindConfig, site.KindKey, site.KindPack, site.KindIndex, site.KindSnapshot}, nil, keep, false)
	return lag, err
}

// Exclude marks s failed with err for the rest of the session, as Fail
// does, unless it has failed already; undo clears that mark again (if it
// is still err), so that a long-running caller can keep a site off one
// dataset's writes only.
func (s *Site) Exclude(err error) (undo func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return func() {}
	}
	s.err = err
	return func() {
		s.mu.Lock()
		if s.err == err {
			s.err = nil
		}
		s.mu.Unlock()
	}
}
