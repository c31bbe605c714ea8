package repo

import (
	"crypto/ed25519"
	"encoding/hex"
	"testing"
	"time"

	"github.com/zeebo/blake3"

	"github.com/digital-embassy/embassy/internal/codec"
	"github.com/digital-embassy/embassy/internal/keys"
	"github.com/digital-embassy/embassy/internal/seal"
)

// Fixed test keys and values shared by the known-answer and fuzz tests.
// They are test-only: never use them for a real vault.
const (
	fixDSID = "0123456789abcdef0123456789abcdef"
	// Canonical ristretto255 scalars for the root keys of epochs 1 and 2.
	fixRoot1 = "6730ce53db45456b2b34bc9ee78e06d045273d3d93544fda51e73ebccaa83c0b"
	fixRoot2 = "0200000000000000000000000000000000000000000000000000000000000000"
)

func seq(start byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = start + byte(i)
	}
	return b
}

// fixKey is the dataset's fixed AES-256-GCM key.
func fixKey(tb testing.TB) *seal.Key {
	k, err := seal.NewKey(seq(0, 32))
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// fixIDKey keys the blob IDs of the fixed dataset.
func fixIDKey() []byte { return seq(32, 32) }

func fixBlobID(tb testing.TB, plain []byte) ID {
	h, err := blake3.NewKeyed(fixIDKey())
	if err != nil {
		tb.Fatal(err)
	}
	h.Write(plain)
	var id ID
	h.Sum(id[:0])
	return id
}

func fixRoot(tb testing.TB, epoch uint32) *keys.Root {
	s := fixRoot1
	if epoch == 2 {
		s = fixRoot2
	}
	sec, _ := hex.DecodeString(s)
	r, err := keys.RootFromSecret(epoch, sec)
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

func fixTime(sec int) time.Time {
	return time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.UTC).Add(time.Duration(sec) * time.Second)
}

func fixID(b byte) ID {
	var id ID
	for i := range id {
		id[i] = b + byte(i)
	}
	return id
}

// fixEntries is a pack header of a data and a tree blob.
func fixEntries() []PackEntry {
	return []PackEntry{
		{Type: BlobData, ID: fixID(0x10), Offset: 12, Length: 41, Raw: 13},
		{Type: BlobTree, Codec: codec.Zstd, ID: fixID(0x80), Offset: 53, Length: 100, Raw: 1000},
	}
}

func fixIndex() *IndexFile {
	return &IndexFile{
		Supersedes: []ID{fixID(0xa0)},
		Packs: []IndexPack{
			{ID: fixID(0x40), KeyVersion: 1, Size: 4096, Entries: fixEntries()},
			{ID: fixID(0x60), KeyVersion: 7, Size: 12 + 29 + 4 + 4 + 28, Entries: []PackEntry{}},
		},
	}
}

func fixTree() *Tree {
	sub := fixID(0xc0)
	return &Tree{Nodes: []Node{
		{Name: "register.csv", Type: NodeFile, Mode: 0o640, ModTime: fixTime(0), Size: 2 << 20, UID: 1000, GID: 1000, Inode: 42,
			CTime: fixTime(1), Content: []ID{fixID(1), fixID(2)}},
		{Name: "docs", Type: NodeDir, Mode: 0o750 | 0x100000, ModTime: fixTime(2), Subtree: &sub},
		{Name: "latest", Type: NodeSymlink, Mode: 0o777, ModTime: fixTime(3), Target: "register.csv"},
		{Name: "empty", Type: NodeFile, Mode: 0o600, ModTime: fixTime(4)},
	}}
}

func fixSnapshot(tb testing.TB) *Snapshot {
	parent := fixID(0xe0)
	return &Snapshot{
		Format: snapshotFormat, Home: HomeIDFor(fixRoot(tb, 1).SigningPublicKey()), Dataset: "population-register", DatasetID: fixDSID,
		Time: fixTime(10), Host: "registry-1", Paths: []string{"/srv/registry"}, Class: "C2-I3-A3",
		Tree: fixID(0x33), Parent: &parent, Tags: []string{"daily"}, KeyVersion: 1,
		Stats:   SnapshotStats{Files: 3, Dirs: 1, Bytes: 2 << 20, NewBlobs: 2, NewRaw: 2 << 20, NewStored: 1 << 20, DurationSec: 1.5},
		Indexes: []ID{fixID(0x10), fixID(0x90)},
	}
}

// fixSnapshotV1 is the fixed manifest as builds before index binding wrote it.
func fixSnapshotV1(tb testing.TB) *Snapshot {
	s := fixSnapshot(tb)
	s.Format, s.Indexes = snapshotFormatV1, nil
	return s
}

// fixSignKey returns the signing keys of the fixed home, by epoch.
func fixSignKey(tb testing.TB) func(uint32) (ed25519.PublicKey, error) {
	pubs := map[uint32]ed25519.PublicKey{1: fixRoot(tb, 1).SigningPublicKey(), 2: fixRoot(tb, 2).SigningPublicKey()}
	return func(e uint32) (ed25519.PublicKey, error) {
		if p, ok := pubs[e]; ok {
			return p, nil
		}
		return nil, ErrSignature
	}
}

// fixRepoBody is the descriptor of the fixed home.
func fixRepoBody(tb testing.TB) RepoBody {
	r := fixRoot(tb, 1)
	return RepoBody{Format: repoFormat, Home: HomeIDFor(r.SigningPublicKey()), Created: fixTime(-100),
		SignKey: b64(r.SigningPublicKey()), ChunkMin: 512 << 10, ChunkAvg: 1 << 20, ChunkMax: 8 << 20, Description: "test vault"}
}

// fixEpochBody is the record of epoch e (1 or 2) of the fixed home.
func fixEpochBody(tb testing.TB, e uint32) EpochBody {
	r := fixRoot(tb, e)
	kem, err := r.PublicKEM()
	if err != nil {
		tb.Fatal(err)
	}
	return EpochBody{Format: epochFormat, Home: fixRepoBody(tb).Home, Epoch: e, Created: fixTime(-100 + int(e)),
		KEM: b64(kem), SignKey: b64(r.SigningPublicKey()), Threshold: 2,
		Custodians:  []Custodian{{Index: 1, Recipient: "age1a"}, {Index: 2, Recipient: "age1b"}, {Index: 3, Recipient: "age1c"}},
		Commitments: []string{b64(seq(1, 32)), b64(seq(2, 32))}, Fingerprint: r.Fingerprint()}
}

// fixEpochRecords signs the fixed epoch records 1 and 2.
func fixEpochRecords(tb testing.TB) map[uint32][]byte {
	out := map[uint32][]byte{}
	for e := uint32(1); e <= 2; e++ {
		var prev []byte
		if e > 1 {
			prev = fixRoot(tb, e-1).Signer()
		}
		raw, err := signBody(fixRoot(tb, e).Signer(), epochSigCtx, fixEpochBody(tb, e), e, prev)
		if err != nil {
			tb.Fatal(err)
		}
		out[e] = raw
	}
	return out
}
