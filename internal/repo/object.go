package repo

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"

	"github.com/digital-embassy/embassy/internal/codec"
	"github.com/digital-embassy/embassy/internal/seal"
)

// Sealed standalone objects (indexes and snapshot manifests):
//
//	magic "EMB1" | object kind u8 | key version u32 BE | box
//
// where box = seal(codec id u8 || compressed plaintext) with additional data
// "embassy.v1 object " || first 9 bytes || dataset id.
const (
	objMagic     = "EMB1"
	objHeaderLen = 9

	objIndex    byte = 1
	objSnapshot byte = 2

	// maxObjectPlain bounds decompressed index and manifest plaintexts.
	maxObjectPlain = 1 << 30
)

func objectAD(hdr []byte, dsid string) []byte {
	ad := []byte("embassy.v1 object ")
	ad = append(ad, hdr...)
	return append(ad, dsid...)
}

func sealObject(k *seal.Key, keyVer uint32, kind byte, dsid string, plain []byte) []byte {
	hdr := make([]byte, objHeaderLen)
	copy(hdr, objMagic)
	hdr[4] = kind
	binary.BigEndian.PutUint32(hdr[5:], keyVer)
	comp, id := codec.Compress(nil, plain, codec.Auto)
	inner := make([]byte, 0, 1+len(comp))
	inner = append(inner, byte(id))
	inner = append(inner, comp...)
	return k.Seal(hdr, inner, objectAD(hdr, dsid))
}

// objectKeyVersion returns the key version a sealed object claims.
func objectKeyVersion(data []byte, kind byte) (uint32, error) {
	if len(data) < objHeaderLen+seal.Overhead || string(data[:4]) != objMagic {
		return 0, fmt.Errorf("not a sealed object (bad magic or truncated): %w", errFormat)
	}
	if data[4] != kind {
		return 0, fmt.Errorf("sealed object of kind %d where kind %d was expected: %w", data[4], kind, errFormat)
	}
	return binary.BigEndian.Uint32(data[5:9]), nil
}

func openObject(k *seal.Key, kind byte, dsid string, data []byte) ([]byte, error) {
	if _, err := objectKeyVersion(data, kind); err != nil {
		return nil, err
	}
	inner, err := k.Open(nil, data[objHeaderLen:], objectAD(data[:objHeaderLen], dsid))
	if err != nil {
		return nil, err
	}
	if len(inner) < 1 {
		return nil, fmt.Errorf("empty sealed object: %w", errFormat)
	}
	return codec.Decompress(nil, inner[1:], codec.ID(inner[0]), maxObjectPlainFor(kind))
}

// maxObjectPlainFor bounds the decompressed plaintext of an object of kind,
// before anything is allocated: manifests are small, indexes may be large.
func maxObjectPlainFor(kind byte) int {
	if kind == objSnapshot {
		return maxManifestSize
	}
	return maxObjectPlain
}

// Signed is a JSON body with signatures by the home's epoch signing keys.
// Body is kept as raw bytes so the signed bytes are exactly those stored.
type Signed struct {
	Body  json.RawMessage `json:"body"`
	Epoch uint32          `json:"epoch"`
	Sig   string          `json:"sig"`
	// PrevSig is set on key-epoch records after the first: a signature of
	// Body by the previous epoch's key, chaining epochs to the home's identity.
	PrevSig string `json:"prev_sig,omitempty"`
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func unb64(s string) ([]byte, error) { return base64.StdEncoding.DecodeString(s) }
