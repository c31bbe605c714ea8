package ui

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/digital-embassy/embassy/internal/atomicfile"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Role is what a signed-in person may see and do, the same roles as the
// daemon's certificates.
type Role string

const (
	RoleHome      Role = "home"      // the sending state's operators: everything
	RoleAuditor   Role = "auditor"   // reads everything, changes nothing
	RoleOperator  Role = "operator"  // the host's operators: their own site only
	RoleCustodian Role = "custodian" // custodians: keys and continuity views, read-only
)

// ParseRole checks a role name.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RoleHome, RoleAuditor, RoleOperator, RoleCustodian:
		return r, nil
	}
	return "", fmt.Errorf("role %q: use home, auditor, operator or custodian", s)
}

// Principal is who is signed in.
type Principal struct {
	Role Role   `json:"role"`
	Name string `json:"name"`
	Site string `json:"site,omitempty"` // operators: the one site they see
	Via  string `json:"via"`            // "link" or "certificate"
}

// Link is a one-time sign-in link issued from the CLI. Only the token's
// hash is stored; the token travels in the URL's fragment, which browsers
// never send to a server or put in a Referer.
type Link struct {
	Hash    string    `json:"hash"`
	Role    Role      `json:"role"`
	Name    string    `json:"name"`
	Site    string    `json:"site,omitempty"`
	Expires time.Time `json:"expires"`
	Used    bool      `json:"used,omitempty"`
}

// Links is the file of issued links (<home>/ui/links.json).
type Links struct {
	Path string
	mu   sync.Mutex
}

func hashToken(tok string) string {
	h := sha256.Sum256([]byte("embassy-ui-link\x00" + tok))
	return hex.EncodeToString(h[:])
}

func (l *Links) load() ([]Link, error) {
	b, err := os.ReadFile(l.Path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Link
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("%s: %w", l.Path, err)
	}
	return out, nil
}

func (l *Links) save(ls []Link) error {
	b, err := json.MarshalIndent(ls, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(l.Path), 0o700); err != nil {
		return err
	}
	return atomicfile.Write(l.Path, b, 0o600)
}

// Issue creates a link token for a principal, valid for ttl.
func (l *Links) Issue(p Principal, ttl time.Duration, now time.Time) (string, error) {
	if ttl <= 0 || ttl > 24*time.Hour {
		return "", fmt.Errorf("link lifetime %v: use at most 24h", ttl)
	}
	if p.Role == RoleOperator && p.Site == "" {
		return "", errors.New("an operator link needs --site: host operators see only their own site")
	}
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	tok := hex.EncodeToString(b[:])
	l.mu.Lock()
	defer l.mu.Unlock()
	ls, err := l.load()
	if err != nil {
		return "", err
	}
	// Drop expired and used links as we go.
	keep := ls[:0]
	for _, x := range ls {
		if !x.Used && x.Expires.After(now) {
			keep = append(keep, x)
		}
	}
	keep = append(keep, Link{Hash: hashToken(tok), Role: p.Role, Name: p.Name, Site: p.Site, Expires: now.Add(ttl)})
	return tok, l.save(keep)
}

// ErrLink is returned for an unknown, used or expired link.
var ErrLink = errors.New("sign-in link unknown, already used or expired: ask for a new one ('embassy ui link')")

// Redeem consumes a link token once.
func (l *Links) Redeem(tok string, now time.Time) (Principal, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ls, err := l.load()
	if err != nil {
		return Principal{}, err
	}
	h := hashToken(tok)
	for i, x := range ls {
		if subtle.ConstantTimeCompare([]byte(x.Hash), []byte(h)) != 1 {
			continue
		}
		if x.Used || !x.Expires.After(now) {
			return Principal{}, ErrLink
		}
		ls[i].Used = true
		if err := l.save(ls); err != nil {
			return Principal{}, err
		}
		return Principal{Role: x.Role, Name: x.Name, Site: x.Site, Via: "link"}, nil
	}
	return Principal{}, ErrLink
}

type session struct {
	p       Principal
	csrf    string
	expires time.Time
}

// sessions is the in-memory session store: a restart signs everyone out.
type sessions struct {
	mu  sync.Mutex
	m   map[string]*session
	ttl time.Duration
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (s *sessions) create(p Principal, now time.Time) (id string, ss *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]*session{}
	}
	for k, v := range s.m {
		if !v.expires.After(now) {
			delete(s.m, k)
		}
	}
	id = randHex(32)
	ss = &session{p: p, csrf: randHex(24), expires: now.Add(s.ttl)}
	s.m[id] = ss
	return id, ss
}

func (s *sessions) get(id string, now time.Time) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.m[id]
	if ss == nil || !ss.expires.After(now) {
		delete(s.m, id)
		return nil
	}
	return ss
}

func (s *sessions) drop(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, id)
}
