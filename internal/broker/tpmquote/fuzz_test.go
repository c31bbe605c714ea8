package tpmquote

import (
	"encoding/json"
	"testing"
)

func FuzzVerify(f *testing.F) {
	f.Add([]byte(`{"format":"embassy.tpm-quote.v1","ak":"","quote":"","sig":"","pcrs":{"0":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}}`))
	f.Add([]byte(`{"format":"embassy.tpm-quote.v1","pcrs":{"24":""}}`))
	a, err := OpenSimulator(3)
	if err == nil {
		rd := make([]byte, 32)
		if ev, err := a.Quote(rd); err == nil {
			f.Add(ev)
			var e Evidence
			json.Unmarshal(ev, &e)
			e.Quote = e.Quote[:len(e.Quote)/2]
			b, _ := json.Marshal(e)
			f.Add(b)
		}
		a.Close()
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		Verify(b, make([]byte, 32))
	})
}
