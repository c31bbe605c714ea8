package vault

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/digital-embassy/embassy/internal/agreement"
	"github.com/digital-embassy/embassy/internal/approval"
	"github.com/digital-embassy/embassy/internal/atomicfile"
	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/incident"
	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/tlog"
)

// Access the sending state did not start (framework requirement 22). A
// request reaches the log two ways: recorded at home ('embassy access
// request', a host asking by phone or mail), or filed by a host operator
// at a site's daemon, which holds the privileged operation until it has
// the home's signed decision (PullAccess brings those in). Either way the
// request and its decision are log entries, reason codes under auto-deny
// in policy.yaml are denied at once, the first decision stands, and a
// daemon's request gets its decision signed with the home's access key
// (<home>/access/decision.key) and pushed back.

// AccessKeyFile is the home's access-decision signing key (a signed-note
// key, 0600); AccessKeyFile+".pub" is its verifier key, which each
// daemon is configured with (embassyd --access-key).
const AccessKeyFile = "access/decision.key"

// hostDesk is what a daemon site offers for access requests and
// incidents (site/remote.Backend; unit tests bring their own).
type hostDesk interface {
	AccessRequests(ctx context.Context) ([]approval.HostRequest, error)
	PushDecision(ctx context.Context, id string, signed []byte) (approval.HostRequest, error)
	Incidents(ctx context.Context) ([]incident.HostRecord, error)
	PushIncidentAck(ctx context.Context, id string, signed []byte) (incident.HostRecord, error)
}

func deskOf(b site.Backend) hostDesk {
	if d, ok := b.(hostDesk); ok {
		return d
	}
	if rb := DaemonOf(b); rb != nil {
		return rb
	}
	return nil
}

// withDesk opens sc's backend and hands fn its daemon's host desk (access
// requests, incidents), closing it after; errNotDesk when sc is no daemon
// site.
func (v *Vault) withDesk(ctx context.Context, sc home.SiteConfig, fn func(hostDesk) error) error {
	b, err := v.Backend(ctx, sc, false)
	if err != nil {
		if !IsDaemonSite(sc) {
			return errNotDesk
		}
		return err
	}
	defer b.Close()
	d := deskOf(b)
	if d == nil {
		return errNotDesk
	}
	return fn(d)
}

// pushTo hands fn the desk of the registered site named name, for the
// home's signed answers (decisions, acknowledgements).
func (v *Vault) pushTo(ctx context.Context, name string, fn func(hostDesk) error) error {
	sc, _ := v.Home.Site(name)
	if sc == nil {
		return fmt.Errorf("site %s is no longer registered", name)
	}
	err := v.withDesk(ctx, *sc, fn)
	if errors.Is(err, errNotDesk) {
		return fmt.Errorf("site %s is not an embassy daemon site", name)
	}
	return err
}

// AccessKey loads (creating it on first use) the home's access-decision
// key and returns its signer and verifier key.
func (v *Vault) AccessKey() (note.Signer, string, error) {
	path := filepath.Join(v.Home.Dir, filepath.FromSlash(AccessKeyFile))
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		skey, vkey, gerr := note.GenerateKey(rand.Reader, v.Home.Config.Home+"/access")
		if gerr != nil {
			return nil, "", gerr
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, "", err
		}
		if err := atomicfile.Write(path+".pub", []byte(vkey+"\n"), 0o644); err != nil {
			return nil, "", err
		}
		if err := atomicfile.Write(path, []byte(skey+"\n"), 0o600); err != nil {
			return nil, "", err
		}
		b = []byte(skey)
	} else if err != nil {
		return nil, "", err
	}
	s, err := note.NewSigner(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, "", hint.Wrap(fmt.Errorf("%s: %w", path, err), "the access key is damaged: restore it from the home's backup")
	}
	pub, err := os.ReadFile(path + ".pub")
	if err != nil {
		return nil, "", err
	}
	return s, strings.TrimSpace(string(pub)), nil
}

