package tlog

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/digital-embassy/embassy/internal/atomicfile"
	"golang.org/x/mod/sumdb/note"
)

// Key files inside a log directory.
const (
	KeyFile    = "log.key" // signed-note private key (PRIVATE+KEY+origin+hash+base64), mode 0600
	PubFile    = "log.pub" // signed-note verifier key
	PolicyFile = "policy"  // C2SP tlog-policy
	AlertsFile = "alerts.jsonl"
)

// Origin returns the checkpoint origin for a home's log.
func Origin(homeID string) string {
	id := strings.Map(func(r rune) rune {
		if r <= ' ' || r == '+' || r == '/' || r > '~' {
			return '-'
		}
		return r
	}, homeID)
	if id == "" {
		id = "unnamed"
	}
	return "digital-embassy.invalid/" + id + "/audit"
}

// LoadOrCreateKey returns the log's note signer, generating the key on first
// use. The key is independent of the vault's root epochs so that rotation
// does not change the log's identity.
func LoadOrCreateKey(dir, origin string) (note.Signer, string, error) {
	kp := filepath.Join(dir, KeyFile)
	b, err := os.ReadFile(kp)
	if errors.Is(err, fs.ErrNotExist) {
		skey, vkey, err := note.GenerateKey(rand.Reader, origin)
		if err != nil {
			return nil, "", err
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, "", err
		}
		if err := atomicfile.Write(filepath.Join(dir, PubFile), []byte(vkey+"\n"), 0o644); err != nil {
			return nil, "", err
		}
		if err := atomicfile.Write(kp, []byte(skey+"\n"), 0o600); err != nil {
			return nil, "", err
		}
		b = []byte(skey)
	} else if err != nil {
		return nil, "", err
	}
	s, err := note.NewSigner(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, "", fmt.Errorf("%s: %v", kp, err)
	}
	pub, err := os.ReadFile(filepath.Join(dir, PubFile))
	if err != nil {
		return nil, "", err
	}
	return s, strings.TrimSpace(string(pub)), nil
}
