package repo

import (
	"bytes"
	"encoding/binary"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/klauspost/compress/zstd"

	"github.com/digital-embassy/embassy/internal/codec"
	"github.com/digital-embassy/embassy/internal/seal"
)

// Known-answer tests pin the repository format (docs/FORMAT.md): fixed keys
// and fixed plaintexts must give exactly the golden bytes in testdata/, and
// the golden sealed objects (whose nonces were random when they were made)
// must still open with the fixed keys. A failure means vaults written by
// earlier builds can no longer be read: fix the code, not the files. Run
// with -update only for a deliberate format change, and review the diff.
var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/name, or writes it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (generate with go test -run TestKnownAnswer -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s changed: the format is pinned\n got  %q\n want %q", name, got, want)
	}
}

// sealedGolden returns testdata/name, writing gen() there first with -update.
func sealedGolden(t *testing.T, name string, gen func() []byte) []byte {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(p, gen(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (generate with go test -run TestKnownAnswer -update)", err)
	}
	return b
}

func TestKnownAnswerPlaintexts(t *testing.T) {
	golden(t, "pack-header.bin", encodePackHeader(fixEntries()))
	golden(t, "index.bin", fixIndex().Encode())
	tree, err := EncodeTree(fixTree())
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "tree.json", tree)
	// Ed25519 is deterministic: signed records are pinned byte for byte.
	repoRec, err := signBody(fixRoot(t, 1).Signer(), repoSigCtx, fixRepoBody(t), 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "config-repo.json", repoRec)
	for e, rec := range fixEpochRecords(t) {
		golden(t, epochName(e)+".json", rec)
	}
	man, err := signManifest(fixSnapshotV1(t), 1, fixRoot(t, 1).Signer())
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "manifest.json", man)
	man2, err := signManifest(fixSnapshot(t), 1, fixRoot(t, 1).Signer())
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "manifest-v2.json", man2)
	golden(t, "ad.txt", bytes.Join([][]byte{
		blobAD(BlobTree, codec.Zstd, fixID(1)),
		packHeaderAD(packPrefix(7), fixDSID),
		objectAD([]byte("EMB1\x02\x00\x00\x00\x07"), fixDSID),
		dataKeyInfo("h0123456789abcdef0123", fixDSID, 3, 12),
	}, []byte("\n")))
}

