package incident

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/digital-embassy/embassy/internal/approval"
	"github.com/digital-embassy/embassy/internal/tlog"
)

// Incidents filed at a site's daemon by host personnel (POST
// /v1/incidents); the home pulls them and records each as it arrives.

// KindEscalation is the home's entry for an incident that was not
// acknowledged within its hours (written once per incident, when the
// alert goes out).
const KindEscalation = "incident.escalation"

// Details of entries of incidents filed at a daemon.
const (
	DetailID      = "id"        // the daemon's incident id
	DetailFiledBy = "filed_by"  // the operator identity that filed it
	DetailAtSite  = "at_daemon" // when the daemon took it (its clock)
	DetailVia     = "via"       // "daemon"
)

// Bounds of a filing.
const (
	maxReporter = 256
	maxWhat     = 2048
)

// HostFiling is what host personnel send the daemon.
type HostFiling struct {
	Type     string    `json:"type"`
	Reporter string    `json:"reporter"`
	What     string    `json:"what"`
	Occurred time.Time `json:"occurred"`
}

// HostRecord is a filing as the daemon holds it (GET /v1/incidents).
type HostRecord struct {
	ID string `json:"id"`
	HostFiling
	FiledBy string    `json:"filed_by"` // the operator identity
	Filed   time.Time `json:"filed"`    // the daemon's clock
	// Acknowledged: when the home acknowledged it, from the home's signed
	// acknowledgement the daemon holds (zero: not yet). The home does not
	// read it back.
	Acknowledged time.Time `json:"acknowledged,omitzero"`
}

// Check validates a filing written by host personnel at time now.
func (f *HostFiling) Check(now time.Time) error {
	f.Type = strings.TrimSpace(f.Type)
	switch {
	case !slices.Contains(Types, f.Type):
		return fmt.Errorf("incident type %q: use one of %v", f.Type, Types)
	case f.Reporter == "" || f.What == "" || len(f.Reporter) > maxReporter || len(f.What) > maxWhat:
		return fmt.Errorf("an incident needs who reports it and what happened (at most %d and %d bytes)", maxReporter, maxWhat)
	case !approval.PlainText(f.Reporter) || !approval.PlainText(f.What):
		return errors.New("incident text must be valid UTF-8 without control characters")
	case f.Occurred.IsZero():
		return errors.New("an incident needs the time it occurred (RFC 3339)")
	case f.Occurred.After(now.Add(5 * time.Minute)):
		return errors.New("the incident's time is in the future")
	}
	return nil
}

// Check validates a record a daemon returned; the home trusts none of it.
func (r HostRecord) Check() error {
	if !approval.ValidID(r.ID) {
		return fmt.Errorf("incident id %q is not 32 hex digits", r.ID)
	}
	if r.FiledBy == "" || len(r.FiledBy) > maxReporter || !approval.PlainText(r.FiledBy) || r.Filed.IsZero() {
		return errors.New("incident without a plain filing identity and time")
	}
	f := r.HostFiling
	// the daemon's clock bounds the occurrence, not the home's
	return f.Check(r.Filed)
}

// HostEntry is the log entry of a record pulled from site's daemon: the
// site is the one the home pulled from, never one the record names; its
// time (set by the recorder) is when it reached the home.
func HostEntry(site string, r HostRecord) (tlog.Entry, error) {
	e, err := Filing{Site: site, Type: r.Type, Reporter: r.Reporter, What: r.What, Occurred: r.Occurred}.Entry()
	if err != nil {
		return e, err
	}
	e.Details[DetailID], e.Details[DetailFiledBy], e.Details[DetailVia] = r.ID, r.FiledBy, "daemon"
	e.Details[DetailAtSite] = r.Filed.UTC().Format(time.RFC3339Nano)
	return e, nil
}

// EscalationEntry is the home's record that the incident at log index
// filed went unacknowledged past its hours.
func EscalationEntry(filed uint64, site string, allowed time.Duration) tlog.Entry {
	return tlog.Entry{Kind: KindEscalation, Site: site, Object: "not acknowledged within " + allowed.String(),
		Details: map[string]string{DetailFiled: strconv.FormatUint(filed, 10), tlog.DetailInitiator: "home"}}
}
