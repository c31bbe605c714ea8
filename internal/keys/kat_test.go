package keys

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"testing"

	"filippo.io/age"
	"github.com/google/go-cmp/cmp"
)

// Known-answer tests pin every derivation and encoding of the package in
// testdata/kat.json. A failure here means existing repositories can no longer
// be opened: fix the code, not the file. Run with -update only to add new
// entries, and review the diff.
var update = flag.Bool("update", false, "rewrite testdata/kat.json")

const (
	katFile   = "testdata/kat.json"
	katSecret = "6730ce53db45456b2b34bc9ee78e06d045273d3d93544fda51e73ebccaa83c0b"
	katEpoch  = 3
	// Test-only custodian key for the sealed-share vector. Never use it.
	katIdentity  = "AGE-SECRET-KEY-15N8604A0NFJD8VD79U44QDFNM43ZLTV7HN9UG4Q35585EYT9TQ4SAWF53S"
	katRecipient = "age17d9w7a3pnmzqznlxghe0fdmt7cvlydmtdaeqz4zk3evq39v673yq4tu6zs"
)

type hexBytes []byte

func (h hexBytes) MarshalText() ([]byte, error) { return []byte(hex.EncodeToString(h)), nil }
func (h *hexBytes) UnmarshalText(b []byte) (err error) {
	*h, err = hex.DecodeString(string(b))
	return err
}

type katShare struct {
	Index uint16   `json:"index"`
	Value hexBytes `json:"value"`
}

type katVectors struct {
	Comment string `json:"comment"`
	Root    struct {
		Epoch            uint32   `json:"epoch"`
		Secret           hexBytes `json:"secret"`
		KEMSeed          hexBytes `json:"kem_seed"`
		PublicKEMSHA256  hexBytes `json:"public_kem_sha256"`
		SigningPublicKey hexBytes `json:"signing_public_key"`
		Fingerprint      string   `json:"fingerprint"`
	} `json:"root"`
	Wrap struct {
		Info       string   `json:"info"`
		Plaintext  hexBytes `json:"plaintext"`
		Ciphertext hexBytes `json:"ciphertext"`
	} `json:"wrap"`
	Sign struct {
		Context   string   `json:"context"`
		Message   string   `json:"message"`
		Signature hexBytes `json:"signature"`
	} `json:"sign"`
	Split struct {
		Threshold   int        `json:"threshold"`
		Shares      []katShare `json:"shares"`
		Commitments []hexBytes `json:"commitments"`
	} `json:"split"`
	Envelope struct {
		HomeID    string   `json:"home_id"`
		Index     uint16   `json:"index"`
		Recipient string   `json:"recipient"`
		Encoding  hexBytes `json:"encoding"`
		Identity  string   `json:"identity"`
		Sealed    hexBytes `json:"sealed"`
	} `json:"envelope"`
}

