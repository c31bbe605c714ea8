package operate

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/digital-embassy/embassy/internal/keys"
)

const revocationContext = "operate token revocations"

// RevocationFormat names the revocation list format.
const RevocationFormat = "embassy.operate-revocations.v1"

// MaxRevocations bounds the list (and so its decoding).
const MaxRevocations = 10000

// RevocationList is the home's signed list of revoked operate tokens. It
// is signed by the epoch's root signing key, like the tokens, and numbered
// so that an older list cannot replace a newer one. Every revocation is
// also recorded in the home's transparency log.
type RevocationList struct {
	Format string    `json:"format"`
	Home   string    `json:"home"`
	Epoch  uint32    `json:"epoch"`
	Number uint64    `json:"number"`
	Time   time.Time `json:"time"`
	IDs    []string  `json:"ids"` // token IDs
}

type signedList struct {
	Body json.RawMessage `json:"body"`
	Sig  []byte          `json:"sig"`
}

// SignRevocations signs l with root's signing key.
func SignRevocations(root *keys.Root, l RevocationList) ([]byte, error) {
	l.Format, l.Epoch = RevocationFormat, root.Epoch
	slices.Sort(l.IDs)
	l.IDs = slices.Compact(l.IDs)
	if len(l.IDs) > MaxRevocations {
		return nil, fmt.Errorf("%d revoked tokens: at most %d", len(l.IDs), MaxRevocations)
	}
	body, err := json.Marshal(l)
	if err != nil {
		return nil, err
	}
	return json.Marshal(signedList{Body: body, Sig: keys.Sign(root.Signer(), revocationContext, body)})
}

// OpenRevocations checks a signed list against the home's epoch keys.
func OpenRevocations(b []byte, home string, signKey func(uint32) (ed25519.PublicKey, bool)) (*RevocationList, error) {
	if len(b) > 64*MaxRevocations {
		return nil, errors.New("revocation list too large")
	}
	var s signedList
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("revocation list: %w", err)
	}
	var l RevocationList
	if err := json.Unmarshal(s.Body, &l); err != nil {
		return nil, fmt.Errorf("revocation list body: %w", err)
	}
	if l.Format != RevocationFormat {
		return nil, fmt.Errorf("revocation list format %q", l.Format)
	}
	pub, ok := signKey(l.Epoch)
	if !ok || !keys.Verify(pub, revocationContext, s.Body, s.Sig) {
		return nil, errors.New("revocation list signature does not verify under the vault's current epoch key")
	}
	if l.Home != home {
		return nil, fmt.Errorf("revocation list of home %s", l.Home)
	}
	if len(l.IDs) > MaxRevocations {
		return nil, errors.New("revocation list too long")
	}
	return &l, nil
}

// Revoked is the revocation list an operate server checks on every
// request: the file is re-read whenever it changes, so a revocation
// copied in during a crisis takes effect on the next request. A file that
// becomes unreadable, forged or older keeps the last good list in force
// and makes Check fail closed for every token, until a good list returns.
type Revoked struct {
	Path    string
	Home    string
	SignKey func(uint32) (ed25519.PublicKey, bool)

	mu      sync.Mutex
	list    *RevocationList
	ids     map[string]bool
	modTime time.Time
	size    int64
	bad     error
}

// Check returns an error wrapping ErrToken if id is revoked, or if the
// list cannot be trusted.
func (r *Revoked) Check(id string) error {
	if r == nil || r.Path == "" {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reloadLocked()
	if r.bad != nil {
		return fmt.Errorf("%w: the revocation list cannot be checked: %v", ErrToken, r.bad)
	}
	if r.ids[id] {
		return fmt.Errorf("%w: token %s was revoked (list %d)", ErrToken, id, r.list.Number)
	}
	return nil
}

// Load reads the list now, reporting a bad one.
func (r *Revoked) Load() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reloadLocked()
	return r.bad
}

func (r *Revoked) reloadLocked() {
	st, err := os.Stat(r.Path)
	if err != nil {
		if r.list != nil || !errors.Is(err, os.ErrNotExist) {
			r.bad = err // a list that disappears does not un-revoke tokens
		}
		return
	}
	if r.list != nil && st.ModTime().Equal(r.modTime) && st.Size() == r.size {
		return
	}
	b, err := os.ReadFile(r.Path)
	if err != nil {
		r.bad = err
		return
	}
	l, err := OpenRevocations(b, r.Home, r.SignKey)
	if err != nil {
		r.bad = err
		return
	}
	if r.list != nil && l.Number < r.list.Number {
		r.bad = fmt.Errorf("list %d is older than the one held (%d)", l.Number, r.list.Number)
		return
	}
	r.list, r.bad, r.modTime, r.size = l, nil, st.ModTime(), st.Size()
	r.ids = make(map[string]bool, len(l.IDs))
	for _, id := range l.IDs {
		r.ids[id] = true
	}
}
