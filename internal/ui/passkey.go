package ui

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/digital-embassy/embassy/internal/atomicfile"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
)

// Passkeys are WebAuthn credentials registered by a person who first signed
// in with a one-time link; afterwards they sign in with the passkey alone
// and get the role the link gave them. <home>/ui/passkeys.json holds the
// public keys only.
type Passkeys struct {
	Path string
	// RPID is the relying party: the dashboard's host name as people reach
	// it (default "localhost"). Origins are http(s)://RPID[:port].
	RPID string
	mu   sync.Mutex
}

// PasskeyUser is one registered person.
type PasskeyUser struct {
	ID          []byte                `json:"id"`
	Principal   Principal             `json:"principal"`
	Credentials []webauthn.Credential `json:"credentials"`
	Registered  time.Time             `json:"registered"`
}

func (u *PasskeyUser) WebAuthnID() []byte   { return u.ID }
func (u *PasskeyUser) WebAuthnName() string { return u.Principal.Name }
func (u *PasskeyUser) WebAuthnDisplayName() string {
	return u.Principal.Name + " (" + string(u.Principal.Role) + ")"
}
func (u *PasskeyUser) WebAuthnCredentials() []webauthn.Credential { return u.Credentials }

func (p *Passkeys) load() ([]*PasskeyUser, error) {
	b, err := os.ReadFile(p.Path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var us []*PasskeyUser
	if err := json.Unmarshal(b, &us); err != nil {
		return nil, fmt.Errorf("%s: %w", p.Path, err)
	}
	return us, nil
}

func (p *Passkeys) save(us []*PasskeyUser) error {
	b, err := json.MarshalIndent(us, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p.Path), 0o700); err != nil {
		return err
	}
	return atomicfile.Write(p.Path, b, 0o600)
}

// relyingParty builds the WebAuthn configuration for the request's origin,
// which must be on the configured RP ID.
func (p *Passkeys) relyingParty(r *http.Request) (*webauthn.WebAuthn, error) {
	rpid := p.RPID
	if rpid == "" {
		rpid = "localhost"
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(r.Host); err == nil {
		host = h
	}
	if host != rpid {
		return nil, httpError{http.StatusBadRequest, fmt.Sprintf("passkeys work at https://%s (the configured relying party), not at %s", rpid, host)}
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return webauthn.New(&webauthn.Config{RPID: rpid, RPDisplayName: "Digital Embassy", RPOrigins: []string{scheme + "://" + r.Host}})
}

// ceremonies keeps WebAuthn session data between begin and finish, for a
// few minutes, keyed by a random id in a cookie.
type ceremonies struct {
	mu sync.Mutex
	m  map[string]ceremony
}

type ceremony struct {
	data    webauthn.SessionData
	user    *PasskeyUser // registration only
	expires time.Time
}

func (c *ceremonies) put(cer ceremony, now time.Time) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]ceremony{}
	}
	for k, v := range c.m {
		if !v.expires.After(now) {
			delete(c.m, k)
		}
	}
	if len(c.m) > 10000 {
		for k := range c.m { // shed the oldest-ish under a flood
			delete(c.m, k)
			break
		}
	}
	id := randHex(16)
	c.m[id] = cer
	return id
}

func (c *ceremonies) take(id string, now time.Time) (ceremony, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cer, ok := c.m[id]
	delete(c.m, id)
	return cer, ok && cer.expires.After(now)
}

const ceremonyCookie = "embassy_webauthn"

func (s *Server) passkeyRegisterBegin(w http.ResponseWriter, r *http.Request, p Principal) error {
	if s.cfg.Passkeys == nil {
		return httpError{http.StatusNotFound, "passkeys are not enabled on this dashboard"}
	}
	rp, err := s.cfg.Passkeys.relyingParty(r)
	if err != nil {
		return err
	}
	id := make([]byte, 32)
	_, _ = rand.Read(id)
	u := &PasskeyUser{ID: id, Principal: Principal{Role: p.Role, Name: p.Name, Site: p.Site, Via: "passkey"}}
	opts, data, err := rp.BeginRegistration(u, webauthn.WithResidentKeyRequirement(protocol.ResidentKeyRequirementRequired))
	if err != nil {
		return err
	}
	cid := s.cer.put(ceremony{data: *data, user: u, expires: s.cfg.Now().Add(5 * time.Minute)}, s.cfg.Now())
	http.SetCookie(w, &http.Cookie{Name: ceremonyCookie, Value: cid, Path: "/api/passkey/", HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode, MaxAge: 300})
	return writeJSON(w, opts)
}

