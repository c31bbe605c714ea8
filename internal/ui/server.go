package ui

import (
	"context"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/digital-embassy/embassy/internal/metrics"
	"github.com/digital-embassy/embassy/internal/pki"
	"github.com/digital-embassy/embassy/internal/tlog"
	"github.com/digital-embassy/embassy/internal/watch"
)

//go:embed assets
var assets embed.FS

// Config is a dashboard.
type Config struct {
	Source Source
	Links  *Links
	// Passkeys, when set, lets people register a passkey after a link
	// sign-in and sign in with it afterwards.
	Passkeys *Passkeys
	// SessionTTL is how long a sign-in lasts (default 8 h).
	SessionTTL time.Duration
	// Poll is how often live views look for changes (default 1 s).
	Poll   time.Duration
	Now    func() time.Time
	Logger *slog.Logger
	// MaxStreams bounds live-update connections in all (default 200).
	MaxStreams int
	// OperatorSite, when set, accepts host-operator client certificates
	// as the operator of that one site (the host-side view in embassyd,
	// where the site is the daemon's own).
	OperatorSite string
}

// ErrNotHere is what a Source returns for data it does not hold (the
// host-side view holds no datasets, log receipts or changes): 404.
var ErrNotHere = errors.New("not held here: the host-side view shows only this site's own state; ask the home")

// Server serves the dashboard.
type Server struct {
	cfg     Config
	ss      sessions
	cer     ceremonies
	streams atomic.Int64
	mux     *http.ServeMux
	metrics *uiMetrics
}

// New returns a dashboard server.
func New(cfg Config) *Server {
	if cfg.SessionTTL == 0 {
		cfg.SessionTTL = 8 * time.Hour
	}
	if cfg.Poll == 0 {
		cfg.Poll = time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxStreams == 0 {
		cfg.MaxStreams = 200
	}
	s := &Server{cfg: cfg, ss: sessions{ttl: cfg.SessionTTL}, mux: http.NewServeMux()}
	static, _ := fs.Sub(assets, "assets")
	s.metrics = newUIMetrics(s)
	files := http.FileServer(http.FS(static))
	s.mux.Handle("GET /", files)
	s.mux.HandleFunc("POST /api/signin", s.signin)
	s.mux.HandleFunc("POST /api/signout", s.auth(s.signout, false))
	s.mux.HandleFunc("GET /api/me", s.auth(s.me, false))
	s.mux.HandleFunc("GET /api/overview", s.auth(s.overview, false))
	s.mux.HandleFunc("GET /api/sites", s.auth(s.sites, false))
	s.mux.HandleFunc("GET /api/datasets", s.auth(s.datasets, false))
	s.mux.HandleFunc("GET /api/log", s.auth(s.log, false))
	s.mux.HandleFunc("GET /api/receipt/{index}", s.auth(s.receipt, false))
	s.mux.HandleFunc("GET /api/disclosures", s.auth(s.disclosures, false))
	s.mux.HandleFunc("GET /api/agreements", s.auth(s.agreements, false))
	s.mux.HandleFunc("GET /api/continuity", s.auth(s.continuity, false))
	s.mux.HandleFunc("GET /api/broker", s.auth(s.broker, false))
	s.mux.HandleFunc("GET /api/stream", s.auth(s.stream, false))
	s.mux.HandleFunc("GET /metrics", s.auth(s.metricsText, false))
	s.mux.HandleFunc("POST /api/alerts/{index}/ack", s.auth(s.ack, true))
	s.mux.HandleFunc("POST /api/passkey/register/begin", s.auth(s.passkeyRegisterBegin, false))
	s.mux.HandleFunc("POST /api/passkey/register/finish", s.auth(s.passkeyRegisterFinish, false))
	s.mux.HandleFunc("POST /api/passkey/login/begin", s.passkeyLoginBegin)
	s.mux.HandleFunc("POST /api/passkey/login/finish", s.passkeyLoginFinish)
	return s
}

// ServeHTTP adds the security headers to every answer.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
	if r.TLS != nil {
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
	if strings.HasPrefix(r.URL.Path, "/api/") {
		h.Set("Cache-Control", "no-store")
	}
	start := time.Now()
	sw := metrics.NewStatusRecorder(w)
	s.mux.ServeHTTP(sw, r)
	code := sw.Code()
	s.observe(r, code, start)
}

const cookieName = "embassy_session"

type handler func(w http.ResponseWriter, r *http.Request, p Principal) error

// httpError is an error with a status.
type httpError struct {
	code int
	msg  string
}

func (e httpError) Error() string { return e.msg }

func forbidden(format string, a ...any) error {
	return httpError{http.StatusForbidden, fmt.Sprintf(format, a...)}
}

// auth resolves the principal (a verified home-PKI client certificate, or a
// session cookie) and, for changes, checks the CSRF token and the origin.
func (s *Server) auth(h handler, change bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, ss, ok := s.principal(r)
		if !ok {
			writeErr(w, httpError{http.StatusUnauthorized, "sign in first: open the link from 'embassy ui link', or present a home-PKI client certificate"})
			return
		}
		if change {
			if p.Role != RoleHome {
				writeErr(w, forbidden("the %s role reads but does not change", p.Role))
				return
			}
			if !sameOrigin(r) {
				writeErr(w, forbidden("cross-origin request refused"))
				return
			}
			if ss != nil && subtle.ConstantTimeCompare([]byte(r.Header.Get("X-CSRF-Token")), []byte(ss.csrf)) != 1 {
				writeErr(w, forbidden("missing or wrong CSRF token: reload the page"))
				return
			}
		}
		if err := h(w, r, p); err != nil {
			writeErr(w, err)
		}
	}
}

