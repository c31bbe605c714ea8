package vault

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/repo"
	"github.com/digital-embassy/embassy/internal/tlog"
)

// InitRequest describes a new home.
type InitRequest struct {
	Dir         string
	Config      home.Config // home-state, home-location, ...; sites are added later
	Custodians  []string    // age recipients
	Threshold   int
	Description string
}

// Init creates a home in req.Dir: the root key of epoch 1, split among
// the custodians, the vault's config and key objects in the home's
// mirror, and the log's first entry. A failure leaves no home behind.
func Init(ctx context.Context, req InitRequest, o Options) (*Vault, error) {
	if home.Exists(req.Dir) {
		return nil, hint.Wrap(fmt.Errorf("a home already exists at %s", req.Dir), "use another --home, or 'embassy key rotate' to change custodians")
	}
	if err := req.Config.Validate(); err != nil {
		return nil, hint.WithCode(err, hint.CodeUsage)
	}
	h, err := home.Create(req.Dir, req.Config)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			_ = os.RemoveAll(req.Dir)
		}
	}()
	v := New(h, o)
	meta, err := v.MetaSite(ctx)
	if err != nil {
		return nil, err
	}
	cs := make([]repo.Custodian, len(req.Custodians))
	for i, c := range req.Custodians {
		cs[i] = repo.Custodian{Recipient: c}
	}
	root, homeID, err := repo.Init(ctx, repo.InitOptions{Custodians: cs, Threshold: req.Threshold, Sites: []*repo.Site{meta}, Description: req.Description, Now: v.Now()})
	_ = meta.Backend.Close()
	if err != nil {
		return nil, err
	}
	h.Config.Home = homeID
	h.Config.Description = req.Description
	if err := h.SaveRoot(homeID, root); err != nil {
		return nil, err
	}
	if err := h.Save(); err != nil {
		return nil, err
	}
	ok = true
	v.Recorder().Audit(ctx, tlog.Entry{Kind: tlog.KindInit, Details: map[string]string{
		"custodians": strconv.Itoa(len(cs)), "threshold": strconv.Itoa(req.Threshold)}})
	return v, nil
}

// AddSiteRequest is a site to register.
type AddSiteRequest struct {
	Site     home.SiteConfig
	NoCopy   bool                    // register only
	Progress func(done, total int64) // copy progress
}

// AddSiteResult is what AddSite copied.
type AddSiteResult struct {
	Location string
	Copied   repo.CopyStats
}

// AddSite opens (creating) the site's storage, copies the vault to it
// (no dataset the policy denies there: one policy.Replicate decision per
// dataset), registers it in embassy.yaml and records the entry.
func (v *Vault) AddSite(ctx context.Context, req AddSiteRequest) (*AddSiteResult, error) {
	h, sc := v.Home, req.Site
	b, err := v.Backend(ctx, sc, true)
	if err != nil {
		h := hint.Of(err) // the backend's own way out, if it knows one
		if h == "" {
			h = "check the URL and that the storage is reachable"
		}
		return nil, hint.Wrap(fmt.Errorf("site %s: %w", sc.Name, err), h)
	}
	defer b.Close()
	if sc.RetainDays > 0 && !b.Properties().ObjectLock {
		return nil, hint.WithCode(hint.Wrap(fmt.Errorf("site %s does not enforce object lock, so --retain-days cannot be honoured", sc.Name),
			"use a bucket created with object lock enabled, or drop --retain-days"), hint.CodeUsage)
	}
	target := &repo.Site{Name: sc.Name, Jurisdiction: sc.Jurisdiction, Backend: b, RetainFor: time.Duration(sc.RetainDays) * 24 * time.Hour}
	copying := !req.NoCopy && !sc.Member
	r, err := v.OpenRepo(ctx, copying) // keys: the datasets' labels decide what may be copied
	if err != nil {
		return nil, err
	}
	if r != v.Repo {
		defer closeSites(r)
	}
	if !sc.IsGroup() {
		if err := RefuseSameStorage(ctx, h, r, sc.Name, b, "it would count as an extra copy"); err != nil {
			return nil, err
		}
	}
	out := &AddSiteResult{Location: b.Properties().Location}
	if copying {
		g, err := v.Gate()
		if err != nil {
			return nil, err
		}
		keep, err := g.ReplicationFilter(ctx, r, []home.SiteConfig{sc})
		if err != nil {
			return nil, err
		}
		if out.Copied, err = r.BackfillFiltered(ctx, target, keep, req.Progress); err != nil {
			if errors.Is(err, repo.ErrForeignHome) {
				return nil, hint.Wrap(err, "a site can hold only one home's vault; use an empty location")
			}
			return nil, fmt.Errorf("copy vault to %s: %w", sc.Name, err)
		}
	}
	h.Config.Sites = append(h.Config.Sites, sc)
	if err := h.Save(); err != nil {
		return nil, err
	}
	v.Recorder().Audit(ctx, tlog.Entry{Kind: tlog.KindSiteAdd, Site: sc.Name, Details: map[string]string{"jurisdiction": sc.Jurisdiction,
		"operator": sc.Operator, "agreement": sc.Agreement, "copied_objects": strconv.FormatInt(out.Copied.Objects, 10)}})
	return out, nil
}
