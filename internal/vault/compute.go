package vault

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/digital-embassy/embassy/internal/agreement"
	"github.com/digital-embassy/embassy/internal/compute"
	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/policy"
	"github.com/digital-embassy/embassy/internal/tlog"
)

// WorkloadsFile is the home's declared compute workloads with their
// jurisdiction tags (compute.ParseWorkloads).
const WorkloadsFile = "workloads.yaml"

// KindComputeCheck is the log entry of one site's compute check.
const KindComputeCheck = tlog.KindComputeCheck

// ComputeSite is one site's compute check.
type ComputeSite struct {
	Site         string                  `json:"site"`
	Agreement    string                  `json:"agreement,omitempty"`
	Reservations []agreement.Reservation `json:"reservations"`
	Trusted      *compute.Trusted        `json:"trusted,omitempty"`
	Workloads    []compute.Workload      `json:"workloads,omitempty"` // what the site reports it runs
	Result       compute.Result          `json:"result"`
	// Problems are failures to check at all (unreachable, not a daemon, a
	// refused report, a reservation outside the site's agreement): each is
	// a breach, since the capacity cannot be shown.
	Problems []string `json:"problems,omitempty"`
}

// Breach reports whether the site falls short of what it owes now.
func (s ComputeSite) Breach() bool {
	return s.Result.Breach() || len(s.Problems) > 0 || (s.Trusted != nil && len(s.Trusted.OverReport) > 0)
}

// Placement is the policy's decision on a declared workload's site.
type WorkloadPlacement struct {
	Workload string   `json:"workload"`
	Site     string   `json:"site"`
	Allow    bool     `json:"allow"`
	Rules    []string `json:"rules,omitempty"`
	Reasons  []string `json:"reasons,omitempty"`
}

// ComputeReport is 'embassy compute check'.
type ComputeReport struct {
	Crisis     bool                `json:"crisis"`
	CrisisBy   string              `json:"crisis_by,omitempty"` // "--crisis" or the open operate session
	Sites      []ComputeSite       `json:"sites"`
	Placements []WorkloadPlacement `json:"placements,omitempty"`
}

// Breach reports whether any site falls short, over-reports or could not
// be checked, or a declared workload is placed where the policy forbids.
func (r *ComputeReport) Breach() bool {
	return slices.ContainsFunc(r.Sites, ComputeSite.Breach) || slices.ContainsFunc(r.Placements, func(p WorkloadPlacement) bool { return !p.Allow })
}

// ComputeCheck compares every installed agreement's compute reservations
// with the capacity each host site reports over its pinned mutual-TLS
// connection, answering a fresh nonce: declared capacity is trusted only
// as far as the site's measurements and verified GPU evidence go. In a
// crisis (crisis, or an operate session open in the log) crisis-priority
// reservations come first and the lower-priority workloads to preempt
// are named. Declared workloads (<home>/workloads.yaml) are checked
// against the policy at their sites. Each site's outcome is logged.
func (v *Vault) ComputeCheck(ctx context.Context, crisis bool) (*ComputeReport, error) {
	base := agreement.DefaultBaseline()
	ias, err := LoadAgreements(v.Home, base)
	if err != nil {
		return nil, err
	}
	rep := &ComputeReport{Crisis: crisis}
	if crisis {
		rep.CrisisBy = "--crisis"
	} else if s, err := v.openCrisis(ctx); err != nil {
		return nil, err
	} else if s != "" {
		rep.Crisis, rep.CrisisBy = true, "operate session "+s
	}
	bySite := map[string]*ComputeSite{}
	var order []string
	for _, ia := range ias {
		for _, r := range agreement.ReservationsOf(ia.Agreement, base) {
			cs := bySite[r.Site]
			if cs == nil {
				cs = &ComputeSite{Site: r.Site, Agreement: ia.ID}
				bySite[r.Site] = cs
				order = append(order, r.Site)
			}
			cs.Reservations = append(cs.Reservations, r)
			if sc, ok := siteConfig(v.Home, r.Site); !ok {
				cs.Problems = appendOnce(cs.Problems, "agreement "+ia.ID+" reserves capacity at site "+r.Site+", which is not registered: register it with 'embassy site add "+r.Site+" --agreement "+ia.ID+" ...'")
			} else if sc.Agreement != ia.ID {
				cs.Problems = appendOnce(cs.Problems, fmt.Sprintf("agreement %s reserves capacity at site %s, which is hosted under %q", ia.ID, r.Site, sc.Agreement))
			}
		}
	}
	declared, err := v.declaredWorkloads()
	if err != nil {
		return nil, err
	}
	for _, name := range order {
		cs := bySite[name]
		if len(cs.Problems) == 0 {
			v.checkSite(ctx, cs, rep.Crisis, declared)
		}
		rep.Sites = append(rep.Sites, *cs)
	}
	if rep.Placements, err = v.placeWorkloads(base, ias); err != nil {
		return nil, err
	}
	var ents []tlog.Entry
	for _, cs := range rep.Sites {
		ents = append(ents, computeEntry(cs, rep))
	}
	for _, p := range rep.Placements {
		if !p.Allow {
			ents = append(ents, tlog.Entry{Kind: tlog.KindPolicyChange, Site: p.Site, Object: p.Workload,
				Details: map[string]string{"event": "workload-placement-denied", "rules": strings.Join(p.Rules, ",")}})
		}
	}
	if err := v.Recorder().Append(ctx, ents...); err != nil {
		return rep, hint.Wrap(err, "the check ran but could not be logged; run it again")
	}
	return rep, nil
}

