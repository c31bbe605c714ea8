package tlog

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/digital-embassy/embassy/internal/strict"
)

// Version is the entry schema version written by this code.
const Version = 1

// MaxEntrySize is the largest encoded entry (C2SP tlog-tiles bundles use a
// uint16 length prefix).
const MaxEntrySize = 1<<16 - 1

// Kinds of operation recorded in the log. docs/formats/tlog.md lists them.
const (
	KindInit            = "init"
	KindSnapshot        = "snapshot"
	KindRestore         = "restore"
	KindVerify          = "verify"
	KindForget          = "forget"
	KindPrune           = "prune"
	KindKeyUnwrap       = "key.unwrap"
	KindKeyUse          = "key.use"
	KindKeyRelease      = "key.release" // the key broker released a dataset key to an attested workload
	KindKeyRefuse       = "key.refuse"  // the key broker refused a release
	KindKeyRotate       = "key.rotate"
	KindKeyShred        = "key.shred"
	KindRecover         = "recover"
	KindSiteAdd         = "site.add"
	KindSiteRemove      = "site.remove"
	KindPlacement       = "placement"
	KindRepair          = "repair"
	KindPolicyChange    = "policy.change"
	KindAgreementChange = "agreement.change"
	KindExit            = "exit"
	KindDrill           = "drill"
	KindDaemonLogin     = "daemon.login"
	KindSession         = "session"
	KindDisclosure      = "disclosure"
	KindWitnessChange   = "witness.change"
	KindJob             = "job"           // a scheduled job's result (builders_sched.go)
	KindConfigChange    = "config.change" // a configuration file's new content digest (builders_sched.go)
	KindAlert           = "alert"         // an alert raised at home (a scheduled job, the watcher)

	// Framework requirements 8, 16, 17, 22, 23, 26 and 30: each kind has
	// one name here, whichever package writes it.
	KindAccessRequest      = "access.request"      // a host's access request reached the home
	KindAccessDecision     = "access.decision"     // the sending state approved or denied one
	KindIncident           = "incident"            // a host's incident record reached the home
	KindIncidentAck        = "incident.ack"        // the sending state acknowledged one
	KindIncidentEscalation = "incident.escalation" // one was not acknowledged within the agreement's hours
	KindUpdateApprove      = "update.approve"      // an update approval signed and stored (object: its id)
	KindUpdateRevoke       = "update.revoke"       // an update approval withdrawn
	KindUpdateAlert        = "update.alert"        // a site runs an unapproved, revoked or expired build
	KindUpdateResolved     = "update.resolved"     // an alerted site runs an approved build again
	KindSiteLocate         = "site.locate"         // location evidence gathered for a site
	KindPKIRevoke          = "pki.revoke"          // a client certificate revoked (a new CRL pushed)
	KindSLAReport          = "sla.report"          // a monthly SLA report signed
	KindComputeCheck       = "compute.check"       // compute reservations checked against a site's capacity
)

// Kinds is every known kind, sorted.
var Kinds = func() []string {
	k := []string{KindInit, KindSnapshot, KindRestore, KindVerify, KindForget, KindPrune,
		KindKeyUnwrap, KindKeyUse, KindKeyRelease, KindKeyRefuse, KindKeyRotate, KindKeyShred, KindRecover, KindSiteAdd,
		KindSiteRemove, KindPlacement, KindRepair, KindPolicyChange, KindAgreementChange,
		KindExit, KindDrill, KindDaemonLogin, KindSession, KindDisclosure, KindWitnessChange,
		KindOperate, KindOperateRevoke, KindJob, KindConfigChange, KindAlert,
		KindAccessRequest, KindAccessDecision, KindIncident, KindIncidentAck, KindIncidentEscalation,
		KindUpdateApprove, KindUpdateRevoke, KindUpdateAlert, KindUpdateResolved, KindSiteLocate, KindPKIRevoke,
		KindSLAReport, KindComputeCheck}
	sort.Strings(k)
	return k
}()

