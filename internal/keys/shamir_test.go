package keys

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/cloudflare/circl/group"
	"github.com/cloudflare/circl/math/polynomial"
)

func mustSplit(t testing.TB, r *Root, k, n int) ([]Share, [][]byte) {
	t.Helper()
	shares, commitments, err := Split(r, k, n)
	if err != nil {
		t.Fatal(err)
	}
	return shares, commitments
}

func TestSplitCombineEverySubset(t *testing.T) {
	for _, tc := range []struct{ k, n int }{{1, 1}, {1, 3}, {2, 2}, {2, 3}, {3, 5}, {5, 5}, {4, 7}} {
		t.Run(fmt.Sprintf("%d-of-%d", tc.k, tc.n), func(t *testing.T) {
			r := mustRoot(t, 9)
			shares, commitments := mustSplit(t, r, tc.k, tc.n)
			if len(shares) != tc.n || len(commitments) != tc.k {
				t.Fatalf("got %d shares, %d commitments; want %d, %d", len(shares), len(commitments), tc.n, tc.k)
			}
			for i, s := range shares {
				if s.Index != uint16(i+1) || len(s.Value) != 32 {
					t.Fatalf("share %d: index %d, %d-byte value", i, s.Index, len(s.Value))
				}
				if !VerifyShare(tc.k, s, commitments) {
					t.Errorf("share %d does not verify", s.Index)
				}
			}
			subsets := 0
			err := forEachSubset(tc.n, tc.k, func(idx []int) error {
				subsets++
				subset := make([]Share, len(idx))
				for i, j := range idx {
					subset[len(idx)-1-i] = shares[j] // order must not matter
				}
				got, err := Combine(9, tc.k, subset)
				if err != nil {
					return err
				}
				if !got.Equal(r) {
					return fmt.Errorf("subset %v: wrong root", indexes(subset))
				}
				if tc.k > 1 {
					if _, err := Combine(9, tc.k, subset[1:]); !errors.Is(err, ErrTooFewShares) {
						return fmt.Errorf("subset %v minus one: got %v, want ErrTooFewShares", indexes(subset), err)
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if want := binomial(tc.n, tc.k); subsets != want {
				t.Errorf("visited %d subsets, want %d", subsets, want)
			}
			if got, err := Combine(9, tc.k, shares); err != nil || !got.Equal(r) {
				t.Errorf("Combine(all shares) = %v, %v", got, err)
			}
			if err := CheckSplit(r, tc.k, shares, commitments); err != nil {
				t.Errorf("CheckSplit: %v", err)
			}
		})
	}
}

func TestSplitParams(t *testing.T) {
	r := mustRoot(t, 1)
	for _, tc := range []struct {
		k, n int
		want string
	}{
		{0, 3, "at least 1"},
		{-1, 3, "at least 1"},
		{4, 3, "exceeds"},
		{2, 256, "at most 255"},
		{1, 0, "exceeds"},
	} {
		if _, _, err := Split(r, tc.k, tc.n); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Split(k=%d, n=%d): got %v, want error containing %q", tc.k, tc.n, err, tc.want)
		}
	}
	if _, _, err := Split(&Root{Epoch: 1}, 2, 3); err == nil {
		t.Error("Split of a zero secret succeeded")
	}
	shares, _ := mustSplit(t, r, 2, 255)
	if got := shares[254].Index; got != 255 {
		t.Errorf("last index %d, want 255", got)
	}
}

func TestCombineRefuses(t *testing.T) {
	r := mustRoot(t, 5)
	shares, _ := mustSplit(t, r, 3, 5)
	other, _ := mustSplit(t, mustRoot(t, 6), 3, 5)
	withValue := func(s Share, v []byte) Share { return Share{Index: s.Index, Value: v} }
	for _, tc := range []struct {
		name   string
		k      int
		shares []Share
		want   error
	}{
		{"none", 3, nil, ErrTooFewShares},
		{"fewer than k", 3, shares[:2], ErrTooFewShares},
		{"duplicate index", 3, []Share{shares[0], shares[1], shares[0]}, ErrInvalidShare},
		{"duplicate index, other value", 3, []Share{shares[0], shares[1], other[1]}, ErrInvalidShare},
		{"index zero", 3, []Share{{Index: 0, Value: shares[0].Value}, shares[1], shares[2]}, ErrInvalidShare},
		{"index 256", 3, []Share{{Index: 256, Value: shares[0].Value}, shares[1], shares[2]}, ErrInvalidShare},
		{"short value", 3, []Share{withValue(shares[0], shares[0].Value[:31]), shares[1], shares[2]}, ErrInvalidShare},
		{"non-canonical value", 3, []Share{withValue(shares[0], bytes.Repeat([]byte{0xff}, 32)), shares[1], shares[2]}, ErrInvalidShare},
		{"extra share from another split", 3, []Share{shares[0], shares[1], shares[2], other[3]}, ErrInvalidShare},
		{"extra corrupted share", 3, []Share{shares[0], shares[1], shares[2], withValue(shares[3], shares[4].Value)}, ErrInvalidShare},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Combine(5, tc.k, tc.shares)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
	for _, k := range []int{0, 256} {
		if _, err := Combine(5, k, shares); err == nil {
			t.Errorf("Combine accepted threshold %d", k)
		}
	}
	// Exactly k shares of mixed splits can't be detected by Combine, only by
	// the fingerprint or by VerifyShare.
	mixed, err := Combine(5, 3, []Share{shares[0], shares[1], other[2]})
	if err != nil {
		t.Fatal(err)
	}
	if mixed.Fingerprint() == r.Fingerprint() {
		t.Error("mixed shares recovered the root")
	}
}

func TestVerifyShareDetectsTampering(t *testing.T) {
	r := mustRoot(t, 1)
	shares, commitments := mustSplit(t, r, 3, 5)
	_, otherCommitments := mustSplit(t, r, 3, 5) // same secret, other polynomial
	s := shares[2]
	tampered := bytes.Clone(s.Value)
	tampered[0] ^= 1
	badCommitment := bytes.Clone(commitments[1])
	badCommitment[0] ^= 1
	for _, tc := range []struct {
		name        string
		k           int
		s           Share
		commitments [][]byte
	}{
		{"tampered value", 3, Share{Index: s.Index, Value: tampered}, commitments},
		{"other index", 3, Share{Index: s.Index + 1, Value: s.Value}, commitments},
		{"index zero", 3, Share{Index: 0, Value: s.Value}, commitments},
		{"other split's commitments", 3, s, otherCommitments},
		{"wrong threshold", 2, s, commitments},
		{"missing commitment", 3, s, commitments[:2]},
		{"corrupted commitment", 3, s, [][]byte{commitments[0], badCommitment, commitments[2]}},
		{"bad threshold", 0, s, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if VerifyShare(tc.k, tc.s, tc.commitments) {
				t.Error("VerifyShare accepted")
			}
		})
	}
}

func TestCheckSplit(t *testing.T) {
	r := mustRoot(t, 2)
	shares, commitments := mustSplit(t, r, 3, 5)
	otherShares, otherCommitments := mustSplit(t, r, 3, 5)
	corrupt := func(i int) []Share {
		s := append([]Share(nil), shares...)
		v := bytes.Clone(s[i].Value)
		v[3] ^= 0x40
		s[i] = Share{Index: s[i].Index, Value: v}
		return s
	}
	if err := CheckSplit(r, 3, shares, commitments); err != nil {
		t.Fatalf("good split: %v", err)
	}
	for _, tc := range []struct {
		name        string
		r           *Root
		k           int
		shares      []Share
		commitments [][]byte
	}{
		{"corrupted first share", r, 3, corrupt(0), commitments},
		{"corrupted last share", r, 3, corrupt(4), commitments},
		{"share from another split", r, 3, append(append([]Share(nil), shares[:4]...), otherShares[4]), commitments},
		{"other split's commitments", r, 3, shares, otherCommitments},
		{"other root", mustRoot(t, 2), 3, shares, commitments},
		{"wrong threshold", r, 2, shares, commitments[:2]},
		{"duplicate share", r, 3, append(append([]Share(nil), shares[:4]...), shares[0]), commitments},
		{"too few shares", r, 3, shares[:2], commitments},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := CheckSplit(tc.r, tc.k, tc.shares, tc.commitments); err == nil {
				t.Error("CheckSplit accepted")
			}
		})
	}
}

func TestCheckSplitLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	// C(20, 10) = 184756 subsets exceed maxSubsets: the windowed check runs.
	r := mustRoot(t, 1)
	shares, commitments := mustSplit(t, r, 10, 20)
	if err := CheckSplit(r, 10, shares, commitments); err != nil {
		t.Fatal(err)
	}
}

