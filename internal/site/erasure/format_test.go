package erasure

import (
	"bytes"
	"testing"

	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/site/sitetest"
)

func TestHeaderRoundTrip(t *testing.T) {
	for _, h := range []header{
		{K: 1, M: 0, Index: 0, Stripe: 1, Size: 0},
		{K: 3, M: 2, Index: 4, Stripe: 1 << 20, Size: 1 << 30, Time: 1700000000e9, ID: [16]byte{1, 2}},
		{K: 200, M: 56, Index: 255, Stripe: maxStripe, Size: maxObject},
	} {
		got, err := parseHeader(h.marshal())
		if err != nil || got != h {
			t.Errorf("parse(marshal(%+v)) = %+v, %v", h, got, err)
		}
	}
}

func TestLayout(t *testing.T) {
	for _, tc := range []struct {
		l               layout
		stripes, shards int64
	}{
		{layout{k: 2, stripe: 10, size: 0}, 0, headerLen},
		{layout{k: 2, stripe: 10, size: 1}, 1, headerLen + 1 + tagLen},
		{layout{k: 2, stripe: 10, size: 20}, 1, headerLen + 10 + tagLen},
		{layout{k: 2, stripe: 10, size: 21}, 2, headerLen + 10 + 1 + 2*tagLen},
		{layout{k: 3, stripe: 4, size: 25}, 3, headerLen + 4 + 4 + 1 + 3*tagLen},
	} {
		if got := tc.l.stripes(); got != tc.stripes {
			t.Errorf("%+v: stripes %d, want %d", tc.l, got, tc.stripes)
		}
		if got := tc.l.shardSize(); got != tc.shards {
			t.Errorf("%+v: shard size %d, want %d", tc.l, got, tc.shards)
		}
	}
}

func FuzzParseHeader(f *testing.F) {
	f.Add(header{K: 3, M: 2, Index: 1, Stripe: 1 << 20, Size: 12345}.marshal())
	f.Add(make([]byte, headerLen))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := parseHeader(b)
		if err != nil {
			return
		}
		if !bytes.Equal(h.marshal(), b[:headerLen]) {
			t.Fatalf("header %+v does not re-encode to its input", h)
		}
	})
}

// FuzzShard replaces one member's shard with arbitrary bytes: a 2+1 group
// must still return the object exactly, whatever that shard holds.
func FuzzShard(f *testing.F) {
	obj := gen(11, 3000)
	h := site.Handle{Kind: site.KindPack, Name: "f"}
	b, raw := newGroup(f, 2, 1, Options{Stripe: 256}, nil)
	sitetest.Put(f, b, h, obj, site.PutOptions{})
	for i := range raw {
		f.Add(i, sitetest.Get(f, raw[i], h))
	}
	f.Add(0, []byte{})
	f.Fuzz(func(t *testing.T, i int, shard []byte) {
		i = (i%3 + 3) % 3
		b, raw := newGroup(t, 2, 1, Options{Stripe: 256}, nil)
		sitetest.Put(t, b, h, obj, site.PutOptions{})
		raw[i].Delete(t.Context(), h)
		sitetest.Put(t, raw[i], h, shard, site.PutOptions{})
		if got := sitetest.Get(t, b, h); !bytes.Equal(got, obj) {
			t.Fatalf("member %d with a %d-byte shard: Get returned wrong bytes", i, len(shard))
		}
		got, err := site.ReadRange(t.Context(), b, h, 700, 1000)
		if err != nil || !bytes.Equal(got, obj[700:1700]) {
			t.Fatalf("ReadRange: %v", err)
		}
	})
}

func FuzzParseSpec(f *testing.F) {
	f.Add("erasure:3+2?members=a,b,c,d,e&stripe=1MiB&quorum=4")
	f.Add("erasure:1+0?members=x")
	f.Fuzz(func(t *testing.T, s string) {
		sp, err := ParseSpec(s)
		if err != nil {
			return
		}
		again, err := ParseSpec(sp.String())
		if err != nil || again.String() != sp.String() {
			t.Fatalf("%q -> %q -> %v, %v", s, sp.String(), again, err)
		}
	})
}

func TestParseSpec(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // "" means an error
	}{
		{"erasure:3+2?members=lu-1,ch-1,ee-1,de-1,fr-1", "erasure:3+2?members=lu-1,ch-1,ee-1,de-1,fr-1"},
		{"erasure://2+1?members=a,b,c&stripe=4MiB&quorum=3", "erasure:2+1?members=a,b,c&stripe=4194304&quorum=3"},
		{"erasure:1+2?members=a,b,c&stripe=256KiB", "erasure:1+2?members=a,b,c&stripe=262144"},
		{"erasure:3+2?members=a,b,c", ""},
		{"erasure:3+2?members=a,b,c,d,d", ""},
		{"erasure:0+2?members=a,b", ""},
		{"erasure:2-1?members=a,b,c", ""},
		{"erasure:2+1?members=a,b,c&quorum=1", ""},
		{"erasure:2+1?members=a,b,c&stripe=0", ""},
		{"erasure:2+1?members=a,b,c&colour=red", ""},
		{"s3://host/bucket", ""},
	} {
		t.Run(tc.in, func(t *testing.T) {
			sp, err := ParseSpec(tc.in)
			if tc.want == "" {
				if err == nil {
					t.Fatalf("got %v, want an error", sp)
				}
				return
			}
			if err != nil || sp.String() != tc.want {
				t.Fatalf("got %q, %v; want %q", sp.String(), err, tc.want)
			}
		})
	}
}
