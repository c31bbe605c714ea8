package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/digital-embassy/embassy/internal/api"
	"github.com/digital-embassy/embassy/internal/approval"
	"github.com/digital-embassy/embassy/internal/incident"
	"github.com/digital-embassy/embassy/internal/pki"
	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/tlog"
	"github.com/digital-embassy/embassy/internal/ui"
)

// The host-side view: the dashboard of internal/ui served by the daemon
// over its own state (docs/UI.md, "The host-side view"). The site is the
// only site; its access events are the log; nothing of the home's exists
// here (the daemon holds no keys and no dataset names). It is read-only:
// every method but GET and HEAD is refused before the dashboard sees it.

// storageTTL is how long a storage measurement (a List of every kind) is
// reused: listing a large store on every page load would let a viewer
// load the daemon.
const storageTTL = 30 * time.Second

// HostStorage is what the site stores, by kind.
type HostStorage struct {
	Bytes    int64            `json:"bytes"`
	Objects  map[string]int   `json:"objects"`       // by kind: config, keys, data, index, snapshots, locks
	Sizes    map[string]int64 `json:"bytes_by_kind"` // by kind
	Measured time.Time        `json:"measured"`
	Error    string           `json:"error,omitempty"`
}

// HostAccess counts the site's access events in the daemon's window.
type HostAccess struct {
	Logins      int `json:"logins"`
	Privileged  int `json:"privileged_sessions"` // logins of host operators
	Refused     int `json:"refused"`             // refused connections and requests (at least: unauthenticated ones are reported at powers of two)
	Disclosures int `json:"disclosures"`
	Unpulled    int `json:"disclosures_not_pulled"`
}

// HostDisclosure is one disclosure filed at this daemon.
type HostDisclosure struct {
	api.Disclosure
	Filed    time.Time `json:"filed"`
	Identity string    `json:"identity"`
	// Pulled: the home has fetched the events since it was filed.
	Pulled bool `json:"pulled"`
}

// HostView is GET /api/host.
type HostView struct {
	Site         string           `json:"site"`
	Jurisdiction string           `json:"jurisdiction,omitempty"`
	Home         string           `json:"home,omitempty"`
	Healthy      bool             `json:"healthy"`
	Status       string           `json:"status"`
	Storage      HostStorage      `json:"storage"`
	Access       HostAccess       `json:"access"`
	LastPull     *time.Time       `json:"last_pull,omitempty"` // last GET /v1/events by a home certificate
	Disclosures  []HostDisclosure `json:"disclosures"`         // newest first
	// AccessRequests: the requests host operators filed here, pending or
	// decided by the home's signed decision; newest first.
	AccessRequests []approval.HostRequest `json:"access_requests"`
	// Incidents: those host personnel filed here, with whether the home
	// has pulled and acknowledged each (its signed acknowledgement);
	// newest first.
	Incidents []HostIncident `json:"incidents"`
}

// HostIncident is one incident filed at this daemon.
type HostIncident struct {
	incident.HostRecord
	Pulled bool `json:"pulled"`
}

// hostState is what the daemon keeps for the view.
type hostState struct {
	mu      sync.Mutex
	pulled  time.Time // when the home last fetched the events
	upto    time.Time // the newest event it got then
	storage HostStorage
}

// notePull records that the home fetched evs.
func (s *Server) notePull(c caller, evs []Event) {
	if c.id.Role != pki.RoleHome {
		return
	}
	s.host.mu.Lock()
	defer s.host.mu.Unlock()
	s.host.pulled = time.Now().UTC()
	for _, e := range evs {
		if e.Time.After(s.host.upto) {
			s.host.upto = e.Time
		}
	}
}

// lastPull returns when the home last fetched the events and the time of
// the newest event it got: events up to that time are pulled.
func (s *Server) lastPull() (at, upto time.Time) {
	s.host.mu.Lock()
	defer s.host.mu.Unlock()
	return s.host.pulled, s.host.upto
}

