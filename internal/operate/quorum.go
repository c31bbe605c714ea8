package operate

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cloudflare/circl/group"

	"github.com/digital-embassy/embassy/internal/keys"
)

// Deactivation by a custodian quorum (docs/formats/operate-quorum.md): k of the home's n custodians each sign the
// statement {home fingerprint, session id, time} with their root share as
// a Schnorr key over ristretto255. The public key of custodian i is
// Σ_j C_j·i^j, computed from the Feldman commitments C_j in the signed
// key-epoch record at every site, so the crisis server checks a quorum
// with nothing but the vault, and no official's token can end a session.

// quorumDST separates these signatures from every other use of a share.
const quorumDST = "embassy.v1 operate deactivation quorum"

// MaxQuorumSkew is how far a signed statement's time may lie from the
// server's clock.
const MaxQuorumSkew = 15 * time.Minute

// maxQuorumBody bounds a POST /deactivate body.
const maxQuorumBody = 64 << 10

// Statement is what each custodian signs.
type Statement struct {
	Fingerprint string    `json:"fingerprint"` // home fingerprint ('embassy key status')
	Session     string    `json:"session"`     // crisis session id (activation.json)
	Time        time.Time `json:"time"`
}

func (s Statement) bytes() []byte {
	return []byte(quorumDST + "\x00" + s.Fingerprint + "\x00" + s.Session + "\x00" + s.Time.UTC().Format(time.RFC3339Nano))
}

// CustodianSignature is one custodian's signature of a Statement.
type CustodianSignature struct {
	Statement
	Epoch uint32 `json:"epoch"`
	Index uint16 `json:"index"` // the custodian's share index
	R     string `json:"r"`     // base64 ristretto255 element
	S     string `json:"s"`     // base64 scalar
}

// QuorumRequest is the body of POST /deactivate by a custodian quorum.
type QuorumRequest struct {
	Signatures []CustodianSignature `json:"signatures"`
}

// SignStatement signs st with the custodian's share env.
func SignStatement(env keys.ShareEnvelope, st Statement) (CustodianSignature, error) {
	g := group.Ristretto255
	x := g.NewScalar()
	if err := x.UnmarshalBinary(env.Value); err != nil {
		return CustodianSignature{}, fmt.Errorf("share: %w", err)
	}
	pub := g.NewElement().MulGen(x)
	r := g.RandomNonZeroScalar(rand.Reader)
	R := g.NewElement().MulGen(r)
	c, err := challenge(R, pub, env.Epoch, env.Index, st)
	if err != nil {
		return CustodianSignature{}, err
	}
	s := g.NewScalar().Mul(c, x)
	s.Add(s, r)
	rb, err := R.MarshalBinaryCompress()
	if err != nil {
		return CustodianSignature{}, err
	}
	sb, err := s.MarshalBinary()
	if err != nil {
		return CustodianSignature{}, err
	}
	st.Time = st.Time.UTC()
	return CustodianSignature{Statement: st, Epoch: env.Epoch, Index: env.Index,
		R: base64.StdEncoding.EncodeToString(rb), S: base64.StdEncoding.EncodeToString(sb)}, nil
}

func challenge(R, pub group.Element, epoch uint32, index uint16, st Statement) (group.Scalar, error) {
	rb, err := R.MarshalBinaryCompress()
	if err != nil {
		return nil, err
	}
	pb, err := pub.MarshalBinaryCompress()
	if err != nil {
		return nil, err
	}
	msg := append(append(append([]byte{}, rb...), pb...), st.bytes()...)
	msg = append(msg, []byte("\x00"+strconv.FormatUint(uint64(epoch), 10)+"\x00"+strconv.FormatUint(uint64(index), 10))...)
	return group.Ristretto255.HashToScalar(msg, []byte(quorumDST)), nil
}

// Custodians is what VerifyQuorum checks signatures against: the current
// key epoch's threshold and Feldman commitments (base64, from the signed
// epoch record).
type Custodians struct {
	Epoch       uint32
	Threshold   int
	Commitments []string
	Indexes     map[uint16]string // index -> custodian name or recipient, for reports
}

