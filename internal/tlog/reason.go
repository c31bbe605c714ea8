package tlog

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Reason codes for access by host personnel, modelled on Google Cloud Key
// Access Justifications. docs/formats/tlog.md explains each one.
const (
	ReasonHomeInitiatedAccess  = "HOME_INITIATED_ACCESS"           // the sending state asked for it
	ReasonHomeInitiatedSupport = "HOME_INITIATED_SUPPORT"          // support the sending state requested
	ReasonHostService          = "HOST_INITIATED_SERVICE"          // host maintenance: hardware, network, facility
	ReasonHostReview           = "HOST_INITIATED_REVIEW"           // host security, compliance or fraud review
	ReasonHostSystemOperation  = "HOST_INITIATED_SYSTEM_OPERATION" // automated host operation (backup, scaling)
	ReasonProductionAlert      = "RESPONSE_TO_PRODUCTION_ALERT"    // responding to an outage or alarm
	ReasonEmergency            = "EMERGENCY_BREAK_GLASS"           // fire, flood, safety: break-glass
	ReasonThirdPartyRequest    = "THIRD_PARTY_DATA_REQUEST"        // compelled legal process
	ReasonNotExpected          = "REASON_NOT_EXPECTED"             // no reason known: always an alert
)

// ReasonCodes describes every reason code.
var ReasonCodes = map[string]string{
	ReasonHomeInitiatedAccess:  "the sending state initiated the access",
	ReasonHomeInitiatedSupport: "support requested by the sending state",
	ReasonHostService:          "host-initiated maintenance of hardware, network or facility",
	ReasonHostReview:           "host-initiated security, compliance or fraud review",
	ReasonHostSystemOperation:  "automated host system operation",
	ReasonProductionAlert:      "response to an outage or production alert",
	ReasonEmergency:            "emergency break-glass access (safety, fire, flood)",
	ReasonThirdPartyRequest:    "third-party legal demand (compelled process)",
	ReasonNotExpected:          "no expected reason: raises an alert",
}

// Access types: the channel by which host personnel reached the embassy.
var AccessTypes = map[string]string{
	"console":      "console or shell on an embassy system",
	"support":      "remote support session",
	"physical":     "physical entry to the embassy's racks or room",
	"break-glass":  "emergency break-glass procedure",
	"legal-demand": "handing over data or access under legal compulsion",
	"key-use":      "use of a key or HSM on the embassy's behalf",
}

// Detail keys of disclosure entries.
const (
	DetailAccess    = "access"    // one of AccessTypes
	DetailAt        = "at"        // RFC 3339 time of the access
	DetailTicket    = "ticket"    // operator ticket id
	DetailInitiator = "initiator" // on key and session entries: "home" or "host"
)

func validDisclosure(e *Entry) error {
	if _, ok := ReasonCodes[e.Reason]; !ok {
		return fmt.Errorf("disclosure reason %q: use one of %s", e.Reason, strings.Join(slices.Sorted(maps.Keys(ReasonCodes)), ", "))
	}
	if _, ok := AccessTypes[e.Details[DetailAccess]]; !ok {
		return fmt.Errorf("disclosure access %q: use one of %s", e.Details[DetailAccess], strings.Join(slices.Sorted(maps.Keys(AccessTypes)), ", "))
	}
	if e.Site == "" || e.Actor == "" || e.Object == "" {
		return fmt.Errorf("disclosure needs a site, who (actor) and what (object)")
	}
	at, err := time.Parse(time.RFC3339Nano, e.Details[DetailAt])
	if err != nil {
		return fmt.Errorf("disclosure access time %q: %v", e.Details[DetailAt], err)
	}
	if at.After(e.Time.Add(time.Minute)) {
		return fmt.Errorf("disclosure access time %s is after the disclosure itself", at.Format(time.RFC3339))
	}
	return nil
}

// AccessTime is the time of the access a disclosure entry reports.
func (e *Entry) AccessTime() time.Time {
	at, _ := time.Parse(time.RFC3339Nano, e.Details[DetailAt])
	return at
}

// Privileged reports whether an entry is a key use or a privileged session
// that was not initiated by the home, so it needs a matching disclosure.
func (e *Entry) Privileged() bool {
	switch e.Kind {
	case KindKeyUnwrap, KindKeyUse, KindKeyRelease, KindSession, KindDaemonLogin:
		return e.Details[DetailInitiator] != "home"
	}
	return false
}
