package tlog

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strings"

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
}

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
