package repo

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"filippo.io/age"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/keys"
	"github.com/digital-embassy/embassy/internal/site"
)

// IdentitySource is one custodian's identity file, named for messages.
type IdentitySource struct {
	Label      string
	Identities []age.Identity
}

// Recovered is what Recover rebuilds from a site and k custodians.
type Recovered struct {
	Root      *keys.Root
	Home      string
	Epoch     *Epoch
	Used      []string // labels of the identities whose shares were used
	Threshold int
	// Fingerprint is the home fingerprint the site presented.
	Fingerprint string
	// StateSeq is the sequence of the freshest signed state at the site
	// (0: none, a vault not yet upgraded).
	StateSeq uint64
}

// Presented returns the home id and fingerprint a site's vault presents,
// after verifying its descriptor and epoch chain.
func Presented(ctx context.Context, s *Site) (home, fingerprint string, err error) {
	home, fingerprint, _, err = PresentedEpoch(ctx, s)
	return home, fingerprint, err
}

// PresentedEpoch is Presented with the newest key epoch the site shows.
func PresentedEpoch(ctx context.Context, s *Site) (home, fingerprint string, epoch uint32, err error) {
	if s.Backend == nil {
		return "", "", 0, fmt.Errorf("site %s: %w", s.Name, s.Err())
	}
	r := &Repo{sites: []*Site{s}, log: nopLogger(), datasets: map[string]*DatasetKeys{}}
	if err := r.loadConfig(ctx, s); err != nil {
		return "", "", 0, fmt.Errorf("site %s: %w", s.Name, err)
	}
	return r.home, r.Fingerprint(), r.current, nil
}

// RecoverExpect is Recover for a home the operator pinned: a site whose
// vault does not present fingerprint expect is refused before any share is
// opened; with no pin, the shares are checked and then recovery is refused
// with the fingerprint the site presents (see CheckFingerprint).
func RecoverExpect(ctx context.Context, s *Site, ids []IdentitySource, expect string) (*Recovered, error) {
	if expect != "" {
		_, fp, err := Presented(ctx, s)
		if err != nil {
			return nil, err
		}
		if err := CheckFingerprint(s.Name, fp, expect); err != nil {
			return nil, err
		}
	}
	rec, err := Recover(ctx, s, ids)
	if err != nil {
		return nil, err
	}
	if err := CheckFingerprint(s.Name, rec.Fingerprint, expect); err != nil {
		return nil, err
	}
	return rec, nil
}

