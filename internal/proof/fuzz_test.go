package proof

import (
	"bytes"
	"testing"

	"github.com/digital-embassy/embassy/internal/site"
)

func FuzzDecodeChallenge(f *testing.F) {
	c := NewChallenge([]site.Handle{{Kind: site.KindPack, Name: "a/b"}, {Kind: site.KindConfig, Name: "repo"}}, 0, 2, site.KindIndex)
	j, _ := c.MarshalJSON()
	f.Add(j)
	f.Add([]byte(`{"version":1,"nonce":"00","objects":["data/../x"]}`))
	f.Add([]byte(`{"version":1,"chunks":99}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeChallenge(bytes.NewReader(b))
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("decoded an invalid challenge: %v", err)
		}
		j, err := c.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeChallenge(bytes.NewReader(j)); err != nil {
			t.Fatalf("re-decode: %v", err)
		}
	})
}

func FuzzReadResponse(f *testing.F) {
	h := site.Handle{Kind: site.KindPack, Name: "ab/" + "00000000000000000000000000000000000000000000000000000000000000ff"}
	c := Challenge{Chunks: 1, Objects: []site.Handle{h, {Kind: site.KindConfig, Name: "repo"}}, List: []site.Kind{site.KindPack}}
	var b bytes.Buffer
	WriteResponse(&b, prove(c, map[site.Handle][]byte{h: make([]byte, 5000), {Kind: site.KindConfig, Name: "repo"}: []byte("x")}))
	f.Add(b.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		resp, err := ReadResponse(bytes.NewReader(data), c)
		if err != nil {
			return
		}
		Verify(c, resp, Expect{}) // must not panic
	})
}
