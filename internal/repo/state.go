package repo

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/keys"
	"github.com/digital-embassy/embassy/internal/site"
)

const (
	stateFormat  = "embassy.state.v1"
	stateSigCtx  = "embassy.v1 state"
	maxStateSize = 16 << 20
	// stateKeep is how many state records a writer leaves at the sites.
	stateKeep = 8
	// stateTries bounds how many state records per site a reader tries,
	// newest first, before giving up on that site.
	stateTries = 16
)

// StateBody is the home's signed vault state (docs/FORMAT.md §4.4): the
// exact list of datasets, their key versions and their live snapshot
// manifests. It is what the home pins against its sites: a dataset, key
// version or manifest it does not list is not the home's and is never used.
type StateBody struct {
	Format   string         `json:"format"`
	Home     string         `json:"home"`
	Seq      uint64         `json:"seq"`
	Epoch    uint32         `json:"epoch"`
	Time     time.Time      `json:"time"`
	Prev     string         `json:"prev,omitempty"` // hex BLAKE3-256 of the previous state object
	Datasets []StateDataset `json:"datasets"`
}

// StateDataset is one dataset in the signed state.
type StateDataset struct {
	ID       string   `json:"id"`
	Name     string   `json:"name"`
	Versions []uint32 `json:"key_versions"`
	// Head is the dataset's signed head: Seq counts every snapshot ever
	// committed (monotonic), Latest is the newest live manifest.
	Head Head `json:"head"`
	// Snapshots are the live manifests, oldest first.
	Snapshots []ID `json:"snapshots"`
	// Forgotten are tombstones: manifests removed by forget, never to be
	// accepted again.
	Forgotten []ID `json:"forgotten,omitempty"`
	// Forgetting are manifests forget removed but may not have deleted
	// everywhere yet (an interrupted forget): not live, not an attack if
	// still present; the next forget deletes them and moves them to
	// Forgotten.
	Forgetting []ID `json:"forgetting,omitempty"`
}

// Head is a dataset's signed head.
type Head struct {
	Seq    uint64 `json:"seq"`
	Latest *ID    `json:"latest,omitempty"`
}

// Dataset returns the state's entry for dataset id, or nil.
func (s *StateBody) Dataset(id string) *StateDataset {
	if s == nil {
		return nil
	}
	for i := range s.Datasets {
		if s.Datasets[i].ID == id {
			return &s.Datasets[i]
		}
	}
	return nil
}

func (s *StateBody) clone() *StateBody {
	c := *s
	c.Datasets = make([]StateDataset, len(s.Datasets))
	for i, d := range s.Datasets {
		d.Versions = slices.Clone(d.Versions)
		d.Snapshots = slices.Clone(d.Snapshots)
		d.Forgotten = slices.Clone(d.Forgotten)
		d.Forgetting = slices.Clone(d.Forgetting)
		c.Datasets[i] = d
	}
	return &c
}

// Has reports whether manifest id is live in dataset d.
func (d *StateDataset) Has(id ID) bool { return slices.Contains(d.Snapshots, id) }

// WasForgotten reports whether manifest id carries a tombstone.
func (d *StateDataset) WasForgotten(id ID) bool { return slices.Contains(d.Forgotten, id) }

// IsForgetting reports whether manifest id is being forgotten.
func (d *StateDataset) IsForgetting(id ID) bool { return slices.Contains(d.Forgetting, id) }

// HasVersion reports whether key version v is the home's.
func (d *StateDataset) HasVersion(v uint32) bool { return slices.Contains(d.Versions, v) }

func stateName(seq uint64) string { return fmt.Sprintf("state-%012d", seq) }

func parseStateName(s string) (uint64, bool) {
	var n uint64
	if c, err := fmt.Sscanf(s, "state-%012d", &n); err != nil || c != 1 || stateName(n) != s {
		return 0, false
	}
	return n, true
}

func stateHandle(seq uint64) site.Handle {
	return site.Handle{Kind: site.KindConfig, Name: stateName(seq)}
}