func katRoot(t *testing.T) *Root {
	t.Helper()
	r, err := RootFromSecret(katEpoch, mustHex(t, katSecret))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// computeKAT computes every vector; the randomized ones (wrap, split, sealed
// envelope) are freshly generated and can only be checked by decryption.
func computeKAT(t *testing.T) katVectors {
	t.Helper()
	r := katRoot(t)
	var v katVectors
	v.Comment = "embassy internal/keys known answers: never regenerate to make a failing test pass"
	v.Root.Epoch, v.Root.Secret = r.Epoch, r.Secret[:]
	k, err := r.KEM()
	if err != nil {
		t.Fatal(err)
	}
	if v.Root.KEMSeed, err = k.Bytes(); err != nil {
		t.Fatal(err)
	}
	pk, _ := r.PublicKEM()
	sum := sha256.Sum256(pk)
	v.Root.PublicKEMSHA256 = sum[:]
	v.Root.SigningPublicKey = hexBytes(r.SigningPublicKey())
	v.Root.Fingerprint = r.Fingerprint()

	v.Wrap.Info, v.Wrap.Plaintext = "home=ee dataset=population version=1", bytes.Repeat([]byte{0x42}, 32)
	if v.Wrap.Ciphertext, err = Wrap(pk, []byte(v.Wrap.Info), v.Wrap.Plaintext); err != nil {
		t.Fatal(err)
	}
	v.Sign.Context, v.Sign.Message = "manifest", "snapshot 17 of home ee"
	v.Sign.Signature = Sign(r.Signer(), v.Sign.Context, []byte(v.Sign.Message))

	shares, commitments := mustSplit(t, r, 2, 3)
	v.Split.Threshold = 2
	for _, s := range shares {
		v.Split.Shares = append(v.Split.Shares, katShare{s.Index, s.Value})
	}
	for _, c := range commitments {
		v.Split.Commitments = append(v.Split.Commitments, c)
	}
	v.Envelope.HomeID, v.Envelope.Index, v.Envelope.Recipient = "ee", 2, katRecipient
	env := katEnvelope(v)
	v.Envelope.Encoding = MarshalEnvelope(env)
	v.Envelope.Identity = katIdentity
	if v.Envelope.Sealed, err = SealShare(katRecipient, env); err != nil {
		t.Fatal(err)
	}
	return v
}

func katEnvelope(v katVectors) ShareEnvelope {
	return ShareEnvelope{
		HomeID:    v.Envelope.HomeID,
		Epoch:     v.Root.Epoch,
		Threshold: v.Split.Threshold,
		Index:     v.Envelope.Index,
		Value:     v.Split.Shares[v.Envelope.Index-1].Value,
		Recipient: v.Envelope.Recipient,
	}
}

func TestKnownAnswers(t *testing.T) {
	if *update {
		b, err := json.MarshalIndent(computeKAT(t), "", "\t")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(katFile, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(katFile)
	if err != nil {
		t.Fatal(err)
	}
	var want katVectors
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	got := computeKAT(t)

	t.Run("root", func(t *testing.T) {
		if diff := cmp.Diff(want.Root, got.Root); diff != "" {
			t.Errorf("derived keys changed (-want +got):\n%s", diff)
		}
	})
	t.Run("unwrap", func(t *testing.T) {
		priv, err := katRoot(t).KEM()
		if err != nil {
			t.Fatal(err)
		}
		pt, err := Unwrap(priv, []byte(want.Wrap.Info), want.Wrap.Ciphertext)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(pt, want.Wrap.Plaintext) {
			t.Errorf("got %x, want %x", pt, want.Wrap.Plaintext)
		}
	})
	t.Run("sign", func(t *testing.T) {
		if diff := cmp.Diff(want.Sign, got.Sign); diff != "" {
			t.Errorf("signature changed (-want +got):\n%s", diff)
		}
		if !Verify(katRoot(t).SigningPublicKey(), want.Sign.Context, []byte(want.Sign.Message), want.Sign.Signature) {
			t.Error("pinned signature does not verify")
		}
	})
	t.Run("combine", func(t *testing.T) {
		var shares []Share
		for _, s := range want.Split.Shares {
			shares = append(shares, Share{Index: s.Index, Value: s.Value})
		}
		var commitments [][]byte
		for _, c := range want.Split.Commitments {
			commitments = append(commitments, c)
		}
		for _, s := range shares {
			if !VerifyShare(want.Split.Threshold, s, commitments) {
				t.Errorf("pinned share %d does not verify", s.Index)
			}
		}
		if err := CheckSplit(katRoot(t), want.Split.Threshold, shares, commitments); err != nil {
			t.Fatal(err)
		}
		r, err := Combine(want.Root.Epoch, want.Split.Threshold, shares[1:])
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(r.Secret[:], want.Root.Secret) {
			t.Errorf("Combine recovered %x, want %x", r.Secret, want.Root.Secret)
		}
	})
	t.Run("envelope", func(t *testing.T) {
		env := katEnvelope(want)
		if got := MarshalEnvelope(env); !bytes.Equal(got, want.Envelope.Encoding) {
			t.Errorf("MarshalEnvelope = %x, want %x", got, []byte(want.Envelope.Encoding))
		}
		dec, err := UnmarshalEnvelope(want.Envelope.Encoding)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(env, dec); diff != "" {
			t.Errorf("UnmarshalEnvelope (-want +got):\n%s", diff)
		}
		ids, err := ParseIdentities([]byte(want.Envelope.Identity))
		if err != nil {
			t.Fatal(err)
		}
		opened, err := OpenShare(ids, want.Envelope.Sealed)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(env, opened); diff != "" {
			t.Errorf("OpenShare (-want +got):\n%s", diff)
		}
		if _, err := OpenShare([]age.Identity{mustFirst(ParseIdentities([]byte(katIdentity)))}, got.Envelope.Sealed); err != nil {
			t.Errorf("freshly sealed share: %v", err)
		}
	})
}

func mustFirst(ids []age.Identity, err error) age.Identity {
	if err != nil {
		panic(err)
	}
	return ids[0]
}
