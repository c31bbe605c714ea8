package repo

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"

	"github.com/digital-embassy/embassy/internal/codec"
	"github.com/digital-embassy/embassy/internal/keys"
	"github.com/digital-embassy/embassy/internal/seal"
)

// Fuzz targets for every decoder of the repository format. Each is seeded
// with valid encodings; malformed input must give an error, never a panic,
// an out-of-bounds location or an outsized allocation.

// checkEntries asserts the invariants DecodePackHeader promises.
func checkEntries(t *testing.T, ents []PackEntry, packLen int64) {
	t.Helper()
	for i, e := range ents {
		end := int64(e.Offset) + int64(e.Length)
		switch {
		case e.Type != BlobData && e.Type != BlobTree:
			t.Fatalf("entry %d: accepted blob type %d", i, e.Type)
		case !codec.Known(e.Codec):
			t.Fatalf("entry %d: accepted codec %d", i, e.Codec)
		case e.Offset < packPrefixLen || e.Length < seal.Overhead || end > packLen:
			t.Fatalf("entry %d: accepted [%d,+%d) in a pack of %d", i, e.Offset, e.Length, packLen)
		case uint32(end) != e.Offset+e.Length:
			t.Fatalf("entry %d: offset+length overflows uint32", i)
		case e.Raw > MaxBlobSize || e.Length > maxBlobBox:
			t.Fatalf("entry %d: accepted outsized blob (box %d, raw %d)", i, e.Length, e.Raw)
		}
	}
}

func FuzzDecodePackHeader(f *testing.F) {
	valid := encodePackHeader(fixEntries())
	f.Add(valid, int64(4096))
	f.Add(valid, int64(153))
	f.Add(valid, int64(152))
	f.Add(valid[:len(valid)-1], int64(4096))
	f.Add(encodePackHeader(nil), int64(12))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff}, int64(1<<40))
	f.Fuzz(func(t *testing.T, b []byte, packLen int64) {
		ents, err := DecodePackHeader(b, packLen)
		if err != nil {
			if !errors.Is(err, errFormat) {
				t.Fatalf("error does not wrap errFormat: %v", err)
			}
			return
		}
		checkEntries(t, ents, packLen)
		if got := encodePackHeader(ents); !bytes.Equal(got, b) {
			t.Fatalf("accepted a non-canonical header:\n in  %x\n out %x", b, got)
		}
	})
}

// sealPack builds a pack of body zero bytes whose header box seals hdr.
func sealPack(k *seal.Key, keyVer uint32, body int, hdr []byte) []byte {
	b := packPrefix(keyVer)
	b = append(b, make([]byte, body)...)
	b = k.Seal(b, hdr, packHeaderAD(b[:packPrefixLen], fixDSID))
	return binary.BigEndian.AppendUint32(b, uint32(seal.Overhead+len(hdr)))
}

func FuzzOpenPackHeader(f *testing.F) {
	k := fixKey(f)
	hdr := encodePackHeader(fixEntries())
	pack := sealPack(k, 1, 141, hdr)
	f.Add(pack, hdr, uint16(141))
	f.Add(pack[:len(pack)-1], hdr, uint16(140))
	f.Add(pack[1:], encodePackHeader(nil), uint16(0))
	f.Add([]byte("EMBPACK1\x00\x00\x00\x01\xff\xff\xff\xff"), []byte{0, 0, 0, 1}, uint16(3))
	f.Fuzz(func(t *testing.T, pack, hdr []byte, body uint16) {
		// Raw bytes from a hostile site.
		if ents, err := OpenPackHeader(pack, k, fixDSID); err == nil {
			checkEntries(t, ents, int64(len(pack)))
		}
		// An authentic header box around a fuzzed plaintext.
		p := sealPack(k, 1, int(body), hdr)
		ents, err := OpenPackHeader(p, k, fixDSID)
		want, werr := DecodePackHeader(hdr, packPrefixLen+int64(body))
		if (err == nil) != (werr == nil) {
			t.Fatalf("OpenPackHeader err %v, DecodePackHeader err %v", err, werr)
		}
		if err != nil {
			return
		}
		checkEntries(t, ents, packPrefixLen+int64(body))
		if d := cmp.Diff(want, ents); d != "" {
			t.Fatalf("entries differ (-decode +open):\n%s", d)
		}
		// The same box is bound to its pack prefix and dataset.
		if _, err := OpenPackHeader(p, k, "ffffffffffffffffffffffffffffffff"); err == nil {
			t.Fatal("header opened under another dataset id")
		}
		q := bytes.Clone(p)
		q[11] ^= 1
		if _, err := OpenPackHeader(q, k, fixDSID); err == nil {
			t.Fatal("header opened with another key version in the prefix")
		}
	})
}