func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return r.Header.Get("Sec-Fetch-Site") == "same-origin"
	}
	u, err := url.Parse(o)
	return err == nil && u.Host == r.Host
}

func (s *Server) principal(r *http.Request) (Principal, *session, bool) {
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
		if id, err := pki.Identify(r.TLS.VerifiedChains[0][0]); err == nil {
			switch id.Role {
			case pki.RoleHome:
				return Principal{Role: RoleHome, Name: id.Name, Via: "certificate"}, nil, true
			case pki.RoleAuditor:
				return Principal{Role: RoleAuditor, Name: id.Name, Via: "certificate"}, nil, true
			case pki.RoleOperator:
				if s.cfg.OperatorSite != "" {
					return Principal{Role: RoleOperator, Name: id.Name, Site: s.cfg.OperatorSite, Via: "certificate"}, nil, true
				}
			}
		}
	}
	c, err := r.Cookie(cookieName)
	if err != nil {
		return Principal{}, nil, false
	}
	ss := s.ss.get(c.Value, s.cfg.Now())
	if ss == nil {
		return Principal{}, nil, false
	}
	return ss.p, ss, true
}

func writeJSON(w http.ResponseWriter, v any) error {
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	var he httpError
	if errors.As(err, &he) {
		code = he.code
	} else if errors.Is(err, ErrNotHere) {
		code = http.StatusNotFound
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
}

func (s *Server) signin(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		writeErr(w, forbidden("cross-origin sign-in refused"))
		return
	}
	var req struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err != nil || len(req.Token) != 48 {
		writeErr(w, httpError{http.StatusBadRequest, "want {\"token\": \"...\"} from a sign-in link"})
		return
	}
	if s.cfg.Links == nil {
		writeErr(w, httpError{http.StatusNotFound, "no sign-in links here: present a client certificate"})
		return
	}
	p, err := s.cfg.Links.Redeem(req.Token, s.cfg.Now())
	if err != nil {
		s.cfg.Logger.WarnContext(r.Context(), "ui sign-in refused", "remote", r.RemoteAddr, "err", err)
		s.metrics.signins.WithLabelValues("link", "refused").Inc()
		writeErr(w, httpError{http.StatusUnauthorized, err.Error()})
		return
	}
	if err := s.cfg.Source.Record(r.Context(), entry("ui.signin", p, nil)); err != nil {
		writeErr(w, fmt.Errorf("sign-in could not be logged, so it is refused: %w", err))
		return
	}
	s.startSession(w, r, p)
}

