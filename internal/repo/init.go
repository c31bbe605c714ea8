package repo

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/digital-embassy/embassy/internal/chunker"
	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/keys"
	"github.com/digital-embassy/embassy/internal/site"
)

// InitOptions describe a new home.
type InitOptions struct {
	Custodians  []Custodian // recipients; Index is assigned 1..n
	Threshold   int
	Sites       []*Site
	Description string
	Now         time.Time
}

// countCustodians reads "1 custodian", "3 custodians".
func countCustodians(n int) string {
	if n == 1 {
		return "1 custodian"
	}
	return strconv.Itoa(n) + " custodians"
}

func shareHandle(epoch uint32, index uint16) site.Handle {
	return site.Handle{Kind: site.KindKey, Name: fmt.Sprintf("shares/e%08d/%03d", epoch, index)}
}

func parseShareName(name string) (epoch uint32, index uint16, ok bool) {
	var e uint32
	var i uint16
	if n, err := fmt.Sscanf(name, "shares/e%08d/%03d", &e, &i); err != nil || n != 2 {
		return 0, 0, false
	}
	return e, i, shareHandle(e, i).Name == name
}

// Init creates a home: a root key split k-of-n among the custodians, the
// signed repository descriptor and key-epoch record, and the encrypted
// shares, written to every site. It refuses sites that already hold a vault.
func Init(ctx context.Context, o InitOptions) (*keys.Root, string, error) {
	n := len(o.Custodians)
	if n == 0 {
		return nil, "", hint.WithCode(hint.Wrap(errors.New("no custodians given"),
			"create custodian identities with 'embassy custodian keygen -o FILE' and pass each recipient with --custodian"), hint.CodeUsage)
	}
	if o.Threshold < 1 || o.Threshold > n {
		return nil, "", hint.WithCode(hint.Wrap(fmt.Errorf("threshold %d is impossible with %s", o.Threshold, countCustodians(n)),
			"choose --threshold between 1 and the number of custodians (2 of 3 is typical)"), hint.CodeUsage)
	}
	seen := map[string]bool{}
	for i := range o.Custodians {
		c := &o.Custodians[i]
		if _, err := keys.ParseRecipient(c.Recipient); err != nil {
			return nil, "", hint.WithCode(fmt.Errorf("custodian %d: %w", i+1, err), hint.CodeUsage)
		}
		if seen[c.Recipient] {
			return nil, "", hint.WithCode(hint.Wrap(fmt.Errorf("custodian %d is listed twice", i+1), "each custodian must hold their own identity"), hint.CodeUsage)
		}
		seen[c.Recipient] = true
		c.Index = uint16(i + 1)
	}
	if len(o.Sites) == 0 {
		return nil, "", hint.WithCode(errors.New("no sites to initialise"), hint.CodeUsage)
	}
	if o.Now.IsZero() {
		o.Now = time.Now().UTC() //nolint:forbidigo // the default clock: internal/vault passes InitOptions.Now
	}
	for _, s := range o.Sites {
		if s.Backend == nil {
			return nil, "", fmt.Errorf("site %s: %w", s.Name, s.Err())
		}
		_, err := s.Backend.Stat(ctx, site.Handle{Kind: site.KindConfig, Name: "repo"})
		if err == nil {
			return nil, "", hint.Wrap(fmt.Errorf("site %s already holds a vault", s.Name),
				"use an empty location for a new home, or 'embassy recover' to rebuild the home of that vault")
		}
		if !errors.Is(err, site.ErrNotFound) {
			return nil, "", fmt.Errorf("site %s: %w", s.Name, err)
		}
	}
	root, err := keys.NewRoot(1)
	if err != nil {
		return nil, "", err
	}
	home := HomeIDFor(root.SigningPublicKey())
	r := &Repo{sites: o.Sites, root: root, home: home, log: nopLogger(), current: 1,
		epochs: map[uint32]*Epoch{1: {sign: root.SigningPublicKey()}}}
	p := chunker.DefaultParams
	p.Max = 4 << 20 // bounds the per-worker buffers; FastCDC rarely reaches it
	desc := RepoBody{Format: repoFormat, Home: home, Created: o.Now, SignKey: b64(root.SigningPublicKey()),
		ChunkMin: p.Min, ChunkAvg: p.Avg, ChunkMax: p.Max, Description: o.Description}
	if err := r.writeEpoch(ctx, root, nil, o.Custodians, o.Threshold, o.Now); err != nil {
		return nil, "", err
	}
	// The first signed state: no datasets yet.
	if err := r.updateState(ctx, func(*StateBody) error { return nil }); err != nil {
		return nil, "", err
	}
	raw, err := signBody(root.Signer(), repoSigCtx, desc, 1, nil)
	if err != nil {
		return nil, "", err
	}
	if err := r.PutAll(ctx, site.Handle{Kind: site.KindConfig, Name: "repo"}, raw); err != nil {
		return nil, "", err
	}
	if errs := r.SiteErrors(); len(errs) > 0 {
		return nil, "", fmt.Errorf("initialisation incomplete at some sites: %v", errs)
	}
	return root, home, nil
}

// writeEpoch splits root among the custodians, checks that the shares
// reconstruct it, and writes the shares and the signed epoch record.
func (r *Repo) writeEpoch(ctx context.Context, root *keys.Root, prev *keys.Root, custodians []Custodian, threshold int, now time.Time) error {
	shares, commits, err := keys.Split(root, threshold, len(custodians))
	if err != nil {
		return err
	}
	if err := keys.CheckSplit(root, threshold, shares, commits); err != nil {
		return fmt.Errorf("new shares do not reconstruct the new root; nothing was changed: %w", err)
	}
	for i, c := range custodians {
		env := keys.ShareEnvelope{HomeID: r.home, Epoch: root.Epoch, Threshold: threshold, Index: shares[i].Index, Value: shares[i].Value, Recipient: c.Recipient}
		sealed, err := keys.SealShare(c.Recipient, env)
		if err != nil {
			return fmt.Errorf("custodian %d: %w", c.Index, err)
		}
		if err := r.PutAll(ctx, shareHandle(root.Epoch, shares[i].Index), sealed); err != nil {
			return err
		}
	}
	kem, err := root.PublicKEM()
	if err != nil {
		return err
	}
	body := EpochBody{Format: epochFormat, Home: r.home, Epoch: root.Epoch, Created: now, KEM: b64(kem),
		SignKey: b64(root.SigningPublicKey()), Threshold: threshold, Custodians: custodians, Fingerprint: root.Fingerprint()}
	for _, c := range commits {
		body.Commitments = append(body.Commitments, b64(c))
	}
	var prevSigner []byte
	if prev != nil {
		prevSigner = prev.Signer()
	}
	raw, err := signBody(root.Signer(), epochSigCtx, body, root.Epoch, prevSigner)
	if err != nil {
		return err
	}
	return r.PutAll(ctx, site.Handle{Kind: site.KindConfig, Name: epochName(root.Epoch)}, raw)
}
