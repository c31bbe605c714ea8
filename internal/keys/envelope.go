package keys

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"unicode"
	"unicode/utf8"

	"filippo.io/age"
	"github.com/cloudflare/circl/group"
)

// ShareEnvelope is what every site stores for one custodian: one share of one
// epoch's root, age-encrypted to exactly that custodian's recipient.
type ShareEnvelope struct {
	HomeID    string // 1..255 bytes of printable UTF-8
	Epoch     uint32
	Threshold int    // k, 1..MaxShares
	Index     uint16 // 1..MaxShares
	Value     []byte // canonical ristretto255 scalar, 32 bytes
	Recipient string // the custodian's age recipient, in canonical form
}

// Share returns the share inside e.
func (e ShareEnvelope) Share() Share { return Share{Index: e.Index, Value: e.Value} }

// Envelope format, version 1. All integers are big-endian.
//
//	magic      8  "EMBSHARE"
//	version    1  1
//	epoch      4
//	threshold  1  1..255
//	index      1  1..255
//	value     32  canonical ristretto255 scalar
//	homeLen    1  1..255
//	homeID     homeLen bytes
//	recipLen   2  1..maxRecipient
//	recipient  recipLen bytes
//
// Nothing may follow. The encoding of a valid envelope is unique.
const (
	envelopeMagic   = "EMBSHARE"
	envelopeVersion = 1
	maxRecipient    = 4096
	envelopeFixed   = len(envelopeMagic) + 1 + 4 + 1 + 1 + 32 + 1 + 2
	maxEnvelope     = envelopeFixed + 255 + maxRecipient
)

// Validate checks every field of e against the envelope format.
func (e ShareEnvelope) Validate() error {
	if n := len(e.HomeID); n < 1 || n > 255 {
		return fmt.Errorf("home id is %d bytes, want 1..255", n)
	}
	if !utf8.ValidString(e.HomeID) {
		return errors.New("home id is not valid UTF-8")
	}
	for _, r := range e.HomeID {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("home id contains unprintable character %U", r)
		}
	}
	if e.Threshold < 1 || e.Threshold > MaxShares {
		return fmt.Errorf("threshold %d out of range 1..%d", e.Threshold, MaxShares)
	}
	if e.Index < 1 || e.Index > MaxShares {
		return fmt.Errorf("share index %d out of range 1..%d", e.Index, MaxShares)
	}
	if err := group.Ristretto255.NewScalar().UnmarshalBinary(e.Value); err != nil {
		return errors.New("share value is not a canonical ristretto255 scalar")
	}
	if len(e.Recipient) > maxRecipient {
		return fmt.Errorf("recipient is %d bytes, want at most %d", len(e.Recipient), maxRecipient)
	}
	r, err := ParseRecipient(e.Recipient)
	if err != nil {
		return fmt.Errorf("recipient: %w", err)
	}
	if s, ok := r.(fmt.Stringer); !ok || s.String() != e.Recipient {
		return errors.New("recipient is not in canonical form")
	}
	return nil
}

// MarshalEnvelope encodes e in the envelope format. It returns nil if e is
// invalid (see Validate); SealShare reports the error instead.
func MarshalEnvelope(e ShareEnvelope) []byte {
	if e.Validate() != nil {
		return nil
	}
	b := make([]byte, 0, envelopeFixed+len(e.HomeID)+len(e.Recipient))
	b = append(b, envelopeMagic...)
	b = append(b, envelopeVersion)
	b = binary.BigEndian.AppendUint32(b, e.Epoch)
	b = append(b, byte(e.Threshold), byte(e.Index))
	b = append(b, e.Value...)
	b = append(b, byte(len(e.HomeID)))
	b = append(b, e.HomeID...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(e.Recipient)))
	b = append(b, e.Recipient...)
	return b
}

// UnmarshalEnvelope decodes the envelope format strictly: it accepts exactly
// the outputs of MarshalEnvelope.
func UnmarshalEnvelope(b []byte) (ShareEnvelope, error) {
	e, err := unmarshalEnvelope(b)
	if err != nil {
		return ShareEnvelope{}, fmt.Errorf("unmarshal envelope: %w", err)
	}
	return e, nil
}

func unmarshalEnvelope(b []byte) (ShareEnvelope, error) {
	var e ShareEnvelope
	if len(b) < envelopeFixed {
		return e, errors.New("too short")
	}
	if string(b[:len(envelopeMagic)]) != envelopeMagic {
		return e, errors.New("not a share envelope")
	}
	b = b[len(envelopeMagic):]
	if b[0] != envelopeVersion {
		return e, fmt.Errorf("unsupported version %d", b[0])
	}
	e.Epoch = binary.BigEndian.Uint32(b[1:5])
	e.Threshold = int(b[5])
	e.Index = uint16(b[6])
	e.Value = bytes.Clone(b[7:39])
	n := int(b[39])
	b = b[40:]
	if len(b) < n+2 {
		return ShareEnvelope{}, errors.New("truncated home id")
	}
	e.HomeID = string(b[:n])
	b = b[n:]
	n = int(binary.BigEndian.Uint16(b))
	b = b[2:]
	if len(b) != n {
		return ShareEnvelope{}, fmt.Errorf("recipient length %d, have %d bytes", n, len(b))
	}
	e.Recipient = string(b)
	if err := e.Validate(); err != nil {
		return ShareEnvelope{}, err
	}
	return e, nil
}