// Entry is one operation in the log. Entries are public to every party that
// can read the tiles (home, hosts, auditors): they name datasets, sites and
// objects by identifier, never hold plaintext data or key material.
type Entry struct {
	V       int               `json:"v"`
	Kind    string            `json:"kind"`
	Time    time.Time         `json:"time"`
	Actor   string            `json:"actor,omitempty"`   // who did it: "home", "host:<id>", a custodian fingerprint...
	Home    string            `json:"home,omitempty"`    // home id
	Dataset string            `json:"dataset,omitempty"` // dataset id (or an HMAC of it)
	Site    string            `json:"site,omitempty"`    // site name
	Object  string            `json:"object,omitempty"`  // snapshot id, key version, epoch...
	Reason  string            `json:"reason,omitempty"`  // reason code (see reason.go)
	Details map[string]string `json:"details,omitempty"`
}

// Limits on entry fields, well under MaxEntrySize in total.
const (
	maxField   = 256
	maxDetails = 32
	maxDetail  = 1024
)

// Validate checks an entry before it is appended or after it is decoded.
func (e *Entry) Validate() error {
	if e.V != Version {
		return fmt.Errorf("entry version %d: want %d", e.V, Version)
	}
	if !validKind(e.Kind) {
		return fmt.Errorf("entry kind %q: use lowercase letters, digits, '.', '-' or '_'", e.Kind)
	}
	if e.Time.IsZero() {
		return errors.New("entry time is missing")
	}
	for name, v := range map[string]string{"actor": e.Actor, "home": e.Home, "dataset": e.Dataset, "site": e.Site, "object": e.Object, "reason": e.Reason} {
		if err := checkText(v, maxField); err != nil {
			return fmt.Errorf("entry %s: %w", name, err)
		}
	}
	if len(e.Details) > maxDetails {
		return fmt.Errorf("entry has %d details: at most %d", len(e.Details), maxDetails)
	}
	for k, v := range e.Details {
		if !validKind(k) {
			return fmt.Errorf("entry detail key %q: use lowercase letters, digits, '.', '-' or '_'", k)
		}
		if err := checkText(v, maxDetail); err != nil {
			return fmt.Errorf("entry detail %s: %w", k, err)
		}
	}
	if e.Kind == KindDisclosure {
		if err := validDisclosure(e); err != nil {
			return err
		}
	}
	return nil
}

func validKind(k string) bool {
	if k == "" || len(k) > 64 {
		return false
	}
	for _, c := range k {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func checkText(s string, max int) error {
	if len(s) > max {
		return fmt.Errorf("%d bytes: at most %d", len(s), max)
	}
	if !utf8.ValidString(s) {
		return errors.New("not valid UTF-8")
	}
	if strings.ContainsAny(s, "\x00\r\n") {
		return errors.New("control characters are not allowed")
	}
	return nil
}

// Marshal encodes a valid entry as the exact bytes stored in the log.
// Time is written in UTC with nanoseconds, so encoding is deterministic.
func (e Entry) Marshal() ([]byte, error) {
	e.Time = e.Time.UTC()
	if err := e.Validate(); err != nil {
		return nil, err
	}
	b, err := json.Marshal(e)
	if err != nil {
		return nil, err
	}
	if len(b) > MaxEntrySize {
		return nil, fmt.Errorf("entry is %d bytes: at most %d", len(b), MaxEntrySize)
	}
	return b, nil
}

// UnmarshalEntry decodes a logged entry strictly: unknown fields, trailing
// data, a newer version or an invalid entry are errors.
func UnmarshalEntry(b []byte) (Entry, error) {
	var e Entry
	if len(b) > MaxEntrySize {
		return e, fmt.Errorf("entry is %d bytes: at most %d", len(b), MaxEntrySize)
	}
	if err := strict.JSON(b, &e); err != nil {
		return Entry{}, fmt.Errorf("decode entry: %w", err)
	}
	if err := e.Validate(); err != nil {
		return Entry{}, fmt.Errorf("decode entry: %w", err)
	}
	return e, nil
}
