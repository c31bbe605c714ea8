package keys

import (
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/cloudflare/circl/group"
	"github.com/cloudflare/circl/secretsharing"
)

// MaxShares is the largest number of shares a root can be split into.
const MaxShares = 255

var (
	// ErrTooFewShares is returned by Combine when fewer than k shares are given.
	ErrTooFewShares = errors.New("too few shares")
	// ErrInvalidShare is wrapped by every error about a malformed, duplicate,
	// inconsistent or unverifiable share.
	ErrInvalidShare = errors.New("invalid share")
)

// Share is one custodian's share of a root: the point (Index, f(Index)) of
// the secret polynomial f of degree k-1 with f(0) = Root.Secret.
type Share struct {
	Index uint16 // 1..MaxShares
	Value []byte // canonical ristretto255 scalar encoding, 32 bytes
}

// checkParams validates a k-of-n threshold. k = 1 is allowed (every share is
// then the root itself); policy may demand more.
func checkParams(k, n int) error {
	switch {
	case k < 1:
		return fmt.Errorf("threshold %d: must be at least 1", k)
	case n > MaxShares:
		return fmt.Errorf("%d shares: at most %d allowed", n, MaxShares)
	case k > n:
		return fmt.Errorf("threshold %d exceeds %d shares", k, n)
	}
	return nil
}

// Split shares r's secret k-of-n (1 <= k <= n <= MaxShares) with Shamir's
// scheme over ristretto255. Shares have indexes 1..n. commitments are the k
// Feldman commitments g^a_j to the polynomial's coefficients (commitments[0]
// commits to the secret); they are public and let VerifyShare check a share
// without the other shares. k = 1 is allowed, but then every share is the
// root secret itself: keep it for tests and single-custodian homes.
func Split(r *Root, k, n int) (shares []Share, commitments [][]byte, err error) {
	if err := checkParams(k, n); err != nil {
		return nil, nil, fmt.Errorf("split: %w", err)
	}
	s, err := parseSecret(r.Secret[:])
	if err != nil {
		return nil, nil, fmt.Errorf("split: %w", err)
	}
	// circl's threshold t means t+1 shares recover the secret.
	ss := secretsharing.New(rand.Reader, uint(k-1), s)
	for _, sh := range ss.Share(uint(n)) {
		v, err := sh.Value.MarshalBinary()
		if err != nil {
			return nil, nil, fmt.Errorf("split: %w", err)
		}
		idx, err := scalarIndex(sh.ID)
		if err != nil {
			return nil, nil, fmt.Errorf("split: %w", err)
		}
		shares = append(shares, Share{Index: idx, Value: v})
	}
	for _, c := range ss.CommitSecret() {
		b, err := c.MarshalBinary()
		if err != nil {
			return nil, nil, fmt.Errorf("split: %w", err)
		}
		commitments = append(commitments, b)
	}
	return shares, commitments, nil
}

// scalarIndex converts a small scalar id (1..MaxShares) back to an index.
func scalarIndex(id group.Scalar) (uint16, error) {
	for i := uint64(1); i <= MaxShares; i++ {
		if id.IsEqual(group.Ristretto255.NewScalar().SetUint64(i)) {
			return uint16(i), nil
		}
	}
	return 0, errors.New("share id out of range")
}

// parseShare decodes s strictly into circl's form.
func parseShare(s Share) (secretsharing.Share, error) {
	if s.Index == 0 || s.Index > MaxShares {
		return secretsharing.Share{}, fmt.Errorf("%w: index %d out of range 1..%d", ErrInvalidShare, s.Index, MaxShares)
	}
	v := group.Ristretto255.NewScalar()
	if err := v.UnmarshalBinary(s.Value); err != nil {
		return secretsharing.Share{}, fmt.Errorf("%w: index %d: value is not a canonical scalar", ErrInvalidShare, s.Index)
	}
	id := group.Ristretto255.NewScalar().SetUint64(uint64(s.Index))
	return secretsharing.Share{ID: id, Value: v}, nil
}

