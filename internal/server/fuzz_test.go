package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
	"time"
)

func FuzzRequestDecoding(f *testing.F) {
	f.Add("data", "ab/cd", "bytes=0-10", "*", "2030-01-01T00:00:00Z", "1")
	f.Add("config", "repo", "bytes=5-", "", "", "")
	f.Add("nope", "../x", "bytes=-5", "abc", "soon", "2")
	f.Fuzz(func(t *testing.T, kind, name, rng, inm, retain, deferred string) {
		if h, err := ParseHandle(kind, name); err == nil {
			if h.Validate() != nil || h.Kind.String() != kind {
				t.Fatalf("accepted bad handle %q %q", kind, name)
			}
		}
		if off, n, err := ParseRange(rng); err == nil && (off < 0 || n < 0) {
			t.Fatalf("range %q gave %d+%d", rng, off, n)
		}
		hd := http.Header{}
		hd.Set("If-None-Match", inm)
		hd.Set("Embassy-Retain-Until", retain)
		hd.Set("Embassy-Deferred", deferred)
		PutOptions(hd)
	})
}

// FuzzEventLine: lines of the events file (written by the daemon, but on
// the host's disk) never panic the decoder, and what it accepts re-encodes.
func FuzzEventLine(f *testing.F) {
	f.Add([]byte(`{"time":"2026-01-01T00:00:00Z","kind":"login","identity":"x","role":"home","remote":""}`))
	f.Add([]byte(`{"time":"2026-01-01T00:00:00Z","kind":"denied","remote":"192.0.2.1","count":64}`))
	f.Add([]byte(`{"time":"2026-01-01T00:00:00Z","kind":"disclosure","identity":"o","disclosure":{"reason":"X","who":"\u001b[2J","what":"w","at":"2026-01-01T00:00:00Z"}}`))
	f.Add([]byte(`{"kind":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := decodeEventLine(b)
		if err != nil {
			return
		}
		if e.Kind == "" || e.Time.IsZero() || e.Count < 0 {
			t.Fatalf("accepted %+v", e)
		}
		if _, err := json.Marshal(e); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzDisclosure: disclosure bodies are written by host personnel; what
// the daemon accepts has a reason code, bounded plain text and a time not
// in the future.
func FuzzDisclosure(f *testing.F) {
	f.Add([]byte(`{"reason":"HOST_INITIATED_SERVICE","access":"console","who":"ops (LU)","what":"disk","at":"2026-01-01T00:00:00Z"}`))
	f.Add([]byte(`{"reason":"x","who":"ops\u001b[2J","what":"disk\u202eevil"}`))
	f.Add([]byte(`{"reason":"X","who":"\xff","what":"w","extra":1}`))
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := decodeDisclosure(bytes.NewReader(b), now)
		if err != nil {
			return
		}
		for _, s := range []string{d.Who, d.What, d.Ticket, d.Access} {
			for _, r := range s {
				if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
					t.Fatalf("accepted control character %U in %q", r, s)
				}
			}
		}
		if d.Reason == "" || d.At.After(now.Add(5*time.Minute)) || len(d.What) > 1024 {
			t.Fatalf("accepted %+v", d)
		}
	})
}
