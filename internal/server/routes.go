package server

import (
	"errors"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/digital-embassy/embassy/internal/api"
	"github.com/digital-embassy/embassy/internal/pki"
)

type handlerFunc func(w http.ResponseWriter, r *http.Request, c caller) error

func (s *Server) routes() {
	s.handle("PUT /v1/objects/{kind}/{name...}", "put", writers, true, s.putObject)
	s.handle("GET /v1/objects/{kind}/{name...}", "get", readers, true, s.getObject)
	s.handle("HEAD /v1/objects/{kind}/{name...}", "stat", readers, true, s.statObject)
	s.handle("DELETE /v1/objects/{kind}/{name...}", "delete", writers, true, s.deleteObject)
	s.handle("GET /v1/list/{kind}", "list", readers, true, s.listObjects)
	s.handle("POST /v1/sync", "sync", writers, true, s.sync)
	s.handle("POST /v1/prove", "prove", readers, true, s.prove)
	s.handle("POST /v1/exit/certificate", "exit_certificate", writers, true, s.exitCertificate)
	s.handle("PUT /v1/crl", "crl", writers, false, s.putCRL)
	s.handle("POST /v1/facts", "facts", readers, false, s.facts)
	s.handle("GET /v1/properties", "properties", observers, false, s.properties)
	s.handle("GET /v1/events", "events", operators, false, s.eventsList)
	s.handle("POST /v1/disclosures", "disclose", operators, false, s.fileDisclosure)
	s.handle("POST /v1/access", "access_request", operatorOnly, false, s.fileAccess)
	s.handle("GET /v1/access", "access_list", operators, false, s.listAccess)
	s.handle("POST /v1/access/{id}/decision", "access_decision", operators, false, s.decideAccess)
	s.handle("GET /v1/maintenance/list/{kind}", "maintenance_list", operatorOnly, true, s.maintenanceList)
	s.handle("POST /v1/incidents", "incident_file", operatorOnly, false, s.fileIncident)
	s.handle("GET /v1/incidents", "incident_list", operators, false, s.listIncidents)
	s.handle("POST /v1/incidents/{id}/ack", "incident_ack", operators, false, s.ackIncident)
	s.handle("POST /v1/capacity", "capacity", writers, false, s.capacity)
	s.handle("GET /healthz", "healthz", observers, false, s.healthz)
	s.handle("GET /v1/version", "version", observers, false, s.versionHandler()) // api_version.go: running binary's digest and build info
	s.handle("GET /metrics", "metrics", observers, false, s.metricsText)
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.metrics.request("unknown", "", http.StatusNotFound, -1)
		writeError(w, &httpError{status: http.StatusNotFound, code: api.CodeNotFound, msg: "no such endpoint"})
	})
}

// actions says what each route does, for refusals: "role operator may not
// read capacity". The route itself stays the metrics and event label.
var actions = map[string]string{
	"put":              "store objects",
	"get":              "read objects",
	"stat":             "stat objects",
	"delete":           "delete objects",
	"list":             "list objects",
	"sync":             "sync the site",
	"prove":            "ask for storage proofs",
	"exit_certificate": "ask for an exit certificate",
	"crl":              "push a CRL",
	"facts":            "ask for site facts",
	"properties":       "read site properties",
	"events":           "read events",
	"disclose":         "file disclosures",
	"access_request":   "request access",
	"access_list":      "list access requests",
	"access_decision":  "decide access requests",
	"maintenance_list": "list objects for maintenance",
	"incident_file":    "file incidents",
	"incident_list":    "list incidents",
	"incident_ack":     "acknowledge incidents",
	"capacity":         "read capacity",
	"healthz":          "read health",
	"version":          "read the version",
	"metrics":          "read metrics",
}

// action is route's entry in actions, or route itself.
func action(route string) string {
	if a, ok := actions[route]; ok {
		return a
	}
	return route
}

// handle registers fn behind authentication, role checks, limits (when
// limited), metrics and error rendering.
func (s *Server) handle(pattern, route string, roles []pki.Role, limited bool, fn handlerFunc) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &recorder{ResponseWriter: w}
		c, err := callerOf(r)
		role := string(c.id.Role)
		if err == nil {
			// Revocation is checked on every request too: an HTTP/2
			// connection opened before the CRL arrived stays open.
			if rerr := s.revoked.Check(r.TLS.PeerCertificates[0]); rerr != nil {
				s.events.add(Event{Kind: "denied", Identity: c.id.String(), Role: role, Remote: r.RemoteAddr, Detail: route + ": " + rerr.Error()})
				err = fail(http.StatusForbidden, api.CodeForbidden, "certificate revoked", rerr)
				c = caller{}
			}
		}
		if err == nil && !allowed(roles, c.id.Role) {
			s.events.add(Event{Kind: "denied", Identity: c.id.String(), Role: role, Remote: r.RemoteAddr, Detail: route})
			err = fail(http.StatusForbidden, api.CodeForbidden, "role "+role+" may not "+action(route), nil)
		} else if err != nil {
			err = fail(http.StatusForbidden, api.CodeForbidden, "no valid client identity", err)
		}
		if err == nil && limited {
			select {
			case s.sem <- struct{}{}:
				defer func() { <-s.sem }()
				if s.clients.acquire(c.key) {
					defer s.clients.release(c.key)
				} else {
					s.metrics.reject("per_client")
					err = fail(http.StatusTooManyRequests, api.CodeBusy, "too many concurrent requests from this client", nil)
				}
			default:
				s.metrics.reject("inflight")
				err = fail(http.StatusServiceUnavailable, api.CodeBusy, "daemon busy, retry later", nil)
			}
			if err != nil {
				rec.Header().Set("Retry-After", "1")
			}
		}
		if err == nil {
			if r.TLS != nil {
				rec.Header().Set(api.HeaderTLSGroup, r.TLS.CurveID.String())
			}
			if limited {
				s.metrics.inflight.Add(1)
			}
			err = fn(rec, r, c)
			if limited {
				s.metrics.inflight.Add(-1)
			}
		}
		if err != nil {
			s.finish(r, rec, route, err)
		}
		status := rec.status
		if status == 0 {
			status = http.StatusOK
		}
		s.metrics.request(route, role, status, time.Since(start))
		s.metrics.bytesOut.Add(rec.n.Load())
	})
}

func (s *Server) finish(r *http.Request, rec *recorder, route string, err error) {
	var he *httpError
	if !errors.As(err, &he) {
		he = siteError(err).(*httpError)
	}
	lvl := slog.LevelDebug
	if he.status >= 500 {
		lvl = slog.LevelError
	}
	if r.Context().Err() != nil {
		lvl = slog.LevelDebug
	}
	s.log.Log(r.Context(), lvl, "request failed", slog.String("route", route), slog.Int("status", he.status), slog.Any("err", err))
	if rec.status != 0 {
		// The response has begun: cut the connection so the client sees a
		// truncated body, never a complete-looking wrong one.
		panic(http.ErrAbortHandler)
	}
	rec.status = he.status
	if he.status == 499 { // nobody is listening
		return
	}
	writeError(rec.ResponseWriter, he)
}

// recorder notes the status and counts the bytes written.
type recorder struct {
	http.ResponseWriter
	status int
	n      atomic.Int64
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(p)
	r.n.Add(int64(n))
	return n, err
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