// logEntries reads the verified log; an empty log has no entries.
func (v *Vault) logEntries(ctx context.Context) ([]tlog.Indexed, error) {
	rd, err := v.Recorder().Reader()
	if err != nil {
		return nil, err
	}
	_, ents, err := rd.All(ctx)
	if errors.Is(err, tlog.ErrEmpty) {
		return nil, nil
	}
	if err != nil {
		return nil, hint.WithCode(hint.Wrap(err, "the log or its checkpoint was altered; run 'embassy audit check'"), hint.CodeDamaged)
	}
	return ents, nil
}

// AccessRequests reads every access request and its decision from the log.
func (v *Vault) AccessRequests(ctx context.Context) ([]approval.State, error) {
	ents, err := v.logEntries(ctx)
	if err != nil {
		return nil, err
	}
	return approval.Status(ents), nil
}

// AccessResult is the outcome of a request or a decision.
type AccessResult struct {
	Index    uint64 `json:"index"` // the request's log index
	Site     string `json:"site"`
	Reason   string `json:"reason,omitempty"`
	Status   string `json:"status"`
	Decision uint64 `json:"decision_index,omitempty"`
	Auto     bool   `json:"auto,omitempty"` // denied at once by policy.yaml's auto-deny
	// Pushed: the signed decision reached the daemon that holds the
	// access; PushError says why not (it is pushed again on the next pull).
	Pushed    bool   `json:"pushed,omitempty"`
	PushError string `json:"push_error,omitempty"`
}

func (v *Vault) autoDenied(reason string) (bool, error) {
	settings, err := LoadSettings(v.Home, agreement.DefaultBaseline())
	if err != nil {
		return false, err
	}
	return slices.Contains(settings.AutoDeny, reason), nil
}

// RequestAccess records a host's request made at home; a reason code under
// auto-deny is denied at once (Result.Auto).
func (v *Vault) RequestAccess(ctx context.Context, rq approval.Request) (AccessResult, error) {
	if sc, _ := v.Home.Site(rq.Site); sc == nil {
		return AccessResult{}, hint.WithCode(hint.Wrap(fmt.Errorf("no site named %q", rq.Site), "see 'embassy site list'"), hint.CodeUsage)
	}
	rq.Reason = strings.ToUpper(rq.Reason)
	ent, err := rq.Entry()
	if err != nil {
		return AccessResult{}, hint.WithCode(err, hint.CodeUsage)
	}
	idx, _, err := v.Recorder().AppendIndex(ctx, ent)
	if err != nil {
		return AccessResult{}, err
	}
	res := AccessResult{Index: idx, Site: rq.Site, Reason: rq.Reason, Status: approval.Pending}
	if deny, err := v.autoDenied(rq.Reason); err != nil || !deny {
		return res, err
	}
	res.Decision, _, err = v.Recorder().AppendIndex(ctx, approval.DecisionEntry(idx, rq.Site, false, true, "auto-deny in policy.yaml"))
	res.Status, res.Auto = approval.Denied, true
	return res, err
}

// DecideAccess records the home's decision on the pending request at log
// index n and, for a request filed at a daemon, signs it and pushes it
// there. Deciding a decided or unknown request is a usage error.
func (v *Vault) DecideAccess(ctx context.Context, n uint64, approve bool, note string) (AccessResult, error) {
	if strings.TrimSpace(note) == "" {
		return AccessResult{}, hint.WithCode(errors.New("a decision needs --note: its reference or conditions"), hint.CodeUsage)
	}
	st, err := v.AccessRequests(ctx)
	if err != nil {
		return AccessResult{}, err
	}
	i := slices.IndexFunc(st, func(s approval.State) bool { return s.Index == n })
	if i < 0 {
		return AccessResult{}, hint.WithCode(hint.Wrap(fmt.Errorf("no access request at log index %d", n), "see 'embassy access list'"), hint.CodeUsage)
	}
	s := st[i]
	if s.Status != approval.Pending {
		return AccessResult{}, hint.WithCode(fmt.Errorf("access request %d is %s already (entry %d)", n, s.Status, s.DecidedAt), hint.CodeUsage)
	}
	idx, _, err := v.Recorder().AppendIndex(ctx, approval.DecisionEntry(n, s.Site, approve, false, note))
	if err != nil {
		return AccessResult{}, err
	}
	res := AccessResult{Index: n, Site: s.Site, Reason: s.Reason, Status: map[bool]string{true: approval.Approved, false: approval.Denied}[approve], Decision: idx}
	if s.FromDaemon() {
		st, err := v.AccessRequests(ctx) // the decision's time, as logged
		if err != nil {
			return res, err
		}
		v.pushDecision(ctx, st[i], &res)
	}
	return res, nil
}

