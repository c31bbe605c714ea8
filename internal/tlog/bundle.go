package tlog

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/digital-embassy/embassy/internal/strict"
	"golang.org/x/mod/sumdb/note"
)

// BundleFormat identifies audit bundles. Version 2 binds the period:
// boundary entries and a seal by the log key (docs/formats/tlog.md).
const BundleFormat = "digital-embassy.org/tlog-bundle@v2"

// bundleFormatV1 bundles bound nothing but the entries: they are refused.
const bundleFormatV1 = "digital-embassy.org/tlog-bundle@v1"

// sealHeader opens the text a bundle's seal signs.
const sealHeader = "digital-embassy.org/tlog-bundle-seal@v1"

// MaxBundleSize bounds bundles accepted by VerifyBundle.
const MaxBundleSize = 1 << 30

// Bundle is an auditor's evidence bundle: the contiguous range of entries
// [Start, End) logged in the period, each with its inclusion proof, against
// one cosigned checkpoint, plus the policy (log and witness keys) it was
// produced under. Before and After are the entries just outside the range
// (absent at the ends of the log), proven too and logged outside the
// period, so neither end can be cut; Seal, a note signed by the log key,
// binds the period, the range and the checkpoint, so the period cannot be
// relabelled to fit a cut.
type Bundle struct {
	Format     string        `json:"format"`
	Origin     string        `json:"origin"`
	From       time.Time     `json:"from,omitzero"`
	To         time.Time     `json:"to,omitzero"`
	Policy     string        `json:"policy"`     // C2SP tlog-policy text
	Checkpoint string        `json:"checkpoint"` // signed note with cosignatures
	Start      uint64        `json:"start"`
	End        uint64        `json:"end"`
	Before     *BundleEntry  `json:"before,omitempty"`
	After      *BundleEntry  `json:"after,omitempty"`
	Seal       string        `json:"seal"`
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

// sealText is what a bundle's seal signs: the period, the range and the
// checkpoint (by hash) it is proven against.
func (b *Bundle) sealText(size uint64) string {
	t := func(x time.Time) string {
		if x.IsZero() {
			return "-"
		}
		return x.UTC().Format(time.RFC3339Nano)
	}
	cp := sha256.Sum256([]byte(b.Checkpoint))
	return fmt.Sprintf("%s\n%s\n%s\n%s\n%d\n%d\n%d\n%s\n", sealHeader, b.Origin, t(b.From), t(b.To), b.Start, b.End, size,
		base64.StdEncoding.EncodeToString(cp[:]))
}

// inPeriod reports whether t lies in [from, to] (zero: open end).
func inPeriod(t, from, to time.Time) bool {
	return (from.IsZero() || !t.Before(from)) && (to.IsZero() || !t.After(to))
}

// ErrBundleCut means a bundle does not cover its whole period.
var ErrBundleCut = errors.New("the bundle does not cover its whole period")

// VerifyBundle checks a bundle offline. With a nil policy it trusts the
// policy embedded in the bundle (the caller should say so). It checks the
// checkpoint's signatures and quorum, the seal's log signature over the
// period and range, that the entries are exactly the range, every
// inclusion proof (boundary entries included), that the first and last
// entries lie in the period and the boundary entries outside it, and
// returns the decoded entries.
func VerifyBundle(data []byte, p *Policy) (*Bundle, []Indexed, error) {
	if len(data) > MaxBundleSize {
		return nil, nil, fmt.Errorf("bundle is %d bytes: at most %d", len(data), MaxBundleSize)
	}
	var b Bundle
	v1 := fmt.Errorf("decode bundle: format %q binds no period (its ends could be cut); export the period again with this version", bundleFormatV1)
	if err := strict.JSON(data, &b); err != nil {
		if !errors.Is(err, strict.ErrTrailing) && bytes.Contains(data, []byte(bundleFormatV1)) {
			return nil, nil, v1
		}
		return nil, nil, fmt.Errorf("decode bundle: %w", err)
	}
	if b.Format == bundleFormatV1 {
		return nil, nil, v1
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
	if len(b.Seal) > 64<<10 {
		return nil, nil, errors.New("bundle seal is too large")
	}
	n, err := note.Open([]byte(b.Seal), note.VerifierList(p.Logs...))
	if err != nil {
		return nil, nil, fmt.Errorf("bundle seal is not signed by the log: %v: %w", err, ErrLogSignature)
	}
	if n.Text != b.sealText(cp.Size) {
		return nil, nil, fmt.Errorf("bundle seal does not match its period, range or checkpoint: %w", ErrBundleCut)
	}
	if b.Start > b.End || b.End > cp.Size || uint64(len(b.Entries)) != b.End-b.Start {
		return nil, nil, fmt.Errorf("bundle range [%d, %d) with %d entries in a log of %d: %w", b.Start, b.End, len(b.Entries), cp.Size, ErrBundleCut)
	}
	check := func(be BundleEntry) (Entry, error) {
		for _, h := range be.Proof {
			if len(h) != 32 {
				return Entry{}, fmt.Errorf("entry %d: proof hash of %d bytes", be.Index, len(h))
			}
		}
		if err := verifyInclusion(be.Index, cp, be.Leaf, be.Proof); err != nil {
			return Entry{}, err
		}
		e, err := UnmarshalEntry(be.Leaf)
		if err != nil {
			return Entry{}, fmt.Errorf("entry %d: %w", be.Index, err)
		}
		return e, nil
	}
	out := make([]Indexed, 0, len(b.Entries))
	for i, be := range b.Entries {
		if be.Index != b.Start+uint64(i) {
			return nil, nil, fmt.Errorf("bundle entries are not the range: entry %d at position %d of [%d, %d): %w", be.Index, i, b.Start, b.End, ErrBundleCut)
		}
		e, err := check(be)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, Indexed{Index: be.Index, Entry: e})
	}
	if k := len(out); k > 0 && (!inPeriod(out[0].Time, b.From, b.To) || !inPeriod(out[k-1].Time, b.From, b.To)) {
		return nil, nil, fmt.Errorf("the range's first or last entry was not logged in the period: %w", ErrBundleCut)
	}
	bound := func(be *BundleEntry, want uint64, present bool, which string) error {
		if !present {
			if be != nil {
				return fmt.Errorf("bundle has a %s entry at an end of the log: %w", which, ErrBundleCut)
			}
			return nil
		}
		if be == nil || be.Index != want {
			return fmt.Errorf("bundle lacks the entry %d just %s its range: %w", want, which, ErrBundleCut)
		}
		e, err := check(*be)
		if err != nil {
			return err
		}
		if inPeriod(e.Time, b.From, b.To) {
			return fmt.Errorf("entry %d just %s the range was logged in the period (%s): %w", want, which, e.Time.Format(time.RFC3339), ErrBundleCut)
		}
		return nil
	}
	if err := bound(b.Before, b.Start-1, b.Start > 0, "before"); err != nil {
		return nil, nil, err
	}
	if err := bound(b.After, b.End, b.End < cp.Size, "after"); err != nil {
		return nil, nil, err
	}
	return &b, out, nil
}

// Covers returns an error wrapping ErrBundleCut unless the bundle's period
// includes [from, to] (zero: open end; a bundle's open end covers any).
// A verified bundle is complete for its own period; an auditor who asked
// for a period checks with Covers that it was not relabelled to a
// shorter one.
func (b *Bundle) Covers(from, to time.Time) error {
	fromOK := b.From.IsZero() || (!from.IsZero() && !b.From.After(from))
	toOK := b.To.IsZero() || (!to.IsZero() && !b.To.Before(to))
	if fromOK && toOK {
		return nil
	}
	show := func(t time.Time, open string) string {
		if t.IsZero() {
			return open
		}
		return t.UTC().Format(time.RFC3339Nano)
	}
	return fmt.Errorf("the bundle covers %s to %s, not the period asked (%s to %s): %w",
		show(b.From, "the log's start"), show(b.To, "its checkpoint"), show(from, "the log's start"), show(to, "the checkpoint"), ErrBundleCut)
}
