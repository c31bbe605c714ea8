package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/digital-embassy/embassy/internal/agreement"
	"github.com/digital-embassy/embassy/internal/assess"
	"github.com/digital-embassy/embassy/internal/drill"
	"github.com/digital-embassy/embassy/internal/evidence"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/policy"
	"github.com/digital-embassy/embassy/internal/repo"
	"github.com/digital-embassy/embassy/internal/ui"
)

// liveScorecards scores every installed agreement as 'embassy assess'
// does with no argument.
// TODO(lead): 'embassy assess' builds the same pipeline inline; both
// belong in internal/vault once cmd_assess.go is free to move.
func (e *env) liveScorecards(h *home.Home) ([]*assess.Scorecard, error) {
	base := agreement.DefaultBaseline()
	settings, err := loadSettings(h, base)
	if err != nil {
		return nil, err
	}
	ias, err := loadAgreements(h, base)
	if err != nil {
		return nil, err
	}
	if len(ias) == 0 {
		return nil, nil
	}
	var list []*agreement.Agreement
	for _, ia := range ias {
		list = append(list, ia.Agreement)
	}
	eng, err := policy.New(settings, base, list)
	if err != nil {
		return nil, err
	}
	var sites []policy.Site
	for _, sc := range h.Config.Sites {
		sites = append(sites, policySite(settings, sc))
	}
	scan, holdings := e.gatherEvidence(h)
	now := e.now()
	ev := e.assessEvidence(h)
	var cards []*assess.Scorecard
	for _, a := range list {
		cards = append(cards, assess.Assess(assess.Input{Agreement: a, Baseline: base, Engine: eng, Now: now, Sites: sites, Holdings: holdings, Scan: scan, Evidence: ev}))
	}
	return cards, nil
}

// The dashboard keeps scorecards for scorecardTTL while the log does not
// grow, and at least scorecardMinAge even if it does: scoring scans every
// site.
const (
	scorecardTTL    = time.Minute
	scorecardMinAge = 10 * time.Second
)

// Agreements implements ui.AgreementSource.
func (s *homeSource) Agreements(ctx context.Context) ([]*assess.Scorecard, error) {
	s.mu.Lock()
	if age := time.Since(s.cardsAt); s.cards != nil && (age < scorecardMinAge || age < scorecardTTL && s.cardsLog == s.logSize(ctx)) {
		c := s.cards
		s.mu.Unlock()
		return c, nil
	}
	s.mu.Unlock()
	s.assessMu.Lock() // one scoring at a time
	defer s.assessMu.Unlock()
	cards, err := s.e.liveScorecards(s.h)
	if err != nil {
		return nil, err
	}
	if cards == nil {
		cards = []*assess.Scorecard{}
	}
	s.mu.Lock()
	s.cards, s.cardsAt, s.cardsLog = cards, time.Now(), s.logSize(ctx)
	s.mu.Unlock()
	return cards, nil
}

// maxReportBytes bounds a signed report the dashboard reads.
const maxReportBytes = 8 << 20

// Continuity implements ui.ContinuitySource from the home's journal
// (events.jsonl: drills, crisis activations and deactivations) and the
// drill reports it names.
func (s *homeSource) Continuity(ctx context.Context) (ui.Continuity, error) {
	evs, err := evidence.ReadJournal(filepath.Join(s.h.Dir, eventsFile))
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
					p = filepath.Join(s.h.Dir, p)
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
func (s *homeSource) signedReport(path, digest string) *ui.Report {
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
		if v.Home != s.h.Config.Home && r.Problem == "" {
			r.Problem = "endorsed by another home (" + v.Home + ")"
		}
	}
	return r
}

var (
	_ ui.AgreementSource  = (*homeSource)(nil)
	_ ui.ContinuitySource = (*homeSource)(nil)
)
