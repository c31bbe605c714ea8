package vault

import (
	"context"
	"fmt"
	"strings"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/policy"
)

// BreakGlassRow is one site's break-glass state and the key release the
// gate would decide there for an attested workload.
type BreakGlassRow struct {
	policy.BreakGlass
	KeyRelease policy.Decision `json:"key_release"`
}

// BreakGlassStatus reports each configured site's (or only site's)
// break-glass state and the policy's key-release decision there for
// dataset's class ("" : the least strict class). A site whose log state
// cannot be read is taken as open and warned about.
func (v *Vault) BreakGlassStatus(ctx context.Context, site, dataset string) ([]BreakGlassRow, error) {
	g, err := v.Gate()
	if err != nil {
		return nil, err
	}
	ds := policy.Dataset{Name: "(any)", Class: "C0-I0-A0"}
	if dataset != "" {
		ds.Name = dataset
		if cl, err := v.ClassOfDataset(ctx, dataset); err == nil && cl != "" {
			ds.Class = cl
		}
	}
	var rows []BreakGlassRow
	for _, sc := range v.Home.Config.Sites {
		if site != "" && sc.Name != site {
			continue
		}
		bg, lerr := v.BreakGlassAt(ctx, sc.Name)
		if lerr != nil {
			v.Warnf("site %s: transparency log unreadable, break-glass taken as open: %v", sc.Name, lerr)
		}
		d := g.decide(ctx, policy.Request{Action: policy.KeyRelease, Dataset: ds, Site: g.Site(sc), Attested: true, BreakGlass: bg.Open}, false)
		rows = append(rows, BreakGlassRow{bg, policy.Decision{Allow: d.Allow, Rules: d.Rules, Reasons: d.Reasons}})
	}
	if site != "" && len(rows) == 0 {
		return nil, hint.WithCode(hint.Wrap(fmt.Errorf("no site named %q", site), "see 'embassy site list'"), hint.CodeUsage)
	}
	return rows, nil
}

// CloseBreakGlass closes the open break-glass at site with the sending
// state's note, logged; it returns the disclosure that opened it and the
// closing entry's index. No open break-glass is a usage error.
func (v *Vault) CloseBreakGlass(ctx context.Context, site, note string) (opened, index uint64, err error) {
	if site == "" || strings.TrimSpace(note) == "" {
		return 0, 0, hint.WithCode(fmt.Errorf("give --site and --note: what the sending state checked before closing"), hint.CodeUsage)
	}
	if sc, _ := v.Home.Site(site); sc == nil {
		return 0, 0, hint.WithCode(hint.Wrap(fmt.Errorf("no site named %q", site), "see 'embassy site list'"), hint.CodeUsage)
	}
	bg, err := v.BreakGlassAt(ctx, site)
	if err != nil {
		return 0, 0, err
	}
	if !bg.Open {
		return 0, 0, hint.WithCode(fmt.Errorf("no break-glass is open at site %s", site), hint.CodeUsage)
	}
	idx, _, err := v.Recorder().AppendIndex(ctx, policy.BreakGlassEntry(site, note))
	if err != nil {
		return 0, 0, err
	}
	return bg.Opened, idx, nil
}
