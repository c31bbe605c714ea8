package incident

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/digital-embassy/embassy/internal/approval"
)

// The home's acknowledgement of an incident filed at a daemon, pushed back
// so the host sees its filing was acknowledged (docs/formats/access.md).
// It is a signed note whose text is, line by line:
//
//	embassy-incident-ack/v1
//	home <home id>
//	site <site name>
//	incident <incident id, as the daemon assigned it>
//	acknowledged <RFC 3339 UTC, whole seconds>
//
// signed by the home's access key (the key of access decisions); its
// header differs from a decision's, so neither passes for the other.

// AckHeader is the first line of an acknowledgement's text.
const AckHeader = "embassy-incident-ack/v1"

// maxAck bounds a signed acknowledgement.
const maxAck = 4096

// Ack is what the home signs for a daemon.
type Ack struct {
	Home, Site, Incident string
	At                   time.Time // when the home logged the acknowledgement
}

// Text is the acknowledgement's note text.
func (a Ack) Text() string {
	return fmt.Sprintf("%s\nhome %s\nsite %s\nincident %s\nacknowledged %s\n",
		AckHeader, a.Home, a.Site, a.Incident, a.At.UTC().Format(time.RFC3339))
}

// fields refuses a home, site or incident id that is not one plain word.
func (a Ack) fields() error {
	for _, f := range []string{a.Home, a.Site, a.Incident} {
		if f == "" || strings.ContainsAny(f, "\n\r \t") || !approval.PlainText(f) {
			return fmt.Errorf("incident acknowledgement: field %q is empty or not one plain word", f)
		}
	}
	return nil
}

// Sign signs the acknowledgement with the home's access key.
func (a Ack) Sign(s note.Signer) ([]byte, error) {
	if err := a.fields(); err != nil {
		return nil, err
	}
	if a.At.IsZero() {
		return nil, errors.New("an acknowledgement needs its time")
	}
	return note.Sign(&note.Note{Text: a.Text()}, s)
}

// ParseAck reads an acknowledgement's text strictly: exactly the lines of
// Text, in order, in canonical form.
func ParseAck(text string) (Ack, error) {
	lines := strings.Split(text, "\n")
	keys := []string{"home", "site", "incident", "acknowledged"}
	if len(lines) != len(keys)+2 || lines[0] != AckHeader || lines[len(lines)-1] != "" {
		return Ack{}, errors.New("not an embassy incident acknowledgement")
	}
	v := map[string]string{}
	for i, k := range keys {
		val, ok := strings.CutPrefix(lines[i+1], k+" ")
		if !ok || val == "" {
			return Ack{}, fmt.Errorf("incident acknowledgement: line %d is not %q", i+2, k)
		}
		v[k] = val
	}
	at, err := time.Parse(time.RFC3339, v["acknowledged"])
	if err != nil {
		return Ack{}, fmt.Errorf("incident acknowledgement: acknowledged: %w", err)
	}
	a := Ack{Home: v["home"], Site: v["site"], Incident: v["incident"], At: at}
	if err := a.fields(); err != nil {
		return Ack{}, err
	}
	if a.Text() != text {
		return Ack{}, errors.New("incident acknowledgement: not in canonical form")
	}
	return a, nil
}

// OpenAck verifies a signed acknowledgement against the pinned home access
// key and parses it. A note signed by any other key, or unsigned, is
// refused.
func OpenAck(msg []byte, home note.Verifier) (Ack, error) {
	if home == nil {
		return Ack{}, errors.New("this daemon was given no home access key (--access-key): no acknowledgement can be verified")
	}
	if len(msg) > maxAck {
		return Ack{}, fmt.Errorf("incident acknowledgement larger than %d bytes", maxAck)
	}
	n, err := note.Open(msg, note.VerifierList(home))
	if err != nil {
		return Ack{}, fmt.Errorf("incident acknowledgement not signed by the home's access key: %w", err)
	}
	return ParseAck(n.Text)
}
