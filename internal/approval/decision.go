package approval

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"

	"github.com/digital-embassy/embassy/internal/tlog"
)

// Access held at a site's daemon (requirement 22, enforced): a host
// operator files a request at the daemon, which keeps it pending and
// refuses the privileged operation it asks for until it holds a decision
// the home signed. The signed decision is a signed note
// (golang.org/x/mod/sumdb/note) whose text is, line by line:
//
//	embassy-access-decision/v1
//	home <home id>
//	site <site name>
//	request <request id, as the daemon assigned it>
//	requester <the operator identity that filed it>
//	scope <scope>
//	decision approved|denied
//	expires <RFC 3339 UTC>
//
// signed by the home's access-decision key (<home>/access/decision.key),
// whose verifier key the daemon is configured with (--access-key). The
// daemon accepts it only for its own home and site, for a request it
// holds, by the identity that filed it, for the scope it asked, before
// expiry; docs/threats/hostedge.md has the attacks.

// DecisionHeader is the first line of a decision's text.
const DecisionHeader = "embassy-access-decision/v1"

// Scopes are the privileged operations a host operator can ask for.
// "metadata": list the names, sizes and times of the objects the site
// stores (GET /v1/maintenance/list/{kind}), e.g. for a storage migration;
// without an approval an operator sees only the host view's counts.
var Scopes = []string{"metadata"}

// Bounds of a request filed at a daemon.
const (
	MaxDuration = 24 * time.Hour
	MinDuration = time.Minute
	maxWho      = 256
	maxWhat     = 1024
)

// Details of a request entry that came from a daemon.
const (
	DetailID        = "id"        // the daemon's request id
	DetailScope     = "scope"     // the privileged operation asked for
	DetailDuration  = "duration"  // how long, as a Go duration
	DetailRequester = "requester" // the operator identity that filed it
	DetailFiled     = "filed"     // when the daemon took it (RFC 3339, the daemon's clock)
	DetailVia       = "via"       // "daemon"
)

// Filing is what a host operator sends the daemon (POST /v1/access).
type Filing struct {
	Reason   string `json:"reason"`
	Scope    string `json:"scope"`
	Duration string `json:"duration"` // Go duration, MinDuration to MaxDuration
	Who      string `json:"who"`
	What     string `json:"what"`
}

// HostRequest is a request as the daemon holds it (GET /v1/access).
type HostRequest struct {
	ID        string    `json:"id"`
	Reason    string    `json:"reason"`
	Scope     string    `json:"scope"`
	Duration  string    `json:"duration"`
	Who       string    `json:"who"`
	What      string    `json:"what"`
	Requester string    `json:"requester"`
	Filed     time.Time `json:"filed"`
	Status    string    `json:"status"`           // pending, approved or denied
	Expires   time.Time `json:"expires,omitzero"` // of the decision
}

// Check validates a filing (written by host personnel) and returns its
// duration. Text must be plain (no control or bidirectional characters).
func (f *Filing) Check() (time.Duration, error) {
	f.Reason = strings.ToUpper(strings.TrimSpace(f.Reason))
	d, err := time.ParseDuration(f.Duration)
	switch {
	case tlog.ReasonCodes[f.Reason] == "":
		return 0, fmt.Errorf("reason %q is not a reason code such as HOST_INITIATED_SERVICE", f.Reason)
	case strings.HasPrefix(f.Reason, "HOME_INITIATED"):
		return 0, fmt.Errorf("reason %s: access the sending state started needs no approval", f.Reason)
	case !slices.Contains(Scopes, f.Scope):
		return 0, fmt.Errorf("scope %q: use one of %v", f.Scope, Scopes)
	case err != nil || d < MinDuration || d > MaxDuration:
		return 0, fmt.Errorf("duration %q: give one from %v to %v, such as 2h", f.Duration, MinDuration, MaxDuration)
	case f.Who == "" || f.What == "" || len(f.Who) > maxWho || len(f.What) > maxWhat:
		return 0, fmt.Errorf("an access request needs who asks and what for (at most %d and %d bytes)", maxWho, maxWhat)
	case !PlainText(f.Who) || !PlainText(f.What):
		return 0, errors.New("access request text must be valid UTF-8 without control characters")
	}
	return d, nil
}

