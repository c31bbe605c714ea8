package repo

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"time"

	"github.com/digital-embassy/embassy/internal/keys"
)

const (
	snapshotFormat = "embassy.snapshot.v2"
	// snapshotFormatV1 manifests bind no index set; they are still read,
	// with a warning, until 'embassy upgrade' re-signs them.
	snapshotFormatV1 = "embassy.snapshot.v1"
	snapshotSigCtx   = "embassy.v1 snapshot"
	maxManifestSize  = 16 << 20
	// maxBoundIndexes bounds the index set a manifest binds (64 hex
	// digits each: 16 MiB of manifest holds about 250,000).
	maxBoundIndexes = 1 << 17
)

// Snapshot is a signed manifest: the root of one point-in-time copy of a dataset.
type Snapshot struct {
	Format     string        `json:"format"`
	Home       string        `json:"home"`
	Dataset    string        `json:"dataset"`
	DatasetID  string        `json:"dataset_id"`
	Time       time.Time     `json:"time"`
	Host       string        `json:"host"`
	Paths      []string      `json:"paths"`
	Class      string        `json:"class"`
	Tree       ID            `json:"tree"`
	Root       *Node         `json:"root,omitempty"` // metadata of a snapshotted directory itself
	Parent     *ID           `json:"parent,omitempty"`
	Tags       []string      `json:"tags,omitempty"`
	KeyVersion uint32        `json:"key_version"`
	Stats      SnapshotStats `json:"stats"`
	// Indexes is the exact set of index objects (ascending ids) live in
	// the dataset when the snapshot was committed: every blob the
	// snapshot needs is listed in one of them (docs/FORMAT.md §10.1).
	// Empty only in a v1 manifest.
	Indexes []ID `json:"indexes,omitempty"`

	// Set when loaded, not stored in the body.
	ID    ID     `json:"-"`
	Epoch uint32 `json:"-"`
}

// SnapshotStats summarise what a snapshot read and stored.
type SnapshotStats struct {
	Files       int64   `json:"files"`
	Dirs        int64   `json:"dirs"`
	Bytes       int64   `json:"bytes"`        // logical bytes of the files
	NewBlobs    int64   `json:"new_blobs"`    // blobs not already in the dataset
	NewRaw      int64   `json:"new_raw"`      // their plaintext size
	NewStored   int64   `json:"new_stored"`   // their size at a site after compression and sealing
	Unchanged   int64   `json:"unchanged"`    // files reused from the parent without reading
	DurationSec float64 `json:"duration_sec"` // wall time
}

func signManifest(s *Snapshot, epoch uint32, priv ed25519.PrivateKey) ([]byte, error) {
	body, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	env := Signed{Body: body, Epoch: epoch, Sig: b64(keys.Sign(priv, snapshotSigCtx, body))}
	return json.Marshal(env)
}

// decodeManifest parses a signed manifest plaintext and checks its signature
// with the signing key of the epoch it names.
func decodeManifest(b []byte, signKey func(epoch uint32) (ed25519.PublicKey, error)) (*Snapshot, uint32, error) {
	if len(b) > maxManifestSize {
		return nil, 0, fmt.Errorf("manifest of %d bytes is too large: %w", len(b), errFormat)
	}
	var env Signed
	if err := json.Unmarshal(b, &env); err != nil {
		return nil, 0, fmt.Errorf("manifest envelope: %v: %w", err, errFormat)
	}
	pub, err := signKey(env.Epoch)
	if err != nil {
		return nil, 0, err
	}
	sig, err := unb64(env.Sig)
	if err != nil || !keys.Verify(pub, snapshotSigCtx, env.Body, sig) {
		return nil, 0, fmt.Errorf("manifest signature does not verify against the home's key of epoch %d: %w", env.Epoch, ErrSignature)
	}
	var s Snapshot
	if err := json.Unmarshal(env.Body, &s); err != nil {
		return nil, 0, fmt.Errorf("manifest: %v: %w", err, errFormat)
	}
	switch s.Format {
	case snapshotFormat:
		if len(s.Indexes) == 0 || len(s.Indexes) > maxBoundIndexes {
			return nil, 0, fmt.Errorf("manifest binds %d indexes (want 1 to %d): %w", len(s.Indexes), maxBoundIndexes, errFormat)
		}
		for i := 1; i < len(s.Indexes); i++ {
			if bytes.Compare(s.Indexes[i-1][:], s.Indexes[i][:]) >= 0 {
				return nil, 0, fmt.Errorf("manifest index set is not strictly ascending: %w", errFormat)
			}
		}
	case snapshotFormatV1:
		if len(s.Indexes) != 0 {
			return nil, 0, fmt.Errorf("a %s manifest cannot bind indexes: %w", snapshotFormatV1, errFormat)
		}
	default:
		return nil, 0, fmt.Errorf("manifest format %q not supported (this build reads %s and %s): %w", s.Format, snapshotFormat, snapshotFormatV1, errFormat)
	}
	return &s, env.Epoch, nil
}

// Bound reports whether the manifest binds its index set (format v2).
func (s *Snapshot) Bound() bool { return s.Format == snapshotFormat }
