package proof

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/zeebo/blake3"

	"github.com/digital-embassy/embassy/internal/site"
)

var sizes = []int{0, 1, 63, 64, 65, 1023, 1024, 1025, 2048, 2049, 3072, 4097, 8191, 8192, 8193, 9 << 10, 16 << 10, 17<<10 + 5, 31 << 10, 64<<10 + 1, 100 << 10, 257 << 10}

func payload(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestSumMatchesZeebo(t *testing.T) {
	for _, n := range sizes {
		data := payload(n, uint64(n))
		if got, want := Sum256(data), blake3.Sum256(data); got != want {
			t.Errorf("size %d: got %x, want %x", n, got, want)
		}
	}
}

func TestOutboardProofs(t *testing.T) {
	for _, n := range sizes {
		data := payload(n, uint64(n)+7)
		root := blake3.Sum256(data)
		ob, err := BuildOutboard(bytes.NewReader(data))
		if err != nil || ob.Size != int64(n) {
			t.Fatalf("size %d: outboard %v size %d", n, err, ob.Size)
		}
		for c := int64(0); c < numChunks(int64(n)); c++ {
			off, l := ob.GroupRange(c)
			chunk, path, err := ob.Prove(c, data[off:off+l])
			if err != nil {
				t.Fatalf("size %d chunk %d: %v", n, c, err)
			}
			if !VerifyChunk(root, int64(n), c, chunk, path) {
				t.Fatalf("size %d chunk %d: proof does not verify", n, c)
			}
			if len(chunk) > 0 {
				bad := bytes.Clone(chunk)
				bad[len(bad)/2] ^= 1
				if VerifyChunk(root, int64(n), c, bad, path) {
					t.Fatalf("size %d chunk %d: flipped chunk verifies", n, c)
				}
			}
			// A wrong claimed size must not verify the last chunk.
			if c == numChunks(int64(n))-1 && VerifyChunk(root, int64(n)+1, c, chunk, path) {
				t.Fatalf("size %d: last chunk verifies with size+1", n)
			}
		}
	}
}

func addressed(kind site.Kind, dsid string, data []byte) site.Handle {
	sum := blake3.Sum256(data)
	return site.Handle{Kind: kind, Name: dsid + "/" + hex.EncodeToString(sum[:])}
}

// prove answers a challenge honestly from a map, as the daemon does.
func prove(c Challenge, objs map[site.Handle][]byte) Response {
	resp := Response{Nonce: c.Nonce}
	for _, h := range c.Objects {
		data, ok := objs[h]
		if !ok {
			resp.Answers = append(resp.Answers, Answer{Status: StatusMissing})
			continue
		}
		if _, ca := ContentRoot(h); !ca {
			resp.Answers = append(resp.Answers, Answer{Status: StatusMAC, Size: int64(len(data)), MAC: MAC(c.Nonce, h, data)})
			continue
		}
		ob, _ := BuildOutboard(bytes.NewReader(data))
		a := Answer{Status: StatusTree, Size: ob.Size}
		for _, idx := range SelectChunks(c.Nonce, h, ob.Size, c.Chunks) {
			off, l := ob.GroupRange(idx)
			chunk, path, err := ob.Prove(idx, data[off:off+l])
			if err != nil {
				panic(err)
			}
			a.Chunks = append(a.Chunks, ChunkProof{Index: idx, Data: chunk, Path: path})
		}
		resp.Answers = append(resp.Answers, a)
	}
	for _, k := range c.List {
		var names []string
		for h := range objs {
			if h.Kind == k {
				names = append(names, h.Name)
			}
		}
		resp.Listings = append(resp.Listings, Listing{Kind: k, Count: int64(len(names)), Digest: ListingDigest(c.Nonce, k, names)})
	}
	return resp
}

func TestLyingSite(t *testing.T) {
	const ds = "00112233445566778899aabbccddeeff"
	home := map[site.Handle][]byte{}
	var handles []site.Handle
	for i, n := range []int{100, 5000, 40 << 10, 300 << 10} {
		d := payload(n, uint64(i))
		h := addressed(site.KindPack, ds, d)
		home[h], handles = d, append(handles, h)
	}
	repoCfg := site.Handle{Kind: site.KindConfig, Name: "repo"}
	home[repoCfg], handles = []byte(`{"home":"h1"}`), append(handles, repoCfg)
	names := map[site.Kind][]string{}
	for h := range home {
		names[h.Kind] = append(names[h.Kind], h.Name)
	}
	exp := Expect{Bytes: func(h site.Handle) ([]byte, bool) { d, ok := home[h]; return d, ok }, Names: names}

	big := handles[3]
	for _, tc := range []struct {
		name   string
		mutate func(m map[site.Handle][]byte)
		what   string
	}{
		{"honest", func(map[site.Handle][]byte) {}, ""},
		{"flipped", func(m map[site.Handle][]byte) { // every byte flipped in one chunk in 8: sampling finds one
			d := bytes.Clone(m[big])
			for i := range d {
				d[i] ^= 0x80
			}
			m[big] = d
		}, "corrupt"},
		{"truncated", func(m map[site.Handle][]byte) { m[big] = m[big][:len(m[big])-1] }, "corrupt"},
		{"deleted", func(m map[site.Handle][]byte) { delete(m, big) }, "missing"},
		{"old config", func(m map[site.Handle][]byte) { m[repoCfg] = []byte(`{"home":"h0"}`) }, "mismatch"},
		{"other repository", func(m map[site.Handle][]byte) { m[repoCfg] = []byte(`{"home":"h2"}`) }, "mismatch"},
		{"substituted", func(m map[site.Handle][]byte) { m[big] = payload(300<<10, 99) }, "corrupt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs := map[site.Handle][]byte{}
			for h, d := range home {
				objs[h] = d
			}
			tc.mutate(objs)
			c := NewChallenge(handles, 0, 3)
			rep := Verify(c, roundTrip(t, c, prove(c, objs)), exp)
			if tc.what == "" {
				if !rep.OK() || rep.Proved != len(handles) {
					t.Fatalf("honest site: %+v", rep)
				}
				return
			}
			if rep.OK() || rep.Problems[0].What != tc.what {
				t.Fatalf("got %+v, want a %q problem", rep.Problems, tc.what)
			}
		})
	}
	t.Run("stale listing", func(t *testing.T) {
		objs := map[site.Handle][]byte{}
		for h, d := range home {
			objs[h] = d
		}
		newer := payload(10, 1234)
		nh := addressed(site.KindPack, ds, newer)
		exp2 := exp
		exp2.Names = map[site.Kind][]string{site.KindPack: append(append([]string(nil), names[site.KindPack]...), nh.Name)}
		c := NewChallenge(handles[:1], 0, 1, site.KindPack)
		rep := Verify(c, roundTrip(t, c, prove(c, objs)), exp2)
		if rep.OK() || rep.Problems[0].What != "listing" {
			t.Fatalf("got %+v, want a listing problem", rep.Problems)
		}
	})
	t.Run("replayed", func(t *testing.T) {
		c1 := NewChallenge(handles, 0, 2)
		old := prove(c1, home)
		c2 := c1
		c2.Nonce[0] ^= 1
		if rep := Verify(c2, old, exp); rep.OK() {
			t.Fatal("a response to an older challenge verified")
		}
		old.Nonce = c2.Nonce // a site that copies the nonce but replays old proofs
		rep := Verify(c2, old, exp)
		if rep.OK() {
			t.Fatal("replayed proofs verified under a new nonce")
		}
	})
}

func roundTrip(t *testing.T, c Challenge, resp Response) Response {
	t.Helper()
	j, err := c.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	c2, err := DecodeChallenge(bytes.NewReader(j))
	if err != nil || fmt.Sprint(c2) != fmt.Sprint(c) {
		t.Fatalf("challenge round trip: %v\n%v\n%v", err, c2, c)
	}
	var b bytes.Buffer
	if err := WriteResponse(&b, resp); err != nil {
		t.Fatal(err)
	}
	got, err := ReadResponse(&b, c)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func BenchmarkChunkCV(b *testing.B) {
	data := payload(ChunkLen, 1)
	b.SetBytes(ChunkLen)
	for b.Loop() {
		chunkCV(data, 1, false)
	}
}
