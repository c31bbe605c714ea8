// Package incident keeps the incident records hosts owe the sending state
// (framework requirement 23): security, availability, physical and
// legal-process incidents, each recorded in the home's transparency log
// when it reaches the home, acknowledged by the sending state, and
// escalated when no acknowledgement comes within the site's agreement's
// operations.incident-notification-hours. The package is pure: records go
// into and come out of log entries; callers read and append the log.
package incident

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/digital-embassy/embassy/internal/tlog"
)

// Log entry kinds.
const (
	KindFiled = "incident"     // an incident reached the home
	KindAck   = "incident.ack" // the sending state acknowledged one
)

// Types of incident.
var Types = []string{"security", "availability", "physical", "legal-process"}

// Details of the entries.
const (
	DetailType     = "type"
	DetailOccurred = "occurred" // RFC 3339: when it happened at the site
	DetailFiled    = "filed"    // on an ack: the index of the incident entry
)

// Filing is one incident as a host reports it.
type Filing struct {
	Site     string
	Type     string
	Reporter string // who at the host reports it
	What     string
	Occurred time.Time
}

// Entry is the log entry of a filing; its time (set by the recorder) is
// when the incident reached the home.
func (f Filing) Entry() (tlog.Entry, error) {
	switch {
	case f.Site == "":
		return tlog.Entry{}, errors.New("an incident needs the site it happened at")
	case !slices.Contains(Types, f.Type):
		return tlog.Entry{}, fmt.Errorf("incident type %q: use one of %v", f.Type, Types)
	case f.What == "" || f.Reporter == "":
		return tlog.Entry{}, errors.New("an incident needs what happened and who reports it")
	case f.Occurred.IsZero():
		return tlog.Entry{}, errors.New("an incident needs the time it occurred")
	}
	return tlog.Entry{Kind: KindFiled, Site: f.Site, Actor: f.Reporter, Object: f.What,
		Details: map[string]string{DetailType: f.Type, DetailOccurred: f.Occurred.UTC().Format(time.RFC3339Nano)}}, nil
}

// AckEntry is the sending state's acknowledgement of the incident at
// log index filed.
func AckEntry(filed uint64, site, note string) tlog.Entry {
	return tlog.Entry{Kind: KindAck, Site: site, Object: note,
		Details: map[string]string{DetailFiled: strconv.FormatUint(filed, 10), tlog.DetailInitiator: "home"}}
}

// Incident is one incident with its notification and acknowledgement.
type Incident struct {
	Index     uint64        `json:"index"`
	Site      string        `json:"site"`
	Type      string        `json:"type"`
	Reporter  string        `json:"reporter"`
	What      string        `json:"what"`
	Occurred  time.Time     `json:"occurred"`
	Notified  time.Time     `json:"notified"` // reached the home (the entry's time)
	Acked     time.Time     `json:"acknowledged,omitzero"`
	AckIndex  uint64        `json:"ack_index,omitempty"`
	Allowed   time.Duration `json:"allowed_ns"`
	Late      bool          `json:"late"`      // notified later than allowed after it occurred
	Escalated bool          `json:"escalated"` // not acknowledged within the allowed hours of reaching the home
	// EscalatedAt is the index of the home's escalation entry (0: none yet).
	EscalatedAt uint64 `json:"escalation_index,omitempty"`
	// Of incidents filed at a daemon: its id and the operator identity.
	ID      string `json:"id,omitempty"`
	FiledBy string `json:"filed_by,omitempty"`
}

// Status reads every incident from the log at time now; allowed gives each
// site's notification hours.
func Status(ents []tlog.Indexed, now time.Time, allowed func(site string) time.Duration) []Incident {
	var out []Incident
	at := map[uint64]int{}
	seen := map[string]bool{} // site and daemon id: an incident pulled twice counts once
	for _, e := range ents {
		switch e.Kind {
		case KindFiled:
			if id := e.Details[DetailID]; id != "" {
				if seen[e.Site+"\x00"+id] {
					continue
				}
				seen[e.Site+"\x00"+id] = true
			}
			occ, err := time.Parse(time.RFC3339Nano, e.Details[DetailOccurred])
			if err != nil {
				occ = e.Time
			}
			in := Incident{Index: e.Index, Site: e.Site, Type: e.Details[DetailType], Reporter: e.Actor, What: e.Object,
				Occurred: occ, Notified: e.Time, Allowed: allowed(e.Site), ID: e.Details[DetailID], FiledBy: e.Details[DetailFiledBy]}
			in.Late = in.Notified.Sub(in.Occurred) > in.Allowed
			at[e.Index] = len(out)
			out = append(out, in)
		case KindAck:
			n, err := strconv.ParseUint(e.Details[DetailFiled], 10, 64)
			i, ok := at[n]
			if err != nil || !ok || e.Details[tlog.DetailInitiator] != "home" || out[i].Site != e.Site || !out[i].Acked.IsZero() {
				continue // not the home's acknowledgement of a known incident
			}
			out[i].Acked, out[i].AckIndex = e.Time, e.Index
		case KindEscalation:
			n, err := strconv.ParseUint(e.Details[DetailFiled], 10, 64)
			if i, ok := at[n]; ok && err == nil && e.Details[tlog.DetailInitiator] == "home" && out[i].Site == e.Site && out[i].EscalatedAt == 0 {
				out[i].EscalatedAt = e.Index
			}
		}
	}
	for i := range out {
		in := &out[i]
		deadline := in.Notified.Add(in.Allowed)
		in.Escalated = in.Acked.IsZero() && now.After(deadline) || !in.Acked.IsZero() && in.Acked.After(deadline)
	}
	return out
}
