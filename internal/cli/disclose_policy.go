package cli

import (
	"strconv"
	"strings"

	"github.com/digital-embassy/embassy/internal/agreement"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/policy"
	"github.com/digital-embassy/embassy/internal/tlog"
)

// supportAccess is the operations.support-access term that applies at a
// site: its installed agreement's, or the baseline's.
func (e *env) supportAccess(h *home.Home, sc home.SiteConfig) string {
	base := agreement.DefaultBaseline()
	if sc.Agreement != "" {
		if ias, err := loadAgreements(h, base); err == nil {
			for _, ia := range ias {
				if ia.ID == sc.Agreement {
					return agreement.Resolve(ia.Agreement, base)["operations.support-access"].Value.Raw
				}
			}
		}
	}
	return base.Values["operations.support-access"].Raw
}

// disclosureDecision asks policy.Disclose about an access being recorded,
// when the access needs the sending state's prior approval: data handed
// to a third party (a legal demand), or a host support session where
// the site's agreement sets support-access: prior-approval. Access
// the sending state initiated (HOME_INITIATED_*) or that --approved names
// an approval for counts as approved. ok is false when no decision is
// needed. Without --dataset the request is about all data at the site,
// taken as the strictest class. A denial is logged by checkPolicy.
func (e *env) disclosureDecision(h *home.Home, sc home.SiteConfig, reason, access, dataset, approval string) (d policy.Decision, ok bool, err error) {
	legal := reason == tlog.ReasonThirdPartyRequest || access == "legal-demand"
	support := access == "support" && e.supportAccess(h, sc) == "prior-approval"
	homeInitiated := strings.HasPrefix(reason, "HOME_INITIATED")
	if !legal && (!support || homeInitiated) {
		return policy.Decision{Allow: true}, false, nil
	}
	ds := policy.Dataset{Name: "(all)", Class: "C3-I3-A3"}
	if dataset != "" {
		ds = policy.Dataset{Name: dataset}
		if r, err := e.openRepo(h, true); err == nil {
			if labels, err := e.datasetLabels(r); err == nil {
				for _, l := range labels {
					if l.Name == dataset {
						ds = l
					}
				}
			}
			e.closeRepo(r)
		}
	}
	approved := approval != "" || homeInitiated
	if n, perr := strconv.ParseUint(approval, 10, 64); perr == nil { // an access request's index: it must be approved (cmd_access.go)
		approved = homeInitiated || e.accessApproved(h, sc.Name, n)
	}
	d, err = e.checkPolicy(h, policy.Request{Action: policy.Disclose, Dataset: ds, Site: e.policySiteFor(h, sc),
		Approved: approved})
	return d, true, err
}