func (s *Server) hostStorage(ctx context.Context) HostStorage {
	s.host.mu.Lock()
	defer s.host.mu.Unlock()
	if !s.host.storage.Measured.IsZero() && time.Since(s.host.storage.Measured) < storageTTL {
		return s.host.storage
	}
	st := HostStorage{Objects: map[string]int{}, Sizes: map[string]int64{}, Measured: time.Now().UTC()}
	for _, k := range site.Kinds {
		err := s.cfg.Backend.List(ctx, k, func(i site.Info) error {
			st.Objects[k.String()]++
			st.Sizes[k.String()] += i.Size
			st.Bytes += i.Size
			return nil
		})
		if err != nil {
			st.Error = fmt.Sprintf("list %s: %v", k, err)
			break
		}
	}
	s.host.storage = st
	return st
}

func (s *Server) health(ctx context.Context) (bool, string) {
	_, err := s.cfg.Backend.Stat(ctx, site.Handle{Kind: site.KindConfig, Name: "repo"})
	switch {
	case err == nil:
		return true, "ok"
	case errors.Is(err, site.ErrNotFound):
		return true, "ok (no repository yet)"
	}
	return false, "storage unavailable"
}

// Host returns the host view's own summary.
func (s *Server) Host(ctx context.Context) HostView {
	p := s.cfg.Backend.Properties()
	v := HostView{Site: p.Name, Jurisdiction: p.Jurisdiction, Home: s.cfg.Home, Storage: s.hostStorage(ctx), Disclosures: []HostDisclosure{},
		AccessRequests: s.access.list(), Incidents: []HostIncident{}}
	slices.Reverse(v.AccessRequests)
	held := s.incidents.held()
	for i := len(held) - 1; i >= 0; i-- {
		v.Incidents = append(v.Incidents, HostIncident{HostRecord: held[i].HostRecord, Pulled: held[i].Pulled})
	}
	v.Healthy, v.Status = s.health(ctx)
	pulled, upto := s.lastPull()
	if !pulled.IsZero() {
		v.LastPull = &pulled
	}
	evs := s.events.snapshot()
	for i := len(evs) - 1; i >= 0; i-- {
		e := evs[i]
		switch e.Kind {
		case "login":
			v.Access.Logins++
			if e.Role == string(pki.RoleOperator) {
				v.Access.Privileged++
			}
		case "denied":
			if e.Identity != "" {
				v.Access.Refused++
			}
		case "disclosure":
			if e.Disclosure == nil {
				continue
			}
			d := HostDisclosure{Disclosure: *e.Disclosure, Filed: e.Time, Identity: e.Identity, Pulled: !pulled.IsZero() && !e.Time.After(upto)}
			v.Access.Disclosures++
			if !d.Pulled {
				v.Access.Unpulled++
			}
			v.Disclosures = append(v.Disclosures, d)
		}
	}
	v.Access.Refused += unauthRefused(evs)
	return v
}

// unauthRefused counts the refused unauthenticated connections in evs
// (oldest first). The guard reports a source's running count of a window
// at each power of two (1, 2, 4, ...), so counts are not summed: each
// source adds the growth of its count, and a count lower than the last
// starts a new window.
func unauthRefused(evs []Event) int {
	last := map[string]int{}
	n := 0
	for _, e := range evs {
		if e.Kind != "denied" || e.Identity != "" {
			continue
		}
		c := max(e.Count, 1)
		if p := last[e.Remote]; c > p {
			n += c - p
		} else {
			n += c
		}
		last[e.Remote] = c
	}
	return n
}

// hostSource is the dashboard's Source over the daemon's own state.
type hostSource struct{ s *Server }

