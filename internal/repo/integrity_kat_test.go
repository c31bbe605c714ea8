package repo

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/digital-embassy/embassy/internal/keys"
)

// Known answers and fuzz targets of the signed integrity formats: the vault
// state record (§4.4), signed dataset key records (§5) and signed indexes
// (§9). Ed25519 is deterministic, so each is pinned byte for byte.

func fixState(tb testing.TB) *StateBody {
	latest := fixID(9)
	return &StateBody{Format: stateFormat, Home: HomeIDFor(fixRoot(tb, 1).SigningPublicKey()), Seq: 7, Epoch: 1, Time: fixTime(60),
		Prev: fixID(3).String(),
		Datasets: []StateDataset{{ID: fixDSID, Name: "population-register", Versions: []uint32{1, 2},
			Head: Head{Seq: 5, Latest: &latest}, Snapshots: []ID{fixID(8), fixID(9)}, Forgotten: []ID{fixID(4)}}}}
}

func fixDataKeyRecord(tb testing.TB) *dataKeyRecord {
	return &dataKeyRecord{Format: dataKeyFormat, Home: HomeIDFor(fixRoot(tb, 1).SigningPublicKey()), Dataset: "population-register",
		ID: fixDSID, Version: 2, Created: fixTime(0), Enc: seq(0, 32), IDKey: seq(32, 32), GearKey: seq(64, 32)}
}

func TestKnownAnswerIntegrityFormats(t *testing.T) {
	priv := fixRoot(t, 1).Signer()
	st, err := encodeState(fixState(t), priv)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "state.json", st)
	dk, err := encodeDataKey(fixDataKeyRecord(t), 1, priv)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "datakey-signed.json", dk)
	golden(t, "index-signed.bin", fixIndex().EncodeSigned(fixDSID, 1, priv))
	golden(t, "fingerprint.txt", []byte(HomeFingerprint(HomeIDFor(fixRoot(t, 1).SigningPublicKey()), fixRoot(t, 1).SigningPublicKey())+"\n"))

	// And they decode and verify, and only under the right key.
	home := HomeIDFor(fixRoot(t, 1).SigningPublicKey())
	got, err := DecodeState(st, home, fixSignKey(t))
	if err != nil || got.Seq != 7 || got.Datasets[0].Head.Seq != 5 || !got.Datasets[0].WasForgotten(fixID(4)) {
		t.Fatalf("state: %+v %v", got, err)
	}
	if _, err := DecodeState(st, "h00000000000000000000", fixSignKey(t)); !errors.Is(err, ErrForeignHome) {
		t.Fatalf("state of another home: %v", err)
	}
	rec, err := decodeDataKey(dk, home, fixDSID, 2, 1, fixRoot(t, 1).SigningPublicKey(), false)
	if err != nil || !bytes.Equal(rec.Enc, seq(0, 32)) {
		t.Fatalf("datakey: %+v %v", rec, err)
	}
	if _, err := decodeDataKey(dk, home, fixDSID, 2, 2, fixRoot(t, 2).SigningPublicKey(), false); !errors.Is(err, ErrSignature) {
		t.Fatalf("datakey under epoch 2: %v", err)
	}
	unsigned, _ := json.Marshal(fixDataKeyRecord(t))
	if _, err := decodeDataKey(unsigned, home, fixDSID, 2, 1, fixRoot(t, 1).SigningPublicKey(), false); !errors.Is(err, ErrSignature) {
		t.Fatalf("unsigned datakey accepted: %v", err)
	}
	if _, err := decodeDataKey(unsigned, home, fixDSID, 2, 1, fixRoot(t, 1).SigningPublicKey(), true); err != nil {
		t.Fatalf("unsigned datakey in legacy mode: %v", err)
	}
	x, err := DecodeIndex(fixIndex().EncodeSigned(fixDSID, 1, priv))
	if err != nil || x.Epoch != 1 || !x.verify(fixDSID, fixRoot(t, 1).SigningPublicKey()) {
		t.Fatalf("signed index: %v", err)
	}
	if x.verify("ffffffffffffffffffffffffffffffff", fixRoot(t, 1).SigningPublicKey()) || x.verify(fixDSID, fixRoot(t, 2).SigningPublicKey()) {
		t.Fatal("signed index verifies for another dataset or key")
	}
}

func FuzzDecodeState(f *testing.F) {
	priv := fixRoot(f, 1).Signer()
	home := HomeIDFor(fixRoot(f, 1).SigningPublicKey())
	valid, err := encodeState(fixState(f), priv)
	if err != nil {
		f.Fatal(err)
	}
	body, _ := json.Marshal(fixState(f))
	f.Add(valid, body)
	f.Add(valid[:len(valid)/2], []byte(`{"format":"embassy.state.v1","datasets":[{"id":"x"}]}`))
	f.Add([]byte(`{"body":{},"epoch":1,"sig":""}`), []byte(`{"format":"embassy.state.v1","home":"`+home+`","epoch":1,"datasets":[{"id":"0123456789abcdef0123456789abcdef","name":"a","key_versions":[1]},{"id":"0123456789abcdef0123456789abcdef","name":"a","key_versions":[1]}]}`))
	f.Fuzz(func(t *testing.T, b, body []byte) {
		if s, err := DecodeState(b, home, fixSignKey(t)); err == nil && (s.Format != stateFormat || s.Home != home) {
			t.Fatalf("accepted state %+v", s)
		}
		env, err := json.Marshal(Signed{Body: body, Epoch: 1, Sig: b64(keys.Sign(priv, stateSigCtx, body))})
		if err != nil {
			return
		}
		s, err := DecodeState(env, home, fixSignKey(t))
		if err != nil {
			return
		}
		ids, names := map[string]bool{}, map[string]bool{}
		for _, d := range s.Datasets {
			if ids[d.ID] || names[d.Name] || len(d.Versions) == 0 || ValidDatasetName(d.Name) != nil {
				t.Fatalf("accepted malformed dataset list %+v", s.Datasets)
			}
			ids[d.ID], names[d.Name] = true, true
		}
		env2, _ := json.Marshal(Signed{Body: body, Epoch: 2, Sig: b64(keys.Sign(priv, stateSigCtx, body))})
		if _, err := DecodeState(env2, home, fixSignKey(t)); err == nil {
			t.Fatal("state verified under the wrong epoch's key")
		}
	})
}

func FuzzDecodeDataKey(f *testing.F) {
	priv := fixRoot(f, 1).Signer()
	pub := fixRoot(f, 1).SigningPublicKey()
	home := HomeIDFor(pub)
	valid, err := encodeDataKey(fixDataKeyRecord(f), 1, priv)
	if err != nil {
		f.Fatal(err)
	}
	unsigned, _ := json.Marshal(fixDataKeyRecord(f))
	f.Add(valid)
	f.Add(unsigned)
	f.Add(valid[:len(valid)-3])
	f.Add([]byte(`{"body":null,"sig":"","epoch":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, err := decodeDataKey(b, home, fixDSID, 2, 1, pub, false)
		if err != nil {
			return
		}
		// Only a record the home signed is accepted.
		var env Signed
		if json.Unmarshal(b, &env) != nil || len(env.Body) == 0 {
			t.Fatal("accepted an unsigned record")
		}
		if rec.ID != fixDSID || rec.Version != 2 || rec.Home != home || len(rec.Enc) != 32 {
			t.Fatalf("accepted %+v", rec)
		}
	})
}
