package keys

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/google/go-cmp/cmp"
)

func testEnvelope(t testing.TB, recipient string) ShareEnvelope {
	t.Helper()
	r := mustRoot(t, 4)
	shares, _ := mustSplit(t, r, 2, 3)
	return ShareEnvelope{HomeID: "ee", Epoch: 4, Threshold: 2, Index: shares[1].Index, Value: shares[1].Value, Recipient: recipient}
}

func TestSealOpenShare(t *testing.T) {
	for _, classic := range []bool{false, true} {
		t.Run(fmt.Sprintf("classic=%v", classic), func(t *testing.T) {
			id, rcpt := mustIdentity(t, classic)
			foreign, _ := mustIdentity(t, classic)
			env := testEnvelope(t, "")
			sealed, err := SealShare(rcpt, env)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(sealed, env.Value) || bytes.Contains(sealed, []byte("EMBSHARE")) {
				t.Fatal("sealed share contains plaintext")
			}
			got, err := OpenShare([]age.Identity{id}, sealed)
			if err != nil {
				t.Fatal(err)
			}
			env.Recipient = rcpt
			if diff := cmp.Diff(env, got); diff != "" {
				t.Errorf("OpenShare (-want +got):\n%s", diff)
			}
			if got, err := OpenShare([]age.Identity{foreign, id}, sealed); err != nil || got.Index != env.Index {
				t.Errorf("OpenShare with an extra identity: %v", err)
			}

			_, err = OpenShare([]age.Identity{foreign}, sealed)
			if !errors.Is(err, age.ErrIncorrectIdentity) {
				t.Errorf("foreign identity: got %v, want age.ErrIncorrectIdentity", err)
			}
			var nomatch *age.NoIdentityMatchError
			if !errors.As(err, &nomatch) {
				t.Errorf("foreign identity: got %T, want it to wrap *age.NoIdentityMatchError", err)
			}
		})
	}
}

func TestSealShareErrors(t *testing.T) {
	_, rcpt := mustIdentity(t, true)
	_, other := mustIdentity(t, true)
	env := testEnvelope(t, other)
	if _, err := SealShare(rcpt, env); err == nil || !strings.Contains(err.Error(), "another recipient") {
		t.Errorf("mismatched recipient: got %v", err)
	}
	env.Recipient = ""
	env.Threshold = 0
	if _, err := SealShare(rcpt, env); err == nil || !strings.Contains(err.Error(), "threshold") {
		t.Errorf("invalid envelope: got %v", err)
	}
	if _, err := SealShare("nope", testEnvelope(t, "")); err == nil {
		t.Error("bad recipient accepted")
	}
}

func TestOpenShareErrors(t *testing.T) {
	id, rcpt := mustIdentity(t, true)
	otherID, other := mustIdentity(t, true)
	if _, err := OpenShare(nil, []byte("x")); err == nil {
		t.Error("no identities accepted")
	}
	if _, err := OpenShare([]age.Identity{id}, []byte("not age")); err == nil {
		t.Error("garbage accepted")
	}
	// A share addressed to other but encrypted to rcpt.
	var buf bytes.Buffer
	r, _ := ParseRecipient(rcpt)
	w, _ := age.Encrypt(&buf, r)
	w.Write(MarshalEnvelope(testEnvelope(t, other)))
	w.Close()
	if _, err := OpenShare([]age.Identity{id}, buf.Bytes()); err == nil || !strings.Contains(err.Error(), "another custodian") {
		t.Errorf("misaddressed share: got %v", err)
	}
	if _, err := OpenShare([]age.Identity{id, otherID}, buf.Bytes()); err != nil {
		t.Errorf("misaddressed share with the addressee's identity too: %v", err)
	}
	// Not an envelope inside.
	buf.Reset()
	w, _ = age.Encrypt(&buf, r)
	w.Write([]byte("EMBSHARE but not really"))
	w.Close()
	if _, err := OpenShare([]age.Identity{id}, buf.Bytes()); err == nil || !strings.Contains(err.Error(), "unmarshal envelope") {
		t.Errorf("garbage plaintext: got %v", err)
	}
}

func TestEnvelopeValidate(t *testing.T) {
	_, rcpt := mustIdentity(t, true)
	_, hybrid := mustIdentity(t, false)
	good := testEnvelope(t, rcpt)
	for _, tc := range []struct {
		name   string
		modify func(*ShareEnvelope)
		want   string // "" for valid
	}{
		{"valid", func(*ShareEnvelope) {}, ""},
		{"hybrid recipient", func(e *ShareEnvelope) { e.Recipient = hybrid }, ""},
		{"max values", func(e *ShareEnvelope) {
			e.HomeID, e.Epoch, e.Threshold, e.Index = strings.Repeat("é", 127), 1<<32-1, 255, 255
		}, ""},
		{"unicode home", func(e *ShareEnvelope) { e.HomeID = "Eesti Vabariik" }, ""},
		{"empty home", func(e *ShareEnvelope) { e.HomeID = "" }, "home id is 0 bytes"},
		{"long home", func(e *ShareEnvelope) { e.HomeID = strings.Repeat("a", 256) }, "home id is 256 bytes"},
		{"invalid utf-8 home", func(e *ShareEnvelope) { e.HomeID = "a\xff" }, "UTF-8"},
		{"control in home", func(e *ShareEnvelope) { e.HomeID = "a\nb" }, "unprintable"},
		{"threshold 0", func(e *ShareEnvelope) { e.Threshold = 0 }, "threshold 0"},
		{"threshold 256", func(e *ShareEnvelope) { e.Threshold = 256 }, "threshold 256"},
		{"index 0", func(e *ShareEnvelope) { e.Index = 0 }, "index 0"},
		{"index 256", func(e *ShareEnvelope) { e.Index = 256 }, "index 256"},
		{"short value", func(e *ShareEnvelope) { e.Value = e.Value[:31] }, "canonical"},
		{"non-canonical value", func(e *ShareEnvelope) { e.Value = bytes.Repeat([]byte{0xff}, 32) }, "canonical"},
		{"no recipient", func(e *ShareEnvelope) { e.Recipient = "" }, "empty recipient"},
		{"upper-case recipient", func(e *ShareEnvelope) { e.Recipient = strings.ToUpper(rcpt) }, "lower case"},
		{"huge recipient", func(e *ShareEnvelope) { e.Recipient = strings.Repeat("a", 5000) }, "at most 4096"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := good
			e.Value = bytes.Clone(good.Value)
			tc.modify(&e)
			err := e.Validate()
			b := MarshalEnvelope(e)
			if tc.want == "" {
				if err != nil || b == nil {
					t.Fatalf("got %v, want valid", err)
				}
				got, err := UnmarshalEnvelope(b)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(e, got); diff != "" {
					t.Errorf("round trip (-want +got):\n%s", diff)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want error containing %q", err, tc.want)
			}
			if b != nil {
				t.Error("MarshalEnvelope of an invalid envelope is not nil")
			}
		})
	}
}

