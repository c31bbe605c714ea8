// Package site defines the contract between the vault and the storage sites
// that hold its encrypted, content-addressed objects.
//
// A site is any place that can keep immutable objects: a local directory (the
// embedded default), an S3-compatible bucket at a host abroad, or the embassy
// daemon. Sites are assumed curious and possibly hostile: they only ever see
// ciphertext, and everything read back is authenticated above this layer.
//
// Implementations must be safe for concurrent use.
package site

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Kind is the class of an object. Each kind lives in its own namespace.
type Kind uint8

const (
	KindConfig   Kind = iota + 1 // repository descriptor and key epochs
	KindKey                      // wrapped dataset keys and custodian shares
	KindPack                     // pack files holding encrypted blobs
	KindIndex                    // encrypted pack indexes
	KindSnapshot                 // encrypted, signed snapshot manifests
	KindLock                     // advisory locks
)

// Kinds lists every kind, in a stable order.
var Kinds = []Kind{KindConfig, KindKey, KindPack, KindIndex, KindSnapshot, KindLock}

// String returns the folder name of the kind ("config", "keys", "data", ...).
func (k Kind) String() string {
	switch k {
	case KindConfig:
		return "config"
	case KindKey:
		return "keys"
	case KindPack:
		return "data"
	case KindIndex:
		return "index"
	case KindSnapshot:
		return "snapshots"
	case KindLock:
		return "locks"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// ParseKind is the inverse of Kind.String.
func ParseKind(s string) (Kind, error) {
	for _, k := range Kinds {
		if k.String() == s {
			return k, nil
		}
	}
	return 0, fmt.Errorf("unknown object kind %q", s)
}

// Handle names one object. Name is a relative, slash-separated path whose
// components use only [a-z0-9._-] and never start with a dot; see ValidName.
type Handle struct {
	Kind Kind
	Name string
}

func (h Handle) String() string { return h.Kind.String() + "/" + h.Name }

// Validate reports whether h is well formed.
func (h Handle) Validate() error {
	if h.Kind < KindConfig || h.Kind > KindLock {
		return fmt.Errorf("invalid object kind %d", h.Kind)
	}
	return ValidName(h.Name)
}

// ValidName checks that name is a safe relative object name.
func ValidName(name string) error {
	if name == "" || len(name) > 512 {
		return fmt.Errorf("invalid object name %q: empty or too long", name)
	}
	for _, part := range strings.Split(name, "/") {
		if part == "" || part[0] == '.' {
			return fmt.Errorf("invalid object name %q: empty or hidden path component", name)
		}
		for _, c := range part {
			ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
			if !ok {
				return fmt.Errorf("invalid object name %q: character %q not allowed", name, c)
			}
		}
	}
	return nil
}

// Info describes a stored object.
type Info struct {
	Handle  Handle
	Size    int64
	ModTime time.Time
}

// Payload is a re-readable body, so that a retrying decorator can replay a Put.
type Payload interface {
	Len() int64
	NewReader() io.Reader
}

// Bytes is a Payload over a byte slice.
type Bytes []byte

func (b Bytes) Len() int64           { return int64(len(b)) }
func (b Bytes) NewReader() io.Reader { return bytes.NewReader(b) }

// PutOptions modify Put.
type PutOptions struct {
	// IfAbsent makes Put create-only: it fails with ErrExists if the object
	// is present. Every vault object is written this way.
	IfAbsent bool
	// RetainUntil asks the site to refuse deletion before this time (object
	// lock / WORM), where the site supports it. Zero means no retention.
	RetainUntil time.Time
	// Deferred lets the site return before the object is durable against
	// power loss (it is still atomic and visible); the caller makes it
	// durable by calling Sync before relying on it. Packs are written this
	// way and synced in batches before the index that names them.
	Deferred bool
}

// Syncer is implemented by sites that can defer durability (see
// PutOptions.Deferred). After Sync returns, every object written before it
// is durable.
type Syncer interface {
	Sync(ctx context.Context) error
}

// Unwrapper is implemented by decorators.
type Unwrapper interface {
	Unwrap() Backend
}

// Sync makes deferred writes durable at b, looking through decorators. It
// does nothing for sites whose writes are always durable.
func Sync(ctx context.Context, b Backend) error {
	for b != nil {
		if s, ok := b.(Syncer); ok {
			return s.Sync(ctx)
		}
		u, ok := b.(Unwrapper)
		if !ok {
			return nil
		}
		b = u.Unwrap()
	}
	return nil
}

// Properties describe a site.
type Properties struct {
	Name         string // the site's name in the home's registry
	Jurisdiction string // ISO 3166 alpha-2 code, upper case
	Location     string // URL with any secret removed
	Connections  int    // useful number of concurrent requests
	ObjectLock   bool   // whether RetainUntil is enforced
	// ReadAlign, when positive, is the unit a ranged read fetches whole
	// from the storage behind the site (an erasure group's stripe: k
	// shards' worth of object bytes): a reader that reads on its
	// multiples fetches no byte twice. A hint, never needed for
	// correctness.
	ReadAlign int64
}

// Backend is the storage contract every site implements.
type Backend interface {
	// Put stores p under h atomically: a concurrent Get or List never sees a
	// partial object, and a crash leaves either no object or the whole one.
	// With IfAbsent it returns an error wrapping ErrExists if h is present.
	Put(ctx context.Context, h Handle, p Payload, opts PutOptions) error
	// Get calls fn with a reader over [off, off+n) of h (n <= 0: to the end).
	// fn may run more than once (retries) and must be idempotent. A missing
	// object gives an error wrapping ErrNotFound; a range past the end gives
	// an error wrapping ErrRange.
	Get(ctx context.Context, h Handle, off, n int64, fn func(io.Reader) error) error
	// Stat returns the size of h, or an error wrapping ErrNotFound.
	Stat(ctx context.Context, h Handle) (Info, error)
	// List calls fn for every object of kind k, in no particular order,
	// stopping at fn's first error, which it returns.
	List(ctx context.Context, k Kind, fn func(Info) error) error
	// Delete removes h. Deleting a missing object gives ErrNotFound.
	Delete(ctx context.Context, h Handle) error
	// Properties describes the site.
	Properties() Properties
	// Close releases resources.
	Close() error
}

// Sentinel errors of the contract.
var (
	ErrNotFound = errors.New("object not found")
	ErrExists   = errors.New("object already exists")
	ErrRange    = errors.New("range outside object")
)

type permanent struct{ err error }

func (p permanent) Error() string { return p.err.Error() }
func (p permanent) Unwrap() error { return p.err }

// Permanent marks err as not worth retrying.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanent{err}
}

// IsPermanent reports whether err (or one it wraps) was marked Permanent, or
// is one of the contract's sentinels, which retrying cannot change.
func IsPermanent(err error) bool {
	var p permanent
	return errors.As(err, &p) || errors.Is(err, ErrNotFound) || errors.Is(err, ErrExists) || errors.Is(err, ErrRange)
}

// ReadAll reads a whole object into memory.
func ReadAll(ctx context.Context, b Backend, h Handle) ([]byte, error) {
	var out []byte
	err := b.Get(ctx, h, 0, 0, func(r io.Reader) error {
		var err error
		out, err = io.ReadAll(r)
		return err
	})
	return out, err
}

// ReadRange reads n bytes at off into memory.
func ReadRange(ctx context.Context, b Backend, h Handle, off, n int64) ([]byte, error) {
	buf := make([]byte, n)
	err := b.Get(ctx, h, off, n, func(r io.Reader) error {
		_, err := io.ReadFull(r, buf)
		return err
	})
	return buf, err
}