// Recover rebuilds a home's root key from one site's copy and the custodians'
// identities. It refuses fewer than k shares, the same share twice, and
// identities that are not custodians of the site's home. It does not know
// which home the operator means: callers use RecoverExpect, or check
// Recovered.Fingerprint with CheckFingerprint, since a hostile site can
// present a vault it forged with the custodians' public recipients.
func Recover(ctx context.Context, s *Site, ids []IdentitySource) (*Recovered, error) {
	if s.Backend == nil {
		return nil, fmt.Errorf("site %s: %w", s.Name, s.Err())
	}
	r := &Repo{sites: []*Site{s}, log: nopLogger(), datasets: map[string]*DatasetKeys{}}
	if err := r.loadConfig(ctx, s); err != nil {
		return nil, fmt.Errorf("site %s: %w", s.Name, err)
	}
	ep := r.epochs[r.current]
	type found struct {
		env   keys.ShareEnvelope
		label string
	}
	byIndex := map[uint16]found{}
	var shareData [][]byte
	err := s.Backend.List(ctx, site.KindKey, func(fi site.Info) error {
		e, _, ok := parseShareName(fi.Handle.Name)
		if !ok || e != r.current {
			return nil
		}
		b, err := ReadObject(ctx, s.Backend, fi.Handle)
		if err != nil {
			return err
		}
		shareData = append(shareData, b)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(shareData) == 0 {
		return nil, hint.WithCode(hint.Wrap(fmt.Errorf("site %s holds no custodian shares for key epoch %d", s.Name, r.current),
			"try another site of this home"), hint.CodeKey)
	}
	seenLabel := map[string]bool{}
	for _, src := range ids {
		if seenLabel[src.Label] {
			return nil, hint.WithCode(hint.Wrap(fmt.Errorf("identity %s given twice", src.Label), "give each custodian's identity once"), hint.CodeUsage)
		}
		seenLabel[src.Label] = true
		matched := false
		for _, b := range shareData {
			env, err := keys.OpenShare(src.Identities, b)
			if err != nil {
				if errors.Is(err, age.ErrIncorrectIdentity) || strings.Contains(err.Error(), "no identity matched") {
					continue
				}
				return nil, hint.WithCode(fmt.Errorf("share for %s: %w", src.Label, err), hint.CodeKey)
			}
			if env.HomeID != r.home || env.Epoch != r.current {
				return nil, hint.WithCode(fmt.Errorf("share opened by %s belongs to home %s epoch %d, not %s epoch %d: %w", src.Label, env.HomeID, env.Epoch, r.home, r.current, ErrForeignHome), hint.CodeKey)
			}
			if prev, dup := byIndex[env.Index]; dup {
				return nil, hint.WithCode(hint.Wrap(fmt.Errorf("identities %s and %s open the same share (custodian %d)", prev.label, src.Label, env.Index),
					"each custodian's share counts once; bring identities of different custodians"), hint.CodeUsage)
			}
			byIndex[env.Index] = found{env, src.Label}
			matched = true
			break
		}
		if !matched {
			return nil, hint.WithCode(hint.Wrap(fmt.Errorf("identity %s is not a custodian of home %s (key epoch %d): %w", src.Label, r.home, r.current, ErrForeignHome),
				"check that the identity file belongs to one of this home's custodians; 'embassy custodian show' prints its recipient"), hint.CodeKey)
		}
	}
	if len(byIndex) < ep.Threshold {
		return nil, hint.WithCode(hint.Wrap(fmt.Errorf("%d of %d custodian shares needed to recover home %s, got %d", ep.Threshold, len(ep.Custodians), r.home, len(byIndex)),
			fmt.Sprintf("bring %d more custodian identity file(s) with --identity", ep.Threshold-len(byIndex))), hint.CodeKey)
	}
	var shares []keys.Share
	var used []string
	for _, f := range byIndex {
		shares = append(shares, keys.Share{Index: f.env.Index, Value: f.env.Value})
		used = append(used, f.label)
	}
	sort.Strings(used)
	commits := make([][]byte, 0, len(ep.Commitments))
	for _, c := range ep.Commitments {
		b, err := unb64(c)
		if err != nil {
			return nil, fmt.Errorf("epoch commitments: %w", errFormat)
		}
		commits = append(commits, b)
	}
	for _, sh := range shares {
		if len(commits) > 0 && !keys.VerifyShare(ep.Threshold, sh, commits) {
			return nil, hint.WithCode(fmt.Errorf("custodian %d's share does not match the home's published commitments (corrupt or forged)", sh.Index), hint.CodeKey)
		}
	}
	root, err := keys.Combine(r.current, ep.Threshold, shares)
	if err != nil {
		return nil, hint.WithCode(err, hint.CodeKey)
	}
	pub, err := root.PublicKEM()
	if err != nil {
		return nil, err
	}
	if b64(pub) != ep.KEM {
		return nil, hint.WithCode(errors.New("the shares combine to a key that does not match the home's key epoch record (a share is corrupt)"), hint.CodeKey)
	}
	out := &Recovered{Root: root, Home: r.home, Epoch: ep, Used: used, Threshold: ep.Threshold, Fingerprint: r.Fingerprint()}
	if st, err := r.readState(ctx, s); err == nil && st != nil {
		out.StateSeq = st.seq
	}
	return out, nil
}
