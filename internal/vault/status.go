package vault

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/digital-embassy/embassy/internal/class"
	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/policy"
	"github.com/digital-embassy/embassy/internal/repo"
	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/tlog"
)

// The read-only views every entry point shows the same way: the key
// status, the sites' reachability, the log's entries and the policy's
// explanation of a placement.

// KeyStatus is the home's key epoch, its custodians and the datasets'
// key versions ('embassy key status').
type KeyStatus struct {
	Home            string           `json:"home"`
	HomeFingerprint string           `json:"home_fingerprint"`
	Epoch           uint32           `json:"epoch"`
	Fingerprint     string           `json:"fingerprint"`
	Threshold       int              `json:"threshold"`
	Custodians      []repo.Custodian `json:"custodians"`
	Created         time.Time        `json:"created"`
	Datasets        []DatasetKeys    `json:"datasets"`
}

// DatasetKeys is one dataset's key versions.
type DatasetKeys struct {
	Name     string `json:"name"`
	ID       string `json:"id"`
	Versions int    `json:"key_versions"`
	Current  uint32 `json:"current_version"`
}

// KeyStatus reads the current epoch and every dataset's key versions
// (the repository is opened with the root key), datasets by name.
func (v *Vault) KeyStatus(ctx context.Context) (*KeyStatus, error) {
	r, err := v.OpenRepo(ctx, true)
	if err != nil {
		return nil, err
	}
	defer closeSites(r)
	ep := r.CurrentEpoch()
	all, err := r.Datasets(ctx)
	if err != nil {
		return nil, err
	}
	ks := &KeyStatus{Home: r.Home(), HomeFingerprint: r.Fingerprint(), Epoch: ep.Epoch, Fingerprint: ep.Fingerprint,
		Threshold: ep.Threshold, Custodians: ep.Custodians, Created: ep.Created, Datasets: []DatasetKeys{}}
	for _, name := range sortedKeys(all) {
		d := all[name]
		ks.Datasets = append(ks.Datasets, DatasetKeys{d.Name, d.ID, len(d.Keys), d.Current})
	}
	return ks, nil
}

// SiteStatus is one registered site as 'embassy site list' and the
// dashboard show it: its URL with every credential redacted, and whether
// it is reachable.
type SiteStatus struct {
	Name         string `json:"name"`
	Jurisdiction string `json:"jurisdiction"`
	Operator     string `json:"operator,omitempty"`
	Agreement    string `json:"agreement,omitempty"`
	URL          string `json:"url"`
	Location     string `json:"location,omitempty"`
	DistanceKm   *int   `json:"distance_km,omitempty"`
	Tier         int    `json:"tier,omitempty"`
	// Status is "ok", "unreachable: WHY" or "no vault: WHY".
	Status string `json:"status"`
}

// OK reports a reachable site holding a vault.
func (s SiteStatus) OK() bool { return s.Status == "ok" }

// SiteStatuses probes every registered site at once, each for at most
// timeout (0: no limit but ctx's), in registry order.
func (v *Vault) SiteStatuses(ctx context.Context, timeout time.Duration) []SiteStatus {
	scs := v.Home.Config.Sites
	out := make([]SiteStatus, len(scs))
	var wg sync.WaitGroup
	for i, sc := range scs {
		wg.Go(func() {
			pctx, cancel := ctx, context.CancelFunc(func() {})
			if timeout > 0 {
				pctx, cancel = context.WithTimeout(ctx, timeout)
			}
			defer cancel()
			loc, st := v.ProbeSite(pctx, sc)
			row := SiteStatus{Name: sc.Name, Jurisdiction: sc.Jurisdiction, Operator: sc.Operator, Agreement: sc.Agreement,
				URL: loc, Location: sc.Location, Tier: sc.Tier, Status: st}
			if d := home.DistanceKm(v.Home.Config.HomeLocation, sc.Location); d >= 0 {
				km := int(d + 0.5)
				row.DistanceKm = &km
			}
			out[i] = row
		})
	}
	wg.Wait()
	return out
}

// ProbeSite opens a registered site and stats its vault descriptor: it
// returns the site's location and "ok", "unreachable: WHY" or "no vault:
// WHY", with every credential scrubbed from both.
func (v *Vault) ProbeSite(ctx context.Context, sc home.SiteConfig) (loc, status string) {
	b, err := v.Backend(ctx, sc, false)
	loc, scrub := RedactURL(sc.URL) // never show a credential, in the URL or in an error
	if err != nil {
		return loc, "unreachable: " + scrub(err.Error())
	}
	defer b.Close()
	if l := b.Properties().Location; l != "" {
		loc, _ = RedactURL(l)
		loc = scrub(loc)
	}
	if _, err := b.Stat(ctx, site.Handle{Kind: site.KindConfig, Name: "repo"}); err != nil {
		return loc, "no vault: " + scrub(err.Error())
	}
	return loc, "ok"
}

// secretParams are query parameters whose values are credentials.
var secretParams = []string{"secret", "password", "token", "key", "credential", "signature", "sig"}