// signedDecision is the signed note of the logged decision on s: it
// expires the request's duration after the decision was logged, so the
// same decision always signs the same text.
func (v *Vault) signedDecision(s approval.State) ([]byte, error) {
	signer, _, err := v.AccessKey()
	if err != nil {
		return nil, err
	}
	d, err := time.ParseDuration(s.Duration)
	if err != nil {
		return nil, fmt.Errorf("access request %d: duration %q: %w", s.Index, s.Duration, err)
	}
	return approval.Decision{Home: v.Home.Config.Home, Site: s.Site, Request: s.ID, Requester: s.Requester, Scope: s.Scope,
		Approved: s.Status == approval.Approved, Expires: s.Decided.Add(d).UTC().Truncate(time.Second)}.Sign(signer)
}

// pushDecision delivers the decision on s to its site's daemon; a failure
// is kept in res (the next PullAccess pushes it again).
func (v *Vault) pushDecision(ctx context.Context, s approval.State, res *AccessResult) {
	err := func() error {
		msg, err := v.signedDecision(s)
		if err != nil {
			return err
		}
		return v.pushTo(ctx, s.Site, func(d hostDesk) error {
			_, err := d.PushDecision(ctx, s.ID, msg)
			return err
		})
	}()
	if err != nil {
		res.PushError = err.Error()
		v.Warnf("access request %d: the decision is logged but did not reach %s's daemon (retried by 'embassy access list --pull'): %v", s.Index, s.Site, err)
		return
	}
	res.Pushed = true
}

// AccessPull is what PullAccess brought in and sent out.
type AccessPull struct {
	New     []AccessResult `json:"new"`    // requests recorded (with auto-denials)
	Pushed  []AccessResult `json:"pushed"` // earlier decisions delivered now
	Invalid int            `json:"invalid"`
	Errors  []string       `json:"errors,omitempty"` // sites that could not be reached
}

// PullAccess fetches the requests host operators filed at the daemon
// sites, records each new one (site and id once) in the log, denies at once
// those under auto-deny, and pushes every logged decision a daemon still
// shows pending. A request a daemon returns malformed is recorded as an
// unexplained host session, not as a request.
func (v *Vault) PullAccess(ctx context.Context) (AccessPull, error) {
	out := AccessPull{New: []AccessResult{}, Pushed: []AccessResult{}}
	for _, sc := range v.Home.Config.Sites {
		if sc.Member || !IsDaemonSite(sc) && v.open == nil {
			continue // only daemons take filings (tests bring their own sites)
		}
		if err := v.pullAccessSite(ctx, sc, &out); err != nil {
			if errors.Is(err, errNotDesk) {
				continue
			}
			out.Errors = append(out.Errors, fmt.Sprintf("%s: %v", sc.Name, err))
			v.Warnf("site %s: access requests not pulled: %v", sc.Name, err)
		}
	}
	return out, nil
}

var errNotDesk = errors.New("not a daemon site")

func (v *Vault) pullAccessSite(ctx context.Context, sc home.SiteConfig, out *AccessPull) error {
	return v.withDesk(ctx, sc, func(d hostDesk) error { return v.pullAccessDesk(ctx, sc, d, out) })
}

