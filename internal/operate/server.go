package operate

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/digital-embassy/embassy/internal/evidence"
	"github.com/digital-embassy/embassy/internal/registry"
)

// AuditLine is one audited request. It holds no personal data: the looked
// up key appears only as an HMAC under a root-derived key, so the audit can
// be linked to a person only by whoever holds the root.
type AuditLine struct {
	Time     time.Time `json:"time"`
	Session  string    `json:"session"`
	Official string    `json:"official,omitempty"`
	TokenID  string    `json:"token_id,omitempty"`
	Action   string    `json:"action"` // population, land, deactivate
	KeyHMAC  string    `json:"key_hmac,omitempty"`
	Status   int       `json:"status"`
	Denied   string    `json:"denied,omitempty"`
}

// Server authenticates, audits and serves lookups.
type Server struct {
	Service *registry.Service
	Verify  func(token string) (*Token, error)
	// Revoked, if set, is checked on every request after Verify.
	Revoked   *Revoked
	AuditPath string
	AuditKey  []byte
	Session   string
	Log       *slog.Logger
	Now       func() time.Time
	// Quorum, if set, checks a POST /deactivate without a token: a
	// custodian quorum's signatures (QuorumRequest); it returns who
	// deactivated ("custodians 1,3").
	Quorum func(body []byte, now time.Time) (by string, err error)
	// OnRefused, if set, is told of every refused deactivation (after its
	// audit line is written), for the home's log.
	OnRefused func(AuditLine)

	metrics     *operateMetrics
	mu          sync.Mutex
	counts      map[string]int // "<action>/<status>"
	officials   map[string]int
	lines       int
	auditErr    error
	deactivated chan string
	once        sync.Once
}

// Deactivated receives the official's name when a holder of a deactivate
// token posts /deactivate (a lookup token is refused with 403).
func (s *Server) Deactivated() <-chan string {
	s.init()
	return s.deactivated
}

func (s *Server) init() {
	s.once.Do(func() {
		s.counts, s.officials = map[string]int{}, map[string]int{}
		s.deactivated = make(chan string, 1)
		s.metrics = newOperateMetrics()
		if s.Now == nil {
			s.Now = time.Now //nolint:forbidigo // the default clock: internal/vault passes its own
		}
		if s.Log == nil {
			s.Log = slog.New(slog.DiscardHandler)
		}
	})
}

// Handler returns the HTTP handler: the registry routes behind token
// authentication and audit, plus POST /deactivate.
func (s *Server) Handler() http.Handler {
	s.init()
	mux := http.NewServeMux()
	s.Service.Register(mux, s.wrap)
	byToken := s.wrap("deactivate", func(w http.ResponseWriter, r *http.Request) {
		s.deactivate(w, officialOf(r), "token")
	})
	mux.HandleFunc("GET /metrics", s.metricsHandler)
	mux.HandleFunc("POST /deactivate", func(w http.ResponseWriter, r *http.Request) {
		if s.Quorum != nil && r.Header.Get("Authorization") == "" {
			s.quorumDeactivate(w, r)
			return
		}
		byToken(w, r)
	})
	return mux
}

func (s *Server) deactivate(w http.ResponseWriter, by, how string) {
	s.metrics.deactivations.WithLabelValues(how).Inc()
	registry.WriteJSON(w, http.StatusAccepted, map[string]any{"deactivating": true, "by": by})
	select {
	case s.deactivated <- by:
	default:
	}
}

// quorumDeactivate ends the session on a custodian quorum's signatures.
func (s *Server) quorumDeactivate(w http.ResponseWriter, r *http.Request) {
	now := s.Now().UTC()
	line := AuditLine{Time: now, Session: s.Session, Action: "deactivate"}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxQuorumBody+1))
	var by string
	if err == nil {
		by, err = s.Quorum(body, now)
	}
	if err != nil {
		line.Status, line.Denied = http.StatusForbidden, err.Error()
		_ = s.audit(r.Context(), line) // a failed audit write is kept in auditErr and reported by Summary
		s.refused(line)
		s.metrics.refused.WithLabelValues("quorum").Inc()
		s.metrics.requests.Count("deactivate", "custodian", http.StatusForbidden)
		registry.WriteJSON(w, http.StatusForbidden, map[string]string{"error": err.Error()})
		return
	}
	line.Official, line.Status = by, http.StatusAccepted
	if err := s.audit(r.Context(), line); err != nil {
		registry.WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "audit unavailable"})
		return
	}
	s.deactivate(w, by, "quorum")
}