// plainText is host-written text made safe to log and print: control
// characters and invalid UTF-8 replaced, at most 1000 bytes (a log
// detail's limit is 1024).
func plainText(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) {
			return '?'
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
	if len(s) > 1000 {
		s = strings.ToValidUTF8(s[:1000], "")
	}
	return s
}

func appendOnce(l []string, s string) []string {
	if slices.Contains(l, s) {
		return l
	}
	return append(l, s)
}

func siteConfig(h *home.Home, name string) (home.SiteConfig, bool) {
	for _, sc := range h.Config.Sites {
		if sc.Name == name {
			return sc, true
		}
	}
	return home.SiteConfig{}, false
}

// checkSite challenges one site and checks its reservations.
func (v *Vault) checkSite(ctx context.Context, cs *ComputeSite, crisis bool, declared []compute.DeclaredWorkload) {
	sc, _ := siteConfig(v.Home, cs.Site)
	b, err := v.Backend(ctx, sc, false)
	if err != nil {
		cs.Problems = append(cs.Problems, "unreachable: "+plainText(err.Error()))
		return
	}
	defer b.Close()
	rb := DaemonOf(b)
	if rb == nil {
		cs.Problems = append(cs.Problems, "not an embassy daemon site: only a daemon reports capacity (embassyd --capacity FILE)")
		return
	}
	nonce := make([]byte, compute.NonceSize)
	if _, err := rand.Read(nonce); err != nil {
		cs.Problems = append(cs.Problems, err.Error())
		return
	}
	raw, err := rb.Capacity(ctx, nonce)
	if err != nil {
		cs.Problems = append(cs.Problems, plainText(err.Error())) // the daemon's message is the host's text
		return
	}
	r, err := compute.Decode(raw, sc.Name, nonce)
	if err != nil {
		cs.Problems = append(cs.Problems, plainText(err.Error()))
		return
	}
	evs := make([][]byte, len(r.Evidence))
	for i, e := range r.Evidence {
		evs[i] = e
	}
	// A workload the host says is the sending state's counts as one only
	// if the home declared it there under that reservation: otherwise a
	// host could shrink what a reservation still needs by crediting it
	// with its own jobs.
	for i, w := range r.Workloads {
		if w.Owner == compute.OwnerSending && !slices.ContainsFunc(declared, func(d compute.DeclaredWorkload) bool {
			return d.Name == w.Name && d.Site == cs.Site && d.Reservation == w.Reservation
		}) {
			r.Workloads[i].Owner, r.Workloads[i].Reservation, r.Workloads[i].Priority = compute.OwnerHost, "", compute.PriorityBestEffort
		}
	}
	tr := compute.Trust(r, compute.VerifyGPUs(evs, nonce, v.Now()))
	for i, m := range tr.Attested.Refusals {
		tr.Attested.Refusals[i] = plainText(m) // may quote certificate fields the host chose
	}
	cs.Trusted, cs.Workloads = &tr, r.Workloads
	cs.Result = compute.Check(compute.Input{Site: cs.Site, Reservations: cs.Reservations, Capacity: tr.Capacity, Workloads: r.Workloads, Crisis: crisis})
}

