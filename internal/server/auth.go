package server

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"slices"
	"sync"

	"github.com/digital-embassy/embassy/internal/pki"
)

// caller is the authenticated client of a request.
type caller struct {
	id  pki.Identity
	key string // per-certificate key for limits
}

func callerOf(r *http.Request) (caller, error) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return caller{}, errors.New("no client certificate")
	}
	cert := r.TLS.PeerCertificates[0]
	id, err := pki.Identify(cert)
	if err != nil {
		return caller{}, err
	}
	sum := sha256.Sum256(cert.Raw)
	return caller{id: id, key: hex.EncodeToString(sum[:8])}, nil
}

// Permission sets of the routes.
var (
	writers   = []pki.Role{pki.RoleHome}
	readers   = []pki.Role{pki.RoleHome, pki.RoleAuditor}
	observers = []pki.Role{pki.RoleHome, pki.RoleAuditor, pki.RoleOperator}
	operators = []pki.Role{pki.RoleHome, pki.RoleOperator}
)

func allowed(roles []pki.Role, r pki.Role) bool { return slices.Contains(roles, r) }

// clientLimiter bounds concurrent requests per client certificate, so that
// one misbehaving client cannot take every slot.
type clientLimiter struct {
	mu  sync.Mutex
	max int
	n   map[string]int
}

func (l *clientLimiter) acquire(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n[key] >= l.max {
		return false
	}
	l.n[key]++
	return true
}

func (l *clientLimiter) release(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n[key]--; l.n[key] <= 0 {
		delete(l.n, key)
	}
}
