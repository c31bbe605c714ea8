package vault

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/digital-embassy/embassy/internal/agreement"
	"github.com/digital-embassy/embassy/internal/assess"
	"github.com/digital-embassy/embassy/internal/drill"
	"github.com/digital-embassy/embassy/internal/evidence"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/incident"
	"github.com/digital-embassy/embassy/internal/policy"
	"github.com/digital-embassy/embassy/internal/repo"
	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/tlog"
	"github.com/digital-embassy/embassy/internal/ui"
	"github.com/digital-embassy/embassy/internal/watch"
)

// Dashboard is the operator dashboard's view of the vault's home
// (ui.Source, ui.AgreementSource, ui.ContinuitySource): sites and their
// health, datasets, the verified log, disclosures measured against each
// site's agreement, agreements' scorecards (Assess) and continuity. Its
// methods are called from many goroutines at once.
type Dashboard struct {
	v *Vault

	recMu   sync.Mutex // one append at a time
	repoMu  sync.Mutex // one OpenRepo at a time (it sets Vault.Repo)
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

// Dashboard returns a dashboard source over the vault's home.
func (v *Vault) Dashboard() *Dashboard { return &Dashboard{v: v} }

// openRepo opens the vault's repository for one request; requests run at
// once, and OpenRepo is not safe for concurrent use.
func (s *Dashboard) openRepo(ctx context.Context, keys bool) (*repo.Repo, error) {
	s.repoMu.Lock()
	defer s.repoMu.Unlock()
	return s.v.OpenRepo(ctx, keys)
}

// The dashboard probes the sites at most every healthTTL, each for at most
// probeTimeout.
const (
	healthTTL    = 2 * time.Second
	probeTimeout = 3 * time.Second
)

// entries returns the log's entries, verified against the published
// checkpoint; they are read again only when the checkpoint has grown.
func (s *Dashboard) entries(ctx context.Context) ([]tlog.Indexed, error) {
	r, err := s.v.Recorder().Reader()
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
func (s *Dashboard) logSize(ctx context.Context) uint64 {
	r, err := s.v.Recorder().Reader()
	if err != nil {
		return 0
	}
	cp, _, err := r.Checkpoint(ctx)
	if err != nil {
		return 0
	}
	return cp.Size
}

// checkSites probes each site (at most every healthTTL): a config object
// that can be stat'ed means reachable.
func (s *Dashboard) checkSites(ctx context.Context) map[string]string {
	s.mu.Lock()
	if s.health != nil && s.v.Now().Sub(s.checked) < healthTTL {
		h := s.health
		s.mu.Unlock()
		return h
	}
	s.mu.Unlock()
	out := map[string]string{}
	for _, st := range s.v.SiteStatuses(ctx, probeTimeout) {
		if st.OK() {
			out[st.Name] = ""
		} else {
			out[st.Name] = st.Status
		}
	}
	s.mu.Lock()
	s.health, s.checked = out, s.v.Now()
	s.mu.Unlock()
	return out
}

func (s *Dashboard) Overview(ctx context.Context) (ui.Overview, error) {
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
	ov := ui.Overview{Home: s.v.Home.Config.Home, LogSize: uint64(len(ents)), Alerts: alerts}
	for _, sc := range s.v.Home.Config.Sites {
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

func (s *Dashboard) Datasets(ctx context.Context) ([]ui.Dataset, error) {
	r, err := s.openRepo(ctx, true)
	if err != nil {
		return nil, err
	}
	defer closeSites(r)
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
		for _, sc := range s.v.Home.Config.Sites {
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

func (s *Dashboard) Log(ctx context.Context) ([]tlog.Indexed, error) { return s.entries(ctx) }

func (s *Dashboard) Disclosures(ctx context.Context) (tlog.DisclosureReport, error) {
	ents, err := s.entries(ctx)
	if err != nil {
		return tlog.DisclosureReport{}, err
	}
	deadline, err := DisclosureDeadlines(s.v.Home, tlog.DefaultAllowed)
	if err != nil {
		return tlog.DisclosureReport{}, err
	}
	return tlog.Disclosures(ents, tlog.DisclosureOptions{Allowed: deadline, Now: s.v.Now()}), nil
}

func (s *Dashboard) Receipt(ctx context.Context, index uint64) ([]byte, error) {
	r, err := s.v.Recorder().Reader()
	if err != nil {
		return nil, err
	}
	return r.Receipt(ctx, index)
}

func (s *Dashboard) Record(ctx context.Context, ent tlog.Entry) error {
	s.recMu.Lock()
	defer s.recMu.Unlock()
	return s.v.Recorder().Append(ctx, ent)
}

// Version changes when the log grows or a site's health changes.
func (s *Dashboard) Version(ctx context.Context) uint64 {
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

// The dashboard keeps scorecards for scorecardTTL while the log does not
// grow, and at least scorecardMinAge even if it does: scoring scans every
// site.
const (
	scorecardTTL    = time.Minute
	scorecardMinAge = 10 * time.Second
)

// Agreements implements ui.AgreementSource.
func (s *Dashboard) Agreements(ctx context.Context) ([]*assess.Scorecard, error) {
	s.mu.Lock()
	if age := s.v.Now().Sub(s.cardsAt); s.cards != nil && (age < scorecardMinAge || age < scorecardTTL && s.cardsLog == s.logSize(ctx)) {
		c := s.cards
		s.mu.Unlock()
		return c, nil
	}
	s.mu.Unlock()
	s.assessMu.Lock() // one scoring at a time
	defer s.assessMu.Unlock()
	cards, err := s.v.assess(ctx, s.openRepo, nil)
	if err != nil {
		return nil, err
	}
	if cards == nil {
		cards = []*assess.Scorecard{}
	}
	s.mu.Lock()
	s.cards, s.cardsAt, s.cardsLog = cards, s.v.Now(), s.logSize(ctx)
	s.mu.Unlock()
	return cards, nil
}

// maxReportBytes bounds a signed report the dashboard reads.
const maxReportBytes = 8 << 20

// Continuity implements ui.ContinuitySource from the home's journal
// (events.jsonl: drills, crisis activations and deactivations) and the
// drill reports it names.
func (s *Dashboard) Continuity(ctx context.Context) (ui.Continuity, error) {
	evs, err := evidence.ReadJournal(filepath.Join(s.v.Home.Dir, EventsFile))
	if err != nil && !os.IsNotExist(err) {
		return ui.Continuity{}, err
	}
	var c ui.Continuity
	var lastPath, lastDigest string
	for _, ev := range evs {
		switch ev.Type {
		case "drill":
			d := ui.Drill{Time: ev.Time, Pass: ev.Fields["pass"] == true, RTOSeconds: num(ev.Fields["rto_seconds"], -1), RPOSeconds: -1,
				Failures: int(num(ev.Fields["failures"], 0)), Digest: ev.Digest, Source: "journal"}
			if p, ok := ev.Fields["report"].(string); ok && p != "" {
				if !filepath.IsAbs(p) {
					p = filepath.Join(s.v.Home.Dir, p)
				}
				if rep, _ := readDrillReport(p); rep != nil {
					d.Plan, d.RTOTargetSeconds = rep.Plan, rep.RTOTarget
					for _, ds := range rep.Datasets {
						if ds.AchievedSec > d.RPOSeconds {
							d.RPOSeconds, d.RPOTargetSeconds = ds.AchievedSec, ds.TargetSec
						}
					}
				}
				lastPath, lastDigest = p, ev.Digest
			}
			c.Drills = append(c.Drills, d)
		case "activation", "deactivation":
			c.Sessions = append(c.Sessions, ui.CrisisEvent{Time: ev.Time, Type: ev.Type, Summary: ev.Summary, Digest: ev.Digest})
		}
	}
	if lastPath != "" {
		c.LastReport = s.signedReport(lastPath, lastDigest)
	}
	return c, nil
}

func num(v any, def float64) float64 {
	if f, ok := v.(float64); ok {
		return f
	}
	return def
}

func readFileLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxReportBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxReportBytes {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxReportBytes)
	}
	return b, nil
}

func readDrillReport(path string) (*drill.Report, error) {
	b, err := readFileLimited(path)
	if err != nil {
		return nil, err
	}
	d, err := evidence.Parse(b)
	if err != nil {
		return nil, err
	}
	if _, err := evidence.Verify(d, repo.HomeIDFor); err != nil {
		return nil, err // an altered report's figures are not shown as measured
	}
	var rep drill.Report
	if err := d.Decode(&rep); err != nil {
		return nil, err
	}
	return &rep, nil
}

// signedReport reads a signed report and says what its signature
// establishes: the page shows the verdict next to the body.
func (s *Dashboard) signedReport(path, digest string) *ui.Report {
	r := &ui.Report{Digest: digest}
	b, err := readFileLimited(path)
	if err != nil {
		r.Problem = "report unreadable: " + err.Error()
		return r
	}
	sum := sha256.Sum256(b)
	if got := hex.EncodeToString(sum[:]); digest != "" && got != digest {
		r.Problem = "the report file changed since the journal recorded it (sha256 " + got + ")"
	}
	r.Digest = hex.EncodeToString(sum[:])
	d, err := evidence.Parse(b)
	if err != nil {
		r.Problem = err.Error()
		return r
	}
	r.Kind, r.Body = d.Kind, d.Body
	v, err := evidence.Verify(d, repo.HomeIDFor)
	if err != nil {
		r.Problem = err.Error()
		return r
	}
	r.SignatureOK = true
	if v.Endorsed {
		r.EndorsedBy, r.Epoch, r.HomeBound = v.Home, v.Epoch, v.HomeBound
		if v.Home != s.v.Home.Config.Home && r.Problem == "" {
			r.Problem = "endorsed by another home (" + v.Home + ")"
		}
	}
	return r
}

var (
	_ ui.Source           = (*Dashboard)(nil)
	_ ui.AgreementSource  = (*Dashboard)(nil)
	_ ui.ContinuitySource = (*Dashboard)(nil)
)

// Assess scores every installed agreement against the home as
// 'embassy assess' does with no argument: the policy engine over the
// home's settings and agreements, every reachable site scanned for what
// it holds, and the disclosures and incidents of the log measured against
// each site's agreement. No agreement installed is no scorecard.
func (v *Vault) Assess(ctx context.Context) ([]*assess.Scorecard, error) {
	return v.assess(ctx, v.OpenRepo, nil)
}

// AssessAgreement scores one agreement text (installed or not) the same
// way, with it standing in for any installed agreement of its id.
func (v *Vault) AssessAgreement(ctx context.Context, a *agreement.Agreement) (*assess.Scorecard, error) {
	cards, err := v.assess(ctx, v.OpenRepo, a)
	if err != nil || len(cards) == 0 {
		return nil, err
	}
	return cards[0], nil
}

func (v *Vault) assess(ctx context.Context, open func(context.Context, bool) (*repo.Repo, error), only *agreement.Agreement) ([]*assess.Scorecard, error) {
	base := agreement.DefaultBaseline()
	settings, err := LoadSettings(v.Home, base)
	if err != nil {
		return nil, err
	}
	ias, err := LoadAgreements(v.Home, base)
	if err != nil {
		return nil, err
	}
	ags := map[string]*agreement.Agreement{}
	var targets []*agreement.Agreement
	for _, ia := range ias {
		ags[ia.ID] = ia.Agreement
		targets = append(targets, ia.Agreement)
	}
	if only != nil {
		ags[only.ID] = only // score this text, installed or not
		targets = []*agreement.Agreement{only}
	}
	if len(targets) == 0 {
		return nil, nil
	}
	list := make([]*agreement.Agreement, 0, len(ags))
	for _, ia := range ias {
		list = append(list, ags[ia.ID])
	}
	if only != nil && !slices.Contains(list, only) {
		list = append(list, only)
	}
	eng, err := policy.New(settings, base, list)
	if err != nil {
		return nil, err
	}
	var sites []policy.Site
	for _, sc := range v.Home.Config.Sites {
		sites = append(sites, policy.Site{Name: sc.Name, Jurisdiction: sc.Jurisdiction, Tier: sc.Tier, Agreement: sc.Agreement,
			DistanceKm: policy.DistanceKm(settings.HomeLocation, sc.Location)})
	}
	scan, holdings := v.holdings(ctx, open)
	now := v.Now()
	ev := v.AssessEvidence(ctx)
	var cards []*assess.Scorecard
	for _, a := range targets {
		cards = append(cards, assess.Assess(assess.Input{Agreement: a, Baseline: base, Engine: eng, Now: now, Sites: sites, Holdings: holdings, Scan: scan, Evidence: ev}))
	}
	return cards, nil
}

// Holdings scans every reachable site and builds the placement map (which
// sites hold which datasets, with each dataset's latest class).
// Unreachable sites are reported and left out of the scan.
func (v *Vault) Holdings(ctx context.Context) (map[string][]string, []assess.Holding) {
	return v.holdings(ctx, v.OpenRepo)
}

func (v *Vault) holdings(ctx context.Context, open func(context.Context, bool) (*repo.Repo, error)) (map[string][]string, []assess.Holding) {
	scan := map[string][]string{}
	at := map[string][]string{} // dsid -> sites
	for _, sc := range v.Home.Config.Sites {
		s := v.OpenSite(ctx, sc)
		if err := s.Err(); err != nil {
			v.Warnf("site %s is unavailable: %v", sc.Name, err)
			continue
		}
		found, err := assess.ScanSite(ctx, s.Backend)
		if err != nil {
			v.Warnf("site %s: scan failed: %v", sc.Name, err)
		} else {
			scan[sc.Name] = append([]string{}, found...)
		}
		seen := map[string]bool{}
		_ = s.Backend.List(ctx, site.KindSnapshot, func(i site.Info) error {
			ds, _, _ := strings.Cut(i.Handle.Name, "/")
			if !seen[ds] {
				seen[ds] = true
				at[ds] = append(at[ds], sc.Name)
			}
			return nil
		})
		_ = s.Backend.Close()
	}
	names := map[string]policy.Dataset{}
	if r, err := open(ctx, true); err == nil {
		if dss, err := r.Datasets(ctx); err == nil {
			for name, dk := range dss {
				ds := policy.Dataset{Name: name}
				if d, err := r.OpenDataset(ctx, dk); err == nil {
					if snaps, _, err := d.Snapshots(ctx); err == nil {
						latest := ""
						var lt int64
						for _, s := range snaps {
							if s.Time.UnixNano() >= lt {
								lt, latest = s.Time.UnixNano(), s.Class
							}
						}
						ds.Class = latest
					}
				}
				names[dk.ID] = ds
			}
		}
		closeSites(r)
	} else {
		v.Warnf("dataset names and classes unavailable (%v); datasets are shown by id", err)
	}
	var out []assess.Holding
	for id, sites := range at {
		ds, ok := names[id]
		if !ok {
			ds = policy.Dataset{Name: id}
		}
		sort.Strings(sites)
		out = append(out, assess.Holding{Dataset: ds, Sites: sites})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Dataset.Name < out[j].Dataset.Name })
	return scan, out
}

// logEvidence feeds an assessment from the home's transparency log: the
// access disclosures recorded there, with when each access happened and
// when it was logged, and the incidents hosts filed.
type logEvidence struct {
	ds  []assess.Disclosure
	ins []assess.Incident
}

func (l logEvidence) Disclosures() ([]assess.Disclosure, bool) { return l.ds, len(l.ds) > 0 }
func (l logEvidence) Incidents() ([]assess.Incident, bool)     { return l.ins, len(l.ins) > 0 }

// AssessEvidence reads the log's disclosures, each measured against its
// site's agreement deadline, and its incidents against each site's
// notification hours; nil when the home has no log yet.
func (v *Vault) AssessEvidence(ctx context.Context) assess.Evidence {
	r, err := v.Recorder().Reader()
	if err != nil {
		return nil
	}
	_, ents, err := r.All(ctx)
	if err != nil {
		return nil
	}
	o := tlog.DisclosureOptions{Now: v.Now()}
	if deadline, err := DisclosureDeadlines(v.Home, tlog.DefaultAllowed); err == nil {
		o.Allowed = deadline
	}
	var ev logEvidence
	for _, d := range tlog.Disclosures(ents, o).Disclosures {
		ev.ds = append(ev.ds, assess.Disclosure{Site: d.Site, Accessed: d.At, Disclosed: d.Logged})
	}
	for _, in := range incident.Status(ents, v.Now(), IncidentHours(v.Home)) {
		ev.ins = append(ev.ins, assess.Incident{Site: in.Site, Occurred: in.Occurred, Notified: in.Notified})
	}
	return ev
}