func TestUnmarshalEnvelopeStrict(t *testing.T) {
	_, rcpt := mustIdentity(t, true)
	good := MarshalEnvelope(testEnvelope(t, rcpt))
	set := func(i int, v byte) []byte {
		b := bytes.Clone(good)
		b[i] = v
		return b
	}
	for _, tc := range []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "too short"},
		{"short", good[:envelopeFixed-1], "too short"},
		{"magic", set(0, 'X'), "not a share envelope"},
		{"version 0", set(8, 0), "unsupported version 0"},
		{"version 2", set(8, 2), "unsupported version 2"},
		{"threshold 0", set(13, 0), "threshold 0"},
		{"index 0", set(14, 0), "index 0"},
		{"non-canonical value", set(46, 0xff), "canonical"},
		{"home length 0", set(47, 0), "recipient length"},
		{"home length overruns", set(47, 200), "truncated home id"},
		{"recipient length short", set(51, good[51]-1), "recipient length"},
		{"recipient length long", set(51, good[51]+1), "recipient length"},
		{"truncated", good[:len(good)-1], "recipient length"},
		{"trailing byte", append(bytes.Clone(good), 0), "recipient length"},
		{"recipient corrupted", set(len(good)-1, 'q'^'p'^good[len(good)-1]), "recipient"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := UnmarshalEnvelope(tc.in)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, %v; want error containing %q", got, err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "unmarshal envelope: ") {
				t.Errorf("error %q lacks prefix", err)
			}
		})
	}
}

func TestCombineEnvelopes(t *testing.T) {
	r := mustRoot(t, 7)
	shares, _ := mustSplit(t, r, 2, 3)
	envs := make([]ShareEnvelope, len(shares))
	for i, s := range shares {
		envs[i] = ShareEnvelope{HomeID: "ee", Epoch: 7, Threshold: 2, Index: s.Index, Value: s.Value}
	}
	got, err := CombineEnvelopes(envs[1:])
	if err != nil || !got.Equal(r) {
		t.Fatalf("CombineEnvelopes = %v, %v", got, err)
	}
	mod := func(i int, f func(*ShareEnvelope)) []ShareEnvelope {
		out := append([]ShareEnvelope(nil), envs...)
		f(&out[i])
		return out
	}
	for _, tc := range []struct {
		name string
		envs []ShareEnvelope
		want error
		msg  string
	}{
		{"none", nil, ErrTooFewShares, "no shares"},
		{"too few", envs[:1], ErrTooFewShares, "have 1, need 2"},
		{"epoch mix", mod(2, func(e *ShareEnvelope) { e.Epoch = 6 }), ErrInvalidShare, "share 3 is for epoch 6, want 7"},
		{"home mix", mod(1, func(e *ShareEnvelope) { e.HomeID = "lv" }), ErrInvalidShare, `share 2 is for home "lv", want "ee"`},
		{"threshold mix", mod(1, func(e *ShareEnvelope) { e.Threshold = 3 }), ErrInvalidShare, "threshold 3, want 2"},
		{"duplicate", append(envs[:2:2], envs[0]), ErrInvalidShare, "duplicate index 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := CombineEnvelopes(tc.envs)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %v, %v; want %v containing %q", got, err, tc.want, tc.msg)
			}
		})
	}
}

func TestShareRedaction(t *testing.T) {
	env := testEnvelope(t, "age1example")
	s := env.Share()
	j, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("x", "env", env, "share", s)
	outputs := []string{string(j), logged.String(), fmt.Sprintf("%v %+v %#v %x %d", env, env, env, env, env),
		fmt.Sprintf("%v %+v %#v %x %d %s", s, s, s, s, s, []Share{s}), fmt.Sprint(&s, &env)}
	for _, out := range outputs {
		for _, leak := range []string{fmt.Sprintf("%x", s.Value), fmt.Sprint(s.Value), fmt.Sprint([]byte(s.Value[:4]))[1:10]} {
			if strings.Contains(out, leak) {
				t.Errorf("output %q leaks the share value", out)
			}
		}
	}
	if !strings.Contains(env.String(), "REDACTED") || !strings.Contains(env.String(), "age1example") {
		t.Errorf("String() = %q", env.String())
	}
}