func FuzzDecodeIndex(f *testing.F) {
	valid := fixIndex().Encode()
	f.Add(valid)
	f.Add(valid[:len(valid)-1])
	f.Add(append(bytes.Clone(valid), 0))
	f.Add((&IndexFile{}).Encode())
	f.Add([]byte("EMBIDX01\xff\xff\xff\xff\x00\x00\x00\x00"))
	f.Add([]byte("EMBIDX01\x00\x00\x00\x00\xff\xff\xff\xff"))
	signed := fixIndex().EncodeSigned(fixDSID, 1, fixRoot(f, 1).Signer())
	f.Add(signed)
	f.Add(signed[:len(signed)-1])
	f.Fuzz(func(t *testing.T, b []byte) {
		x, err := DecodeIndex(b)
		if err != nil {
			if !errors.Is(err, errFormat) {
				t.Fatalf("error does not wrap errFormat: %v", err)
			}
			return
		}
		for _, p := range x.Packs {
			if p.Size < packPrefixLen || p.Size > maxPackSize {
				t.Fatalf("accepted pack size %d", p.Size)
			}
			checkEntries(t, p.Entries, p.Size)
		}
		enc := x.reencode()
		if !bytes.Equal(enc, b) {
			t.Fatalf("accepted index does not re-encode identically:\n in  %x\n out %x", b, enc)
		}
		y, err := DecodeIndex(enc)
		if err != nil {
			t.Fatalf("re-encoded index does not decode: %v", err)
		}
		if d := cmp.Diff(x, y); d != "" {
			t.Fatalf("round trip differs:\n%s", d)
		}
	})
}

