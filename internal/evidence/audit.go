package evidence

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/digital-embassy/embassy/internal/strict"
	"github.com/digital-embassy/embassy/internal/tlog"
)

// AuditFormat identifies an auditor's evidence bundle (docs/FORMAT.md,
// "Audit bundle"): the log bundle of a period (tlog.BundleFormat) plus the
// documents its entries name by digest.
const AuditFormat = "digital-embassy.org/audit-bundle@v1"

// MaxAuditSize bounds bundles accepted by VerifyAudit.
const MaxAuditSize = tlog.MaxBundleSize

// Kinds of documents an audit bundle carries.
const (
	DocDrillReport = KindDrillReport // a signed drill report, named by a drill entry's object
	DocConfig      = "config"        // a configuration file version, named by a config.change entry's digest
)

// ErrAuditIncomplete means a part of an audit bundle was cut or altered.
var ErrAuditIncomplete = errors.New("the audit bundle is incomplete or altered")

// AuditBundle is an auditor's evidence bundle. Log proves every entry of
// the period; Parts index the entries of each part (recomputed and
// compared by VerifyAudit); Documents are the drill reports and
// configuration versions the entries name by SHA-256, and Unavailable the
// ones the home no longer had when it exported (declared, never silent).
type AuditBundle struct {
	Format      string          `json:"format"`
	Log         json.RawMessage `json:"log"`
	Parts       AuditParts      `json:"parts"`
	Documents   []AuditDocument `json:"documents"`
	Unavailable []Unavailable   `json:"unavailable,omitempty"`
}

// AuditParts are the log indices of each part of the bundle.
type AuditParts struct {
	KeyUse      []uint64 `json:"key_use"`     // key.unwrap, key.use
	Attestation []uint64 `json:"attestation"` // key.release, key.refuse (with the evidence digests)
	Drills      []uint64 `json:"drills"`      // drill results
	Config      []uint64 `json:"config"`      // config.change, agreement.change
}

// AuditDocument is one document an entry names by digest.
type AuditDocument struct {
	Index   uint64 `json:"index"`  // the entry that names it
	Kind    string `json:"kind"`   // DocDrillReport or DocConfig
	Name    string `json:"name"`   // the configuration file, or the drill plan
	Digest  string `json:"digest"` // hex SHA-256 of Content
	Content []byte `json:"content"`
}

// Unavailable is a document the exporting home did not have.
type Unavailable struct {
	Index uint64 `json:"index"`
	Why   string `json:"why"`
}

// PartsOf returns the parts of entries.
func PartsOf(ents []tlog.Indexed) AuditParts {
	p := AuditParts{KeyUse: []uint64{}, Attestation: []uint64{}, Drills: []uint64{}, Config: []uint64{}}
	for _, e := range ents {
		switch e.Kind {
		case tlog.KindKeyUnwrap, tlog.KindKeyUse:
			p.KeyUse = append(p.KeyUse, e.Index)
		case tlog.KindKeyRelease, tlog.KindKeyRefuse:
			p.Attestation = append(p.Attestation, e.Index)
		case tlog.KindDrill:
			p.Drills = append(p.Drills, e.Index)
		case tlog.KindConfigChange, tlog.KindAgreementChange:
			p.Config = append(p.Config, e.Index)
		}
	}
	return p
}

// Wanted is a document an entry names: the drill report of a drill entry,
// the content of a config.change entry.
type Wanted struct {
	Index  uint64
	Kind   string
	Name   string
	Digest string
}

// WantedDocuments lists the documents the entries name.
func WantedDocuments(ents []tlog.Indexed) []Wanted {
	var out []Wanted
	for _, e := range ents {
		switch {
		case e.Kind == tlog.KindDrill && e.Object != "":
			out = append(out, Wanted{Index: e.Index, Kind: DocDrillReport, Name: e.Details["plan"], Digest: e.Object})
		case e.Kind == tlog.KindConfigChange && e.Details["digest"] != "":
			out = append(out, Wanted{Index: e.Index, Kind: DocConfig, Name: e.Details["file"], Digest: e.Details["digest"]})
		}
	}
	return out
}

// Marshal encodes the bundle.
func (b *AuditBundle) Marshal() ([]byte, error) {
	if b.Documents == nil {
		b.Documents = []AuditDocument{}
	}
	return json.MarshalIndent(b, "", " ")
}

// AuditResult is what VerifyAudit established.
type AuditResult struct {
	Log         *tlog.Bundle
	Entries     []tlog.Indexed
	Parts       AuditParts
	Documents   int
	Unavailable []Unavailable
}