// DecodeState parses a stored state record and checks it against the home
// and the signing key of the epoch it names (signKey). It does not decide
// freshness: the caller compares sequence numbers and epochs.
func DecodeState(b []byte, home string, signKey func(uint32) (ed25519.PublicKey, error)) (*StateBody, error) {
	if len(b) > maxStateSize {
		return nil, fmt.Errorf("state record of %d bytes is too large: %w", len(b), errFormat)
	}
	var env Signed
	if err := json.Unmarshal(b, &env); err != nil {
		return nil, fmt.Errorf("state envelope: %v: %w", err, errFormat)
	}
	pub, err := signKey(env.Epoch)
	if err != nil {
		return nil, err
	}
	sig, err := unb64(env.Sig)
	if err != nil || !keys.Verify(pub, stateSigCtx, env.Body, sig) {
		return nil, fmt.Errorf("state record is not signed by the home's key of epoch %d: %w", env.Epoch, ErrSignature)
	}
	var s StateBody
	if err := json.Unmarshal(env.Body, &s); err != nil {
		return nil, fmt.Errorf("state body: %v: %w", err, errFormat)
	}
	if s.Format != stateFormat {
		return nil, fmt.Errorf("state format %q not supported (this build reads %s): %w", s.Format, stateFormat, errFormat)
	}
	if s.Home != home || s.Epoch != env.Epoch {
		return nil, fmt.Errorf("state record for home %s epoch %d: %w", s.Home, s.Epoch, ErrForeignHome)
	}
	seen := map[string]bool{}
	for _, d := range s.Datasets {
		if len(d.ID) != 32 || seen[d.ID] || seen["name:"+d.Name] || ValidDatasetName(d.Name) != nil {
			return nil, fmt.Errorf("state lists dataset %q (%s) twice or malformed: %w", d.Name, d.ID, errFormat)
		}
		seen[d.ID], seen["name:"+d.Name] = true, true
		if len(d.Versions) == 0 {
			return nil, fmt.Errorf("state lists dataset %s with no key version: %w", d.Name, errFormat)
		}
	}
	return &s, nil
}

func encodeState(s *StateBody, priv []byte) ([]byte, error) {
	body, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	return json.Marshal(Signed{Body: body, Epoch: s.Epoch, Sig: b64(keys.Sign(priv, stateSigCtx, body))})
}

// siteState is the newest state a site showed when the vault was opened.
type siteState struct {
	seq   uint64
	state *StateBody
	raw   []byte
}

// readState returns the newest state record at s that verifies under the
// current epoch. Records that claim a higher sequence but do not verify are
// reported as forged.
func (r *Repo) readState(ctx context.Context, s *Site) (*siteState, error) {
	var seqs []uint64
	err := s.Backend.List(ctx, site.KindConfig, func(fi site.Info) error {
		if n, ok := parseStateName(fi.Handle.Name); ok {
			seqs = append(seqs, n)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] > seqs[j] })
	for i, n := range seqs {
		if i == stateTries {
			break
		}
		b, err := readLimited(ctx, s.Backend, stateHandle(n), maxStateSize)
		if err != nil {
			continue
		}
		st, err := DecodeState(b, r.home, r.signKeyBytes)
		if err == nil && st.Seq != n {
			err = fmt.Errorf("state record %s says sequence %d: %w", stateName(n), st.Seq, errFormat)
		}
		if err == nil && st.Epoch != r.current {
			// Signed by a retired epoch: history, not authority (after a
			// rotation only the new epoch's state counts; an old key
			// cannot extend it).
			continue
		}
		if err != nil {
			var unknown *unknownEpochError
			if errors.As(err, &unknown) {
				continue // written by a rotation that did not commit
			}
			r.alert(ctx, Alert{Site: s.Name, Attack: AttackForgedState, Object: site.Handle{Kind: site.KindConfig, Name: stateName(n)}.String(), Detail: err.Error()})
			continue
		}
		return &siteState{seq: n, state: st, raw: b}, nil
	}
	return nil, nil
}

type unknownEpochError struct{ epoch uint32 }

