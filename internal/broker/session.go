package broker

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"sync"
	"time"
)

// NonceSize is the size of a broker nonce.
const NonceSize = 32

// Session lifetimes.
const (
	ChallengeTTL = 2 * time.Minute  // a nonce must be used within this
	SessionTTL   = 10 * time.Minute // a KBS session's attestation result stays valid this long
	maxSessions  = 1 << 16
)

// Refusal reasons for sessions. They are stable codes, logged as the reason.
var (
	errUnknownSession = errors.New("unknown session: the challenge expired, was already used, or the broker restarted; ask for a new challenge")
	errReplay         = errors.New("evidence replayed: this exact evidence was already presented; produce fresh evidence for a new challenge")
	errBusy           = errors.New("too many open sessions; try again shortly")
)

// session is one challenge and, for KBS, its attestation result.
type session struct {
	id      string
	tee     string
	nonce   []byte
	expires time.Time
	used    bool // the nonce was consumed by an attestation
	result  *attested
}

// attested is what a successful KBS attestation leaves in its session.
type attested struct {
	claims   Claims
	workload Workload
	pub      jwkKey // the TEE key resources are encrypted to
	token    string
}

// sessions holds the broker's open challenges in memory only: a restart
// forgets them all, so no nonce survives it.
type sessions struct {
	mu   sync.Mutex
	m    map[string]*session
	seen map[[32]byte]time.Time // evidence digests, until their challenge would have expired
	last time.Time              // last sweep of expired entries
}

func newSessions() *sessions {
	return &sessions{m: map[string]*session{}, seen: map[[32]byte]time.Time{}}
}

func randomB64(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// open creates a session with a fresh nonce.
func (s *sessions) open(tee string, now time.Time) (*session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gc(now)
	if len(s.m) >= maxSessions {
		return nil, errBusy
	}
	n := make([]byte, NonceSize)
	rand.Read(n)
	ss := &session{id: randomB64(24), tee: tee, nonce: n, expires: now.Add(ChallengeTTL)}
	s.m[ss.id] = ss
	return ss, nil
}

// consume returns the session's nonce exactly once, and records the
// evidence so the same bytes are refused on any later challenge.
// Unless keep (a KBS session, which holds its result), the session is closed.
func (s *sessions) consume(id string, evidence []byte, keep bool, now time.Time) (*session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gc(now)
	d := sha256.Sum256(evidence)
	if _, dup := s.seen[d]; dup {
		if ss := s.m[id]; ss != nil && !ss.used {
			ss.used = true // a replay burns the challenge too
		}
		return nil, errReplay
	}
	ss := s.m[id]
	if ss == nil || ss.used || now.After(ss.expires) {
		return nil, errUnknownSession
	}
	ss.used = true
	if !keep {
		delete(s.m, id)
	}
	s.seen[d] = now.Add(SessionTTL)
	return ss, nil
}

// attest stores a KBS attestation result in the session.
func (s *sessions) attest(id string, a *attested, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ss := s.m[id]; ss != nil {
		ss.result = a
		ss.expires = now.Add(SessionTTL)
	}
}

// result returns a KBS session's attestation result, if still valid.
func (s *sessions) result(id string, now time.Time) (*attested, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.m[id]
	if ss == nil || ss.result == nil || now.After(ss.expires) {
		return nil, errUnknownSession
	}
	return ss.result, nil
}

func (s *sessions) gc(now time.Time) {
	if now.Sub(s.last) < time.Second && len(s.m) < maxSessions {
		return
	}
	s.last = now
	for id, ss := range s.m {
		if now.After(ss.expires) {
			delete(s.m, id)
		}
	}
	for d, t := range s.seen {
		if now.After(t) {
			delete(s.seen, d)
		}
	}
}

// teeOf returns the TEE a session was opened for ("" if unknown).
func (s *sessions) teeOf(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ss := s.m[id]; ss != nil {
		return ss.tee
	}
	return ""
}