func (v *Vault) pullAccessDesk(ctx context.Context, sc home.SiteConfig, d hostDesk, out *AccessPull) error {
	hrs, err := d.AccessRequests(ctx)
	if err != nil {
		return err
	}
	st, err := v.AccessRequests(ctx)
	if err != nil {
		return err
	}
	logged := map[string]approval.State{}
	for _, s := range st {
		if s.FromDaemon() && s.Site == sc.Name {
			logged[s.ID] = s
		}
	}
	var invalid []string
	if len(hrs) > maxHostRecords {
		invalid = append(invalid, fmt.Sprintf("the daemon returned %d requests, more than any daemon holds; the first %d were read", len(hrs), maxHostRecords))
		hrs = hrs[:maxHostRecords]
	}
	defer func() {
		if len(invalid) > 0 {
			out.Invalid += len(invalid)
			v.hostSession(ctx, sc.Name, "invalid-access-request", invalid)
		}
	}()
	for _, hr := range hrs {
		if _, err := hr.Check(); err != nil {
			invalid = append(invalid, err.Error())
			continue
		}
		s, ok := logged[hr.ID]
		if !ok {
			idx, _, err := v.Recorder().AppendIndex(ctx, approval.HostRequestEntry(sc.Name, hr))
			if err != nil {
				return err
			}
			logged[hr.ID] = approval.State{Index: idx}
			res := AccessResult{Index: idx, Site: sc.Name, Reason: hr.Reason, Status: approval.Pending}
			deny, err := v.autoDenied(hr.Reason)
			if err != nil {
				return err
			}
			if deny {
				if res.Decision, _, err = v.Recorder().AppendIndex(ctx, approval.DecisionEntry(idx, sc.Name, false, true, "auto-deny in policy.yaml")); err != nil {
					return err
				}
				res.Status, res.Auto = approval.Denied, true
				if s, err := v.accessState(ctx, idx); err == nil {
					v.pushWith(ctx, d, s, &res)
				}
			}
			out.New = append(out.New, res)
			continue
		}
		if hr.Status == approval.Pending && s.Status != approval.Pending {
			res := AccessResult{Index: s.Index, Site: sc.Name, Reason: s.Reason, Status: s.Status, Decision: s.DecidedAt, Auto: s.Auto}
			v.pushWith(ctx, d, s, &res)
			out.Pushed = append(out.Pushed, res)
		}
	}
	return nil
}

func (v *Vault) accessState(ctx context.Context, idx uint64) (approval.State, error) {
	st, err := v.AccessRequests(ctx)
	if err != nil {
		return approval.State{}, err
	}
	for _, s := range st {
		if s.Index == idx {
			return s, nil
		}
	}
	return approval.State{}, fmt.Errorf("no access request at log index %d", idx)
}

func (v *Vault) pushWith(ctx context.Context, d hostDesk, s approval.State, res *AccessResult) {
	msg, err := v.signedDecision(s)
	if err == nil {
		_, err = d.PushDecision(ctx, s.ID, msg)
	}
	if err != nil {
		res.PushError = err.Error()
		v.Warnf("access request %d: the decision did not reach %s's daemon: %v", s.Index, s.Site, err)
		return
	}
	res.Pushed = true
}

// maxHostRecords bounds what one pull reads from a daemon: as much as a
// daemon holds (server.MaxAccessRecords, MaxIncidentRecords), so a
// hostile daemon cannot flood the home's log.
const maxHostRecords = 256

// hostSession logs, as one unexplained host session, what a daemon
// returned that the home could not take (bounded).
func (v *Vault) hostSession(ctx context.Context, siteName, event string, problems []string) {
	detail := strings.Join(problems[:min(len(problems), 8)], "; ")
	if len(problems) > 8 {
		detail += fmt.Sprintf("; and %d more", len(problems)-8)
	}
	if err := v.Recorder().Append(ctx, tlog.Entry{Kind: tlog.KindSession, Site: siteName,
		Details: map[string]string{tlog.DetailInitiator: "host", "event": event, "count": fmt.Sprint(len(problems)), "detail": clip(detail, 2048)}}); err != nil {
		v.Warnf("site %s: %s not logged: %v", siteName, event, err)
	}
}