func (h hostSource) Overview(ctx context.Context) (ui.Overview, error) {
	p := h.s.cfg.Backend.Properties()
	st := ui.Site{Name: p.Name, Jurisdiction: p.Jurisdiction}
	st.Healthy, st.Status = h.s.health(ctx)
	rows, _ := h.Log(ctx)
	return ui.Overview{Home: h.s.cfg.Home, Sites: []ui.Site{st}, LogSize: uint64(len(rows))}, nil
}

func (h hostSource) Datasets(context.Context) ([]ui.Dataset, error) { return nil, ui.ErrNotHere }

// Log is the site's access events as log rows (kind "site.login",
// "site.denied", "site.disclosure"), oldest first, then the access
// requests held ("site.access.pending", ".approved", ".denied") and the
// incidents filed here ("site.incident.acknowledged" or
// ".unacknowledged"); indexes are positions in this list, not in the
// home's log.
func (h hostSource) Log(context.Context) ([]tlog.Indexed, error) {
	name := h.s.cfg.Backend.Properties().Name
	evs := h.s.events.snapshot()
	out := make([]tlog.Indexed, 0, len(evs))
	for i, e := range evs {
		x := tlog.Indexed{Index: uint64(i), Entry: tlog.Entry{Time: e.Time, Kind: "site." + e.Kind, Site: name, Actor: e.Identity, Object: e.Detail,
			Details: map[string]string{"role": e.Role, "remote": e.Remote}}}
		if e.Count > 0 {
			x.Details["count"] = strconv.Itoa(e.Count)
		}
		if d := e.Disclosure; d != nil {
			x.Reason, x.Object = d.Reason, d.What
			x.Details["who"], x.Details["access"], x.Details["ticket"] = d.Who, d.Access, d.Ticket
		}
		out = append(out, x)
	}
	for _, r := range h.s.access.list() {
		x := tlog.Indexed{Index: uint64(len(out)), Entry: tlog.Entry{Time: r.Filed, Kind: "site.access." + r.Status, Site: name, Actor: r.Requester,
			Object:  fmt.Sprintf("%s %s for %s: %s", r.Reason, r.Scope, r.Duration, r.What),
			Details: map[string]string{"id": r.ID, "who": r.Who, "status": r.Status}}}
		if !r.Expires.IsZero() {
			x.Details["expires"] = r.Expires.UTC().Format(time.RFC3339)
		}
		out = append(out, x)
	}
	for _, r := range h.s.incidents.held() {
		state := "unacknowledged"
		if !r.Acknowledged.IsZero() {
			state = "acknowledged"
		}
		x := tlog.Indexed{Index: uint64(len(out)), Entry: tlog.Entry{Time: r.Filed, Kind: "site.incident." + state, Site: name, Actor: r.FiledBy,
			Object:  r.Type + ": " + r.What,
			Details: map[string]string{"id": r.ID, "reporter": r.Reporter, "pulled": strconv.FormatBool(r.Pulled)}}}
		if !r.Acknowledged.IsZero() {
			x.Details["acknowledged"] = r.Acknowledged.UTC().Format(time.RFC3339)
		}
		out = append(out, x)
	}
	return out, nil
}

// Disclosures lists the disclosures filed here. Delays against an
// agreement's deadline are measured at the home, which holds the
// agreements; here the delay is filing time against access time.
func (h hostSource) Disclosures(ctx context.Context) (tlog.DisclosureReport, error) {
	v := h.s.Host(ctx)
	rep := tlog.DisclosureReport{Disclosures: []tlog.Disclosure{}, Alerts: []tlog.Alert{}}
	for i := len(v.Disclosures) - 1; i >= 0; i-- {
		d := v.Disclosures[i]
		delay := max(d.Filed.Sub(d.At), 0)
		rep.Disclosures = append(rep.Disclosures, tlog.Disclosure{Index: uint64(len(rep.Disclosures)), Site: v.Site, Reason: d.Reason,
			Access: d.Access, Who: d.Who, What: d.What, Ticket: d.Ticket, At: d.At, Logged: d.Filed, Delay: delay,
			DelayStr: delay.Round(time.Second).String()})
	}
	return rep, nil
}

