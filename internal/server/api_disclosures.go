package server

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/digital-embassy/embassy/internal/api"
)

// maxDisclosure bounds a disclosure request body.
const maxDisclosure = 16 << 10

// fileDisclosure takes an access disclosure from host personnel (operator
// role) and keeps it with the site's events, from which the home pulls it
// into its transparency log. The home validates reason codes and measures
// delays; the daemon only checks the shape.
func (s *Server) fileDisclosure(w http.ResponseWriter, r *http.Request, c caller) error {
	now := time.Now().UTC()
	d, err := decodeDisclosure(r.Body, now)
	if err != nil {
		return fail(http.StatusBadRequest, api.CodeBadRequest, err.Error(), err)
	}
	if d.Access == "" {
		d.Access = "console"
	}
	s.events.add(Event{Time: now, Kind: "disclosure", Identity: c.id.String(), Role: string(c.id.Role), Remote: r.RemoteAddr, Disclosure: &d})
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// decodeDisclosure reads and checks a disclosure body written by host
// personnel: bounded size, known fields only, a reason code, bounded plain
// text, and an access time not in the future.
func decodeDisclosure(body io.Reader, now time.Time) (api.Disclosure, error) {
	var d api.Disclosure
	if err := readStrict(body, maxDisclosure, &d); err != nil {
		return d, fmt.Errorf("malformed disclosure: %w", err)
	}
	d.Reason = strings.ToUpper(strings.TrimSpace(d.Reason))
	switch {
	case d.Reason == "" || len(d.Reason) > 64 || strings.Trim(d.Reason, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_") != "":
		return d, errors.New("disclosure needs a reason code such as HOST_INITIATED_SERVICE")
	case d.Who == "" || d.What == "" || len(d.Who) > 256 || len(d.What) > 1024 || len(d.Ticket) > 128 || len(d.Access) > 32:
		return d, errors.New("disclosure needs who and what (bounded lengths)")
	case !plainText(d.Who) || !plainText(d.What) || !plainText(d.Ticket) || !plainText(d.Access):
		return d, errors.New("disclosure text must be valid UTF-8 without control characters")
	}
	if d.At.IsZero() {
		d.At = now
	}
	if d.At.After(now.Add(5 * time.Minute)) {
		return d, errors.New("disclosure time is in the future")
	}
	return d, nil
}

// plainText refuses invalid UTF-8 and control characters (C0, DEL, C1 and
// bidirectional overrides), which could rewrite what an auditor's terminal
// shows. The home escapes them on display too.
func plainText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	return !strings.ContainsFunc(s, func(r rune) bool {
		return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069)
	})
}