func TestBinomial(t *testing.T) {
	for _, tc := range []struct{ n, k, want int }{
		{1, 1, 1}, {3, 2, 3}, {5, 3, 10}, {10, 5, 252}, {14, 7, 3432}, {16, 8, maxSubsets + 1}, {20, 10, maxSubsets + 1}, {255, 128, maxSubsets + 1},
	} {
		if got := binomial(tc.n, tc.k); got != tc.want {
			t.Errorf("binomial(%d, %d) = %d, want %d", tc.n, tc.k, got, tc.want)
		}
	}
}

func BenchmarkCheckSplit5of9(b *testing.B) {
	r := mustRoot(b, 1)
	shares, commitments := mustSplit(b, r, 5, 9)
	for b.Loop() {
		if err := CheckSplit(r, 5, shares, commitments); err != nil {
			b.Fatal(err)
		}
	}
}

func TestLagrangeMatchesCircl(t *testing.T) {
	g := group.Ristretto255
	for k := 1; k <= 8; k++ {
		x := make([]group.Scalar, k)
		y := make([]group.Scalar, k)
		for i := range k {
			x[i] = g.NewScalar().SetUint64(uint64(3*i + 1))
			y[i] = g.RandomScalar(rand.Reader)
		}
		ref := polynomial.NewLagrangePolynomial(x, y)
		for _, at := range []group.Scalar{g.NewScalar(), g.NewScalar().SetUint64(2), x[0], g.RandomScalar(rand.Reader)} {
			if got, want := lagrange(x, y, at), ref.Evaluate(at); !got.IsEqual(want) {
				t.Errorf("k=%d at %v: got %v, want %v", k, at, got, want)
			}
		}
	}
}
