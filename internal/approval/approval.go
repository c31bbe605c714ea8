// Package approval keeps the sending state's prior approval of access
// that it did not initiate (framework requirement 22, the Access Approval
// model): a host's request for support, review or service access is
// recorded in the transparency log and stays pending until the home
// approves or denies it; reason codes the home's policy lists are denied
// at once. The package is pure: requests and decisions go into and come
// out of log entries.
package approval

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/digital-embassy/embassy/internal/tlog"
)

// Log entry kinds.
const (
	KindRequest  = "access.request"
	KindDecision = "access.decision"
)

// Details of the entries.
const (
	DetailRequest  = "request"  // on a decision: the request's index
	DetailDecision = "decision" // approved or denied
	DetailAuto     = "auto"     // "true": denied by the policy's auto-deny list
)

// Statuses.
const (
	Pending  = "pending"
	Approved = "approved"
	Denied   = "denied"
)

// Request is a host's request for access the sending state did not start.
type Request struct {
	Site, Reason, Access, Who, What string
}

// Entry is the log entry of a request.
func (r Request) Entry() (tlog.Entry, error) {
	switch {
	case r.Site == "" || r.Who == "" || r.What == "":
		return tlog.Entry{}, errors.New("an access request needs the site, who asks and what for")
	case tlog.ReasonCodes[r.Reason] == "":
		return tlog.Entry{}, fmt.Errorf("reason %q is not a reason code (see 'embassy disclose --help')", r.Reason)
	case strings.HasPrefix(r.Reason, "HOME_INITIATED"):
		return tlog.Entry{}, fmt.Errorf("reason %s: access the sending state started needs no approval", r.Reason)
	}
	return tlog.Entry{Kind: KindRequest, Site: r.Site, Actor: r.Who, Object: r.What, Reason: r.Reason,
		Details: map[string]string{tlog.DetailAccess: r.Access}}, nil
}

// DecisionEntry is the home's decision on the request at log index req.
func DecisionEntry(req uint64, site string, approve, auto bool, note string) tlog.Entry {
	d := Denied
	if approve {
		d = Approved
	}
	e := tlog.Entry{Kind: KindDecision, Site: site, Object: note,
		Details: map[string]string{DetailRequest: strconv.FormatUint(req, 10), DetailDecision: d, tlog.DetailInitiator: "home"}}
	if auto {
		e.Details[DetailAuto] = "true"
	}
	return e
}

// State is one request and the decision on it.
type State struct {
	Index     uint64    `json:"index"`
	Site      string    `json:"site"`
	Reason    string    `json:"reason"`
	Access    string    `json:"access,omitempty"`
	Who       string    `json:"who"`
	What      string    `json:"what"`
	Requested time.Time `json:"requested"`
	Status    string    `json:"status"`
	Decided   time.Time `json:"decided,omitzero"`
	DecidedAt uint64    `json:"decision_index,omitempty"`
	Auto      bool      `json:"auto,omitempty"`
	// Of requests filed at a daemon: its id, scope, duration and the
	// operator identity that filed it.
	ID        string `json:"id,omitempty"`
	Scope     string `json:"scope,omitempty"`
	Duration  string `json:"duration,omitempty"`
	Requester string `json:"requester,omitempty"`
}

// FromDaemon reports whether the request was filed at a site's daemon
// (which holds the access until it has the home's signed decision).
func (s State) FromDaemon() bool { return s.ID != "" }

// HostRequestEntry is the log entry of a request pulled from site's daemon;
// its time (set by the recorder) is when it reached the home.
func HostRequestEntry(site string, r HostRequest) tlog.Entry {
	return tlog.Entry{Kind: KindRequest, Site: site, Actor: r.Who, Object: r.What, Reason: r.Reason,
		Details: map[string]string{tlog.DetailAccess: "privileged:" + r.Scope, DetailID: r.ID, DetailScope: r.Scope,
			DetailDuration: r.Duration, DetailRequester: r.Requester, DetailFiled: r.Filed.UTC().Format(time.RFC3339Nano), DetailVia: "daemon"}}
}

// Status reads every request from the log. Only the home's decisions
// count, the first one on a request wins, and a decision must name a
// request at the same site.
func Status(ents []tlog.Indexed) []State {
	var out []State
	at := map[uint64]int{}
	seen := map[string]bool{} // site and daemon id: a request pulled twice counts once
	for _, e := range ents {
		switch e.Kind {
		case KindRequest:
			if id := e.Details[DetailID]; id != "" {
				if seen[e.Site+"\x00"+id] {
					continue
				}
				seen[e.Site+"\x00"+id] = true
			}
			at[e.Index] = len(out)
			out = append(out, State{Index: e.Index, Site: e.Site, Reason: e.Reason, Access: e.Details[tlog.DetailAccess],
				Who: e.Actor, What: e.Object, Requested: e.Time, Status: Pending,
				ID: e.Details[DetailID], Scope: e.Details[DetailScope], Duration: e.Details[DetailDuration], Requester: e.Details[DetailRequester]})
		case KindDecision:
			n, err := strconv.ParseUint(e.Details[DetailRequest], 10, 64)
			i, ok := at[n]
			d := e.Details[DetailDecision]
			if err != nil || !ok || e.Details[tlog.DetailInitiator] != "home" || out[i].Site != e.Site || out[i].Status != Pending ||
				!slices.Contains([]string{Approved, Denied}, d) {
				continue
			}
			out[i].Status, out[i].Decided, out[i].DecidedAt, out[i].Auto = d, e.Time, e.Index, e.Details[DetailAuto] == "true"
		}
	}
	return out
}
