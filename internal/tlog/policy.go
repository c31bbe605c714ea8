package tlog

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/digital-embassy/embassy/internal/hint"
	f_log "github.com/transparency-dev/formats/log"
	f_note "github.com/transparency-dev/formats/note"
	"github.com/transparency-dev/formats/witness"
	"golang.org/x/mod/sumdb/note"
)

// Policy is a parsed C2SP tlog-policy file: the log's verifier keys and the
// witnesses whose cosignatures a checkpoint needs (the quorum). It is the
// auditor's whole trust anchor.
type Policy struct {
	Text      []byte
	Logs      []note.Verifier
	LogKeys   []string
	Witnesses []PolicyWitness
	quorum    witness.Group
	groups    map[string]policyGroup
	quorumOf  string // the quorum line's name ("none": no witness)
}

// policyGroup is a group line: how many of its members (witnesses or
// groups) must cosign.
type policyGroup struct {
	need    int // 0 means all
	members []string
}

// HomeWitnessSuffix marks the home's own witnesses: their URL host ends in
// it (they are served in-process while a command appends). Every other
// witness is outside the home (a host site's, or an independent one).
const HomeWitnessSuffix = ".witness.invalid"

// PolicyWitness is one witness line.
type PolicyWitness struct {
	Name string `json:"name"`
	VKey string `json:"vkey"`
	URL  string `json:"url,omitempty"`
}

// ParsePolicy parses a tlog-policy file. Witness keys may be Ed25519
// (cosignature/v1) or ML-DSA-44 vkeys.
func ParsePolicy(text []byte) (*Policy, error) {
	p := &Policy{Text: text}
	var norm bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.Index(line, "#"); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "log":
			if len(f) < 2 || len(f) > 3 {
				return nil, fmt.Errorf("policy: invalid log line %q", shortLine(line))
			}
			v, err := note.NewVerifier(f[1])
			if err != nil {
				return nil, fmt.Errorf("policy: log key: %v", err)
			}
			p.Logs = append(p.Logs, v)
			p.LogKeys = append(p.LogKeys, f[1])
			continue
		case "witness":
			if len(f) == 3 {
				f = append(f, "https://witness.invalid/") // the URL is optional for verifiers
			}
			if len(f) != 4 {
				return nil, fmt.Errorf("policy: invalid witness line %q", shortLine(line))
			}
			w := PolicyWitness{Name: f[1], VKey: f[2], URL: f[3]}
			if len(strings.Fields(line)) == 3 {
				w.URL = ""
			}
			p.Witnesses = append(p.Witnesses, w)
			line = strings.Join(f, " ")
		case "group":
			if len(f) >= 4 {
				g := policyGroup{members: f[3:]}
				switch f[2] {
				case "all":
				case "any":
					g.need = 1
				default:
					n, err := strconv.Atoi(f[2])
					if err != nil || n < 1 {
						return nil, fmt.Errorf("policy: group %s: threshold %q", f[1], f[2])
					}
					g.need = n
				}
				if p.groups == nil {
					p.groups = map[string]policyGroup{}
				}
				p.groups[f[1]] = g
			}
		case "quorum":
			if len(f) == 2 {
				p.quorumOf = f[1]
			}
		}
		norm.WriteString(line)
		norm.WriteByte('\n')
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	if len(p.Logs) == 0 {
		return nil, errors.New("policy: no log line")
	}
	g, err := witness.ParsePolicy(norm.Bytes())
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	p.quorum = g
	return p, nil
}

// IsHomeWitness tells the home's own witnesses apart (HomeWitnessSuffix).
func (w PolicyWitness) IsHomeWitness() bool {
	u, err := url.Parse(w.URL)
	return w.URL == "" || err != nil || strings.HasSuffix(u.Hostname(), HomeWitnessSuffix)
}

// External lists the witnesses outside the home.
func (p *Policy) External() []PolicyWitness {
	var out []PolicyWitness
	for _, w := range p.Witnesses {
		if !w.IsHomeWitness() {
			out = append(out, w)
		}
	}
	return out
}

// HomeAlone tells whether the home could satisfy the quorum with its own
// witnesses only. Then the home, or whoever takes its keys, can wipe its
// tiles and witness state and make a second history whose receipts verify
// against this policy: a receipt proves nothing against the home itself.
func (p *Policy) HomeAlone() bool {
	if p.quorumOf == "" || p.quorumOf == "none" {
		return true
	}
	home := map[string]bool{}
	for _, w := range p.Witnesses {
		if w.IsHomeWitness() {
			home[w.Name] = true
		}
	}
	return p.satisfiedBy(p.quorumOf, home, 0)
}

// satisfiedBy evaluates the group tree with only the witnesses in have.
func (p *Policy) satisfiedBy(name string, have map[string]bool, depth int) bool {
	if depth > 32 {
		return false
	}
	g, ok := p.groups[name]
	if !ok {
		return have[name]
	}
	n := 0
	for _, m := range g.members {
		if p.satisfiedBy(m, have, depth+1) {
			n++
		}
	}
	if g.need == 0 {
		return n == len(g.members)
	}
	return n >= g.need
}

// ErrHomeAlone is returned by RequireExternal.
var ErrHomeAlone = errors.New("the log policy's quorum can be met by the home's own witnesses alone")

// RequireExternal returns ErrHomeAlone unless every checkpoint that meets
// the quorum carries a cosignature from a witness outside the home; the
// way out is its hint (hint.Of). Auditors and classes of data that need
// protection against the home rewriting history require it.
func (p *Policy) RequireExternal() error {
	if !p.HomeAlone() {
		return nil
	}
	if len(p.External()) == 0 {
		return hint.Wrap(fmt.Errorf("%w: it names no witness outside the home", ErrHomeAlone),
			"add a host site's witness with 'embassy witness add NAME VKEY URL'")
	}
	return hint.Wrap(fmt.Errorf("%w: the witnesses outside the home (%d) are not required by the quorum", ErrHomeAlone, len(p.External())),
		"put them in the 'group' the 'quorum' line names")
}

func shortLine(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// Origin is the checkpoint origin of the policy's first log.
func (p *Policy) Origin() string { return p.Logs[0].Name() }

// VerifyCheckpoint checks a checkpoint's log signature and that its
// cosignatures satisfy the quorum.
func (p *Policy) VerifyCheckpoint(cp []byte) (*f_log.Checkpoint, error) {
	var lastErr error
	for _, v := range p.Logs {
		c, _, _, err := f_log.ParseCheckpoint(cp, v.Name(), v)
		if err != nil {
			lastErr = err
			continue
		}
		if !p.quorum.Satisfied(cp) {
			return nil, ErrQuorum
		}
		return c, nil
	}
	return nil, fmt.Errorf("%w: %v", ErrLogSignature, lastErr)
}

// Cosigners lists the names of witnesses whose cosignatures on cp verify.
func (p *Policy) Cosigners(cp []byte) []string {
	var out []string
	for _, w := range p.Witnesses {
		v, err := f_note.NewVerifierForCosignatureV1(w.VKey)
		if err != nil {
			continue
		}
		if n, err := note.Open(cp, note.VerifierList(v)); err == nil && len(n.Sigs) == 1 {
			out = append(out, w.Name)
		}
	}
	return out
}

// Errors reported by verification.
var (
	ErrLogSignature = errors.New("checkpoint is not signed by the log")
	ErrQuorum       = errors.New("checkpoint is not cosigned by the witness quorum")
	ErrInclusion    = errors.New("entry is not included in the checkpoint")
	ErrConsistency  = errors.New("checkpoints are not consistent")
)