func (s *Server) passkeyRegisterFinish(w http.ResponseWriter, r *http.Request, p Principal) error {
	if s.cfg.Passkeys == nil {
		return httpError{http.StatusNotFound, "passkeys are not enabled on this dashboard"}
	}
	c, err := r.Cookie(ceremonyCookie)
	if err != nil {
		return httpError{http.StatusBadRequest, "no registration in progress: start again"}
	}
	cer, ok := s.cer.take(c.Value, s.cfg.Now())
	if !ok || cer.user == nil || cer.user.Principal.Name != p.Name {
		return httpError{http.StatusBadRequest, "registration expired or not yours: start again"}
	}
	rp, err := s.cfg.Passkeys.relyingParty(r)
	if err != nil {
		return err
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	cred, err := rp.FinishRegistration(cer.user, cer.data, r)
	if err != nil {
		return httpError{http.StatusBadRequest, "passkey refused: " + protocolDetail(err)}
	}
	cer.user.Credentials = []webauthn.Credential{*cred}
	cer.user.Registered = s.cfg.Now().UTC()
	pk := s.cfg.Passkeys
	pk.mu.Lock()
	us, err := pk.load()
	if err == nil {
		us = append(us, cer.user)
		err = pk.save(us)
	}
	pk.mu.Unlock()
	if err != nil {
		return err
	}
	if err := s.cfg.Source.Record(r.Context(), entry("ui.passkey", p, map[string]string{"action": "registered"})); err != nil {
		return err
	}
	return writeJSON(w, map[string]any{"registered": true})
}

func (s *Server) passkeyLoginBegin(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Passkeys == nil {
		writeErr(w, httpError{http.StatusNotFound, "passkeys are not enabled on this dashboard"})
		return
	}
	if !sameOrigin(r) {
		writeErr(w, forbidden("cross-origin sign-in refused"))
		return
	}
	rp, err := s.cfg.Passkeys.relyingParty(r)
	if err != nil {
		writeErr(w, err)
		return
	}
	opts, data, err := rp.BeginDiscoverableLogin()
	if err != nil {
		writeErr(w, err)
		return
	}
	cid := s.cer.put(ceremony{data: *data, expires: s.cfg.Now().Add(5 * time.Minute)}, s.cfg.Now())
	http.SetCookie(w, &http.Cookie{Name: ceremonyCookie, Value: cid, Path: "/api/passkey/", HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode, MaxAge: 300})
	_ = writeJSON(w, opts)
}

func (s *Server) passkeyLoginFinish(w http.ResponseWriter, r *http.Request) {
	fail := func(err error) {
		s.cfg.Logger.WarnContext(r.Context(), "ui passkey sign-in refused", "remote", r.RemoteAddr, "err", err)
		writeErr(w, err)
	}
	if s.cfg.Passkeys == nil || !sameOrigin(r) {
		fail(forbidden("passkey sign-in refused"))
		return
	}
	c, err := r.Cookie(ceremonyCookie)
	if err != nil {
		fail(httpError{http.StatusBadRequest, "no sign-in in progress: start again"})
		return
	}
	cer, ok := s.cer.take(c.Value, s.cfg.Now())
	if !ok || cer.user != nil {
		fail(httpError{http.StatusBadRequest, "sign-in expired: start again"})
		return
	}
	rp, err := s.cfg.Passkeys.relyingParty(r)
	if err != nil {
		fail(err)
		return
	}
	pk := s.cfg.Passkeys
	pk.mu.Lock()
	defer pk.mu.Unlock()
	us, err := pk.load()
	if err != nil {
		fail(err)
		return
	}
	var found *PasskeyUser
	handler := func(rawID, userHandle []byte) (webauthn.User, error) {
		for _, u := range us {
			if bytes.Equal(u.ID, userHandle) {
				found = u
				return u, nil
			}
		}
		return nil, errors.New("unknown passkey")
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	cred, err := rp.FinishDiscoverableLogin(handler, cer.data, r)
	if err != nil || found == nil {
		fail(httpError{http.StatusUnauthorized, "passkey not accepted: " + protocolDetail(err)})
		return
	}
	// Keep the signature counter, so a cloned authenticator shows.
	for i := range found.Credentials {
		if bytes.Equal(found.Credentials[i].ID, cred.ID) {
			found.Credentials[i].Authenticator = cred.Authenticator
		}
	}
	_ = pk.save(us)
	p := found.Principal
	p.Via = "passkey"
	if err := s.cfg.Source.Record(r.Context(), entry("ui.signin", p, nil)); err != nil {
		fail(fmt.Errorf("sign-in could not be logged, so it is refused: %w", err))
		return
	}
	s.startSession(w, r, p)
}

func protocolDetail(err error) string {
	var pe *protocol.Error
	if errors.As(err, &pe) && pe.DevInfo != "" {
		return pe.Details + " (" + pe.DevInfo + ")"
	}
	if err == nil {
		return "unknown credential"
	}
	return err.Error()
}
