// Package api holds the wire types shared by the embassy daemon
// (internal/server) and its client (internal/site/remote): these types and
// internal/server's routes are the protocol's reference (proofs of storage
// are specified in docs/formats/proofs.md).
package api

import (
	"time"

	"github.com/digital-embassy/embassy/internal/site"
)

// Headers.
const (
	HeaderRetainUntil = "Embassy-Retain-Until" // RFC 3339; PutOptions.RetainUntil
	HeaderDeferred    = "Embassy-Deferred"     // "1": PutOptions.Deferred
	HeaderModTime     = "Embassy-Mod-Time"     // RFC 3339 with nanoseconds
	HeaderTLSGroup    = "Embassy-Tls-Group"    // the negotiated key exchange, e.g. X25519MLKEM768
	HeaderRole        = "Embassy-Role"         // the role the daemon saw
)

// Error codes in Error.Code.
const (
	CodeNotFound     = "not_found"
	CodeExists       = "exists"
	CodeRange        = "range"
	CodeBadRequest   = "bad_request"
	CodeForbidden    = "forbidden"
	CodeTooLarge     = "too_large"
	CodeLengthNeeded = "length_required"
	CodeBusy         = "busy"
	CodeInternal     = "internal"
)

// Error is the body of every failed request. Message is safe to show;
// internal detail stays in the daemon's log.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// ObjectPath is the URL path of an object.
func ObjectPath(h site.Handle) string { return "/v1/objects/" + h.Kind.String() + "/" + h.Name }

// ListPath is the URL path of the listing of a kind.
func ListPath(k site.Kind) string { return "/v1/list/" + k.String() }

// Entry is one line of a listing (NDJSON). The last line has End set, so
// that a truncated listing is never mistaken for a complete one.
type Entry struct {
	Name    string    `json:"name,omitempty"`
	Size    int64     `json:"size,omitempty"`
	ModTime time.Time `json:"mtime,omitzero"`
	End     bool      `json:"end,omitempty"`
	Count   int64     `json:"count,omitempty"` // on the End line
	Err     string    `json:"error,omitempty"` // on the End line, if listing failed midway
}

// Properties is GET /v1/properties.
type Properties struct {
	Name         string `json:"name"`
	Jurisdiction string `json:"jurisdiction"`
	Connections  int    `json:"connections"`
	ObjectLock   bool   `json:"object_lock"`
	Role         string `json:"role"`      // the caller's role
	MaxBody      int64  `json:"max_body"`  // largest object accepted
	TLSGroup     string `json:"tls_group"` // the caller's negotiated key exchange
}

// Event is one entry of GET /v1/events: a connection or a refusal.
type Event struct {
	Time     time.Time `json:"time"`
	Kind     string    `json:"kind"` // login, denied, disclosure
	Identity string    `json:"identity"`
	Role     string    `json:"role"`
	Remote   string    `json:"remote"`
	Detail   string    `json:"detail,omitempty"`
	// Count is set on aggregated events of unauthenticated peers: how
	// many connections from Remote (an IP) were refused in the window.
	Count int `json:"count,omitempty"`
	// Set on disclosures filed by host personnel through the daemon.
	Disclosure *Disclosure `json:"disclosure,omitempty"`
}

// Disclosure is an access by host personnel, filed at the site's daemon
// (POST /v1/disclosures) and pulled into the home's transparency log.
type Disclosure struct {
	Reason string    `json:"reason"` // reason code (docs/formats/tlog.md)
	Access string    `json:"access"` // console, support, physical, ...
	Who    string    `json:"who"`
	What   string    `json:"what"`
	At     time.Time `json:"at"` // when the access happened
	Ticket string    `json:"ticket,omitempty"`
}
