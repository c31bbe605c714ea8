package supply

import (
	"fmt"
	"time"
)

// Revocation withdraws an approval before its end.
type Revocation struct {
	ID     string    `json:"id"`
	Time   time.Time `json:"time"`
	Reason string    `json:"reason,omitempty"`
}

// Set is the home's approved updates and their revocations.
type Set struct {
	Approvals []*Signed
	Revoked   map[string]Revocation
}

// Status of a digest or a set of measurements against a Set.
const (
	StatusApproved   = "approved"   // covered by an approval valid now
	StatusRevoked    = "revoked"    // covered only by revoked approvals
	StatusExpired    = "expired"    // covered only by approvals not valid now (expired or not yet valid)
	StatusUnapproved = "unapproved" // covered by no approval
)

// Finding is the result of a check: its status, the approval that decided
// it (nil for unapproved) and a sentence naming what was checked.
type Finding struct {
	Status   string  `json:"status"`
	Approval *Signed `json:"approval,omitempty"`
	Detail   string  `json:"detail"`
}

// OK reports whether the finding lets the update run.
func (f Finding) OK() bool { return f.Status == StatusApproved }

// valid reports whether s is in force at now.
func (st *Set) valid(s *Signed, now time.Time) bool {
	_, revoked := st.Revoked[s.ID]
	return !revoked && !now.Before(s.Issued) && now.Before(s.NotAfter)
}

// pick returns the finding for the approvals that match, best first:
// one valid now, else a revoked one, else an expired one.
func (st *Set) pick(match []*Signed, now time.Time, what string) Finding {
	for _, s := range match {
		if st.valid(s, now) {
			return Finding{Status: StatusApproved, Approval: s,
				Detail: fmt.Sprintf("%s: approved by %s until %s", what, s.ID, stamp(s.NotAfter))}
		}
	}
	for _, s := range match {
		if r, ok := st.Revoked[s.ID]; ok {
			return Finding{Status: StatusRevoked, Approval: s,
				Detail: fmt.Sprintf("%s: its approval %s was revoked at %s (%s)", what, s.ID, stamp(r.Time), r.Reason)}
		}
	}
	for _, s := range match {
		return Finding{Status: StatusExpired, Approval: s,
			Detail: fmt.Sprintf("%s: its approval %s is valid only %s to %s", what, s.ID, stamp(s.Issued), stamp(s.NotAfter))}
	}
	return Finding{Status: StatusUnapproved, Detail: what + ": no update approval covers it"}
}

// CheckDigest checks a running artifact's digest.
func (st *Set) CheckDigest(artifact, digest string, now time.Time) Finding {
	var match []*Signed
	for _, s := range st.Approvals {
		if s.Artifact == artifact && s.Digest != "" && s.Digest == digest {
			match = append(match, s)
		}
	}
	f := st.pick(match, now, fmt.Sprintf("%s digest %s", artifact, short(digest)))
	if f.Status == StatusUnapproved {
		f.Detail += ": approve it with 'embassy update approve --artifact " + artifact + " --digest " + digest + " --until DATE', or restore the approved build"
	}
	return f
}

// CheckMeasurements checks attested measurements: an approval covers them
// when every measurement it names is present with exactly its value.
func (st *Set) CheckMeasurements(m map[string]string, now time.Time) Finding {
	var match []*Signed
	var diffs []string
	for _, s := range st.Approvals {
		if len(s.Measurements) == 0 {
			continue
		}
		if ok, diff := s.Covers(m); ok {
			match = append(match, s)
		} else if len(diffs) < 4 {
			diffs = append(diffs, s.ID+": "+diff)
		}
	}
	f := st.pick(match, now, "the attested measurements")
	if f.Status == StatusUnapproved {
		if len(diffs) > 0 {
			f.Detail = fmt.Sprintf("the attested measurements match no update approval (%s): an unapproved firmware or image update", join(diffs))
		}
		f.Detail += "; the sending state approves an update with 'embassy update approve --measurement NAME:HEX --until DATE'"
	}
	return f
}

func join(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += "; "
		}
		out += x
	}
	return out
}