// parseCommitments decodes Feldman commitments strictly.
func parseCommitments(k int, commitments [][]byte) (secretsharing.SecretCommitment, error) {
	if len(commitments) != k {
		return nil, fmt.Errorf("%d commitments for threshold %d", len(commitments), k)
	}
	c := make(secretsharing.SecretCommitment, k)
	for i, b := range commitments {
		e := group.Ristretto255.NewElement()
		if err := e.UnmarshalBinary(b); err != nil {
			return nil, fmt.Errorf("commitment %d: not a ristretto255 element", i)
		}
		c[i] = e
	}
	return c, nil
}

// VerifyShare reports whether s lies on the polynomial committed to by the k
// Feldman commitments from Split.
func VerifyShare(k int, s Share, commitments [][]byte) bool {
	if k < 1 || k > MaxShares {
		return false
	}
	sh, err := parseShare(s)
	if err != nil {
		return false
	}
	c, err := parseCommitments(k, commitments)
	if err != nil {
		return false
	}
	return secretsharing.Verify(uint(k-1), sh, c)
}

// Combine recovers the root of epoch from at least k shares with distinct
// indexes. It fails with ErrTooFewShares for fewer than k shares and with
// ErrInvalidShare for a bad index or encoding or a duplicate index.
//
// The first k shares determine the root; every further share is checked to
// lie on the same polynomial, so given more than k shares Combine detects a
// corrupted share or a mix of shares from different splits (ErrInvalidShare).
// With exactly k shares no such check is possible: verify shares with
// VerifyShare first, or compare the result's Fingerprint with a known one.
func Combine(epoch uint32, k int, shares []Share) (*Root, error) {
	if k < 1 || k > MaxShares {
		return nil, fmt.Errorf("combine: threshold %d out of range 1..%d", k, MaxShares)
	}
	if len(shares) < k {
		return nil, fmt.Errorf("combine: %w: have %d, need %d", ErrTooFewShares, len(shares), k)
	}
	seen := make(map[uint16]bool, len(shares))
	parsed := make([]secretsharing.Share, len(shares))
	for i, s := range shares {
		if seen[s.Index] {
			return nil, fmt.Errorf("combine: %w: duplicate index %d", ErrInvalidShare, s.Index)
		}
		seen[s.Index] = true
		sh, err := parseShare(s)
		if err != nil {
			return nil, fmt.Errorf("combine: %w", err)
		}
		parsed[i] = sh
	}
	x := make([]group.Scalar, k)
	y := make([]group.Scalar, k)
	for i, sh := range parsed[:k] {
		x[i], y[i] = sh.ID, sh.Value
	}
	for _, sh := range parsed[k:] {
		if !lagrange(x, y, sh.ID).IsEqual(sh.Value) {
			return nil, fmt.Errorf("combine: %w: shares are inconsistent (corrupted, or from different splits)", ErrInvalidShare)
		}
	}
	secret := lagrange(x, y, group.Ristretto255.NewScalar())
	if secret.IsZero() {
		return nil, fmt.Errorf("combine: %w: shares yield a zero secret", ErrInvalidShare)
	}
	r, err := rootFromScalar(epoch, secret)
	if err != nil {
		return nil, fmt.Errorf("combine: %w", err)
	}
	return r, nil
}

// lagrange evaluates at the point at the polynomial of degree len(x)-1
// through the points (x[i], y[i]), whose x must be distinct:
//
//	f(at) = Σ_j y_j · Π_{m≠j} (at - x_m) / (x_j - x_m)
//
// All denominators are inverted at once (Montgomery's trick): a scalar
// inversion costs as much as ~100 multiplications, and CheckSplit interpolates
// thousands of times.
func lagrange(x, y []group.Scalar, at group.Scalar) group.Scalar {
	g := group.Ristretto255
	k := len(x)
	num := make([]group.Scalar, k)
	den := make([]group.Scalar, k)
	tmp := g.NewScalar()
	for j := range k {
		num[j], den[j] = g.NewScalar().SetUint64(1), g.NewScalar().SetUint64(1)
		for m := range k {
			if m != j {
				num[j].Mul(num[j], tmp.Sub(at, x[m]))
				den[j].Mul(den[j], tmp.Sub(x[j], x[m]))
			}
		}
	}
	// prefix[j] = den[0]·…·den[j]
	prefix := make([]group.Scalar, k)
	acc := g.NewScalar().SetUint64(1)
	for j := range k {
		acc.Mul(acc, den[j])
		prefix[j] = acc.Copy()
	}
	inv := g.NewScalar().Inv(acc) // 1 / (den[0]·…·den[k-1])
	sum := g.NewScalar()
	for j := k - 1; j >= 0; j-- {
		dInv := inv.Copy() // 1/den[j] = inv · prefix[j-1]
		if j > 0 {
			dInv.Mul(dInv, prefix[j-1])
		}
		inv.Mul(inv, den[j]) // now 1 / (den[0]·…·den[j-1])
		tmp.Mul(y[j], num[j])
		tmp.Mul(tmp, dInv)
		sum.Add(sum, tmp)
	}
	return sum
}

