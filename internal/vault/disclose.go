package vault

// Disclosures of access by host personnel: recording one (Disclose) and
// the report of all of them against each site's agreement (Disclosures).

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/digital-embassy/embassy/internal/agreement"
	"github.com/digital-embassy/embassy/internal/approval"
	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/policy"
	"github.com/digital-embassy/embassy/internal/repo"
	"github.com/digital-embassy/embassy/internal/tlog"
)

// DiscloseRequest is an access to disclose.
type DiscloseRequest struct {
	Site, Reason, Who, What, Access, Ticket string
	At                                      time.Time // when the access happened; zero is now
	Dataset                                 string    // the dataset concerned, for the policy ("" is all data at the site)
	Approval                                string    // reference of the sending state's prior approval
}

// DiscloseResult is the recorded disclosure.
type DiscloseResult struct {
	Index    uint64        `json:"index"`
	Entry    tlog.Entry    `json:"-"`
	At       time.Time     `json:"at"`
	Delay    time.Duration `json:"delay_ns"`
	Asked    bool          `json:"-"`               // the access needed a policy decision
	Decision Decision      `json:"policy,omitzero"` // set when Asked
}

// Disclose records an access by host personnel in the transparency log
// (cosigned before it returns), then, when the access needed the sending
// state's prior approval, asks the gate's disclose action. A bad argument
// (an unknown site or dataset, a reason or access type not in the lists,
// an access after now, an --approved number that is no access request of
// the site) is refused before
// anything is logged. The access happened, so once the arguments are good
// it is logged either way; a denial is logged by the gate and returned as
// an error (exit 3) with the result, whose Index names the logged access.
func (v *Vault) Disclose(ctx context.Context, req DiscloseRequest) (*DiscloseResult, error) {
	sc, _ := v.Home.Site(req.Site)
	if sc == nil {
		return nil, hint.WithCode(hint.Wrap(fmt.Errorf("no site named %q", req.Site), "see 'embassy site list'"), hint.CodeUsage)
	}
	now := v.Now()
	at := req.At.UTC()
	if req.At.IsZero() {
		at = now
	}
	ent := tlog.DisclosureEntry(tlog.DisclosureFacts{Site: req.Site, Who: req.Who, What: req.What, Reason: req.Reason,
		Access: req.Access, At: at, Ticket: req.Ticket})
	ent.Time = now
	v.Recorder().Fill(&ent)
	if err := ent.Validate(); err != nil {
		return nil, hint.WithCode(err, hint.CodeUsage)
	}
	asked := disclosureAsks(v.Home, *sc, ent.Reason, req)
	var ds policy.Dataset
	if asked {
		var err error
		if ds, err = v.disclosureDataset(ctx, req.Dataset); err != nil {
			return nil, err
		}
		if n, perr := strconv.ParseUint(req.Approval, 10, 64); perr == nil {
			if err := v.accessRequestAt(ctx, sc.Name, n); err != nil {
				return nil, err
			}
		}
	}
	idx, _, err := v.Recorder().AppendIndex(ctx, ent)
	if err != nil {
		return nil, err
	}
	res := &DiscloseResult{Index: idx, Entry: ent, At: at, Delay: now.Sub(at), Asked: asked,
		Decision: Decision{Action: policy.Disclose, Site: sc.Name, Allow: true}}
	if !asked {
		return res, nil
	}
	if res.Decision, err = v.disclosureDecision(ctx, *sc, ds, ent.Reason, req); err != nil {
		return res, err
	}
	if !res.Decision.Allow {
		what := fmt.Sprintf("disclosure %d at site %s", idx, sc.Name)
		if len(res.Decision.Rules) > 0 {
			what += " (" + strings.Join(res.Decision.Rules, ", ") + ")"
		}
		return res, hint.WithCode(hint.Wrap(fmt.Errorf("policy denies %s: %s", what, strings.Join(res.Decision.Reasons, "; ")),
			fmt.Sprintf("the access stays logged as disclosure %d, with the denial; the sending state's approval is given with --approved REF", idx)), hint.CodeDamaged)
	}
	return res, nil
}

// SupportAccess is the operations.support-access term that applies at a
// site: its installed agreement's, or the baseline's.
func SupportAccess(h *home.Home, sc home.SiteConfig) string {
	base := agreement.DefaultBaseline()
	if sc.Agreement != "" {
		if ias, err := LoadAgreements(h, base); err == nil {
			for _, ia := range ias {
				if ia.ID == sc.Agreement {
					return agreement.Resolve(ia.Agreement, base)["operations.support-access"].Value.Raw
				}
			}
		}
	}
	return base.Values["operations.support-access"].Raw
}

// disclosureAsks says whether an access needs a policy.Disclose decision:
// it needs the sending state's prior approval when data was handed to a
// third party (a legal demand), or a host support session where the
// site's agreement sets support-access: prior-approval and the sending
// state did not initiate it (HOME_INITIATED_*).
func disclosureAsks(h *home.Home, sc home.SiteConfig, reason string, req DiscloseRequest) bool {
	legal := reason == tlog.ReasonThirdPartyRequest || req.Access == "legal-demand"
	support := req.Access == "support" && SupportAccess(h, sc) == "prior-approval"
	homeInitiated := strings.HasPrefix(reason, "HOME_INITIATED")
	return legal || (support && !homeInitiated)
}