func (s *Server) refused(l AuditLine) {
	if s.OnRefused != nil && l.Action == "deactivate" {
		s.OnRefused(l)
	}
}

type ctxKey struct{}

func officialOf(r *http.Request) string {
	t, _ := r.Context().Value(ctxKey{}).(*Token)
	if t == nil {
		return ""
	}
	return t.Official
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(c int) { w.code = c; w.ResponseWriter.WriteHeader(c) }

func (s *Server) wrap(action string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		line := AuditLine{Time: s.Now().UTC(), Session: s.Session, Action: action}
		if id := r.PathValue("id"); id != "" {
			m := hmac.New(sha256.New, s.AuditKey)
			m.Write([]byte(action + "\x00" + id))
			line.KeyHMAC = hex.EncodeToString(m.Sum(nil)[:16])
		}
		tok, err := s.Verify(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
		if err == nil {
			err = s.Revoked.Check(tok.ID)
		}
		if err != nil {
			line.Status, line.Denied = http.StatusUnauthorized, err.Error()
			_ = s.audit(r.Context(), line) // a failed audit write is kept in auditErr and reported by Summary
			s.refused(line)
			s.metrics.refused.WithLabelValues("token").Inc()
			s.metrics.requests.Count(action, "none", http.StatusUnauthorized)
			registry.WriteJSON(w, http.StatusUnauthorized, map[string]string{"error": "a valid official token is required"})
			return
		}
		line.Official, line.TokenID = tok.Official, tok.ID
		want := RoleLookup
		if action == "deactivate" {
			want = RoleDeactivate
		}
		if tok.RoleOf() != want {
			line.Status, line.Denied = http.StatusForbidden, "token role "+tok.RoleOf()+" may not "+action
			_ = s.audit(r.Context(), line) // a failed audit write is kept in auditErr and reported by Summary
			s.refused(line)
			s.metrics.refused.WithLabelValues("role").Inc()
			s.metrics.requests.Count(action, tok.RoleOf(), http.StatusForbidden)
			registry.WriteJSON(w, http.StatusForbidden, map[string]string{"error": "this token's role (" + tok.RoleOf() + ") may not " + action + "; " + want + " tokens are issued separately"})
			return
		}
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		// Audit before answering: a lookup that can't be audited is not served.
		if err := s.audit(r.Context(), AuditLine{Time: line.Time, Session: s.Session, Official: tok.Official, TokenID: tok.ID, Action: action + "-request", KeyHMAC: line.KeyHMAC}); err != nil {
			registry.WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "audit unavailable"})
			return
		}
		start := s.Now()
		h(sw, r.WithContext(context.WithValue(r.Context(), ctxKey{}, tok)))
		line.Status = sw.code
		s.metrics.requests.Observe(action, tok.RoleOf(), sw.code, s.Now().Sub(start))
		if action != "deactivate" {
			s.metrics.lookups.WithLabelValues(action, strconv.Itoa(sw.code)).Inc()
		}
		_ = s.audit(r.Context(), line) // a failed audit write is kept in auditErr and reported by Summary
	}
}

func (s *Server) audit(ctx context.Context, l AuditLine) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := evidence.AppendLine(s.AuditPath, l)
	if err != nil {
		s.auditErr = errors.Join(s.auditErr, err)
		s.Log.ErrorContext(ctx, "audit", "err", err)
		return err
	}
	s.lines++
	if !strings.HasSuffix(l.Action, "-request") {
		s.counts[l.Action+"/"+itoa(l.Status)]++
		if l.Official != "" {
			s.officials[l.Official]++
		}
	}
	return nil
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [8]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}

// Served summarises what the server answered.
type Served struct {
	Requests   map[string]int `json:"requests"`  // "<action>/<http status>" -> count
	Officials  map[string]int `json:"officials"` // official -> requests
	AuditLines int            `json:"audit_lines"`
	AuditError string         `json:"audit_error,omitempty"`
}

// Summary returns what was served so far.
func (s *Server) Summary() Served {
	s.init()
	s.mu.Lock()
	defer s.mu.Unlock()
	out := Served{Requests: map[string]int{}, Officials: map[string]int{}, AuditLines: s.lines}
	for k, v := range s.counts {
		out.Requests[k] = v
	}
	for k, v := range s.officials {
		out.Officials[k] = v
	}
	if s.auditErr != nil {
		out.AuditError = s.auditErr.Error()
	}
	return out
}
