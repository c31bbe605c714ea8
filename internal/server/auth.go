package server

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/digital-embassy/embassy/internal/api"
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

// Event is an access event shown to the host operator.
type Event = api.Event

// eventLog keeps the last max events, and with a path also appends each
// to a JSON-lines file so that a restart does not lose events the home has
// not pulled yet.
type eventLog struct {
	mu   sync.Mutex
	max  int
	list []Event
	path string
	log  *slog.Logger
}

// load reads the last max events back from the file.
func (l *eventLog) load() error {
	if l.path == "" {
		return nil
	}
	f, err := os.Open(l.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var e Event
		if json.Unmarshal(sc.Bytes(), &e) == nil {
			l.list = append(l.list, e)
		}
	}
	if len(l.list) > l.max {
		l.list = slices.Clone(l.list[len(l.list)-l.max:])
	}
	return sc.Err()
}

func (l *eventLog) add(e Event) {
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.list) >= l.max {
		l.list = slices.Delete(l.list, 0, len(l.list)-l.max+1)
	}
	l.list = append(l.list, e)
	if l.path != "" {
		if err := appendLine(l.path, e); err != nil && l.log != nil {
			l.log.Error("events file", "err", err)
		}
	}
}

// appendLine writes v as one JSON line with a single O_APPEND write.
func appendLine(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func (l *eventLog) snapshot() []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.list)
}