// SealShare encodes env and age-encrypts it to recipient, the custodian's
// age recipient. env.Recipient is set to recipient if empty and must equal it
// otherwise.
func SealShare(recipient string, env ShareEnvelope) ([]byte, error) {
	if env.Recipient == "" {
		env.Recipient = recipient
	}
	if env.Recipient != recipient {
		return nil, errors.New("seal share: envelope is addressed to another recipient")
	}
	r, err := ParseRecipient(recipient)
	if err != nil {
		return nil, fmt.Errorf("seal share: %w", err)
	}
	if err := env.Validate(); err != nil {
		return nil, fmt.Errorf("seal share: %w", err)
	}
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, r)
	if err != nil {
		return nil, fmt.Errorf("seal share: %w", err)
	}
	if _, err := w.Write(MarshalEnvelope(env)); err != nil {
		return nil, fmt.Errorf("seal share: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("seal share: %w", err)
	}
	return buf.Bytes(), nil
}

// OpenShare decrypts a sealed share with the custodian's identities and
// decodes it. If none of identities is the share's custodian, the error wraps
// age.ErrIncorrectIdentity (test with errors.Is). The decoded envelope must be
// addressed to one of identities (when their recipients are derivable).
func OpenShare(identities []age.Identity, data []byte) (ShareEnvelope, error) {
	if len(identities) == 0 {
		return ShareEnvelope{}, errors.New("open share: no identities")
	}
	r, err := age.Decrypt(bytes.NewReader(data), identities...)
	if err != nil {
		return ShareEnvelope{}, fmt.Errorf("open share: %w", err)
	}
	b, err := io.ReadAll(io.LimitReader(r, int64(maxEnvelope)+1))
	if err != nil {
		return ShareEnvelope{}, fmt.Errorf("open share: %w", err)
	}
	if len(b) > maxEnvelope {
		return ShareEnvelope{}, errors.New("open share: envelope too large")
	}
	env, err := UnmarshalEnvelope(b)
	if err != nil {
		return ShareEnvelope{}, fmt.Errorf("open share: %w", err)
	}
	derivable, match := true, false
	for _, id := range identities {
		switch RecipientOf(id) {
		case "":
			derivable = false
		case env.Recipient:
			match = true
		}
	}
	if derivable && !match {
		return ShareEnvelope{}, errors.New("open share: envelope is addressed to another custodian")
	}
	return env, nil
}

// CombineEnvelopes recovers a root from opened share envelopes, which must
// all be of the same home, epoch and threshold (see Combine).
func CombineEnvelopes(envs []ShareEnvelope) (*Root, error) {
	if len(envs) == 0 {
		return nil, fmt.Errorf("combine: %w: no shares", ErrTooFewShares)
	}
	first := envs[0]
	shares := make([]Share, len(envs))
	for i, e := range envs {
		switch {
		case e.HomeID != first.HomeID:
			return nil, fmt.Errorf("combine: %w: share %d is for home %q, want %q", ErrInvalidShare, e.Index, e.HomeID, first.HomeID)
		case e.Epoch != first.Epoch:
			return nil, fmt.Errorf("combine: %w: share %d is for epoch %d, want %d", ErrInvalidShare, e.Index, e.Epoch, first.Epoch)
		case e.Threshold != first.Threshold:
			return nil, fmt.Errorf("combine: %w: share %d has threshold %d, want %d", ErrInvalidShare, e.Index, e.Threshold, first.Threshold)
		}
		shares[i] = e.Share()
	}
	return Combine(first.Epoch, first.Threshold, shares)
}

// Redaction: share values are secret (with k = 1 a share is the root), so
// Share and ShareEnvelope never print them.

// String describes s without its value.
func (s Share) String() string {
	return fmt.Sprintf("keys.Share{Index: %d, Value: %s}", s.Index, redacted)
}

// GoString is like String.
func (s Share) GoString() string { return s.String() }

// Format prints String for every verb.
func (s Share) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, s.String()) }

// LogValue implements slog.LogValuer without the value.
func (s Share) LogValue() slog.Value {
	return slog.GroupValue(slog.Int("index", int(s.Index)), slog.String("value", redacted))
}

// String describes e without its share value.
func (e ShareEnvelope) String() string {
	return fmt.Sprintf("keys.ShareEnvelope{HomeID: %q, Epoch: %d, Threshold: %d, Index: %d, Value: %s, Recipient: %q}",
		e.HomeID, e.Epoch, e.Threshold, e.Index, redacted, e.Recipient)
}

// GoString is like String.
func (e ShareEnvelope) GoString() string { return e.String() }

// Format prints String for every verb.
func (e ShareEnvelope) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, e.String()) }

// MarshalJSON encodes e without its share value; store envelopes with
// SealShare, never as JSON.
func (e ShareEnvelope) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		HomeID    string `json:"home_id"`
		Epoch     uint32 `json:"epoch"`
		Threshold int    `json:"threshold"`
		Index     uint16 `json:"index"`
		Value     string `json:"value"`
		Recipient string `json:"recipient"`
	}{e.HomeID, e.Epoch, e.Threshold, e.Index, redacted, e.Recipient})
}

// LogValue implements slog.LogValuer without the share value.
func (e ShareEnvelope) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("home_id", e.HomeID),
		slog.Uint64("epoch", uint64(e.Epoch)),
		slog.Int("threshold", e.Threshold),
		slog.Int("index", int(e.Index)),
		slog.String("recipient", e.Recipient),
	)
}