// ShareKey returns custodian index's public key Σ_j C_j·index^j.
func (c Custodians) ShareKey(index uint16) (group.Element, error) {
	g := group.Ristretto255
	if len(c.Commitments) != c.Threshold || c.Threshold < 1 {
		return nil, fmt.Errorf("%d commitments for threshold %d", len(c.Commitments), c.Threshold)
	}
	x := g.NewScalar().SetUint64(uint64(index))
	pow := g.NewScalar().SetUint64(1)
	sum := g.Identity()
	for j, s := range c.Commitments {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("commitment %d: %w", j, err)
		}
		cj := g.NewElement()
		if err := cj.UnmarshalBinary(b); err != nil {
			return nil, fmt.Errorf("commitment %d: not a ristretto255 element", j)
		}
		sum.Add(sum, g.NewElement().Mul(cj, pow))
		pow = g.NewScalar().Mul(pow, x)
	}
	return sum, nil
}

// ErrQuorum is wrapped by every refusal of a deactivation quorum.
var ErrQuorum = errors.New("deactivation quorum refused")

// VerifyQuorum checks that body holds valid signatures of at least
// c.Threshold distinct custodians of epoch c.Epoch over {fingerprint,
// session, a time within MaxQuorumSkew of now}, and returns the indexes
// that signed.
func VerifyQuorum(body []byte, c Custodians, fingerprint, session string, now time.Time) ([]uint16, error) {
	if len(body) > maxQuorumBody {
		return nil, fmt.Errorf("%w: body over %d bytes", ErrQuorum, maxQuorumBody)
	}
	var q QuorumRequest
	if err := json.Unmarshal(body, &q); err != nil {
		return nil, fmt.Errorf("%w: body is not a quorum request: %v", ErrQuorum, err)
	}
	limit := keys.MaxShares
	if c.Indexes != nil {
		limit = len(c.Indexes)
	}
	if len(q.Signatures) > limit {
		return nil, fmt.Errorf("%w: %d signatures, the home has %d custodians", ErrQuorum, len(q.Signatures), limit)
	}
	// Each custodian index is tried once (the first signature naming it),
	// so one request costs at most n signature checks.
	seen := map[uint16]bool{}
	var good []uint16
	var problems []string
	for i, s := range q.Signatures {
		if seen[s.Index] {
			problems = append(problems, fmt.Sprintf("signature %d: custodian %d signed twice", i, s.Index))
			continue
		}
		seen[s.Index] = true
		if err := verifyOne(s, c, fingerprint, session, now); err != nil {
			problems = append(problems, fmt.Sprintf("signature %d: %v", i, err))
			continue
		}
		good = append(good, s.Index)
	}
	if len(good) < c.Threshold {
		detail := ""
		if len(problems) > 0 {
			detail = " (" + strings.Join(problems, "; ") + ")"
		}
		return good, fmt.Errorf("%w: %d valid custodian signatures, %d needed%s", ErrQuorum, len(good), c.Threshold, detail)
	}
	return good, nil
}

func verifyOne(s CustodianSignature, c Custodians, fingerprint, session string, now time.Time) error {
	switch {
	case s.Epoch != c.Epoch:
		return fmt.Errorf("signed for key epoch %d, the vault's is %d", s.Epoch, c.Epoch)
	case s.Fingerprint != fingerprint:
		return fmt.Errorf("signed for home %q, not this one", s.Fingerprint)
	case s.Session != session:
		return fmt.Errorf("signed for session %q, not %q", s.Session, session)
	case s.Time.Sub(now) > MaxQuorumSkew || now.Sub(s.Time) > MaxQuorumSkew:
		return fmt.Errorf("signed at %s, more than %s from now", s.Time.Format(time.RFC3339), MaxQuorumSkew)
	case c.Indexes != nil && c.Indexes[s.Index] == "":
		return fmt.Errorf("custodian %d is not a custodian of this epoch", s.Index)
	}
	g := group.Ristretto255
	pub, err := c.ShareKey(s.Index)
	if err != nil {
		return err
	}
	rb, err1 := base64.StdEncoding.DecodeString(s.R)
	sb, err2 := base64.StdEncoding.DecodeString(s.S)
	if err1 != nil || err2 != nil {
		return errors.New("r or s is not base64")
	}
	R := g.NewElement()
	if err := R.UnmarshalBinary(rb); err != nil {
		return errors.New("r is not a ristretto255 element")
	}
	z := g.NewScalar()
	if err := z.UnmarshalBinary(sb); err != nil {
		return errors.New("s is not a canonical scalar")
	}
	ch, err := challenge(R, pub, s.Epoch, s.Index, s.Statement)
	if err != nil {
		return err
	}
	want := g.NewElement().Mul(pub, ch)
	want.Add(want, R)
	if !g.NewElement().MulGen(z).IsEqual(want) {
		return errors.New("signature does not verify")
	}
	return nil
}
