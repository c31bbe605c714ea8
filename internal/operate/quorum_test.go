package operate

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/cloudflare/circl/group"

	"github.com/digital-embassy/embassy/internal/keys"
)

func quorumFixture(t *testing.T) ([]keys.ShareEnvelope, Custodians) {
	t.Helper()
	root, err := keys.NewRoot(3)
	if err != nil {
		t.Fatal(err)
	}
	shares, comm, err := keys.Split(root, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	c := Custodians{Epoch: 3, Threshold: 2, Indexes: map[uint16]string{}}
	for _, b := range comm {
		c.Commitments = append(c.Commitments, base64.StdEncoding.EncodeToString(b))
	}
	var envs []keys.ShareEnvelope
	for _, s := range shares {
		envs = append(envs, keys.ShareEnvelope{HomeID: "h1", Epoch: 3, Threshold: 2, Index: s.Index, Value: s.Value})
		c.Indexes[s.Index] = "custodian"
	}
	return envs, c
}

func body(t *testing.T, sigs ...CustodianSignature) []byte {
	b, err := json.Marshal(QuorumRequest{Signatures: sigs})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestShareKeyFromCommitments: the public key computed from the Feldman
// commitments is the share's own g^x, for every custodian.
func TestShareKeyFromCommitments(t *testing.T) {
	envs, c := quorumFixture(t)
	for _, e := range envs {
		x := group.Ristretto255.NewScalar()
		if err := x.UnmarshalBinary(e.Value); err != nil {
			t.Fatal(err)
		}
		got, err := c.ShareKey(e.Index)
		if err != nil {
			t.Fatal(err)
		}
		if !got.IsEqual(group.Ristretto255.NewElement().MulGen(x)) {
			t.Fatalf("custodian %d: key from commitments differs from the share's", e.Index)
		}
	}
}

func TestQuorum(t *testing.T) {
	envs, c := quorumFixture(t)
	now := time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)
	st := Statement{Fingerprint: "fp1-abc", Session: "s1", Time: now}
	sign := func(i int, st Statement) CustodianSignature {
		s, err := SignStatement(envs[i], st)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a, b := sign(0, st), sign(2, st)
	got, err := VerifyQuorum(body(t, a, b), c, "fp1-abc", "s1", now.Add(time.Minute))
	if err != nil || len(got) != 2 {
		t.Fatalf("two custodians of 2: %v %v", got, err)
	}
	tampered := b
	tampered.S = a.S
	otherSession := sign(1, Statement{Fingerprint: "fp1-abc", Session: "s0", Time: now})
	otherHome := sign(1, Statement{Fingerprint: "fp1-zzz", Session: "s1", Time: now})
	old := sign(1, Statement{Fingerprint: "fp1-abc", Session: "s1", Time: now.Add(-time.Hour)})
	moved := a
	moved.Index = 2 // custodian 1's signature claimed for custodian 2
	for name, bad := range map[string][]byte{
		"one custodian":   body(t, a),
		"same twice":      body(t, a, a),
		"tampered":        body(t, a, tampered),
		"other session":   body(t, a, otherSession),
		"other home":      body(t, a, otherHome),
		"stale time":      body(t, a, old),
		"other index":     body(t, moved, b),
		"not json":        []byte("deactivate please"),
		"no signatures":   []byte(`{}`),
		"wrong epoch key": body(t, a, func() CustodianSignature { s := b; s.Epoch = 2; return s }()),
	} {
		if _, err := VerifyQuorum(bad, c, "fp1-abc", "s1", now); !errors.Is(err, ErrQuorum) {
			t.Errorf("%s: %v, want a refused quorum", name, err)
		}
	}
}

func FuzzVerifyQuorum(f *testing.F) {
	envs, c := quorumFixture(&testing.T{})
	now := time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)
	s, _ := SignStatement(envs[0], Statement{Fingerprint: "fp", Session: "s", Time: now})
	seed, _ := json.Marshal(QuorumRequest{Signatures: []CustodianSignature{s, s}})
	f.Add(seed)
	f.Add([]byte(`{"signatures":[{"r":"AAAA","s":"AAAA","index":1,"epoch":3}]}`))
	f.Add([]byte(`{"signatures":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := VerifyQuorum(b, c, "fp", "s", now)
		if err == nil && len(got) < c.Threshold {
			t.Fatalf("accepted %d signatures", len(got))
		}
	})
}

// TestQuorumKnownAnswer pins the signature format of
// docs/formats/operate-quorum.md: a recorded quorum of custodians 1 and 3
// verifies against its commitments, and fails for any other session.
func TestQuorumKnownAnswer(t *testing.T) {
	b, err := os.ReadFile("testdata/quorum-kat.json")
	if err != nil {
		t.Fatal(err)
	}
	var kat struct {
		Custodians Custodians
		Request    json.RawMessage
	}
	if err := json.Unmarshal(b, &kat); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 2, 3, 5, 0, 0, time.UTC)
	got, err := VerifyQuorum(kat.Request, kat.Custodians, "fp1-9ec7-69ad-2dd5-60b3-d2c5-4597-4dac-e4bc", "081d7dd2fc532798", at)
	if err != nil || len(got) != 2 || got[0] != 1 || got[1] != 3 {
		t.Fatalf("recorded quorum: %v %v", got, err)
	}
	if _, err := VerifyQuorum(kat.Request, kat.Custodians, "fp1-9ec7-69ad-2dd5-60b3-d2c5-4597-4dac-e4bc", "081d7dd2fc532799", at); !errors.Is(err, ErrQuorum) {
		t.Fatalf("recorded quorum for another session: %v", err)
	}
}

func BenchmarkVerifyQuorum(b *testing.B) {
	envs, c := quorumFixture(&testing.T{})
	now := time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)
	st := Statement{Fingerprint: "fp", Session: "s", Time: now}
	s1, _ := SignStatement(envs[0], st)
	s2, _ := SignStatement(envs[1], st)
	body, _ := json.Marshal(QuorumRequest{Signatures: []CustodianSignature{s1, s2}})
	for b.Loop() {
		if _, err := VerifyQuorum(body, c, "fp", "s", now); err != nil {
			b.Fatal(err)
		}
	}
}
