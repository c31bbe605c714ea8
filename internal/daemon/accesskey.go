package daemon

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"golang.org/x/mod/sumdb/note"

	"github.com/digital-embassy/embassy/internal/hint"
)

const accessKeyHint = "give the key line 'embassy access key' prints, or a file holding it"

// accessKeyOf resolves --access-key: the home's verifier key itself, or
// a file holding it. A value that parses as a key is the key; otherwise
// it must name a readable file whose content parses (a path may hold
// '+', as keys do, so the characters alone cannot tell).
func accessKeyOf(v string) (string, error) {
	if v == "" {
		return "", nil
	}
	_, kerr := note.NewVerifier(strings.TrimSpace(v))
	if kerr == nil {
		return strings.TrimSpace(v), nil
	}
	b, err := os.ReadFile(v)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return "", hint.WithCode(hint.Wrap(fmt.Errorf("--access-key %s: neither a verifier key (%v) nor a readable file (%v)", v, kerr, err), accessKeyHint), hint.CodeUsage)
	}
	key := strings.TrimSpace(string(b))
	if _, err := note.NewVerifier(key); err != nil {
		return "", hint.WithCode(hint.Wrap(fmt.Errorf("--access-key file %s does not hold a verifier key: %v", v, err), accessKeyHint), hint.CodeUsage)
	}
	return key, nil
}
