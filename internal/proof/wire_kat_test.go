package proof

import (
	"bytes"
	"encoding/binary"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/zeebo/blake3"

	"github.com/digital-embassy/embassy/internal/site"
)

// Known-answer test of the proof wire format (docs/formats/proofs.md): a
// fixed nonce, objects and challenge give exactly the golden request and
// response in testdata/; the chunk selection and the MAC are recomputed
// from the document's formulas with the BLAKE3 library alone, and the
// golden response still reads back and verifies. -update-proof rewrites
// the files for a deliberate format change.
var updateProof = flag.Bool("update-proof", false, "rewrite testdata/kat-proof-*")

func katGolden(t *testing.T, name string, got []byte) []byte {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *updateProof {
		os.WriteFile(p, got, 0o644)
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (generate with go test -run TestWireKnownAnswer -args -update-proof)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s changed: the format is pinned\n got  %x\n want %x", name, got, want)
	}
	return want
}

func TestWireKnownAnswer(t *testing.T) {
	const ds = "00112233445566778899aabbccddeeff"
	data := payload(5000, 9) // 5 chunks, the last one short
	h := addressed(site.KindPack, ds, data)
	cfg := site.Handle{Kind: site.KindConfig, Name: "repo"}
	cfgBytes := []byte(`{"home":"h1"}`)
	var nonce [32]byte
	for i := range nonce {
		nonce[i] = byte(0xa0 + i)
	}
	c := Challenge{Nonce: nonce, Chunks: 2, Objects: []site.Handle{h, cfg}, List: []site.Kind{site.KindConfig}}
	req, err := c.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	katGolden(t, "kat-proof-request.json", req)
	if back, err := DecodeChallenge(bytes.NewReader(req)); err != nil || back.Nonce != nonce || len(back.Objects) != 2 || back.Objects[0] != h {
		t.Fatalf("decode the golden request: %+v %v", back, err)
	}

	// Selection from the document's formula.
	sel := SelectChunks(nonce, h, int64(len(data)), 2)
	want := []int64{4}
	for j := 0; j < 2; j++ {
		var out [32]byte
		m := append(append(append([]byte{}, nonce[:]...), []byte(h.Kind.String()+"/"+h.Name)...), binary.LittleEndian.AppendUint64(nil, uint64(j))...)
		blake3.DeriveKey("embassy.v1 proof select", m, out[:])
		ci := int64(binary.LittleEndian.Uint64(out[:8]) % 5)
		dup := false
		for _, x := range want {
			dup = dup || x == ci
		}
		if !dup {
			want = append(want, ci)
		}
	}
	if len(sel) != len(want) {
		t.Fatalf("selected chunks %v, document says %v", sel, want)
	}
	for i := range sel {
		if sel[i] != want[i] {
			t.Fatalf("selected chunks %v, document says %v", sel, want)
		}
	}
	// MAC from the document's formula.
	km, _ := blake3.NewKeyed(nonce[:])
	km.Write([]byte("embassy.v1 proof mac\x00config/repo\x00"))
	km.Write(cfgBytes)
	if mac := MAC(nonce, cfg, cfgBytes); !bytes.Equal(mac[:], km.Sum(nil)) {
		t.Fatal("MAC differs from the document's formula")
	}

	resp := prove(c, map[site.Handle][]byte{h: data, cfg: cfgBytes})
	var b bytes.Buffer
	if err := WriteResponse(&b, resp); err != nil {
		t.Fatal(err)
	}
	golden := katGolden(t, "kat-proof-response.bin", b.Bytes())
	if !bytes.HasPrefix(golden, append([]byte("EPRF\x01"), nonce[:]...)) || golden[37] != 2 || golden[38] != 1 {
		t.Fatalf("response header %x: want EPRF 01 nonce, count 2, status 1 (tree)", golden[:40])
	}
	back, err := ReadResponse(bytes.NewReader(golden), c)
	if err != nil {
		t.Fatal(err)
	}
	rep := Verify(c, back, Expect{
		Bytes: func(x site.Handle) ([]byte, bool) { return cfgBytes, x == cfg },
		Names: map[site.Kind][]string{site.KindConfig: {"repo"}},
	})
	if !rep.OK() {
		t.Fatalf("the golden response does not verify: %+v", rep.Problems)
	}
	// One flipped byte anywhere in a revealed chunk fails verification.
	bad := bytes.Clone(golden)
	bad[len(bad)/3] ^= 1
	if r2, err := ReadResponse(bytes.NewReader(bad), c); err == nil {
		if Verify(c, r2, Expect{Bytes: func(x site.Handle) ([]byte, bool) { return cfgBytes, x == cfg }, Names: map[site.Kind][]string{site.KindConfig: {"repo"}}}).OK() {
			t.Fatal("a response with a flipped byte verifies")
		}
	}
}
