package cli

import (
	"context"
	"errors"
	"hash/fnv"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/digital-embassy/embassy/internal/assess"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/tlog"
	"github.com/digital-embassy/embassy/internal/ui"
	"github.com/digital-embassy/embassy/internal/watch"
)

// homeSource is the dashboard's view of a home.
type homeSource struct {
	e *env
	h *home.Home

	recMu   sync.Mutex // one append at a time
	mu      sync.Mutex
	health  map[string]string // site -> "" when healthy, else the reason
	checked time.Time
	version uint64
	lastSig uint64

	cached     []tlog.Indexed
	cachedSize uint64

	assessMu sync.Mutex // one scoring at a time
	cards    []*assess.Scorecard
	cardsAt  time.Time
	cardsLog uint64
}

// entries returns the log's entries, verified against the published
// checkpoint; they are read again only when the checkpoint has grown.
func (s *homeSource) entries(ctx context.Context) ([]tlog.Indexed, error) {
	r, _, err := s.e.readLog(s.h)
	if err != nil {
		return nil, err
	}
	cp, _, err := r.Checkpoint(ctx)
	if errors.Is(err, tlog.ErrEmpty) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.cached != nil && s.cachedSize == cp.Size {
		ents := s.cached
		s.mu.Unlock()
		return ents, nil
	}
	s.mu.Unlock()
	cp, ents, err := r.All(ctx)
	if errors.Is(err, tlog.ErrEmpty) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.cached, s.cachedSize = ents, cp.Size
	s.mu.Unlock()
	return ents, nil
}

// logSize is the published checkpoint's size (cheap: one small read).
func (s *homeSource) logSize(ctx context.Context) uint64 {
	r, _, err := s.e.readLog(s.h)
	if err != nil {
		return 0
	}
	cp, _, err := r.Checkpoint(ctx)
	if err != nil {
		return 0
	}
	return cp.Size
}

// checkSites probes each site (at most every 2 s): a config object that
// can be stat'ed means reachable.
func (s *homeSource) checkSites(ctx context.Context) map[string]string {
	s.mu.Lock()
	if s.health != nil && time.Since(s.checked) < 2*time.Second {
		h := s.health
		s.mu.Unlock()
		return h
	}
	s.mu.Unlock()
	out := map[string]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	lo := s.e.locationOptions(s.h) // the home's own options: daemon sites need its PKI
	for _, sc := range s.h.Config.Sites {
		wg.Add(1)
		go func(sc home.SiteConfig) {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			defer cancel()
			_, status := s.e.probeSite(cctx, sc, lo)
			if status == "ok" {
				status = ""
			}
			mu.Lock()
			out[sc.Name] = status
			mu.Unlock()
		}(sc)
	}
	wg.Wait()
	s.mu.Lock()
	s.health, s.checked = out, time.Now()
	s.mu.Unlock()
	return out
}

func (s *homeSource) Overview(ctx context.Context) (ui.Overview, error) {
	ents, err := s.entries(ctx)
	if err != nil {
		return ui.Overview{}, err
	}
	health := s.checkSites(ctx)
	lastProof := map[string]time.Time{}
	damage := map[string]int{}
	var alerts []watch.Alert
	for _, x := range ents {
		switch x.Kind {
		case tlog.KindVerify:
			if x.Details["proof"] == "true" {
				lastProof[x.Site] = x.Time
				damage[x.Site], _ = strconv.Atoi(x.Details["damage"])
			}
		case "alert":
			obs, _ := strconv.ParseFloat(x.Details["observed"], 64)
			base, _ := strconv.ParseFloat(x.Details["baseline"], 64)
			alerts = append(alerts, watch.Alert{Time: x.Time, Kind: x.Reason, Site: x.Site, Dataset: x.Dataset, Why: x.Details["why"], Observed: obs, Baseline: base, Unit: x.Details["unit"]})
		}
	}
	if len(alerts) > 50 {
		alerts = alerts[len(alerts)-50:]
	}
	ov := ui.Overview{Home: s.h.Config.Home, LogSize: uint64(len(ents)), Alerts: alerts}
	for _, sc := range s.h.Config.Sites {
		st := ui.Site{Name: sc.Name, Jurisdiction: sc.Jurisdiction, Operator: sc.Operator, Agreement: sc.Agreement, Tier: sc.Tier,
			Healthy: health[sc.Name] == "", Status: "reachable", ProofDamage: damage[sc.Name]}
		if !st.Healthy {
			st.Status = health[sc.Name]
		}
		if t, ok := lastProof[sc.Name]; ok {
			st.LastProof = &t
		}
		if sc.Location != "" {
			if lat, lon, err := home.ParseLatLon(sc.Location); err == nil {
				st.Lat, st.Lon = &lat, &lon
			}
		}
		ov.Sites = append(ov.Sites, st)
	}
	return ov, nil
}

func (s *homeSource) Datasets(ctx context.Context) ([]ui.Dataset, error) {
	r, err := s.e.openRepo(s.h, true)
	if err != nil {
		return nil, err
	}
	defer s.e.closeRepo(r)
	all, err := r.Datasets(ctx)
	if err != nil {
		return nil, err
	}
	ents, _ := s.entries(ctx)
	verified := map[string]time.Time{}
	for _, x := range ents {
		if x.Kind == tlog.KindVerify && x.Dataset != "" {
			verified[x.Dataset] = x.Time
		}
	}
	var names []string
	for n := range all {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []ui.Dataset
	for _, n := range names {
		d, err := r.OpenDataset(ctx, all[n])
		if err != nil {
			return nil, err
		}
		snaps, _, err := d.Snapshots(ctx)
		if err != nil {
			return nil, err
		}
		row := ui.Dataset{Name: n, Snapshots: len(snaps), Sites: []string{}}
		for _, sc := range s.h.Config.Sites {
			row.Sites = append(row.Sites, sc.Name)
		}
		for _, sn := range snaps {
			t := sn.Time
			if row.LastSnapshot == nil || t.After(*row.LastSnapshot) {
				row.LastSnapshot, row.Class = &t, sn.Class
			}
		}
		if t, ok := verified[all[n].ID]; ok {
			row.LastVerified = &t
		}
		out = append(out, row)
	}
	return out, nil
}

func (s *homeSource) Log(ctx context.Context) ([]tlog.Indexed, error) { return s.entries(ctx) }

func (s *homeSource) Disclosures(ctx context.Context) (tlog.DisclosureReport, error) {
	ents, err := s.entries(ctx)
	if err != nil {
		return tlog.DisclosureReport{}, err
	}
	return tlog.Disclosures(ents, tlog.DisclosureOptions{Now: s.e.now()}), nil
}

func (s *homeSource) Receipt(ctx context.Context, index uint64) ([]byte, error) {
	r, _, err := s.e.readLog(s.h)
	if err != nil {
		return nil, err
	}
	return r.Receipt(ctx, index)
}

func (s *homeSource) Record(ctx context.Context, ent tlog.Entry) error {
	s.recMu.Lock()
	defer s.recMu.Unlock()
	return s.e.record(s.h, ent)
}

// Version changes when the log grows or a site's health changes.
func (s *homeSource) Version(ctx context.Context) uint64 {
	h := fnv.New64a()
	h.Write([]byte(strconv.FormatUint(s.logSize(ctx), 10)))
	health := s.checkSites(ctx)
	var names []string
	for n := range health {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		h.Write([]byte(n + "=" + health[n] + ";"))
	}
	sig := h.Sum64()
	s.mu.Lock()
	defer s.mu.Unlock()
	if sig != s.lastSig {
		s.lastSig = sig
		s.version++
	}
	return s.version
}
