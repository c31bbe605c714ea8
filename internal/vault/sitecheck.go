package vault

import (
	"context"
	"fmt"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/restorer"
	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/site/check"
	"github.com/digital-embassy/embassy/internal/site/location"
)

// RestoreOptions and RestoreProgress are the restorer's, for entry points
// that fill them from flags (RestoreRequest.Options).
type (
	RestoreOptions  = restorer.Options
	RestoreProgress = restorer.Progress
)

// SiteCheckRequest names the storage to qualify: a configured site of h
// (may be nil) by name, or any URL.
type SiteCheckRequest struct {
	Target   string
	Create   bool  // create a missing bucket or folder (as site add does)
	LargeMiB int64 // size of the large-object check
}

// SiteCheck is the outcome of qualifying a site.
type SiteCheck struct {
	Site   string         `json:"site"`
	Checks []check.Result `json:"checks"`
	Failed int            `json:"failed"`
}

// CheckSite runs the storage contract's essential checks against live
// storage in a scratch namespace ('embassy site check'). Any failed check
// is returned with the result as damage (exit 3).
func CheckSite(ctx context.Context, h *home.Home, req SiteCheckRequest) (*SiteCheck, error) {
	url, name := req.Target, req.Target
	if h != nil {
		if sc, _ := h.Site(req.Target); sc != nil {
			url = sc.URL
		}
	}
	b, err := location.Open(ctx, url, site.Properties{Name: name}, location.Options{Create: req.Create})
	if err != nil {
		advice := "check the URL, the credentials and that the storage is reachable"
		if !req.Create {
			advice += "; a bucket or folder that does not exist yet is created by 'embassy site add', or by 'embassy site check --create'"
		}
		return nil, hint.Wrap(fmt.Errorf("open %s: %w", name, err), advice)
	}
	defer b.Close()
	res := check.Run(ctx, b, check.Options{LargeSize: req.LargeMiB << 20})
	out := &SiteCheck{Site: b.Properties().Location, Checks: res}
	for _, r := range res {
		if !r.OK {
			out.Failed++
		}
	}
	if out.Failed > 0 {
		return out, hint.WithCode(hint.Wrap(fmt.Errorf("%d of %d checks failed at %s", out.Failed, len(res), out.Site),
			"this storage cannot hold the vault safely as configured; see the failed checks"), hint.CodeDamaged)
	}
	return out, nil
}