func TestKnownAnswerDecode(t *testing.T) {
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	ents, err := DecodePackHeader(read("pack-header.bin"), 4096)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(fixEntries(), ents); d != "" {
		t.Errorf("pack header (-want +got):\n%s", d)
	}
	idx, err := DecodeIndex(read("index.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(fixIndex(), idx); d != "" {
		t.Errorf("index (-want +got):\n%s", d)
	}
	tree, err := DecodeTree(read("tree.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := fixTree()
	EncodeTree(want) // sorts
	if d := cmp.Diff(want, tree); d != "" {
		t.Errorf("tree (-want +got):\n%s", d)
	}
	home := fixRepoBody(t).Home
	rb, pub, err := verifyRepoBody(read("config-repo.json"), home)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(fixRepoBody(t), *rb); d != "" {
		t.Errorf("repo descriptor (-want +got):\n%s", d)
	}
	eps, err := verifyEpochs(home, pub, map[uint32][]byte{1: read("epoch-00000001.json"), 2: read("epoch-00000002.json")})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(fixEpochBody(t, 2), eps[2].EpochBody); d != "" {
		t.Errorf("epoch 2 (-want +got):\n%s", d)
	}
	s, e, err := decodeManifest(read("manifest.json"), fixSignKey(t))
	if err != nil || e != 1 || s.Bound() {
		t.Fatalf("manifest v1: epoch %d, bound %v, %v", e, s != nil && s.Bound(), err)
	}
	if d := cmp.Diff(fixSnapshotV1(t), s); d != "" {
		t.Errorf("manifest v1 (-want +got):\n%s", d)
	}
	s, e, err = decodeManifest(read("manifest-v2.json"), fixSignKey(t))
	if err != nil || e != 1 || !s.Bound() {
		t.Fatalf("manifest v2: epoch %d, %v", e, err)
	}
	if d := cmp.Diff(fixSnapshot(t), s); d != "" {
		t.Errorf("manifest v2 (-want +got):\n%s", d)
	}
}

// katBlob is a blob of the golden pack.
type katBlob struct {
	t     BlobType
	c     codec.ID
	plain []byte
}

func katBlobs(t *testing.T) []katBlob {
	tree, err := EncodeTree(fixTree())
	if err != nil {
		t.Fatal(err)
	}
	return []katBlob{
		{BlobData, codec.None, []byte("38501012231,Mari,Tamm,Tallinn\n")},
		{BlobTree, codec.Zstd, tree},
	}
}

// katPack builds a pack as FORMAT.md §8 describes it.
func katPack(t *testing.T) []byte {
	k := fixKey(t)
	b := packPrefix(1)
	var ents []PackEntry
	zs, _ := zstd.NewWriter(nil)
	for _, bl := range katBlobs(t) {
		payload := bl.plain
		if bl.c == codec.Zstd {
			payload = zs.EncodeAll(bl.plain, nil)
		}
		id := fixBlobID(t, bl.plain)
		off := len(b)
		b = k.Seal(b, payload, blobAD(bl.t, bl.c, id))
		ents = append(ents, PackEntry{Type: bl.t, Codec: bl.c, ID: id, Offset: uint32(off), Length: uint32(len(b) - off), Raw: uint32(len(bl.plain))})
	}
	hdr := encodePackHeader(ents)
	b = k.Seal(b, hdr, packHeaderAD(b[:packPrefixLen], fixDSID))
	return binary.BigEndian.AppendUint32(b, uint32(seal.Overhead+len(hdr)))
}

func TestKnownAnswerSealed(t *testing.T) {
	k := fixKey(t)
	pack := sealedGolden(t, "pack.sealed", func() []byte { return katPack(t) })
	ver, err := ParsePackPrefix(pack)
	if err != nil || ver != 1 {
		t.Fatalf("pack prefix: version %d, %v", ver, err)
	}
	ents, err := OpenPackHeader(pack, k, fixDSID)
	if err != nil {
		t.Fatal(err)
	}
	blobs := katBlobs(t)
	if len(ents) != len(blobs) {
		t.Fatalf("pack holds %d blobs, want %d", len(ents), len(blobs))
	}
	for i, e := range ents {
		bl := blobs[i]
		if e.Type != bl.t || e.Codec != bl.c || e.Raw != uint32(len(bl.plain)) || e.ID != fixBlobID(t, bl.plain) {
			t.Fatalf("entry %d: %+v", i, e)
		}
		payload, err := k.Open(nil, pack[e.Offset:e.Offset+e.Length], blobAD(e.Type, e.Codec, e.ID))
		if err != nil {
			t.Fatalf("blob %d: %v", i, err)
		}
		plain, err := codec.Decompress(nil, payload, e.Codec, int(e.Raw))
		if err != nil || !bytes.Equal(plain, bl.plain) {
			t.Fatalf("blob %d: %q, %v", i, plain, err)
		}
	}

	plain := fixIndex().Encode()
	idx := sealedGolden(t, "index.sealed", func() []byte { return sealObject(k, 1, objIndex, fixDSID, plain) })
	got, err := openObject(k, objIndex, fixDSID, idx)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("index object: %v", err)
	}

	man, err := signManifest(fixSnapshotV1(t), 1, fixRoot(t, 1).Signer())
	if err != nil {
		t.Fatal(err)
	}
	snap := sealedGolden(t, "snapshot.sealed", func() []byte { return sealObject(k, 1, objSnapshot, fixDSID, man) })
	got, err = openObject(k, objSnapshot, fixDSID, snap)
	if err != nil || !bytes.Equal(got, man) {
		t.Fatalf("snapshot object: %v", err)
	}
	// Bound to kind and dataset.
	if _, err := openObject(k, objIndex, fixDSID, snap); err == nil {
		t.Error("a snapshot opened as an index")
	}
	if _, err := openObject(k, objSnapshot, "ffffffffffffffffffffffffffffffff", snap); err == nil {
		t.Error("a snapshot opened under another dataset")
	}
}
