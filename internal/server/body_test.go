package server

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Every body a host writes is decoded the one strict way: a good body is
// taken, and a second value, a stray closing brace, an unknown field or a
// body over the bound is refused with the decoder's name and the reason.
func TestStrictBodies(t *testing.T) {
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	decoders := []struct {
		name   string
		good   string
		limit  int
		decode func(b []byte) error
	}{
		{"access request", `{"reason":"HOST_INITIATED_SERVICE","scope":"metadata","duration":"2h","who":"vendor","what":"migration"}`, maxAccessBody,
			func(b []byte) error { _, err := decodeAccessFiling(bytes.NewReader(b)); return err }},
		{"incident", `{"type":"physical","reporter":"duty officer","what":"UPS fire","occurred":"2026-11-25T08:00:00Z"}`, maxIncidentBody,
			func(b []byte) error { _, err := decodeIncident(bytes.NewReader(b), now); return err }},
		{"disclosure", `{"reason":"HOST_INITIATED_SERVICE","access":"console","who":"ops","what":"disk","at":"2026-11-25T08:00:00Z"}`, maxDisclosure,
			func(b []byte) error { _, err := decodeDisclosure(bytes.NewReader(b), now); return err }},
	}
	for _, d := range decoders {
		if err := d.decode([]byte(d.good)); err != nil {
			t.Fatalf("%s: good body refused: %v", d.name, err)
		}
		pad := strings.Repeat(" ", d.limit)
		for _, tc := range []struct{ name, body, want string }{
			{"second value", d.good + ` {}`, "trailing data"},
			{"stray brace", d.good + `}`, "trailing data"},
			{"unknown field", strings.Replace(d.good, `{`, `{"extra":1,`, 1), `json: unknown field "extra"`},
			{"over the bound", d.good + pad, "the body is over " + strconv.Itoa(d.limit) + " bytes"},
			{"empty", ``, "EOF"},
		} {
			err := d.decode([]byte(tc.body))
			if want := "malformed " + d.name + ": " + tc.want; err == nil || err.Error() != want {
				t.Errorf("%s, %s: err = %v, want %q", d.name, tc.name, err, want)
			}
		}
	}
}
