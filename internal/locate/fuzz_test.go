package locate

import (
	"encoding/json"
	"testing"
)

// The decoders of what a site, a witness or a stored bundle hands the
// home: any input is an error or a value, never a panic.
func FuzzVerifyFacts(f *testing.F) {
	fx := newFixture(f)
	b, _ := json.Marshal(fx.bundle.Facts[0])
	f.Add(b)
	f.Add([]byte(`{"body":"e30=","signature":"AA=="}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		s, err := ParseSigned(in)
		if err != nil {
			return
		}
		_, _ = VerifyFacts(s, fx.cert)
	})
}

func FuzzVerifyRTT(f *testing.F) {
	fx := newFixture(f)
	b, _ := json.Marshal(fx.bundle.Witnesses[0].Answer)
	f.Add(b)
	f.Add([]byte(`{"body":"e30=","signature":"AA=="}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		s, err := ParseSigned(in)
		if err != nil {
			return
		}
		_, _ = VerifyRTT(s, fx.vkey)
	})
}

func FuzzRTTRequest(f *testing.F) {
	f.Add([]byte(`{"site":"lu","addr":"127.0.0.1:1","nonce":"00","samples":3}`))
	f.Fuzz(func(t *testing.T, in []byte) { _, _ = ParseRTTRequest(in) })
}

func FuzzBundleRecheck(f *testing.F) {
	fx := newFixture(f)
	b, _ := json.Marshal(fx.bundle)
	f.Add(b)
	f.Fuzz(func(t *testing.T, in []byte) {
		var bu Bundle
		if len(in) > MaxBundle || json.Unmarshal(in, &bu) != nil {
			return
		}
		_, _ = bu.Recheck(fx.ca.Cert)
	})
}
