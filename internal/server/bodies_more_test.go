package server

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/pki"
)

// FuzzDisclosureBody: host personnel send the disclosure body. Whatever
// they send is refused with 400, or kept as a disclosure whose fields meet
// the documented bounds (reason code charset and length, who/what
// present and bounded, no future time).
func FuzzDisclosureBody(f *testing.F) {
	f.Add([]byte(`{"reason":"HOST_INITIATED_SERVICE","who":"ops","what":"disk swap"}`))
	f.Add([]byte(`{"reason":"legal_order","who":"a","what":"b","ticket":"T-1","access":"console","at":"2026-01-01T00:00:00Z"}`))
	f.Add([]byte(`{"reason":"x y","who":"a","what":"b"}`))
	f.Add([]byte(`{"reason":"A","who":"a","what":"b","extra":1}`))
	f.Add([]byte(`{"reason":"A","who":"a","what":"b","at":"2999-01-01T00:00:00Z"}`))
	f.Add(bytes.Repeat([]byte("["), 20000))
	f.Fuzz(func(t *testing.T, body []byte) {
		s := &Server{events: &eventLog{max: 4}}
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodPost, "/v1/disclosures", bytes.NewReader(body))
		err := s.fileDisclosure(w, r, caller{id: pki.Identity{Home: "h", Role: pki.RoleOperator, Name: "ops"}})
		evs := s.events.snapshot()
		if err != nil {
			if len(evs) != 0 {
				t.Fatalf("a refused disclosure was kept: %+v", evs)
			}
			return
		}
		if w.Code != http.StatusNoContent || len(evs) != 1 || evs[0].Disclosure == nil {
			t.Fatalf("accepted disclosure: status %d, events %+v", w.Code, evs)
		}
		d := evs[0].Disclosure
		switch {
		case d.Reason == "" || len(d.Reason) > 64 || strings.Trim(d.Reason, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_") != "":
			t.Fatalf("kept reason %q", d.Reason)
		case d.Who == "" || d.What == "" || len(d.Who) > 256 || len(d.What) > 1024 || len(d.Ticket) > 128 || len(d.Access) > 32:
			t.Fatalf("kept unbounded disclosure %+v", d)
		case d.At.After(time.Now().Add(5 * time.Minute)):
			t.Fatalf("kept a disclosure from the future: %v", d.At)
		}
	})
}

// FuzzEventsFile: the events file lives on the host's disk; a damaged or
// planted file loads without a panic, keeps at most max events, and every
// kept line decoded as an event.
func FuzzEventsFile(f *testing.F) {
	f.Add([]byte(`{"time":"2026-01-01T00:00:00Z","kind":"login","identity":"ops"}` + "\n"))
	f.Add([]byte(`{"kind":"disclosure","disclosure":{"reason":"A","who":"a","what":"b"}}` + "\n{bad\n\n" + `{"kind":"denied"}`))
	f.Add(bytes.Repeat([]byte(`{"kind":"x"}`+"\n"), 10))
	f.Add([]byte{0xff, 0xfe, '\n', '{', '}'})
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "events.jsonl")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		l := &eventLog{max: 3, path: p}
		if err := l.load(); err != nil {
			return // a line over 1 MiB: refused, reported
		}
		if n := len(l.snapshot()); n > 3 {
			t.Fatalf("loaded %d events, max 3", n)
		}
	})
}
