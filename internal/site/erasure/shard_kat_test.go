package erasure

import (
	"bytes"
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/klauspost/reedsolomon"
	"github.com/zeebo/blake3"

	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/site/mem"
)

// Known-answer test of the shard format (docs/formats/erasure.md): a fixed
// object, write ID and time give exactly the golden shards in testdata/;
// the golden shards are checked field by field against the document with
// an independent reading of it, and a group whose members hold them reads
// the object back. A failure means groups written by earlier builds can no
// longer be read: fix the code, not the files. -update-shards rewrites
// them for a deliberate format change.
var updateShards = flag.Bool("update-shards", false, "rewrite testdata/kat-shard-*.bin")

const katK, katM, katStripe = 2, 1, 16

func katObject() []byte {
	obj := make([]byte, 45) // 2 stripes of k·W = 32 bytes: the second short
	for i := range obj {
		obj[i] = byte(i*7 + 3)
	}
	return obj
}

func katHeader(i int) header {
	return header{K: katK, M: katM, Index: i, Stripe: katStripe, Size: int64(len(katObject())),
		Time: 1767225600e9, ID: [16]byte{0xe1, 0x2e, 0x3d, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}}
}

func TestShardKnownAnswer(t *testing.T) {
	ctx := context.Background()
	obj := katObject()
	var members []site.Backend
	for i := 0; i < katK+katM; i++ {
		members = append(members, mem.New(site.Properties{Name: fmt.Sprint("m", i)}))
	}
	b, err := New(members, katK, katM, site.Properties{Name: "g"})
	if err != nil {
		t.Fatal(err)
	}
	shards := make([][]byte, katK+katM)
	for i := range shards {
		got, err := io.ReadAll(shardPayload{b: b, ctx: ctx, src: site.Bytes(obj), hdr: katHeader(i)}.NewReader())
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join("testdata", fmt.Sprintf("kat-shard-%d.bin", i))
		if *updateShards {
			os.WriteFile(p, got, 0o644)
		}
		want, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("%v (generate with go test -run TestShardKnownAnswer -update-shards)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("shard %d changed: the format is pinned\n got  %x\n want %x", i, got, want)
		}
		shards[i] = want
	}

	// The document, read independently.
	var data []byte
	for i, s := range shards {
		if len(s) != 64+(16+32)+(7+32) { // stripes of 16 and ceil(13/2)=7 shard bytes
			t.Fatalf("shard %d is %d bytes", i, len(s))
		}
		hd := s[:64]
		switch {
		case string(hd[0:4]) != "EMEC", hd[4] != 1, hd[5] != katK-1, hd[6] != katM, int(hd[7]) != i:
			t.Fatalf("shard %d header fields: %x", i, hd[:8])
		case binary.BigEndian.Uint32(hd[8:]) != katStripe, binary.BigEndian.Uint64(hd[12:]) != uint64(len(obj)),
			int64(binary.BigEndian.Uint64(hd[20:])) != 1767225600e9, hd[28] != 0xe1, !bytes.Equal(hd[44:48], make([]byte, 4)):
			t.Fatalf("shard %d header: %x", i, hd)
		}
		sum := blake3.Sum256(hd[:48])
		if !bytes.Equal(hd[48:64], sum[:16]) {
			t.Errorf("shard %d: header check is not BLAKE3(bytes 0..47)[:16]", i)
		}
		off := 64
		for j, n := range []int{16, 7} {
			rec := s[off : off+n]
			h := blake3.New()
			h.WriteString("embassy erasure stripe v1")
			h.Write(hd[:48])
			binary.Write(h, binary.BigEndian, uint64(j))
			h.Write(rec)
			if !bytes.Equal(s[off+n:off+n+32], h.Sum(nil)) {
				t.Errorf("shard %d stripe %d: tag differs from the document's formula", i, j)
			}
			if i < katK {
				data = append(data, rec...)
			}
			off += n + 32
		}
	}
	// Data shards d of stripe j are bytes [j·k·W + d·s_j, ...): interleave.
	want := append(append(append([]byte{}, data[0:16]...), data[23:39]...), append(append([]byte{}, data[16:23]...), data[39:46]...)...)
	if !bytes.Equal(want[:len(obj)], obj) || bytes.ContainsFunc(want[len(obj):], func(r rune) bool { return r != 0 }) {
		t.Errorf("data shards do not hold the object as the document says:\n got  %x\n want %x", want, obj)
	}
	// Parity is klauspost/reedsolomon's default code over the data shards
	// of each stripe (the last one zero padded), as the document says.
	rs, err := reedsolomon.New(katK, katM)
	if err != nil {
		t.Fatal(err)
	}
	for j, n := range []int{16, 7} {
		base := 64 + j*(16+32)
		sh := [][]byte{append([]byte{}, shards[0][base:base+n]...), append([]byte{}, shards[1][base:base+n]...), make([]byte, n)}
		if err := rs.Encode(sh); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(sh[2], shards[2][base:base+n]) {
			t.Fatalf("parity of stripe %d is not the library's Reed-Solomon code", j)
		}
	}

	// The golden shards read back through a group, also with one missing.
	h := site.Handle{Kind: site.KindPack, Name: "ab/" + string(bytes.Repeat([]byte("cd"), 32))}
	for i, s := range shards {
		if err := members[i].Put(ctx, h, site.Bytes(s), site.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, drop := range []int{-1, 0, 1, 2} {
		if drop >= 0 {
			members[drop].Delete(ctx, h)
		}
		got, err := site.ReadAll(ctx, b, h)
		if err != nil || !bytes.Equal(got, obj) {
			t.Fatalf("group read of the golden shards (member %d missing): %v\n got %x", drop, err, got)
		}
		if drop >= 0 {
			members[drop].Put(ctx, h, site.Bytes(shards[drop]), site.PutOptions{})
		}
	}
}
