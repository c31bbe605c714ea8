package server

import (
	"net/http"
	"testing"
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
