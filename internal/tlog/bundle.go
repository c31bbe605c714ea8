package tlog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// BundleFormat identifies audit bundles.
const BundleFormat = "digital-embassy.org/tlog-bundle@v1"

// MaxBundleSize bounds bundles accepted by VerifyBundle.
const MaxBundleSize = 1 << 30

// Bundle is an auditor's evidence bundle: a contiguous range of entries,
// each with its inclusion proof, against one cosigned checkpoint, plus the
// policy (log and witness keys) it was produced under.
type Bundle struct {
	Format     string        `json:"format"`
	Origin     string        `json:"origin"`
	From       time.Time     `json:"from,omitzero"`
	To         time.Time     `json:"to,omitzero"`
	Policy     string        `json:"policy"`     // C2SP tlog-policy text
	Checkpoint string        `json:"checkpoint"` // signed note with cosignatures
	Entries    []BundleEntry `json:"entries"`
}

// BundleEntry is one entry: its exact bytes and its inclusion proof.
type BundleEntry struct {
	Index uint64   `json:"index"`
	Leaf  []byte   `json:"leaf"`  // base64 of the entry bytes
	Proof [][]byte `json:"proof"` // base64 SHA-256 hashes
}

// Marshal encodes the bundle.
func (b *Bundle) Marshal() ([]byte, error) {
	if b.Entries == nil {
		b.Entries = []BundleEntry{}
	}
	return json.MarshalIndent(b, "", " ")
}

// VerifyBundle checks a bundle offline. With a nil policy it trusts the
// policy embedded in the bundle (the caller should say so). It checks the
// checkpoint's signatures and quorum, that the entries form one contiguous
// range, and every inclusion proof, and returns the decoded entries.
func VerifyBundle(data []byte, p *Policy) (*Bundle, []Indexed, error) {
	if len(data) > MaxBundleSize {
		return nil, nil, fmt.Errorf("bundle is %d bytes: at most %d", len(data), MaxBundleSize)
	}
	var b Bundle
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return nil, nil, fmt.Errorf("decode bundle: %w", err)
	}
	if dec.More() {
		return nil, nil, errors.New("decode bundle: trailing data")
	}
	if b.Format != BundleFormat {
		return nil, nil, fmt.Errorf("decode bundle: format %q, want %q", b.Format, BundleFormat)
	}
	if p == nil {
		var err error
		if p, err = ParsePolicy([]byte(b.Policy)); err != nil {
			return nil, nil, fmt.Errorf("bundle policy: %w", err)
		}
	}
	cp, err := p.VerifyCheckpoint([]byte(b.Checkpoint))
	if err != nil {
		return nil, nil, err
	}
	if cp.Origin != b.Origin {
		return nil, nil, fmt.Errorf("bundle origin %q does not match the checkpoint's %q", b.Origin, cp.Origin)
	}
	out := make([]Indexed, 0, len(b.Entries))
	for i, be := range b.Entries {
		if i > 0 && be.Index != b.Entries[i-1].Index+1 {
			return nil, nil, fmt.Errorf("bundle entries are not contiguous: %d follows %d", be.Index, b.Entries[i-1].Index)
		}
		for _, h := range be.Proof {
			if len(h) != 32 {
				return nil, nil, fmt.Errorf("entry %d: proof hash of %d bytes", be.Index, len(h))
			}
		}
		if err := verifyInclusion(be.Index, cp, be.Leaf, be.Proof); err != nil {
			return nil, nil, err
		}
		e, err := UnmarshalEntry(be.Leaf)
		if err != nil {
			return nil, nil, fmt.Errorf("entry %d: %w", be.Index, err)
		}
		out = append(out, Indexed{Index: be.Index, Entry: e})
	}
	return &b, out, nil
}