// VerifyAudit checks an audit bundle offline: the log bundle against p
// (nil: the policy it embeds, see tlog.VerifyBundle), that each part lists
// exactly the entries of its kinds, that every attestation record carries
// its evidence digest, and that every document an entry names is present
// with that digest (or declared unavailable) and no other document is; a
// drill report must also verify (its signature, homeIDFor as for Verify)
// and say what its entry says.
func VerifyAudit(data []byte, p *tlog.Policy, homeIDFor func(ed25519.PublicKey) string) (*AuditResult, error) {
	if len(data) > MaxAuditSize {
		return nil, fmt.Errorf("audit bundle is %d bytes: at most %d", len(data), MaxAuditSize)
	}
	var b AuditBundle
	if err := strict.JSON(data, &b); err != nil {
		return nil, fmt.Errorf("decode audit bundle: %w", err)
	}
	if b.Format != AuditFormat {
		return nil, fmt.Errorf("decode audit bundle: format %q, want %q", b.Format, AuditFormat)
	}
	lb, ents, err := tlog.VerifyBundle(b.Log, p)
	if err != nil {
		return nil, fmt.Errorf("log: %w", err)
	}
	want := PartsOf(ents)
	for _, c := range []struct {
		name      string
		got, want []uint64
	}{{"key-use log", b.Parts.KeyUse, want.KeyUse}, {"attestation history", b.Parts.Attestation, want.Attestation},
		{"drill results", b.Parts.Drills, want.Drills}, {"configuration history", b.Parts.Config, want.Config}} {
		if !slices.Equal(c.got, c.want) {
			return nil, fmt.Errorf("%s lists entries %v, the log's period has %v: %w", c.name, c.got, c.want, ErrAuditIncomplete)
		}
	}
	byIndex := map[uint64]tlog.Indexed{}
	for _, e := range ents {
		byIndex[e.Index] = e
		if e.Kind == tlog.KindKeyRelease && (e.Details["measurements"] == "" || e.Details["tee"] == "") {
			return nil, fmt.Errorf("key release %d carries no evidence digest (tee, measurements): %w", e.Index, ErrAuditIncomplete)
		}
	}
	docs := map[uint64]AuditDocument{}
	for _, d := range b.Documents {
		if _, dup := docs[d.Index]; dup {
			return nil, fmt.Errorf("two documents for entry %d: %w", d.Index, ErrAuditIncomplete)
		}
		docs[d.Index] = d
	}
	unavailable := map[uint64]bool{}
	for _, u := range b.Unavailable {
		unavailable[u.Index] = true
	}
	wanted := WantedDocuments(ents)
	named := map[uint64]bool{}
	for _, w := range wanted {
		named[w.Index] = true
		d, ok := docs[w.Index]
		if !ok {
			if unavailable[w.Index] {
				continue
			}
			return nil, fmt.Errorf("the %s named by entry %d (sha256 %s) is missing: %w", w.Kind, w.Index, w.Digest, ErrAuditIncomplete)
		}
		if unavailable[w.Index] {
			return nil, fmt.Errorf("entry %d's document is both carried and declared unavailable: %w", w.Index, ErrAuditIncomplete)
		}
		sum := sha256.Sum256(d.Content)
		if d.Kind != w.Kind || d.Name != w.Name || d.Digest != w.Digest || hex.EncodeToString(sum[:]) != w.Digest {
			return nil, fmt.Errorf("the %s of entry %d does not match the digest the log records (sha256 %s): %w", w.Kind, w.Index, w.Digest, ErrAuditIncomplete)
		}
		if w.Kind == DocDrillReport {
			if err := checkDrillDoc(d.Content, byIndex[w.Index], homeIDFor); err != nil {
				return nil, fmt.Errorf("drill report of entry %d: %w", w.Index, err)
			}
		}
	}
	for idx := range docs {
		if !named[idx] {
			return nil, fmt.Errorf("a document claims entry %d, which names none: %w", idx, ErrAuditIncomplete)
		}
	}
	for _, u := range b.Unavailable {
		if !named[u.Index] {
			return nil, fmt.Errorf("entry %d is declared unavailable but names no document: %w", u.Index, ErrAuditIncomplete)
		}
	}
	return &AuditResult{Log: lb, Entries: ents, Parts: want, Documents: len(docs), Unavailable: b.Unavailable}, nil
}

// checkDrillDoc checks a drill report's signature and that it says what
// its log entry says (plan, pass).
func checkDrillDoc(content []byte, e tlog.Indexed, homeIDFor func(ed25519.PublicKey) string) error {
	d, err := Parse(content)
	if err != nil {
		return err
	}
	if d.Kind != KindDrillReport {
		return fmt.Errorf("a %q document, not a drill report: %w", d.Kind, ErrAuditIncomplete)
	}
	if _, err := Verify(d, homeIDFor); err != nil {
		return err
	}
	var body struct {
		Plan string `json:"plan"`
		Home string `json:"home"`
		Pass bool   `json:"pass"`
	}
	if err := json.Unmarshal(d.Body, &body); err != nil {
		return fmt.Errorf("drill report body: %w", err)
	}
	if body.Plan != e.Details["plan"] || strconv.FormatBool(body.Pass) != e.Details["pass"] || (e.Home != "" && body.Home != e.Home) {
		return fmt.Errorf("the report (plan %s, pass %t, home %s) does not say what the entry says: %w", body.Plan, body.Pass, body.Home, ErrAuditIncomplete)
	}
	return nil
}

// IsAudit reports whether data is an audit bundle (rather than a bare log
// bundle, which 'audit verify' also accepts).
func IsAudit(data []byte) bool {
	var probe struct {
		Format string `json:"format"`
	}
	return json.Unmarshal(data, &probe) == nil && probe.Format == AuditFormat
}
