package server

import (
	"encoding/json"
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
	var d api.Disclosure
	dec := json.NewDecoder(io.LimitReader(r.Body, maxDisclosure+1))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return fail(http.StatusBadRequest, api.CodeBadRequest, "malformed disclosure: "+err.Error(), err)
	}
	d.Reason = strings.ToUpper(strings.TrimSpace(d.Reason))
	switch {
	case d.Reason == "" || len(d.Reason) > 64 || strings.Trim(d.Reason, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_") != "":
		return fail(http.StatusBadRequest, api.CodeBadRequest, "disclosure needs a reason code such as HOST_INITIATED_SERVICE", nil)
	case d.Who == "" || d.What == "" || len(d.Who) > 256 || len(d.What) > 1024 || len(d.Ticket) > 128 || len(d.Access) > 32:
		return fail(http.StatusBadRequest, api.CodeBadRequest, "disclosure needs who and what (bounded lengths)", nil)
	case !plainText(d.Who) || !plainText(d.What) || !plainText(d.Ticket) || !plainText(d.Access):
		return fail(http.StatusBadRequest, api.CodeBadRequest, "disclosure text must be valid UTF-8 without control characters", nil)
	}
	now := time.Now().UTC()
	if d.At.IsZero() {
		d.At = now
	}
	if d.At.After(now.Add(5 * time.Minute)) {
		return fail(http.StatusBadRequest, api.CodeBadRequest, "disclosure time is in the future", nil)
	}
	if d.Access == "" {
		d.Access = "console"
	}
	s.events.add(Event{Time: now, Kind: "disclosure", Identity: c.id.String(), Role: string(c.id.Role), Remote: r.RemoteAddr, Disclosure: &d})
	w.WriteHeader(http.StatusNoContent)
	return nil
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