func (h hostSource) Receipt(context.Context, uint64) ([]byte, error) { return nil, ui.ErrNotHere }

func (h hostSource) Record(context.Context, tlog.Entry) error { return ui.ErrNotHere }

// Version changes with every new event and every change of health.
func (h hostSource) Version(ctx context.Context) uint64 {
	evs := h.s.events.snapshot()
	f := fnv.New64a()
	fmt.Fprintf(f, "%d", len(evs))
	if n := len(evs); n > 0 {
		fmt.Fprintf(f, " %d", evs[n-1].Time.UnixNano())
	}
	ok, _ := h.s.health(ctx)
	at, _ := h.s.lastPull()
	fmt.Fprintf(f, " %t %d", ok, at.UnixNano())
	for _, r := range h.s.access.list() {
		fmt.Fprintf(f, " %s %s", r.ID, r.Status)
	}
	for _, r := range h.s.incidents.held() {
		fmt.Fprintf(f, " %s %t %d", r.ID, r.Pulled, r.Acknowledged.UnixNano())
	}
	return f.Sum64()
}

// HostView returns the host-side dashboard's handler, for requests over
// mutual TLS with certificates of the home PKI (HostViewTLS): host
// operators see this site; home and auditor certificates read too. It
// answers GET and HEAD only, so no request through it changes anything
// (and no CSRF token is needed).
func (s *Server) HostView() http.Handler {
	name := s.cfg.Backend.Properties().Name
	dash := ui.New(ui.Config{Source: hostSource{s}, OperatorSite: name, Logger: s.log})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusMethodNotAllowed)
			fmt.Fprintln(w, `{"error": "the host-side view is read-only: nothing changes through it"}`)
			return
		}
		if r.URL.Path == "/api/host" {
			h := w.Header()
			h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("Cache-Control", "no-store")
			if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
				h.Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusUnauthorized)
				fmt.Fprintln(w, `{"error": "present a client certificate of the home PKI"}`)
				return
			}
			_ = writeJSON(w, s.Host(r.Context()))
			return
		}
		dash.ServeHTTP(w, r)
	})
}

// HostViewTLS is the TLS configuration of the host-side view: TLS 1.3,
// the hybrid post-quantum group, client certificates of the home CA (home,
// auditor or operator, unrevoked) required. A refused certificate of the
// home CA is an access event the home pulls.
func (s *Server) HostViewTLS() *tls.Config {
	return pki.ServerTLS(s.cfg.Certificate, s.cfg.ClientCAs,
		pki.PeerCheck{Home: s.cfg.Home, Roles: []pki.Role{pki.RoleHome, pki.RoleAuditor, pki.RoleOperator}, Revoked: s.revoked},
		func(id pki.Identity, err error) {
			if id.Home != "" {
				s.Refusal(id, "", "ui: "+err.Error())
			}
		})
}

// ServeHostView serves the host-side view on ln until ctx ends, behind the
// same unauthenticated-connection limits as the daemon (Config.Limits):
// refused handshakes are counted with the daemon's own.
func (s *Server) ServeHostView(ctx context.Context, ln net.Listener) error {
	tc := s.HostViewTLS()
	tc.NextProtos = []string{"h2", "http/1.1"}
	hs := &http.Server{
		Handler:           s.HostView(),
		TLSConfig:         tc,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          newErrorLog(s),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	hs.Protocols = new(http.Protocols)
	hs.Protocols.SetHTTP1(true)
	hs.Protocols.SetHTTP2(true)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(newGuard(ln, tc, s.cfg.Limits, s)) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	err := hs.Shutdown(sctx) // live-update streams end with their connections
	if errors.Is(err, context.DeadlineExceeded) {
		_ = hs.Close() // live-update streams cut off at the deadline, as intended
		err = nil
	}
	_ = <-errc // Serve has returned (http.ErrServerClosed)
	return err
}