func (e *unknownEpochError) Error() string {
	return fmt.Sprintf("unknown key epoch %d", e.epoch)
}

func (e *unknownEpochError) Unwrap() error { return ErrSignature }

func (r *Repo) signKeyBytes(epoch uint32) (ed25519.PublicKey, error) {
	ep, ok := r.epochs[epoch]
	if !ok {
		return nil, &unknownEpochError{epoch}
	}
	return ep.sign, nil
}

// loadState finds the freshest signed state at any site (the home mirror
// first). Sites that show an older state are stale or hostile: they are
// reported and recorded, and never decide anything.
func (r *Repo) loadState(ctx context.Context) error {
	var best *siteState
	shown := map[*Site]*siteState{}
	for _, s := range r.orderedSites() {
		if s.Backend == nil || (s.Err() != nil && !s.MetaOnly) {
			continue
		}
		st, err := r.readState(ctx, s)
		if err != nil {
			continue
		}
		shown[s] = st
		if st != nil && (best == nil || st.seq > best.seq) {
			best = st
		}
	}
	if best == nil {
		r.state = nil
		return nil
	}
	r.state, r.stateRaw = best.state, best.raw
	r.stale = map[string]uint64{}
	home := false
	for _, s := range r.sites {
		home = home || (s.MetaOnly && s.Backend != nil)
	}
	for s, st := range shown {
		if st == nil || st.seq < best.seq {
			var got uint64
			if st != nil {
				got = st.seq
			}
			// On the home machine, a site that missed the last state write
			// (a command killed between the mirror and the sites) is caught
			// up at once: the record is signed, so copying it needs no key.
			// A site that still shows less afterwards is hiding it.
			if home && s.usable() {
				if err := s.Backend.Put(ctx, stateHandle(best.seq), site.Bytes(best.raw), site.PutOptions{IfAbsent: true}); err == nil || errors.Is(err, site.ErrExists) {
					if now, err := r.readState(ctx, s); err == nil && now != nil && now.seq >= best.seq {
						r.log.InfoContext(ctx, "site caught up with the home's signed state", "site", s.Name, "had", got, "now", best.seq)
						continue
					}
				}
			}
			r.stale[s.Name] = got
			r.alert(ctx, Alert{Site: s.Name, Attack: AttackStaleState,
				Detail: fmt.Sprintf("site shows vault state %d but the home's freshest signed state is %d (from %s); its listings are not trusted", got, best.seq, r.stateFrom(shown, best))})
		}
	}
	return nil
}

func (r *Repo) stateFrom(shown map[*Site]*siteState, best *siteState) string {
	for s, st := range shown {
		if st == best {
			return s.Name
		}
	}
	return "?"
}

// State returns the home's freshest signed vault state, or nil for a vault
// written before signed state existed (see Upgrade).
func (r *Repo) State() *StateBody {
	r.stateMu.Lock()
	defer r.stateMu.Unlock()
	if r.state == nil {
		return nil
	}
	return r.state.clone()
}

// StaleSites returns the sites that showed an older signed state than the
// freshest one found, with the sequence each showed (0: none).
func (r *Repo) StaleSites() map[string]uint64 {
	out := map[string]uint64{}
	for k, v := range r.stale {
		out[k] = v
	}
	return out
}

// ErrNeedsUpgrade means the vault was written by a version without signed
// key records and state.
var ErrNeedsUpgrade = errors.New("vault has no signed state (written by an older version)")

func (r *Repo) needState() error {
	if r.state == nil && !r.legacy {
		return hint.WithCode(hint.Wrap(fmt.Errorf("home %s: %w", r.home, ErrNeedsUpgrade),
			"on the home machine run 'embassy upgrade' once: it checks the vault with the root key, signs every key record and writes the signed state; if this home was upgraded already, a site is hiding its state: check 'embassy site list'"), hint.CodeKey)
	}
	return nil
}