// disclosureDataset is the dataset a disclosure's decision is about:
// without a name, all data at the site, taken as the strictest class; a
// name the home does not hold is a usage error (nothing is logged). If the
// datasets cannot be listed the dataset is asked as unlabelled, with a
// note.
func (v *Vault) disclosureDataset(ctx context.Context, name string) (policy.Dataset, error) {
	if name == "" {
		return policy.Dataset{Name: "(all)", Class: "C3-I3-A3"}, nil
	}
	ds, found := policy.Dataset{Name: name}, false
	if err := v.withFreshRepo(ctx, func(r0 *repo.Repo) error {
		labels, err := DatasetLabels(ctx, r0)
		if err != nil {
			return err
		}
		for _, l := range labels {
			if l.Name == name {
				ds, found = l, true
			}
		}
		return nil
	}); err != nil {
		v.notef("dataset %s: class not known (%v); asked as unlabelled", name, err)
		return ds, nil
	}
	if !found {
		return ds, hint.WithCode(hint.Wrap(fmt.Errorf("disclosure --dataset %s: the home holds no dataset named %q", name, name),
			"see 'embassy ls' for the datasets, or leave --dataset out for all data at the site"), hint.CodeUsage)
	}
	return ds, nil
}

// accessRequestAt checks that --approved N names an access request filed
// for site: a number the log holds no request at, or another site's
// request, is a usage error (nothing is logged). Whether it was approved
// is the decision's (AccessApproved).
func (v *Vault) accessRequestAt(ctx context.Context, site string, n uint64) error {
	ents, err := v.logEntries(ctx)
	if err != nil {
		return err
	}
	for _, s := range approval.Status(ents) {
		if s.Index != n {
			continue
		}
		if s.Site != site {
			return hint.WithCode(hint.Wrap(fmt.Errorf("disclosure --approved %d: access request %d is for site %s, not %s", n, n, s.Site, site),
				"see 'embassy access list' for the requests and their sites"), hint.CodeUsage)
		}
		return nil
	}
	return hint.WithCode(hint.Wrap(fmt.Errorf("disclosure --approved %d: the log holds no access request %d", n, n),
		"see 'embassy access list' for the requests; a reference of the sending state's own is not a number"), hint.CodeUsage)
}

// disclosureDecision asks policy.Disclose about an access that needs the
// sending state's prior approval (disclosureAsks) concerning ds. Access
// the sending state initiated (HOME_INITIATED_*) or that names an approval
// counts as approved.
func (v *Vault) disclosureDecision(ctx context.Context, sc home.SiteConfig, ds policy.Dataset, reason string, req DiscloseRequest) (Decision, error) {
	homeInitiated := strings.HasPrefix(reason, "HOME_INITIATED")
	g, err := v.Gate()
	if err != nil {
		return Decision{}, err
	}
	approved := req.Approval != "" || homeInitiated
	if n, perr := strconv.ParseUint(req.Approval, 10, 64); perr == nil { // an access request's index: it must be approved (approval.go)
		approved = homeInitiated || v.AccessApproved(ctx, sc.Name, n)
	}
	return g.Decide(ctx, policy.Request{Action: policy.Disclose, Dataset: ds, Site: g.Site(sc), Approved: approved}), nil
}

// DisclosuresRequest selects the disclosure report.
type DisclosuresRequest struct {
	Site string // only this site ("" all)
	// Fallback is the deadline of sites whose agreement sets none (0:
	// tlog.DefaultAllowed).
	Fallback time.Duration
	// Override, if positive, is the deadline of every site, whatever its
	// agreement says.
	Override time.Duration
	Window   time.Duration // how far apart a key use and its disclosure may be and still match
}

// DisclosuresReport is the report with the deadline each site was
// measured against.
type DisclosuresReport struct {
	tlog.DisclosureReport
	Deadline func(site string) time.Duration `json:"-"`
}

// Disclosures reads the whole log and measures every disclosure's delay
// against its site's agreement deadline (DisclosureDeadlines), at the
// vault's clock. A log that does not verify is damage.
func (v *Vault) Disclosures(ctx context.Context, req DisclosuresRequest) (*DisclosuresReport, error) {
	rd, err := v.Recorder().Reader()
	if err != nil {
		return nil, err
	}
	_, ents, err := rd.All(ctx)
	if err != nil && err != tlog.ErrEmpty {
		return nil, hint.WithCode(err, hint.CodeDamaged)
	}
	if req.Site != "" {
		var keep []tlog.Indexed
		for _, x := range ents {
			if x.Site == req.Site {
				keep = append(keep, x)
			}
		}
		ents = keep
	}
	fallback := req.Fallback
	if fallback <= 0 {
		fallback = tlog.DefaultAllowed
	}
	deadline, err := DisclosureDeadlines(v.Home, fallback)
	if err != nil {
		return nil, err
	}
	if req.Override > 0 {
		deadline = func(string) time.Duration { return req.Override }
	}
	rep := tlog.Disclosures(ents, tlog.DisclosureOptions{Allowed: deadline, Window: req.Window, Now: v.Now()})
	return &DisclosuresReport{DisclosureReport: rep, Deadline: deadline}, nil
}
