package tlog

import (
	"strconv"
	"strings"
	"time"
)

// Entry builders of the continuity operations (recover, drill, operate).

// KindOperate is a crisis session event of 'embassy operate' (activation,
// deactivation, a refused deactivation). It is not KindSession, which is a
// host operator's privileged session at a site that needs a disclosure.
const KindOperate = "operate.session"

// RecoverFacts describe a home rebuilt from a site and k custodians.
type RecoverFacts struct {
	Site       string
	Custodians int // shares used
	Threshold  int
	Epoch      uint32
	StateSeq   uint64 // the signed vault state the site presented
}

// RecoverEntry is the entry of a recovered home.
func RecoverEntry(f RecoverFacts) Entry {
	return Entry{Kind: KindRecover, Site: f.Site, Details: map[string]string{"custodians": strconv.Itoa(f.Custodians),
		"threshold": strconv.Itoa(f.Threshold), "epoch": strconv.FormatUint(uint64(f.Epoch), 10),
		"state": strconv.FormatUint(f.StateSeq, 10)}}
}

// DrillFacts describe a finished restore drill.
type DrillFacts struct {
	Plan     string
	Pass     bool
	Failures int
	RTO      float64 // seconds measured, -1 if the service never answered
	Report   string  // SHA-256 of the signed report
}

// DrillEntry is the entry of a finished drill.
func DrillEntry(f DrillFacts) Entry {
	return Entry{Kind: KindDrill, Object: f.Report, Details: map[string]string{"plan": f.Plan, "pass": strconv.FormatBool(f.Pass),
		"failures": strconv.Itoa(f.Failures), "rto_seconds": strconv.FormatFloat(f.RTO, 'f', 1, 64)}}
}

// OperateFacts describe a crisis session event: "activation",
// "deactivation" or "deactivation-refused".
type OperateFacts struct {
	Event   string
	Session string
	By      string // official, custodian quorum or "signal"
	Digest  string // SHA-256 of the signed activation or deactivation
	Reason  string // why a deactivation was refused
}

// OperateEntry is the entry of a crisis session event.
func OperateEntry(f OperateFacts) Entry {
	d := map[string]string{"event": f.Event, "session": f.Session}
	for k, v := range map[string]string{"by": f.By, "digest": f.Digest, "refused": f.Reason} {
		if v != "" {
			d[k] = v
		}
	}
	return Entry{Kind: KindOperate, Object: f.Session, Details: d}
}

// OperateTokenEntry is the entry of an official's operate token issued by
// the home (a use of the root signing key).
func OperateTokenEntry(tokenID, official, role string, expires time.Time) Entry {
	return Entry{Kind: KindKeyUse, Object: tokenID, Details: map[string]string{"initiator": "home", "use": "operate-token",
		"official": official, "role": role, "expires": expires.UTC().Format(time.RFC3339)}}
}

// KindOperateRevoke is a signed revocation list of operate tokens.
const KindOperateRevoke = "operate.token-revoke"

// OperateRevokeEntry is the entry of a revocation list (ids revoked now).
func OperateRevokeEntry(ids []string, number uint64, epoch uint32) Entry {
	return Entry{Kind: KindOperateRevoke, Object: strings.Join(ids, ","), Details: map[string]string{
		"list_number": strconv.FormatUint(number, 10), "epoch": strconv.FormatUint(uint64(epoch), 10)}}
}