// openCrisis returns the operate session open in the log, or "".
func (v *Vault) openCrisis(ctx context.Context) (string, error) {
	rd, err := v.Recorder().Reader()
	if err != nil {
		return "", err
	}
	_, ents, err := rd.All(ctx)
	if errors.Is(err, tlog.ErrEmpty) {
		return "", nil
	}
	if err != nil {
		return "", hint.WithCode(hint.Wrap(err, "the log or its checkpoint was altered; run 'embassy audit check'"), hint.CodeDamaged)
	}
	var open []string
	for _, e := range ents {
		if e.Kind != tlog.KindOperate {
			continue
		}
		s := e.Details["session"]
		switch e.Details["event"] {
		case "activation":
			open = appendOnce(open, s)
		case "deactivation":
			open = slices.DeleteFunc(open, func(o string) bool { return o == s })
		}
	}
	if len(open) == 0 {
		return "", nil
	}
	return open[len(open)-1], nil
}

// placeWorkloads asks the policy about each declared workload at its
// site, its tags standing as those of a dataset named workload:NAME: the
// dataset-jurisdiction, dataset-governing-law and residency-agreement
// rules (among all others) apply.
func (v *Vault) placeWorkloads(base *agreement.Baseline, ias []Agreement) ([]WorkloadPlacement, error) {
	ws, err := v.declaredWorkloads()
	if err != nil {
		return nil, err
	}
	if len(ws) == 0 {
		return nil, nil
	}
	g, err := v.Gate()
	if err != nil {
		return nil, err
	}
	s := g.Engine.Settings()
	s.Datasets = slices.Clone(s.Datasets)
	for _, w := range ws {
		s.Datasets = append(s.Datasets, policy.DatasetTags{Name: w.PolicyName(), GoverningLaw: w.GoverningLaw, Jurisdictions: w.Jurisdictions})
	}
	ags := make([]*agreement.Agreement, len(ias))
	for i := range ias {
		ags[i] = ias[i].Agreement
	}
	eng, err := policy.New(s, base, ags)
	if err != nil {
		return nil, err
	}
	var out []WorkloadPlacement
	for _, w := range ws {
		p := WorkloadPlacement{Workload: w.Name, Site: w.Site}
		sc, ok := siteConfig(v.Home, w.Site)
		if !ok {
			p.Rules, p.Reasons = []string{"site-unknown"}, []string{"workload " + w.Name + " is placed at site " + w.Site + ", which is not registered"}
			out = append(out, p)
			continue
		}
		d := eng.Decide(policy.Request{Action: policy.Write, Dataset: policy.Dataset{Name: w.PolicyName(), Class: w.Class}, Site: g.Site(sc), Now: v.Now()})
		p.Allow, p.Rules, p.Reasons = d.Allow, d.Rules, d.Reasons
		out = append(out, p)
	}
	return out, nil
}

// declaredWorkloads reads <home>/workloads.yaml (none if absent).
func (v *Vault) declaredWorkloads() ([]compute.DeclaredWorkload, error) {
	b, err := os.ReadFile(filepath.Join(v.Home.Dir, WorkloadsFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	ws, err := compute.ParseWorkloads(b)
	if err != nil {
		return nil, hint.WithCode(hint.Wrap(err, "fix "+filepath.Join(v.Home.Dir, WorkloadsFile)+" (docs/COMPUTE.md)"), hint.CodeUsage)
	}
	return ws, nil
}

// computeEntry is the log entry of one site's check.
func computeEntry(cs ComputeSite, rep *ComputeReport) tlog.Entry {
	d := map[string]string{"crisis": strconv.FormatBool(rep.Crisis), "breach": strconv.FormatBool(cs.Breach()),
		"reservations": strconv.Itoa(len(cs.Reservations)), "shortfalls": strconv.Itoa(len(cs.Result.Shortfalls))}
	if rep.CrisisBy != "" {
		d["crisis_by"] = rep.CrisisBy
	}
	clip := func(l []string) string { return plainText(strings.Join(l, "; ")) }
	var pre, short []string
	for _, p := range cs.Result.Preemptions {
		pre = append(pre, p.Workload+" for "+p.For)
	}
	for _, s := range cs.Result.Shortfalls {
		short = append(short, s.String())
	}
	for k, l := range map[string][]string{"preempt": pre, "short": short, "problems": cs.Problems} {
		if len(l) > 0 {
			d[k] = clip(l)
		}
	}
	if cs.Trusted != nil {
		d["attested_gpus"] = strconv.Itoa(cs.Trusted.Attested.Devices)
		if len(cs.Trusted.OverReport) > 0 {
			d["over_reported"] = clip(cs.Trusted.OverReport)
		}
	}
	return tlog.Entry{Kind: KindComputeCheck, Site: cs.Site, Object: cs.Agreement, Details: d}
}