// entry is the log record of something a person did through the page.
func entry(kind string, p Principal, details map[string]string) tlog.Entry {
	d := map[string]string{"role": string(p.Role), "via": p.Via}
	for k, v := range details {
		d[k] = v
	}
	return tlog.Entry{Kind: kind, Actor: "ui:" + p.Name, Site: p.Site, Details: d}
}

func (s *Server) startSession(w http.ResponseWriter, r *http.Request, p Principal) {
	s.metrics.signins.WithLabelValues(p.Via, "ok").Inc()
	id, ss := s.ss.create(p, s.cfg.Now())
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: id, Path: "/", HttpOnly: true, Secure: r.TLS != nil,
		SameSite: http.SameSiteStrictMode, Expires: ss.expires})
	_ = writeJSON(w, map[string]any{"principal": p, "csrf": ss.csrf})
}

func (s *Server) signout(w http.ResponseWriter, r *http.Request, p Principal) error {
	if c, err := r.Cookie(cookieName); err == nil {
		s.ss.drop(c.Value)
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	return writeJSON(w, map[string]bool{"signed_out": true})
}

func (s *Server) me(w http.ResponseWriter, r *http.Request, p Principal) error {
	out := map[string]any{"principal": p}
	if _, ss, _ := s.principal(r); ss != nil {
		out["csrf"] = ss.csrf
	}
	return writeJSON(w, out)
}

// visible reports whether p may see something about site.
func visible(p Principal, site string) bool {
	return p.Role != RoleOperator || site == p.Site
}

func (s *Server) overviewFor(ctx context.Context, p Principal) (Overview, error) {
	ov, err := s.cfg.Source.Overview(ctx)
	if err != nil {
		return ov, err
	}
	if p.Role == RoleOperator {
		var sites []Site
		for _, st := range ov.Sites {
			if visible(p, st.Name) {
				sites = append(sites, st)
			}
		}
		var alerts []watch.Alert
		for _, a := range ov.Alerts {
			if a.Site == p.Site {
				alerts = append(alerts, a)
			}
		}
		ov.Sites, ov.Alerts, ov.Witnesses = sites, alerts, nil
	}
	if ov.Sites == nil {
		ov.Sites = []Site{}
	}
	if ov.Alerts == nil {
		ov.Alerts = []watch.Alert{}
	}
	return ov, nil
}

func (s *Server) overview(w http.ResponseWriter, r *http.Request, p Principal) error {
	ov, err := s.overviewFor(r.Context(), p)
	if err != nil {
		return err
	}
	return writeJSON(w, ov)
}

func (s *Server) sites(w http.ResponseWriter, r *http.Request, p Principal) error {
	ov, err := s.overviewFor(r.Context(), p)
	if err != nil {
		return err
	}
	return writeJSON(w, ov.Sites)
}

func (s *Server) datasets(w http.ResponseWriter, r *http.Request, p Principal) error {
	if p.Role == RoleOperator {
		return forbidden("datasets are the sending state's: host operators see their site's health and disclosures")
	}
	ds, err := s.cfg.Source.Datasets(r.Context())
	if err != nil {
		return err
	}
	if ds == nil {
		ds = []Dataset{}
	}
	return writeJSON(w, ds)
}

// LogRow is one entry as the log view shows it.
type LogRow struct {
	Index uint64 `json:"index"`
	tlog.Entry
}

func (s *Server) log(w http.ResponseWriter, r *http.Request, p Principal) error {
	ents, err := s.cfg.Source.Log(r.Context())
	if err != nil {
		return err
	}
	q := r.URL.Query()
	kind, site, text := q.Get("kind"), q.Get("site"), strings.ToLower(q.Get("q"))
	limit, _ := strconv.Atoi(q.Get("limit"))
	if limit <= 0 || limit > 5000 {
		limit = 500
	}
	rows := []LogRow{}
	for i := len(ents) - 1; i >= 0 && len(rows) < limit; i-- {
		x := ents[i]
		if !visible(p, x.Site) || kind != "" && x.Kind != kind || site != "" && x.Site != site {
			continue
		}
		if text != "" && !strings.Contains(strings.ToLower(x.Kind+" "+x.Site+" "+x.Actor+" "+x.Object+" "+x.Reason), text) {
			continue
		}
		rows = append(rows, LogRow{Index: x.Index, Entry: x.Entry})
	}
	return writeJSON(w, rows)
}

func (s *Server) receipt(w http.ResponseWriter, r *http.Request, p Principal) error {
	idx, err := strconv.ParseUint(r.PathValue("index"), 10, 64)
	if err != nil {
		return httpError{http.StatusBadRequest, "receipt index: want a log index"}
	}
	if p.Role == RoleOperator {
		ents, err := s.cfg.Source.Log(r.Context())
		if err != nil {
			return err
		}
		if idx >= uint64(len(ents)) || !visible(p, ents[idx].Site) {
			return forbidden("entry %d is not about your site", idx)
		}
	}
	b, err := s.cfg.Source.Receipt(r.Context(), idx)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", "attachment; filename="+strconv.Quote(filepath.Base(fmt.Sprintf("entry-%d.proof", idx))))
	_, err = w.Write(b)
	return err
}

func (s *Server) disclosures(w http.ResponseWriter, r *http.Request, p Principal) error {
	rep, err := s.cfg.Source.Disclosures(r.Context())
	if err != nil {
		return err
	}
	if p.Role == RoleOperator {
		var ds []tlog.Disclosure
		for _, d := range rep.Disclosures {
			if visible(p, d.Site) {
				ds = append(ds, d)
			}
		}
		var as []tlog.Alert
		for _, a := range rep.Alerts {
			if visible(p, a.Site) {
				as = append(as, a)
			}
		}
		rep = tlog.DisclosureReport{Disclosures: ds, Alerts: as}
	}
	if rep.Disclosures == nil {
		rep.Disclosures = []tlog.Disclosure{}
	}
	if rep.Alerts == nil {
		rep.Alerts = []tlog.Alert{}
	}
	return writeJSON(w, rep)
}

func (s *Server) ack(w http.ResponseWriter, r *http.Request, p Principal) error {
	idx, err := strconv.ParseUint(r.PathValue("index"), 10, 64)
	if err != nil {
		return httpError{http.StatusBadRequest, "alert index: want a log index"}
	}
	ent := entry("alert.ack", p, nil)
	ent.Object = strconv.FormatUint(idx, 10)
	if err := s.cfg.Source.Record(r.Context(), ent); err != nil {
		return err
	}
	return writeJSON(w, map[string]any{"acknowledged": idx})
}

// stream sends a server-sent event whenever the source's version changes.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, p Principal) error {
	if n := s.streams.Add(1); n > int64(s.cfg.MaxStreams) {
		s.streams.Add(-1)
		return httpError{http.StatusServiceUnavailable, "too many live views open"}
	}
	defer s.streams.Add(-1)
	fl, ok := w.(http.Flusher)
	if !ok {
		return errors.New("streaming unsupported")
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	ver := s.cfg.Source.Version(r.Context())
	fmt.Fprintf(w, "event: version\ndata: %d\n\n", ver)
	fl.Flush()
	tick := time.NewTicker(s.cfg.Poll)
	defer tick.Stop()
	beat := time.NewTicker(15 * time.Second)
	defer beat.Stop()
	for {
		select {
		case <-r.Context().Done():
			return nil
		case <-beat.C:
			fmt.Fprint(w, ": keepalive\n\n")
			fl.Flush()
		case <-tick.C:
			if v := s.cfg.Source.Version(r.Context()); v != ver {
				ver = v
				fmt.Fprintf(w, "event: version\ndata: %d\n\n", ver)
				fl.Flush()
			}
		}
	}
}