// maxSubsets bounds the exhaustive subset check of CheckSplit.
const maxSubsets = 1 << 12

// CheckSplit checks that shares and commitments (from Split) really recover r
// before r's previous epoch is retired: the commitments must commit to r's
// secret, every share must verify against them, and every k-subset of shares
// must Combine to r. Feldman verification already implies the last property;
// the subsets are recombined anyway, through the very code that will be used
// in a recovery. Past maxSubsets (4096) subsets, only the n windows of k consecutive
// shares (cyclically) are recombined.
func CheckSplit(r *Root, k int, shares []Share, commitments [][]byte) error {
	if err := checkParams(k, len(shares)); err != nil {
		return fmt.Errorf("check split: %w", err)
	}
	s, err := parseSecret(r.Secret[:])
	if err != nil {
		return fmt.Errorf("check split: %w", err)
	}
	c, err := parseCommitments(k, commitments)
	if err != nil {
		return fmt.Errorf("check split: %w", err)
	}
	if !c[0].IsEqual(group.Ristretto255.NewElement().MulGen(s)) {
		return errors.New("check split: commitments do not commit to the root secret")
	}
	seen := make(map[uint16]bool, len(shares))
	for _, sh := range shares {
		if seen[sh.Index] {
			return fmt.Errorf("check split: %w: duplicate index %d", ErrInvalidShare, sh.Index)
		}
		seen[sh.Index] = true
		if !VerifyShare(k, sh, commitments) {
			return fmt.Errorf("check split: %w: share %d does not match the commitments", ErrInvalidShare, sh.Index)
		}
	}
	check := func(idx []int) error {
		subset := make([]Share, len(idx))
		for i, j := range idx {
			subset[i] = shares[j]
		}
		got, err := Combine(r.Epoch, k, subset)
		if err != nil {
			return fmt.Errorf("check split: shares %v: %w", indexes(subset), err)
		}
		if !got.Equal(r) {
			return fmt.Errorf("check split: %w: shares %v do not recover the root", ErrInvalidShare, indexes(subset))
		}
		return nil
	}
	n := len(shares)
	if binomial(n, k) > maxSubsets {
		idx := make([]int, k)
		for start := range n {
			for i := range idx {
				idx[i] = (start + i) % n
			}
			if err := check(idx); err != nil {
				return err
			}
		}
		return nil
	}
	return forEachSubset(n, k, check)
}

func indexes(shares []Share) []uint16 {
	out := make([]uint16, len(shares))
	for i, s := range shares {
		out[i] = s.Index
	}
	return out
}

// binomial returns C(n, k), saturating above maxSubsets.
func binomial(n, k int) int {
	c := 1
	for i := 1; i <= k; i++ {
		c = c * (n - k + i) / i
		if c > maxSubsets {
			return maxSubsets + 1
		}
	}
	return c
}

// forEachSubset calls fn with every k-subset of 0..n-1 in lexicographic order,
// stopping at fn's first error. fn must not keep idx.
func forEachSubset(n, k int, fn func(idx []int) error) error {
	idx := make([]int, k)
	for i := range idx {
		idx[i] = i
	}
	for {
		if err := fn(idx); err != nil {
			return err
		}
		i := k - 1
		for i >= 0 && idx[i] == n-k+i {
			i--
		}
		if i < 0 {
			return nil
		}
		idx[i]++
		for j := i + 1; j < k; j++ {
			idx[j] = idx[j-1] + 1
		}
	}
}