// Check validates a request a daemon returned (the home trusts none of
// it): a well-formed id, a filing that passes Filing.Check, a requester.
func (r HostRequest) Check() (time.Duration, error) {
	if !ValidID(r.ID) {
		return 0, fmt.Errorf("request id %q is not 32 hex digits", r.ID)
	}
	if r.Requester == "" || len(r.Requester) > maxWho || !PlainText(r.Requester) {
		return 0, errors.New("request without a plain requester identity")
	}
	f := Filing{Reason: r.Reason, Scope: r.Scope, Duration: r.Duration, Who: r.Who, What: r.What}
	d, err := f.Check()
	if err == nil && f.Reason != r.Reason {
		err = fmt.Errorf("reason %q is not in canonical form", r.Reason)
	}
	return d, err
}

// ValidID reports whether id is a daemon request id: 32 lower-case hex digits.
func ValidID(id string) bool {
	return len(id) == 32 && strings.Trim(id, "0123456789abcdef") == ""
}

// PlainText refuses invalid UTF-8 and control characters (C0, DEL, C1 and
// bidirectional overrides), which could rewrite what a terminal shows.
func PlainText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	return !strings.ContainsFunc(s, func(r rune) bool {
		return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069)
	})
}

// Decision is what the home signs for a daemon.
type Decision struct {
	Home, Site, Request, Requester, Scope string
	Approved                              bool
	Expires                               time.Time
}

// Text is the decision's note text.
func (d Decision) Text() string {
	dec := Denied
	if d.Approved {
		dec = Approved
	}
	return fmt.Sprintf("%s\nhome %s\nsite %s\nrequest %s\nrequester %s\nscope %s\ndecision %s\nexpires %s\n",
		DecisionHeader, d.Home, d.Site, d.Request, d.Requester, d.Scope, dec, d.Expires.UTC().Format(time.RFC3339))
}

func oneLine(s string) bool { return s != "" && !strings.ContainsAny(s, "\n\r") && PlainText(s) }

// Sign signs the decision with the home's access-decision key.
func (d Decision) Sign(s note.Signer) ([]byte, error) {
	for _, f := range []string{d.Home, d.Site, d.Request, d.Requester, d.Scope} {
		if !oneLine(f) {
			return nil, fmt.Errorf("decision field %q cannot be signed: empty or not one plain line", f)
		}
	}
	return note.Sign(&note.Note{Text: d.Text()}, s)
}

// ParseDecision reads a decision's text strictly: exactly the lines of
// Text, in order, and nothing else.
func ParseDecision(text string) (Decision, error) {
	lines := strings.Split(text, "\n")
	keys := []string{"home", "site", "request", "requester", "scope", "decision", "expires"}
	if len(lines) != len(keys)+2 || lines[0] != DecisionHeader || lines[len(lines)-1] != "" {
		return Decision{}, errors.New("not an embassy access decision")
	}
	v := map[string]string{}
	for i, k := range keys {
		val, ok := strings.CutPrefix(lines[i+1], k+" ")
		if !ok || val == "" {
			return Decision{}, fmt.Errorf("access decision: line %d is not %q", i+2, k)
		}
		v[k] = val
	}
	exp, err := time.Parse(time.RFC3339, v["expires"])
	if err != nil {
		return Decision{}, fmt.Errorf("access decision: expires: %w", err)
	}
	d := Decision{Home: v["home"], Site: v["site"], Request: v["request"], Requester: v["requester"], Scope: v["scope"],
		Approved: v["decision"] == Approved, Expires: exp}
	if v["decision"] != Approved && v["decision"] != Denied {
		return Decision{}, fmt.Errorf("access decision: %q is neither approved nor denied", v["decision"])
	}
	if d.Text() != text {
		return Decision{}, errors.New("access decision: not in canonical form")
	}
	return d, nil
}

// OpenDecision verifies a signed decision against the pinned home key and
// parses it. A note signed by any other key, or unsigned, is refused.
func OpenDecision(msg []byte, home note.Verifier) (Decision, error) {
	if home == nil {
		return Decision{}, errors.New("this daemon was given no home access key (--access-key): no decision can be verified")
	}
	if len(msg) > 4096 {
		return Decision{}, errors.New("access decision larger than 4 KiB")
	}
	n, err := note.Open(msg, note.VerifierList(home))
	if err != nil {
		return Decision{}, fmt.Errorf("access decision not signed by the home's access key: %w", err)
	}
	return ParseDecision(n.Text)
}