func FuzzDecodeTree(f *testing.F) {
	valid, err := EncodeTree(fixTree())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid)
	f.Add([]byte(`{"nodes":[]}`))
	f.Add([]byte(`{"nodes":[{"name":"..","type":"dir","subtree":"` + fixID(1).String() + `"}]}`))
	f.Add([]byte(`{"nodes":[{"name":"a/b","type":"file"}]}`))
	f.Add([]byte(`{"nodes":[{"name":"a","type":"file"},{"name":"a","type":"file"}]}`))
	f.Add([]byte(`{"nodes":[{"name":"a","type":"symlink"}]}`))
	f.Add([]byte(`{"nodes":[{"name":"a","type":"file","size":-1}]}`))
	f.Add([]byte(`{"nodes":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		tr, err := DecodeTree(b)
		if err != nil {
			if !errors.Is(err, errFormat) {
				t.Fatalf("error does not wrap errFormat: %v", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, n := range tr.Nodes {
			if validName(n.Name) != nil || seen[n.Name] {
				t.Fatalf("accepted bad or duplicate name %q", n.Name)
			}
			seen[n.Name] = true
			if n.Type == NodeDir && n.Subtree == nil {
				t.Fatalf("accepted directory %q without subtree", n.Name)
			}
		}
		// An accepted tree survives encode/decode unchanged (up to order).
		enc, err := EncodeTree(tr)
		if err != nil {
			t.Fatalf("accepted tree does not encode: %v", err)
		}
		tr2, err := DecodeTree(enc)
		if err != nil {
			t.Fatalf("re-encoded tree does not decode: %v\n%s", err, enc)
		}
		sort.Slice(tr.Nodes, func(i, j int) bool { return tr.Nodes[i].Name < tr.Nodes[j].Name })
		if d := cmp.Diff(tr, tr2, cmpopts.EquateEmpty()); d != "" {
			t.Fatalf("round trip differs:\n%s", d)
		}
	})
}

func FuzzDecodeManifest(f *testing.F) {
	signKey := fixSignKey(f)
	priv := fixRoot(f, 1).Signer()
	valid, err := signManifest(fixSnapshot(f), 1, priv)
	if err != nil {
		f.Fatal(err)
	}
	body, _ := json.Marshal(fixSnapshot(f))
	f.Add(valid, body)
	f.Add(valid[:len(valid)/2], []byte(`{"format":"embassy.snapshot.v2"}`))
	f.Add([]byte(`{"body":{},"epoch":9,"sig":""}`), []byte(`{"format":"embassy.snapshot.v1","tree":"zz"}`))
	f.Add([]byte(`null`), []byte(`{"format":"embassy.snapshot.v1","root":{"name":"x"}}`))
	v1, _ := json.Marshal(fixSnapshotV1(f))
	f.Add(valid, v1)
	id1, id2 := fixID(0x10).String(), fixID(0x90).String()
	f.Add(valid, []byte(`{"format":"embassy.snapshot.v2","indexes":["`+id2+`","`+id1+`"]}`))
	f.Add(valid, []byte(`{"format":"embassy.snapshot.v2","indexes":["`+id1+`","`+id1+`"]}`))
	f.Add(valid, []byte(`{"format":"embassy.snapshot.v2","indexes":[]}`))
	f.Add(valid, []byte(`{"format":"embassy.snapshot.v1","indexes":["`+id1+`"]}`))
	f.Fuzz(func(t *testing.T, b, body []byte) {
		if s, e, err := decodeManifest(b, signKey); err == nil {
			if (s.Format != snapshotFormat && s.Format != snapshotFormatV1) || (e != 1 && e != 2) {
				t.Fatalf("accepted manifest of format %q epoch %d", s.Format, e)
			}
		}
		// A fuzzed body with an authentic signature.
		env, err := json.Marshal(Signed{Body: body, Epoch: 1, Sig: b64(keys.Sign(priv, snapshotSigCtx, body))})
		if err != nil {
			return // not a JSON value: no writer can produce it
		}
		s, _, err := decodeManifest(env, signKey)
		if err != nil {
			return
		}
		if s.Format != snapshotFormat && s.Format != snapshotFormatV1 {
			t.Fatalf("accepted format %q", s.Format)
		}
		// A v2 manifest binds a non-empty, strictly ascending index set;
		// a v1 manifest binds none.
		if s.Bound() != (len(s.Indexes) > 0) {
			t.Fatalf("format %q with %d bound indexes", s.Format, len(s.Indexes))
		}
		for i := 1; i < len(s.Indexes); i++ {
			if bytes.Compare(s.Indexes[i-1][:], s.Indexes[i][:]) >= 0 {
				t.Fatal("accepted an index set that is not strictly ascending")
			}
		}
		// The signature covers the exact body bytes: any other epoch fails.
		env2, _ := json.Marshal(Signed{Body: body, Epoch: 2, Sig: b64(keys.Sign(priv, snapshotSigCtx, body))})
		if _, _, err := decodeManifest(env2, signKey); !errors.Is(err, ErrSignature) {
			t.Fatalf("manifest verified under the wrong epoch's key: %v", err)
		}
	})
}

func FuzzVerifyRepoBody(f *testing.F) {
	root := fixRoot(f, 1)
	home := fixRepoBody(f).Home
	valid, err := signBody(root.Signer(), repoSigCtx, fixRepoBody(f), 1, nil)
	if err != nil {
		f.Fatal(err)
	}
	body, _ := json.Marshal(fixRepoBody(f))
	f.Add(valid, body)
	f.Add(valid[:len(valid)-2], []byte(`{"format":"embassy.repo.v1","sign_key":"AAAA"}`))
	f.Add([]byte(`{"body":1}`), []byte(`{}`))
	f.Fuzz(func(t *testing.T, b, body []byte) {
		check := func(data []byte) {
			rb, pub, err := verifyRepoBody(data, "")
			if err != nil {
				return
			}
			if rb.Format != repoFormat || len(pub) != 32 || HomeIDFor(pub) != rb.Home {
				t.Fatalf("accepted descriptor %+v", rb)
			}
			if _, _, err := verifyRepoBody(data, home+"x"); !errors.Is(err, ErrForeignHome) {
				t.Fatalf("descriptor of %s accepted for another home: %v", rb.Home, err)
			}
		}
		check(b)
		if env, err := json.Marshal(Signed{Body: body, Epoch: 1, Sig: b64(keys.Sign(root.Signer(), repoSigCtx, body))}); err == nil {
			check(env)
		}
	})
}

func FuzzVerifyEpochs(f *testing.F) {
	recs := fixEpochRecords(f)
	home := fixRepoBody(f).Home
	pub1 := fixRoot(f, 1).SigningPublicKey()
	r1, r2 := fixRoot(f, 1).Signer(), fixRoot(f, 2).Signer()
	body2, _ := json.Marshal(fixEpochBody(f, 2))
	f.Add(recs[1], recs[2], uint32(2), body2)
	f.Add(recs[1], recs[2], uint32(3), []byte(nil))
	f.Add(recs[2], recs[1], uint32(2), []byte(`{"format":"embassy.epoch.v1","epoch":2,"sign_key":"AAAA"}`))
	f.Add(recs[1], []byte(`{}`), uint32(0), []byte(`null`))
	f.Fuzz(func(t *testing.T, rec1, rec2 []byte, e2 uint32, body2 []byte) {
		check := func(records map[uint32][]byte) {
			eps, err := verifyEpochs(home, pub1, records)
			if err != nil {
				return
			}
			if len(eps) != len(records) {
				t.Fatalf("verified %d of %d records", len(eps), len(records))
			}
			for e, ep := range eps {
				if ep.Epoch != e || ep.Home != home || len(ep.sign) != 32 || records[e] == nil {
					t.Fatalf("accepted epoch %d as %+v", e, ep.EpochBody)
				}
			}
		}
		check(map[uint32][]byte{1: rec1, e2: rec2})
		if len(body2) > 0 {
			// A fuzzed epoch-2 body signed by the right keys.
			s := Signed{Body: body2, Epoch: 2, Sig: b64(keys.Sign(r2, epochSigCtx, body2)), PrevSig: b64(keys.Sign(r1, epochSigCtx, body2))}
			if env, err := json.Marshal(s); err == nil {
				check(map[uint32][]byte{1: recs[1], 2: env})
			}
		}
	})
}

func FuzzOpenObject(f *testing.F) {
	k := fixKey(f)
	plain := fixIndex().Encode()
	obj := sealObject(k, 1, objIndex, fixDSID, plain)
	zs, _ := zstd.NewWriter(nil)
	f.Add(obj, append([]byte{0}, plain...), byte(objIndex))
	f.Add(obj[:len(obj)-1], append([]byte{1}, zs.EncodeAll(plain, nil)...), byte(objSnapshot))
	f.Add(obj[:9], append([]byte{2}, s2.Encode(nil, plain)...), byte(objIndex))
	f.Add([]byte("EMB1\x03\x00\x00\x00\x01"), []byte{1, 0x28, 0xb5, 0x2f, 0xfd, 0xa4, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, byte(3))
	f.Add([]byte{}, []byte{}, byte(objSnapshot))
	f.Fuzz(func(t *testing.T, data, inner []byte, kind byte) {
		if _, err := openObject(k, objIndex, fixDSID, data); err == nil && len(data) < objHeaderLen+seal.Overhead {
			t.Fatalf("opened a %d-byte object", len(data))
		}
		// An authentic object around a fuzzed codec byte and payload.
		hdr := make([]byte, objHeaderLen)
		copy(hdr, objMagic)
		hdr[4] = kind
		binary.BigEndian.PutUint32(hdr[5:], 1)
		o := k.Seal(hdr, inner, objectAD(hdr, fixDSID))
		for _, want := range []byte{objIndex, objSnapshot} {
			out, err := openObject(k, want, fixDSID, o)
			if err != nil {
				continue
			}
			if kind != want {
				t.Fatalf("object of kind %d opened as kind %d", kind, want)
			}
			if len(out) > maxObjectPlainFor(want) {
				t.Fatalf("kind %d object decompressed to %d bytes", want, len(out))
			}
		}
		if _, err := openObject(k, kind, "ffffffffffffffffffffffffffffffff", o); err == nil {
			t.Fatal("object opened under another dataset id")
		}
	})
}

func FuzzParseCard(f *testing.F) {
	c := &Card{Custodian: "alice", Index: 1, Of: 3, Threshold: 2, Home: "h0123", Fingerprint: "fp1-0123-4567-89ab-cdef-0123-4567-89ab-cdef", Recipient: "age1pq1x", Created: fixTime(0)}
	f.Add(c.Encode())
	f.Add([]byte(cardFormat + "\nfingerprint: fp1-zz\n"))
	f.Add([]byte(cardFormat + "\nfingerprint: fp1-0123-4567-89ab-cdef-0123-4567-89ab-cdef\nfingerprint: fp1-0123-4567-89ab-cdef-0123-4567-89ab-cdef\n"))
	f.Add([]byte("fingerprint: fp1-0123-4567-89ab-cdef-0123-4567-89ab-cdef\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		fp, err := ParseCard(b)
		if err != nil {
			return
		}
		if n, err := NormalizeFingerprint(fp); err != nil || n != fp {
			t.Fatalf("card fingerprint %q is not canonical", fp)
		}
	})
}