// updateState applies mutate to the freshest state and writes the result
// as the next record, signed by the current epoch: create-only at the home
// mirror first (the home's compare-and-swap between concurrent commands),
// then at every site. mutate may be called more than once.
func (r *Repo) updateState(ctx context.Context, mutate func(*StateBody) error) error {
	if err := r.needRoot(); err != nil {
		return err
	}
	r.stateMu.Lock()
	defer r.stateMu.Unlock()
	return r.writeStateLocked(ctx, r.current, r.root.Signer(), mutate)
}

func (r *Repo) writeStateLocked(ctx context.Context, epoch uint32, priv []byte, mutate func(*StateBody) error) error {
	anchor := r.anchorSite()
	for attempt := 0; attempt < 64; attempt++ {
		base := r.state
		if base == nil {
			base = &StateBody{Format: stateFormat, Home: r.home}
		}
		next := base.clone()
		if err := mutate(next); err != nil {
			return err
		}
		seq := base.Seq + 1
		if anchor != nil {
			top, err := maxStateSeq(ctx, anchor)
			if err != nil {
				return fmt.Errorf("home state at %s: %w", anchor.Name, err)
			}
			seq = max(seq, top+1)
		}
		next.Seq, next.Epoch, next.Time, next.Format, next.Home = seq, epoch, r.now(), stateFormat, r.home
		next.Prev = ""
		if r.stateRaw != nil {
			next.Prev = Hash(r.stateRaw).String()
		}
		raw, err := encodeState(next, priv)
		if err != nil {
			return err
		}
		h := stateHandle(seq)
		if anchor != nil {
			err := anchor.Backend.Put(ctx, h, site.Bytes(raw), site.PutOptions{IfAbsent: true})
			if errors.Is(err, site.ErrExists) {
				// Another command committed first: take its state and retry.
				if st, err := r.readState(ctx, anchor); err == nil && st != nil && st.seq > base.Seq {
					r.state, r.stateRaw = st.state, st.raw
				}
				continue
			}
			if err != nil {
				return fmt.Errorf("write home state: %w", err)
			}
		}
		if err := r.PutAll(ctx, h, raw); err != nil {
			return fmt.Errorf("write vault state: %w", err)
		}
		if epoch == r.current {
			r.state, r.stateRaw = next, raw
		}
		if seq > stateKeep {
			r.deleteStatesBelow(ctx, seq-stateKeep)
		}
		return nil
	}
	return hint.WithCode(errors.New("vault state changed 64 times while this command tried to commit"), hint.CodeLocked)
}

// deleteStatesBelow removes state records older than seq (best effort).
func (r *Repo) deleteStatesBelow(ctx context.Context, seq uint64) {
	for _, s := range r.sites {
		if !s.usable() {
			continue
		}
		var old []site.Handle
		_ = s.Backend.List(ctx, site.KindConfig, func(fi site.Info) error {
			if n, ok := parseStateName(fi.Handle.Name); ok && n < seq {
				old = append(old, fi.Handle)
			}
			return nil
		})
		for _, h := range old {
			_ = s.Backend.Delete(ctx, h)
		}
	}
}

func maxStateSeq(ctx context.Context, s *Site) (uint64, error) {
	var top uint64
	err := s.Backend.List(ctx, site.KindConfig, func(fi site.Info) error {
		if n, ok := parseStateName(fi.Handle.Name); ok {
			top = max(top, n)
		}
		return nil
	})
	return top, err
}

// anchorSite is where state writes are serialised: the home mirror, or
// without one the first usable site.
func (r *Repo) anchorSite() *Site {
	for _, s := range r.sites {
		if s.MetaOnly && s.Backend != nil {
			return s
		}
	}
	for _, s := range r.sites {
		if s.usable() {
			return s
		}
	}
	return nil
}

// orderedSites returns the home mirror first, then the sites in order.
func (r *Repo) orderedSites() []*Site {
	out := make([]*Site, 0, len(r.sites))
	for _, s := range r.sites {
		if s.MetaOnly {
			out = append(out, s)
		}
	}
	for _, s := range r.sites {
		if !s.MetaOnly {
			out = append(out, s)
		}
	}
	return out
}