// RedactURL returns a site URL fit to show (userinfo password and secret
// query values replaced by [redacted]) and a function that scrubs the same
// secrets, raw and URL-escaped, from any text such as an error message.
func RedactURL(raw string) (string, func(string) string) {
	var secrets []string
	shown := raw
	if u, err := url.Parse(raw); err == nil {
		if u.User != nil {
			if pw, ok := u.User.Password(); ok && pw != "" {
				secrets = append(secrets, pw)
				u.User = url.UserPassword(u.User.Username(), "[redacted]")
			}
		}
		q := u.Query()
		changed := false
		for k, vs := range q {
			lk := strings.ToLower(k)
			for _, s := range secretParams {
				if strings.Contains(lk, s) && !strings.HasSuffix(lk, "file") && lk != "key" {
					secrets = append(secrets, vs...)
					q[k] = []string{"[redacted]"}
					changed = true
				}
			}
		}
		if changed {
			u.RawQuery = q.Encode()
		}
		shown = u.String()
	} else if i := strings.LastIndex(raw, "@"); i >= 0 {
		// Unparseable: cut everything before the last '@' after the scheme.
		if j := strings.Index(raw, "://"); j >= 0 && j < i {
			secrets = append(secrets, raw[j+3:i])
			shown = raw[:j+3] + "[redacted]@" + raw[i+1:]
		}
	}
	scrub := func(s string) string {
		for _, sec := range secrets {
			if len(sec) < 4 {
				continue
			}
			for _, form := range []string{sec, url.QueryEscape(sec), url.PathEscape(sec), url.UserPassword("x", sec).String()[2:]} {
				s = strings.ReplaceAll(s, form, "[redacted]")
			}
		}
		return s
	}
	return scrub(shown), scrub
}

// LogQuery selects log entries ('embassy log'); zero fields select all.
type LogQuery struct {
	Kinds    []string
	Site     string
	Dataset  string // a dataset's name or id: names are resolved (DatasetID)
	From, To time.Time
	Limit    int // only the last Limit matches
}

// LogResult is the selected entries and the size of the verified
// checkpoint they were read under (0 for an empty log).
type LogResult struct {
	Entries []tlog.Indexed
	Size    uint64
	// Pending are the key.unwrap entries of read-only commands waiting in
	// the journal for the next append (pending.go); not yet witnessed.
	Pending []tlog.Entry
}

// Log reads the whole log, verified against its published checkpoint
// (signature, witness quorum and Merkle root), and selects entries. A log
// that does not verify is damage (exit code 3).
func (v *Vault) Log(ctx context.Context, q LogQuery) (*LogResult, error) {
	if q.Dataset != "" {
		q.Dataset = v.DatasetID(ctx, q.Dataset) // entries name datasets by id
	}
	rd, err := v.Recorder().Reader()
	if err != nil {
		return nil, err
	}
	cp, ents, err := rd.All(ctx)
	if errors.Is(err, tlog.ErrEmpty) {
		return &LogResult{Entries: []tlog.Indexed{}}, nil
	}
	if err != nil {
		return nil, hint.WithCode(hint.Wrap(err, "the log or its checkpoint was altered; run 'embassy audit check' and compare with the witnesses' copies"), hint.CodeDamaged)
	}
	res := &LogResult{Entries: []tlog.Indexed{}, Size: cp.Size}
	if res.Pending, err = v.Recorder().Pending(); err != nil {
		return nil, err
	}
	for _, x := range ents {
		if len(q.Kinds) > 0 && !slices.Contains(q.Kinds, x.Kind) ||
			q.Site != "" && x.Site != q.Site || q.Dataset != "" && x.Dataset != q.Dataset ||
			!q.From.IsZero() && x.Time.Before(q.From) || !q.To.IsZero() && x.Time.After(q.To) {
			continue
		}
		res.Entries = append(res.Entries, x)
	}
	if q.Limit > 0 && len(res.Entries) > q.Limit {
		res.Entries = res.Entries[len(res.Entries)-q.Limit:]
	}
	return res, nil
}

// ExplainRequest asks which sites may hold a dataset.
type ExplainRequest struct {
	Dataset string
	// Class is the label to explain for; "" is the dataset's latest
	// snapshot's (DatasetClass).
	Class    string
	Personal bool
}

// Explain loops every configured site through the vault's policy gate for
// a write of the dataset and checks the allowed sites against the class's
// minimum copies and jurisdictions ('embassy policy explain').
func (v *Vault) Explain(ctx context.Context, req ExplainRequest) (*policy.Placement, error) {
	label := req.Class
	if label == "" {
		var err error
		if label, err = v.ClassOfDataset(ctx, req.Dataset); err != nil {
			return nil, err
		}
	} else {
		l, err := class.Parse(label)
		if err != nil {
			return nil, hint.WithCode(err, hint.CodeUsage)
		}
		label = l.String()
	}
	g, err := v.Gate()
	if err != nil {
		return nil, err
	}
	var sites []policy.Site
	for _, sc := range v.Home.Config.Sites {
		sites = append(sites, g.Site(sc))
	}
	return g.Engine.Explain(policy.Dataset{Name: req.Dataset, Class: label, Personal: req.Personal}, sites, v.Now()), nil
}

// ClassOfDataset returns a dataset's class (DatasetClass; "" if it has
// none), opening the repository with the root key.
func (v *Vault) ClassOfDataset(ctx context.Context, name string) (string, error) {
	r, err := v.OpenRepo(ctx, true)
	if err != nil {
		return "", err
	}
	defer closeSites(r)
	dk, err := r.Dataset(ctx, name)
	if err != nil {
		return "", hint.Wrap(err, "pass --class LABEL to explain a dataset that does not exist yet")
	}
	d, err := r.OpenDataset(ctx, dk)
	if err != nil {
		return "", err
	}
	return DatasetClass(ctx, d), nil
}
